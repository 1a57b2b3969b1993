// Storage: a PGlite data folder keeps data across restarts, migrations apply
// once, a shared database outlives the servers using it, and an unreadable
// folder fails with a message that says what to do.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openDatabase, startServer } from '../../server/index.mjs';
import { api } from './api.js';

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'harborsync-db-'));
});
afterAll(() => rm(folder, { recursive: true, force: true }));

describe('a PGlite data folder', () => {
  it('keeps data across restarts and applies each migration once', async () => {
    const dataDir = join(folder, 'data');
    const first = await startServer({ dataDir });
    await api(first.apiUrl).create('todos', { id: 't1', title: 'kept' });
    await first.close();

    const db = await openDatabase({ dataDir });
    try {
      const second = await startServer({ database: db });
      expect((await api(second.apiUrl).get('/todos/t1')).body).toEqual({ id: 't1', title: 'kept', version: 1 });
      await second.close();
      // The server did not own the shared database: it is still open.
      const migrations = await db.query('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(migrations).toEqual([
        { version: 1, name: '001_init.sql' },
        { version: 2, name: '002_long_ids.sql' },
      ]);
    } finally {
      await db.close();
    }
  });

  it('is one server\'s at a time: a second open fails naming the folder and the process, until the first closes', async () => {
    const dataDir = join(folder, 'shared');
    const first = await openDatabase({ dataDir });
    try {
      await expect(openDatabase({ dataDir })).rejects.toThrow(
        new RegExp(`${dataDir} is in use by another server \\(process ${process.pid}\\).*set DATA_DIR.*delete ${dataDir}\\.lock`),
      );
      await first.query("INSERT INTO entities (resource, id, data, version, seq) VALUES ('todos', 'kept', '{}', 1, 1)");
    } finally {
      await first.close();
    }
    const second = await openDatabase({ dataDir });
    try {
      expect(await second.query("SELECT id FROM entities WHERE id = 'kept'")).toEqual([{ id: 'kept' }]);
    } finally {
      await second.close();
    }
  });

  it.each([
    ['a process that is gone', '2147483646'],
    ['this process before a restart (its id reused)', String(process.pid)],
  ])('left locked by %s is taken over', async (_, holder) => {
    const dataDir = join(folder, `abandoned-${holder}`);
    await writeFile(`${dataDir}.lock`, holder);
    const db = await openDatabase({ dataDir });
    await db.close();
  });

  it('that PGlite cannot read fails naming the folder and the fix', async () => {
    // As if written by an older Postgres: PGlite refuses the folder.
    const dataDir = join(folder, 'foreign');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '9\n');
    await expect(openDatabase({ dataDir })).rejects.toThrow(
      new RegExp(`${dataDir}.*delete the folder or set DATA_DIR`),
    );
  });
});
