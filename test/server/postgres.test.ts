// The same server on a real Postgres, where transactions truly run in
// parallel (PGlite runs one at a time). Its own suite, outside `npm test`:
//   HARBORSYNC_TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/scratch npm run test:postgres
// (a throwaway database: the tests empty it).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { runConformance } from '../../server/conformance/checks.mjs';
import { openDatabase, resetDatabase, startServer, type Database, type RunningServer } from '../../server/index.mjs';
import { api, freshKey } from './api.js';

const databaseUrl = process.env.HARBORSYNC_TEST_DATABASE_URL;

if (!databaseUrl) {
  throw new Error('HARBORSYNC_TEST_DATABASE_URL is not set: point it at a throwaway Postgres database (see the top of this file)');
}

describe('on Postgres', () => {
  let db: Database;
  let first: RunningServer;
  let second: RunningServer;

  beforeAll(async () => {
    db = await openDatabase({ databaseUrl });
    first = await startServer({ database: db });
    second = await startServer({ database: db });
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await db?.close();
  });
  beforeEach(() => resetDatabase(db));

  it('passes the conformance kit', async () => {
    const results = await runConformance({ apiUrl: first.apiUrl, token: 'demo-alice' });
    expect(results.filter((result) => !result.ok)).toEqual([]);
  });

  it('applies one key once when its requests race on two instances', async () => {
    const alice = [api(first.apiUrl), api(second.apiUrl)];
    await alice[0]!.create('todos', { id: 't1', title: 'a' });
    const key = freshKey();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => alice[i % 2]!.update('todos', 't1', 1, { title: 'raced' }, key)),
    );
    expect(new Set(replies.map((reply) => `${reply.status} ${reply.text}`)).size).toBe(1);
    expect(replies[0]?.status).toBe(200);
    expect((await first.admin.ledger()).filter((entry) => entry.op === 'update')).toHaveLength(1);
  });

  it('never lets a delta reader skip a change committed late', async () => {
    // A slow write holds the resource lock (the statement store.mjs lockResource
    // runs) and has taken its change number, not yet committed.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let wrote = () => {};
    const slowWrote = new Promise<void>((resolve) => (wrote = resolve));
    const slow = db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('resource:todos', 1))");
      await tx.query(
        `INSERT INTO entities (resource, id, data, version, deleted, seq)
         VALUES ('todos', 'slow', '{"id":"slow","version":1}', 1, false, nextval('change_seq'))`,
      );
      wrote();
      await held;
    });
    await slowWrote;
    // A fast write through the API must wait for it, or it would commit a higher number first.
    const fast = api(second.apiUrl).create('todos', { id: 'fast', title: 'fast' });
    for (let poll = 0; poll < 100; poll += 1) {
      const [waiting] = await db.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
      if (waiting.n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const reader = api(first.apiUrl);
    const during = await reader.get('/todos?since=');
    release();
    await slow;
    expect((await fast).status).toBe(201);
    const after = await reader.get(`/todos?since=${during.body.cursor}`);
    const seen = [...during.body.items, ...after.body.items].map((item: { id: string }) => item.id);
    expect(seen.sort()).toEqual(['fast', 'slow']);
  });
});
