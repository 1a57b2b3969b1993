// The harborsync reference server: DESIGN section 2's wire protocol on
// Postgres (embedded PGlite by default, a real server through `databaseUrl`),
// with a ledger of applied writes and a fault switch for tests and the demo.
//
//   const server = await startServer({ port: 0 });   // in-memory PGlite
//   server.apiUrl          // http://127.0.0.1:PORT/api  (resource 'todos')
//   await server.admin.faults({ dropAfterApply: { count: 1 } });
//   await server.admin.ledger('todos');
//   await server.close();
//
// Tests: opening a PGlite takes seconds, so open one per test file and share it.
//
//   const backend = createTestBackend();              // the database opens lazily
//   const a = await backend.start();                  // startServer on the shared database
//   const b = await backend.start({ serverIds: true }); // a second instance, same data
//   await backend.reset();                            // between tests: empty tables, clear faults
//   await backend.ledger();                           // every applied write
//   await backend.close();                            // afterAll: servers, then the database

import { setMaxListeners } from 'node:events';
import { createServer } from 'node:http';

import { createAdminClient } from './admin-client.mjs';
import { createAdmin } from './admin.mjs';
import { createApi } from './api.mjs';
import { openDatabase, resetDatabase } from './db.mjs';
import { createFaults } from './faults.mjs';
import { answerClientError, createListener } from './http.mjs';
import { readLedger } from './store.mjs';

export { createAdminClient, openDatabase, resetDatabase };

/** The demo users' tokens: `Authorization: Bearer demo-alice`. */
export const DEFAULT_TOKENS = Object.freeze({ 'demo-alice': 'alice', 'demo-bob': 'bob' });

/**
 * @typedef {object} ServerOptions
 * @property {number} [port] 0 (default) lets the OS pick one
 * @property {string} [host] default 127.0.0.1
 * @property {Array<{ name: string, delta?: boolean }>} [resources] default [{ name: 'todos', delta: true }]
 * @property {boolean} [serverIds] assign ids '1', '2', ... and ignore ids clients send
 * @property {Record<string, string>} [tokens] bearer token → user; default DEFAULT_TOKENS
 * @property {import('./db.mjs').Database} [database] share an open database (not closed by close())
 * @property {string} [dataDir] PGlite folder (when no database or databaseUrl)
 * @property {string} [databaseUrl] Postgres connection URL
 * @property {string} [staticDir] serve this folder's files at '/'
 * @property {boolean} [log] print one line per request
 */

/**
 * @param {ServerOptions} [options]
 */
export async function startServer(options = {}) {
  const {
    port = 0,
    host = '127.0.0.1',
    resources = [{ name: 'todos', delta: true }],
    serverIds = false,
    tokens = DEFAULT_TOKENS,
    staticDir,
    log = false,
  } = options;
  for (const { name } of resources) {
    if (!/^[\w-]+$/.test(name)) throw new Error(`resource name ${JSON.stringify(name)} must be letters, digits, _ or -`);
  }
  const ownsDatabase = !options.database;
  const db =
    options.database ?? (await openDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir }));
  const faults = createFaults();
  const closing = new AbortController();
  // Every request waiting out a latency fault listens on it: many at once is load, not a leak.
  setMaxListeners(0, closing.signal);
  const { listener, idle } = createListener({
    api: createApi({ db, faults, resources, serverIds, tokens }),
    admin: createAdmin({ db, faults, resources, serverIds }),
    staticDir,
    log,
    signal: closing.signal,
  });
  const server = createServer(listener);
  server.on('clientError', answerClientError);
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(undefined));
    });
  } catch (error) {
    if (ownsDatabase) await db.close();
    throw error;
  }
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`;

  /** @type {Promise<void> | undefined} */
  let closed;
  const close = () =>
    (closed ??= (async () => {
      closing.abort();
      const stopped = new Promise((resolve) => server.close(resolve));
      // Keep-alive and in-flight connections would hold close() open.
      server.closeAllConnections();
      await stopped;
      await idle();
      if (ownsDatabase) await db.close();
    })());

  return { url, apiUrl: `${url}api`, port: address.port, db, admin: createAdminClient(url), close };
}

/**
 * One lazily opened in-memory database shared by every server it starts; see
 * the example at the top of this file.
 */
export function createTestBackend() {
  /** @type {Promise<import('./db.mjs').Database> | undefined} */
  let database;
  /** @type {Set<Awaited<ReturnType<typeof startServer>>>} */
  const servers = new Set();
  const db = () => (database ??= openDatabase());

  return {
    /** The shared database (opened on first use). */
    db,

    /** @param {Omit<ServerOptions, 'database' | 'dataDir' | 'databaseUrl'>} [options] */
    async start(options = {}) {
      const server = await startServer({ ...options, database: await db() });
      servers.add(server);
      return {
        ...server,
        close: async () => {
          servers.delete(server);
          await server.close();
        },
      };
    },

    /** Empties the database and clears the faults of every running server. */
    async reset() {
      await resetDatabase(await db());
      // Faults live in each server's memory: /admin/reset clears them (and truncates again, harmlessly).
      for (const server of servers) await server.admin.reset();
    },

    /** @param {string} [resource] */
    async ledger(resource) {
      return readLedger(await db(), resource);
    },

    async close() {
      await Promise.all([...servers].map((server) => server.close()));
      servers.clear();
      const opened = database;
      database = undefined;
      if (opened) await (await opened).close();
    },
  };
}
