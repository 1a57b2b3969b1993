// The same server on a real Postgres, where transactions truly run in
// parallel (PGlite runs one at a time). Its own suite, outside `npm test`:
//   HARBORSYNC_TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/scratch npm run test:postgres
// (a throwaway database: the tests empty it).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { runConformance } from '../../server/conformance/checks.mjs';
import { openDatabase, resetDatabase, startServer, type Database, type RunningServer } from '../../server/index.mjs';
import { compileQuery } from '../../src/store/query.js';
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

  it("pages strings in the client's order (by code point) whatever the database's collation: an en-US one put 'a' before 'B', so on-demand pages skipped and repeated rows", async () => {
    const alice = api(first.apiUrl);
    const titles = ['a', 'B', 'b', 'A', 'é', 'f', 'E', '10', '9', '', 'a b', 'ab'];
    for (const [i, title] of titles.entries()) {
      expect((await alice.create('todos', { id: i % 2 === 0 ? `x${i}` : `X${i}`, title })).status).toBe(201);
    }
    const stored = (await alice.get('/todos')).body as Array<{ id: string; title: string }>;
    for (const orderBy of [['title', 'asc'], ['title', 'desc'], ['id', 'asc'], ['id', 'desc']] as const) {
      const { compare } = compileQuery({ orderBy: [orderBy] }, 'id');
      const expected = [...stored].sort(compare).map((todo) => todo.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < titles.length && (page === 0 || cursor !== null); page += 1) {
        const sort = `${orderBy[1] === 'desc' ? '-' : ''}${orderBy[0]}`;
        const reply = await alice.get(`/todos?sort=${sort}&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
        seen.push(...reply.body.items.map((todo: { id: string }) => todo.id));
        cursor = reply.body.cursor;
      }
      expect(seen, orderBy.join(' ')).toEqual(expected);
    }
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
