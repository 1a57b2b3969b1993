// The on-demand query dialect: filter/sort/limit/cursor, on 100,000 seeded
// rows and on a small set that exercises JSONB ordering. Every test here only
// reads, so the data is set up once (no reset between tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestBackend } from '../../server/index.mjs';
import { api } from './api.js';

const backend = createTestBackend();
let alice: ReturnType<typeof api>;

const ids = (reply: { body: { items: Array<{ id: string }> } }) => reply.body.items.map((item) => item.id);

beforeAll(async () => {
  const server = await backend.start({ resources: [{ name: 'todos', delta: true }, { name: 'items' }, { name: 'tagged' }] });
  alice = api(server.apiUrl);
  expect(await server.admin.seed('todos', 100_000)).toEqual({ inserted: 100_000, first: '1', last: '100000' });
  const items = [
    { id: 'a', rank: 10, done: false, title: 'x' },
    { id: 'b', rank: 2, done: true, title: 'y' },
    { id: 'c', rank: 2, done: false },
    { id: 'd', rank: 1.5, done: true, title: 'x' },
    { id: 'e', done: false, title: 'z' },
    { id: 'f', rank: 10, done: true, title: 'x' },
    { id: 'g', rank: 0, done: true, title: 'deleted' },
  ];
  for (const item of items) await alice.create('items', item);
  await alice.remove('items', 'g', 1);
  for (const item of [{ id: 'm' }, { id: 'n', tag: null }, { id: 'y', tag: 'y' }]) await alice.create('tagged', item);
});
afterAll(() => backend.close());

describe('on 100,000 rows', () => {
  it('answers the first page of a filtered, sorted query', async () => {
    const reply = await alice.get('/todos?filter[done]=true&sort=-title&limit=50');
    expect(reply.status).toBe(200);
    const expected = Array.from({ length: 50 }, (_, i) => String(100_000 - 2 * i));
    expect(ids(reply)).toEqual(expected);
    expect(reply.body.items[0]).toEqual({ id: '100000', title: 'Todo 100000', done: true, version: 1 });
    expect(reply.body.cursor).toEqual(expect.any(String));
  });

  it('continues exactly where the cursor points', async () => {
    const first = await alice.get('/todos?filter[done]=true&sort=-title&limit=50');
    const second = await alice.get(`/todos?filter[done]=true&sort=-title&limit=50&cursor=${first.body.cursor}`);
    expect(ids(second)).toEqual(Array.from({ length: 50 }, (_, i) => String(99_900 - 2 * i)));
  });

  it('answers a limit above its largest page (1,000) with that page and a cursor to the rest, not 400', async () => {
    const first = await alice.get('/todos?sort=title&limit=1500');
    expect(first.status).toBe(200);
    expect(ids(first)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
    const rest = await alice.get(`/todos?sort=title&limit=500&cursor=${first.body.cursor}`);
    expect(ids(rest)).toEqual(Array.from({ length: 500 }, (_, i) => String(i + 1001)));
  });

  it('sorts ascending with a default limit of 50, and filters on id and strings', async () => {
    const reply = await alice.get('/todos?sort=title');
    expect(ids(reply)).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    expect(ids(await alice.get('/todos?filter[id]=77777'))).toEqual(['77777']);
    const byTitle = await alice.get(`/todos?filter[title]=${encodeURIComponent('Todo 012345')}`);
    expect(byTitle.body).toEqual({ items: [{ id: '12345', title: 'Todo 012345', done: false, version: 1 }], cursor: null });
  });
});

describe('ordering and filtering semantics', () => {
  /** Follows cursors with small pages; the concatenation must equal one big page. */
  const walk = async (query: string) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const reply = await alice.get(`/items?${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(reply.status).toBe(200);
      seen.push(...ids(reply));
      cursor = reply.body.cursor;
      if (cursor === null) return seen;
    }
    throw new Error(`${query}: still more pages after 10`);
  };

  it('orders numbers numerically, a missing field first, with id as tie-breaker', async () => {
    expect(await walk('sort=rank')).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
  });

  it('mixes descending and ascending keys', async () => {
    expect(await walk('sort=-rank,title')).toEqual(['a', 'f', 'c', 'b', 'd', 'e']);
    expect(await walk('sort=title,-id')).toEqual(['c', 'f', 'd', 'a', 'b', 'e']);
  });

  it('compares filters with the JSON value rendered as text', async () => {
    expect(await walk('filter[done]=true')).toEqual(['b', 'd', 'f']);
    expect(await walk('filter[rank]=10')).toEqual(['a', 'f']);
    expect(await walk('filter[rank]=1.5')).toEqual(['d']);
    expect(await walk('filter[title]=x&filter[done]=true&sort=-rank')).toEqual(['f', 'd']);
  });

  it('renders a JSON null as null, as the client sends a null equality; a missing field is not null', async () => {
    const reply = await alice.get('/tagged?filter[tag]=null');
    expect(ids(reply)).toEqual(['n']);
  });

  it('leaves the plain list untouched', async () => {
    const list = await alice.get('/items');
    expect(list.body.map((item: { id: string }) => item.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('answers 400 to a sort naming an empty field, rather than leaving it out', async () => {
    for (const sort of ['rank,,title', 'rank,', '-', '-rank,-']) {
      const reply = await alice.get(`/items?sort=${sort}`);
      expect(reply.status, sort).toBe(400);
      expect(reply.text, sort).toMatch(/sort/);
    }
    expect((await alice.get('/items?sort=-rank,title')).status).toBe(200);
  });

  it('reads an empty sort as no sort: by id, as without one', async () => {
    expect(await walk('sort=')).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('answers 400 to a bad limit or cursor, and to a cursor from another sort order', async () => {
    expect((await alice.get('/items?limit=0')).status).toBe(400);
    expect((await alice.get('/items?limit=many')).status).toBe(400);
    expect((await alice.get('/items?cursor=not-a-cursor')).status).toBe(400);
    const page = await alice.get('/items?sort=rank&limit=1');
    expect((await alice.get(`/items?sort=-rank&limit=1&cursor=${page.body.cursor}`)).status).toBe(400);
  });
});
