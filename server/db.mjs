// One tiny database adapter over two drivers that speak the same SQL: PGlite
// (embedded Postgres in WebAssembly, the default, in memory without a dataDir)
// and `pg` (a real Postgres server, when a connection URL is given). The rest
// of the server only sees `query`, `exec` and `transaction`.
//
// Opening a fresh PGlite takes seconds, so tests open one database and share
// it between servers (`startServer({ database })`) and between tests
// (`resetDatabase`).

import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';

import { migrate } from './migrate.mjs';

/**
 * @typedef {object} Queryable
 * @property {(sql: string, params?: unknown[]) => Promise<any[]>} query one statement, returns its rows
 * @property {(sql: string) => Promise<void>} exec several statements without parameters
 */

/**
 * @typedef {Queryable & {
 *   kind: 'pglite' | 'pg',
 *   transaction: <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>,
 *   close: () => Promise<void>,
 * }} Database
 */

/**
 * Opens (and migrates) a database: Postgres at `databaseUrl`, else PGlite in
 * `dataDir`, else an in-memory PGlite.
 * @param {{ databaseUrl?: string, dataDir?: string }} [options]
 * @returns {Promise<Database>}
 */
export async function openDatabase({ databaseUrl, dataDir } = {}) {
  const db = databaseUrl ? await openPg(databaseUrl) : await openPglite(dataDir);
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/**
 * Empties every table and restarts the sequences (ids, cursors, ledger), so
 * tests sharing one database start from the same state. Migrations stay.
 * @param {Queryable} db
 */
export async function resetDatabase(db) {
  await db.exec('TRUNCATE entities, idempotency_keys, ledger, id_counters RESTART IDENTITY');
}

/**
 * @param {string | undefined} dataDir
 * @returns {Promise<Database>}
 */
async function openPglite(dataDir) {
  const { PGlite } = await import('@electric-sql/pglite');
  const unlock = dataDir ? await lockDataDir(dataDir) : async () => {};
  let pglite;
  try {
    pglite = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  } catch (error) {
    await unlock();
    // A folder written by another PGlite (Postgres) version fails with a bare
    // "PGlite failed to initialize properly"; say which folder and what to do.
    if (!dataDir) throw error;
    throw new Error(
      `Cannot open the PGlite data folder ${dataDir}: ${errorMessage(error)}. ` +
        'It may have been written by another PGlite version: delete the folder or set DATA_DIR to another one.',
      { cause: error },
    );
  }
  /** @param {import('@electric-sql/pglite').Transaction | import('@electric-sql/pglite').PGlite} target */
  const queryable = (target) => ({
    /** @param {string} sql @param {unknown[]} [params] */
    query: async (sql, params) => (await target.query(sql, params)).rows,
    /** @param {string} sql */
    exec: async (sql) => {
      await target.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...queryable(pglite),
    // PGlite runs one transaction at a time; others wait for it.
    transaction: (fn) => pglite.transaction((tx) => fn(queryable(tx))),
    close: async () => {
      await pglite.close();
      await unlock();
    },
  };
}

/** Lock files this process holds: a lock naming this process is its own only if listed here. */
const heldLocks = new Set();

/**
 * PGlite is one process's database: a second server on the same folder would keep its own copy
 * in memory and write it back over the first's, losing confirmed writes. The folder is taken
 * with a lock file naming the process, put in place whole (written aside, then linked, which
 * fails if one is there); a file left by a process that is gone is taken over.
 * @param {string} dataDir
 * @returns {Promise<() => Promise<void>>} gives the folder back
 */
async function lockDataDir(dataDir) {
  await mkdir(dataDir, { recursive: true });
  const lock = `${dataDir.replace(/[\\/]+$/, '')}.lock`;
  const aside = `${lock}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(aside, String(process.pid));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(aside, lock);
        heldLocks.add(lock);
        return async () => {
          heldLocks.delete(lock);
          await rm(lock, { force: true });
        };
      } catch (error) {
        if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
        const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
        // A process id reused since (a container restarted) names this process without it holding the lock.
        const reused = holder === process.pid && !heldLocks.has(lock);
        if (Number.isInteger(holder) && holder > 0 && !reused && isRunning(holder)) {
          throw new Error(
            `The PGlite data folder ${dataDir} is in use by another server (process ${holder}): ` +
              `stop that one, or set DATA_DIR to another folder (or delete ${lock} if no server uses it).`,
          );
        }
        await rm(lock, { force: true });
      }
    }
    throw new Error(`Cannot take the PGlite data folder ${dataDir}: its lock file ${lock} keeps coming back.`);
  } finally {
    await rm(aside, { force: true });
  }
}

/** @param {number} pid */
function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM';
  }
}

/**
 * @param {string} connectionString
 * @returns {Promise<Database>}
 */
async function openPg(connectionString) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString, max: 10 });
  /** @param {import('pg').Pool | import('pg').PoolClient} target */
  const queryable = (target) => ({
    /** @param {string} sql @param {unknown[]} [params] */
    query: async (sql, params) => (await target.query(sql, params)).rows,
    // Without parameters pg uses the simple protocol, which runs several statements.
    /** @param {string} sql */
    exec: async (sql) => {
      await target.query(sql);
    },
  });
  // Fail at start, not at the first request, when the server is unreachable.
  await pool.query('SELECT 1').catch(async (error) => {
    await pool.end();
    throw new Error(`Cannot connect to Postgres at ${redact(connectionString)}: ${errorMessage(error)}`, {
      cause: error,
    });
  });
  return {
    kind: 'pg',
    ...queryable(pool),
    transaction: async (fn) => {
      const client = await pool.connect();
      /** @type {unknown} a failed ROLLBACK leaves the connection unusable: release(error) discards it */
      let broken;
      try {
        await client.query('BEGIN');
        const result = await fn(queryable(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        broken = await client.query('ROLLBACK').then(
          () => undefined,
          (rollbackError) => rollbackError,
        );
        throw error;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    close: () => pool.end(),
  };
}

/** @param {unknown} error */
function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}

/** Hides the password of a connection URL in messages. @param {string} url */
function redact(url) {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
