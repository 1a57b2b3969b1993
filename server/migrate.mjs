// Applies the numbered SQL files in ./migrations (001_init.sql, 002_...) that
// the database has not seen yet, recording each in schema_migrations.

import { readdir, readFile } from 'node:fs/promises';

const MIGRATIONS = new URL('./migrations/', import.meta.url);

/** @param {import('./db.mjs').Database} db */
export async function migrate(db) {
  const files = (await readdir(MIGRATIONS)).filter((name) => /^\d+_[\w-]+\.sql$/.test(name)).sort();
  await db.transaction(async (tx) => {
    // Several servers may start at once on one Postgres: one migrates, the others wait.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('harborsync:migrations', 0))");
    await tx.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, ' +
        'applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const applied = new Set((await tx.query('SELECT version FROM schema_migrations')).map((row) => row.version));
    for (const name of files) {
      const version = Number.parseInt(name, 10);
      if (applied.has(version)) continue;
      await tx.exec(await readFile(new URL(name, MIGRATIONS), 'utf8'));
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, name]);
    }
  });
}
