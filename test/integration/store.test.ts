import { IDBFactory, IDBObjectStore } from 'fake-indexeddb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Subject } from 'rxjs';
import { createTestBackend } from '../../server/index.mjs';
import { DB_VERSION } from '../../src/store/db.js';
import { committed, getAllRaw, openRaw, result } from '../helpers/raw-idb.js';
import { ClosedError, defineResource, HttpError, SchemaError, type EntityState, type QueryState, type SyncStatus } from '../../src/index.js';
import { z } from 'zod';
import { closeDevices, heldAnswers, heldListAnswers, notes, todos, todoSchema, trackedDevices, until, type Todo } from '../helpers/harness.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { outboxEntry } from '../helpers/outbox-entry.js';
import type { NewEntry, OutboxEntry } from '../../src/outbox/entry.js';
import type { PendingOp } from '../../src/outbox/coalesce.js';
import { LocalStore } from '../../src/store/local-store.js';
import { applyOutcome } from '../../src/conflict/apply-outcome.js';
import type { Env } from '../../src/env.js';
import type { ResourceDefinition } from '../../src/types.js';

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const { open, make } = trackedDevices();
/** The latest value of an observable that replays. */
function latest<T>(source: { subscribe(next: (value: T) => void): unknown }): { readonly value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  source.subscribe((value) => (box.value = value));
  return box;
}

beforeAll(async () => {
  server = await backend.start({ resources: [{ name: 'todos', delta: true }, { name: 'notes' }] });
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());
afterEach(async () => {
  await closeDevices(open);
});

async function seedTodos(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await server.admin.edit({ resource: 'todos', create: { id: `t${i}`, title: `todo ${i}`, done: i % 2 === 0 } });
  }
}

describe('reading and caching', () => {
  it('refresh() pulls the resource into the cache and live queries show it', async () => {
    await seedTodos(3);
    const d = make(server.apiUrl);
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$({ orderBy: 'title' }).subscribe((s) => states.push(s));
    await d.client.resource(todos).refresh();
    const last = states.at(-1)!;
    expect(last.status).toBe('success');
    expect(last.data.map((t) => t.id)).toEqual(['t0', 't1', 't2']);
    expect(last.lastSyncedAt).toBe(d.clock.now());
    expect(await d.client.resource(todos).get('t1')).toMatchObject({ title: 'todo 1', version: 1 });
  });

  it('a whole list that finds most of the cache as stored writes only what changed, and shows the rest as the same objects (nothing re-renders)', async () => {
    await seedTodos(3);
    const wholeTodos = defineResource({ name: 'todos', schema: todoSchema });
    const d = make(server.apiUrl, { resources: [wholeTodos] });
    const h = d.client.resource(wholeTodos);
    const lists: Array<QueryState<Todo>> = [];
    const entities: Array<EntityState<Todo>> = [];
    h.query$({ orderBy: 'id' }).subscribe((s) => lists.push(s));
    h.get$('t0').subscribe((s) => entities.push(s));
    await h.refresh();
    const [listBefore, entityBefore] = [lists.at(-1)!, entities.at(-1)!];
    expect(listBefore.data.map((t) => t.title)).toEqual(['todo 0', 'todo 1', 'todo 2']);
    await server.admin.edit({ resource: 'todos', id: 't2', patch: { title: 'changed' } });

    const put = IDBObjectStore.prototype.put;
    const written: unknown[] = [];
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if (this.name === 'entities') written.push(value);
      return put.call(this, value, key);
    };
    try {
      await h.refresh();
    } finally {
      IDBObjectStore.prototype.put = put;
    }
    const listAfter = lists.at(-1)!;
    expect(listAfter.data.map((t) => t.title)).toEqual(['todo 0', 'todo 1', 'changed']);
    expect(listAfter.data[0]).toBe(listBefore.data[0]);
    expect(listAfter.data[1]).toBe(listBefore.data[1]);
    expect(entities.at(-1)!.data).toBe(entityBefore.data);
    expect(written).toEqual([expect.objectContaining({ id: 't2', view: expect.objectContaining({ title: 'changed' }) })]);
    // After a reload, what was left unwritten reads as it was.
    await d.client.close();
    const again = make(server.apiUrl, { resources: [wholeTodos] }, d.indexedDB, d.clock);
    expect((await again.client.resource(wholeTodos).list()).map((t) => t.title).sort()).toEqual(['changed', 'todo 0', 'todo 1']);
  });

  it('a first subscriber sees loading, then the data: never an empty success in between', async () => {
    await seedTodos(2);
    const d = make(server.apiUrl);
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.data.length === 2, 'the first fetch');
    expect(states.map((s) => s.status)).not.toContain('error');
    const firstSuccess = states.find((s) => s.status === 'success');
    expect(firstSuccess?.data).toHaveLength(2);
    expect(states[0]).toMatchObject({ status: 'loading', data: [] });
  });

  it('a subscriber that comes while list() or refresh() loads the cache sees loading, then the data: never an empty success in between', async () => {
    await seedTodos(2);
    for (const first of ['list', 'refresh'] as const) {
      const d = make(server.apiUrl);
      const h = d.client.resource(todos);
      const loading = first === 'list' ? h.list() : h.refresh();
      const states: Array<QueryState<Todo>> = [];
      h.query$().subscribe((s) => states.push(s));
      await loading;
      await until(() => states.at(-1)!.data.length === 2 && !states.at(-1)!.isFetching, 'the first fetch');
      expect(states.filter((s) => s.status === 'success' && s.data.length === 0)).toEqual([]);
    }
  });

  it('refresh() after close() rejects with ClosedError, as every other call does, rather than throwing', async () => {
    const d = make(server.apiUrl);
    const h = d.client.resource(todos);
    await d.client.close();
    let refreshing: Promise<void> | undefined;
    expect(() => (refreshing = h.refresh())).not.toThrow();
    await expect(refreshing).rejects.toBeInstanceOf(ClosedError);
  });

  it('offline with nothing cached: success with no rows, and a fetch once back online', async () => {
    await seedTodos(1);
    const d = make(server.apiUrl);
    d.online.next(false);
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success', 'the cache to load');
    expect(states.at(-1)).toMatchObject({ data: [], isFetching: false });
    expect(d.calls).toEqual([]);
    d.online.next(true);
    await until(() => states.at(-1)?.data.length === 1, 'the refetch after reconnecting');
  });

  it('back online while a pull hangs on the connection that died: another pull follows it, and the data shows (it ended in the hung pull\'s error)', async () => {
    await seedTodos(1);
    let fail = (_error: Error) => undefined as void;
    let hung = false;
    // The first request hangs on the dead connection and fails later; the ones after it go through.
    const d = make(server.apiUrl, {
      fetch: async (input, init) => {
        if (hung) return fetch(input, init);
        hung = true;
        return new Promise<Response>((_resolve, reject) => (fail = reject));
      },
    });
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => hung, 'the first pull hung');
    d.online.next(false);
    d.online.next(true);
    await settle();
    fail(new TypeError('Failed to fetch'));
    await until(() => states.at(-1)!.status !== 'loading' && !states.at(-1)!.isFetching, 'the pulls to end');
    expect(states.at(-1)).toMatchObject({ status: 'success', error: null });
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['t0']);
  });

  it('serves the cache before the network answers, after a reload', async () => {
    await seedTodos(2);
    const first = make(server.apiUrl);
    await first.client.resource(todos).refresh();
    await first.client.close();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reload = make(server.apiUrl, { fetch: async (input, init) => (await gate, fetch(input, init)) }, first.indexedDB, first.clock);
    first.clock.jump(60_000);
    const states: Array<QueryState<Todo>> = [];
    reload.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.some((s) => s.isFetching), 'the background revalidation to start');
    const served = states.find((s) => s.data.length > 0);
    expect(served?.status).toBe('success');
    expect(served?.data.map((t) => t.id).sort()).toEqual(['t0', 't1']);
    expect(states.at(-1)!.isFetching).toBe(true);
    release();
    await until(() => states.at(-1)!.isFetching === false, 'the revalidation to finish');
    expect(states.at(-1)!.lastSyncedAt).toBe(first.clock.now());
  });

  it('refresh() during a pull sent before it pulls once more after it: what changed in between arrives, one extra request for every call meanwhile', async () => {
    await seedTodos(1);
    const answers = heldAnswers();
    const d = make(server.apiUrl, { fetch: answers.fetch });
    await d.client.resource(todos).refresh();
    answers.hold(); // the pull below is answered before the change after it
    const asked = d.calls.length;
    const first = d.client.resource(todos).refresh();
    await until(() => d.calls.length > asked, 'the pull in flight');
    await server.admin.edit({ resource: 'todos', create: { id: 'later', title: 'made during the pull', done: false } });
    const second = d.client.resource(todos).refresh();
    const third = d.client.resource(todos).refresh();
    answers.release();
    await Promise.all([first, second, third]);
    expect((await d.client.resource(todos).list()).map((t) => t.id).sort()).toEqual(['later', 't0']);
    expect(d.calls.slice(asked).filter((c) => c.startsWith('GET'))).toHaveLength(2);
  });

  it('refresh() during a pull keeps the queries fetching until the pull that follows has answered', async () => {
    await seedTodos(1);
    const answers = heldAnswers();
    const d = make(server.apiUrl, { fetch: answers.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    const fetching: boolean[] = [];
    h.query$().subscribe((s) => fetching.push(s.isFetching));
    answers.hold();
    const asked = d.calls.length;
    const first = h.refresh();
    await until(() => d.calls.length > asked, 'the pull in flight');
    const second = h.refresh();
    answers.release();
    await Promise.all([first, second]);
    expect(d.calls.slice(asked).filter((c) => c.startsWith('GET'))).toHaveLength(2);
    expect(fetching).toEqual([false, true, false]);
  });

  it('revalidates only when the cache is older than staleTimeMs', async () => {
    await seedTodos(1);
    const d = make(server.apiUrl, { staleTimeMs: 10_000 });
    await d.client.resource(todos).refresh();
    const pulls = () => d.calls.filter((c) => c.startsWith('GET /api/todos')).length;
    expect(pulls()).toBe(1);
    // A revalidating pull would show as isFetching in what the subscriber is served.
    const states: Array<QueryState<Todo>> = [];
    const sub = d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.some((s) => s.status === 'success' && s.data.length === 1), 'the cached list');
    await settle();
    expect(states.filter((s) => s.isFetching)).toEqual([]);
    expect(pulls()).toBe(1);
    sub.unsubscribe();
    await d.clock.advance(10_001);
    const again = d.client.resource(todos).get$('t0').subscribe();
    await until(() => pulls() === 2, 'a revalidating pull');
    again.unsubscribe();
  });

  it('revalidates what a page shows when it comes back to the foreground with a cache older than staleTimeMs; a fresher one is served without a request', async () => {
    await seedTodos(1);
    const foreground = new Subject<void>();
    const d = make(server.apiUrl, { staleTimeMs: 10_000, foreground });
    const pulls = () => d.calls.filter((c) => c.startsWith('GET /api/todos')).length;
    const shown = latest(d.client.resource(todos).query$({ orderBy: 'id' }));
    await until(() => shown.value?.data.length === 1 && !shown.value.isFetching, 'the first pull');
    await server.admin.edit({ resource: 'todos', create: { id: 'later', title: 'made while the page was hidden', done: false } });
    await d.clock.advance(5_000);
    foreground.next();
    await settle();
    expect(pulls()).toBe(1);
    await d.clock.advance(5_001);
    foreground.next();
    await until(() => shown.value?.data.length === 2, 'the revalidating pull');
    expect(pulls()).toBe(2);
  });

  it('revalidates a cache pulled "in the future" after the clock stepped back, rather than trusting it for the size of the step (RELIABILITY #57)', async () => {
    await seedTodos(1);
    const d = make(server.apiUrl, { staleTimeMs: 10_000 });
    await d.client.resource(todos).refresh();
    const pulls = () => d.calls.filter((c) => c.startsWith('GET /api/todos')).length;
    d.clock.step(-24 * 3600 * 1000);
    const sub = d.client.resource(todos).get$('t0').subscribe();
    await until(() => pulls() === 2, 'a revalidating pull');
    sub.unsubscribe();
  });

  it('after a reload, status$.lastSyncedAt tells when the cache it serves was pulled, not null (never synced) while that cache is served fresh', async () => {
    await seedTodos(1);
    const before = make(server.apiUrl);
    await before.client.resource(todos).refresh();
    const pulledAt = before.clock.now();
    await before.client.close();
    await before.clock.advance(5_000);
    const d = before.reopen();
    open.push(d);
    const status = latest<SyncStatus>(d.client.status$);
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success' && !states.at(-1)!.isFetching, 'the cached list');
    expect(d.calls).toEqual([]);
    expect(states.at(-1)!.lastSyncedAt).toBe(pulledAt);
    expect(status.value!.lastSyncedAt).toBe(pulledAt);
  });

  it('staleTimeMs: Infinity fetches a resource never synced once, then serves the cache without a request', async () => {
    await seedTodos(1);
    const d = make(server.apiUrl, { staleTimeMs: Infinity });
    const states: Array<QueryState<Todo>> = [];
    const sub = d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.data.length === 1, 'the first fetch');
    sub.unsubscribe();
    await d.clock.advance(365 * 24 * 3600_000);
    d.client.resource(todos).query$().subscribe();
    await settle();
    expect(d.calls.filter((c) => c.startsWith('GET /api/todos'))).toHaveLength(1);
  });

  it('treats a list answer as authoritative: entities missing from it are removed', async () => {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'b' } });
    const d = make(server.apiUrl);
    await d.client.resource(notes).refresh();
    expect((await d.client.resource(notes).list()).map((n) => n.id).sort()).toEqual(['n1', 'n2']);
    await server.admin.edit({ resource: 'notes', id: 'n1', delete: true });
    await d.client.resource(notes).refresh();
    expect((await d.client.resource(notes).list()).map((n) => n.id)).toEqual(['n2']);
    expect(d.events.some((e) => e.type === 'pulled' && e.removed === 1)).toBe(true);
  });

  it('keeps an entity with a pending change that a list answer leaves out', async () => {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    const d = make(server.apiUrl);
    await d.client.resource(notes).refresh();
    d.online.next(false);
    await d.client.resource(notes).update('n1', { text: 'mine' });
    await server.admin.edit({ resource: 'notes', id: 'n1', delete: true });
    await d.client.resource(notes).refresh();
    expect(await d.client.resource(notes).get('n1')).toMatchObject({ text: 'mine' });
  });

  it('follows a delta feed with tombstones, paging and a persisted cursor', async () => {
    await seedTodos(5);
    const paged: typeof fetch = (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (url.searchParams.has('since')) url.searchParams.set('limit', '2');
      return fetch(new Request(url, request));
    };
    const d = make(server.apiUrl, { fetch: paged });
    await d.client.resource(todos).refresh();
    expect(d.calls.filter((c) => c.includes('since=')).length).toBe(3);
    expect((await d.client.resource(todos).list()).length).toBe(5);
    await server.admin.edit({ resource: 'todos', id: 't1', delete: true });
    await server.admin.edit({ resource: 'todos', id: 't2', patch: { title: 'renamed' } });
    await d.client.close();
    const reload = make(server.apiUrl, { fetch: paged }, d.indexedDB, d.clock);
    await reload.client.resource(todos).refresh();
    const since = reload.calls.filter((c) => c.includes('since='));
    expect(since).toHaveLength(1);
    expect(since[0]).not.toContain('since=&');
    const list = await reload.client.resource(todos).list({ orderBy: 'id' });
    expect(list.map((t) => t.id)).toEqual(['t0', 't2', 't3', 't4']);
    expect(list[1]).toMatchObject({ title: 'renamed', version: 2 });
  });

  it('a delta pull that fails after its first page is not stored as synced: after a reload the stale subscriber pulls the rest', async () => {
    await seedTodos(5);
    let failing = true;
    let pages = 0;
    const paged: typeof fetch = (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (url.searchParams.has('since')) {
        url.searchParams.set('limit', '2');
        if (failing && ++pages === 2) return Promise.resolve(new Response('down', { status: 503 }));
      }
      return fetch(new Request(url, request));
    };
    const d = make(server.apiUrl, { fetch: paged });
    await expect(d.client.resource(todos).refresh()).rejects.toBeInstanceOf(HttpError);
    expect((await d.client.resource(todos).list()).length).toBe(2);
    await d.client.close();
    failing = false;
    const reload = make(server.apiUrl, { fetch: paged }, d.indexedDB, d.clock);
    const states: Array<QueryState<Todo>> = [];
    reload.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.some((s) => s.status === 'success'), 'the cache to load');
    // The feed was not read to its end: nothing confirms the resource yet.
    expect(states.find((s) => s.status === 'success')?.lastSyncedAt).toBeNull();
    await until(() => states.at(-1)!.data.length === 5 && !states.at(-1)!.isFetching, 'the rest of the feed');
    expect(states.at(-1)!.lastSyncedAt).toBe(d.clock.now());
  });

  it('a record cached under an older schema is fetched again at once, from the start of the delta feed (the stored cursor is past it)', async () => {
    await seedTodos(2);
    const d = make(server.apiUrl);
    await d.client.resource(todos).refresh();
    await d.client.close();
    // The next release requires a field the server now sends: the cached records fail its schema.
    const todosV2 = defineResource({ name: 'todos', schema: todoSchema.extend({ priority: z.number() }), delta: true });
    const withPriority: typeof fetch = async (input, init) => {
      const body = await (await fetch(input, init)).json();
      const items = body.items.map((t: Todo) => ({ ...t, priority: 1 }));
      return new Response(JSON.stringify({ ...body, items }), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const reload = make(server.apiUrl, { fetch: withPriority, resources: [todosV2] }, d.indexedDB, d.clock);
    const states: Array<QueryState<Todo & { priority: number }>> = [];
    reload.client.resource(todosV2).query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.data.length === 2, 'the records fetched again');
    expect(states.at(-1)!.data.map((t) => [t.id, t.priority])).toEqual([['t0', 1], ['t1', 1]]);
    expect(reload.calls).toEqual(['GET /api/todos?since=']);
  });

  it('a cursor the server no longer knows (410 after a reset) is dropped for the whole list; later pulls follow the feed again', async () => {
    await seedTodos(3);
    const d = make(server.apiUrl);
    const h = d.client.resource(todos);
    await h.refresh();
    await h.refresh();
    const stale = d.calls.at(-1)!;
    expect(stale).toMatch(/^GET \/api\/todos\?since=\d+$/);
    await backend.reset(); // the change numbers restart: the stored cursor is beyond every change
    await server.admin.edit({ resource: 'todos', create: { id: 'n1', title: 'new', done: false } });
    const before = d.calls.length;
    await h.refresh();
    expect(d.calls.slice(before)).toEqual([stale, 'GET /api/todos']);
    // Authoritative: what the server no longer has leaves the cache.
    expect((await h.list()).map((t) => t.id)).toEqual(['n1']);
    await server.admin.edit({ resource: 'todos', create: { id: 'n2', title: 'newer', done: false } });
    await h.refresh();
    await h.refresh();
    const after = d.calls.slice(before + 2);
    expect(after[0]).toBe('GET /api/todos?since=');
    expect(after[1]).toMatch(/^GET \/api\/todos\?since=\d+$/);
    expect(after).toHaveLength(2);
    expect((await h.list({ orderBy: 'id' })).map((t) => t.id)).toEqual(['n1', 'n2']);
    expect(d.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('skips and reports invalid items, caching the valid rest', async () => {
    await seedTodos(2);
    const corrupting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const body = await response.json();
      body.items[1].done = 'yes';
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const d = make(server.apiUrl, { fetch: corrupting });
    await d.client.resource(todos).refresh();
    expect((await d.client.resource(todos).list()).map((t) => t.id)).toEqual(['t0']);
    const reported = d.events.find((e) => e.type === 'schemaError');
    expect(reported).toBeDefined();
    if (reported?.type !== 'schemaError') throw new Error('no schema error');
    expect(reported.id).toBe('t1');
    expect(reported.error).toBeInstanceOf(SchemaError);
    expect(reported.error.message).toContain('todos/t1');
    expect(reported.error.message).toContain('"done"');
  });

  it('an item the schema throws on (a transform that throws) is reported as invalid and skipped; the valid rest is cached', async () => {
    const datedNotes = defineResource({
      name: 'notes',
      // Throws a RangeError for text that is no date: zod passes it on, it is no issue.
      schema: z.object({ id: z.string(), text: z.string().transform((text) => new Date(text).toISOString()), version: z.number().int() }),
    });
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: '2024-01-01' } });
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'not a date' } });
    const d = make(server.apiUrl, { resources: [datedNotes] });
    await d.client.resource(datedNotes).refresh();
    expect(await d.client.resource(datedNotes).list()).toEqual([{ id: 'n1', text: '2024-01-01T00:00:00.000Z', version: 1 }]);
    const reported = d.events.find((e) => e.type === 'schemaError');
    if (reported?.type !== 'schemaError') throw new Error('no schema error');
    expect(reported.id).toBe('n2');
    expect(reported.error).toBeInstanceOf(SchemaError);
    expect(reported.error.message).toContain('notes/n2');
    expect(reported.error.message).toContain('Invalid time value');
  });

  it('leaves the cache untouched on malformed JSON or a non-array list', async () => {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    const d = make(server.apiUrl);
    await d.client.resource(notes).refresh();
    for (const body of ['{ not json', '{"items": []}']) {
      const broken = make(server.apiUrl, { fetch: async () => new Response(body, { status: 200 }) }, d.indexedDB, d.clock);
      await expect(broken.client.resource(notes).refresh()).rejects.toBeInstanceOf(SchemaError);
      expect((await broken.client.resource(notes).list()).map((n) => n.id)).toEqual(['n1']);
      await broken.client.close();
    }
  });

  it('reports an HTTP failure in the query state and keeps the cached data', async () => {
    await seedTodos(1);
    const d = make(server.apiUrl);
    await d.client.resource(todos).refresh();
    await server.admin.faults({ errorRate: 1, errorStatus: 500 });
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await expect(d.client.resource(todos).refresh()).rejects.toBeInstanceOf(HttpError);
    const last = states.at(-1)!;
    expect(last.status).toBe('success');
    expect(last.error).toBeInstanceOf(HttpError);
    expect(last.data).toHaveLength(1);
  });

  it('resolves a relative baseUrl against the page, and refuses one outside a page', async () => {
    await seedTodos(1);
    vi.stubGlobal('location', { href: `${server.url}app/index.html` });
    try {
      const d = make('/api');
      await d.client.resource(todos).refresh();
      expect(d.calls).toEqual(['GET /api/todos?since=']);
      expect(await d.client.resource(todos).list()).toHaveLength(1);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(() => make('/api')).toThrow(/baseUrl "\/api" is relative, and there is no page here to resolve it against/);
  });

  it('sends Authorization only to the baseUrl origin and never stores the token', async () => {
    const seen: Array<string | null> = [];
    const d = make(server.apiUrl, {
      fetch: (input, init) => {
        const request = new Request(input, init);
        seen.push(request.headers.get('Authorization'));
        return fetch(request);
      },
    });
    await d.client.resource(todos).refresh();
    expect(seen).toEqual(['Bearer demo-alice']);
  });
});

describe('a list answer computed before a change made here landed', () => {
  /** A device holding n1 and n2, with its next list answer held once computed. */
  async function pullHeld(options: { conflicts?: 'server-wins' | 'manual' } = {}) {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'b' } });
    const lists = heldListAnswers();
    const d = make(server.apiUrl, { fetch: lists.fetch, ...options });
    const h = d.client.resource(notes);
    await h.refresh();
    const { landed } = await lists.heldRequest(() => h.refresh(), d.clock);
    const ids = async () => (await h.list()).map((n) => n.id).sort();
    return { d, h, ids, pulled: landed };
  }

  it('a create confirmed meanwhile stays: the answer does not know it yet; a later list without it removes it', async () => {
    const { d, h, ids, pulled } = await pullHeld();
    await h.create({ id: 'n3', text: 'c' }, { wait: 'server' });
    await pulled();
    expect(await ids()).toEqual(['n1', 'n2', 'n3']);
    // Deleted on the server by someone else: the next whole list speaks for it.
    await server.admin.edit({ resource: 'notes', id: 'n3', delete: true });
    await d.clock.advance(1);
    await h.refresh();
    expect(await ids()).toEqual(['n1', 'n2']);
  });

  it.each([['back', -3_600_000], ['forward', 3_600_000]])('a create and a delete confirmed meanwhile, while the clock stepped %s an hour: the answer undoes neither (RELIABILITY #57)', async (_, ms) => {
    const { d, h, ids, pulled } = await pullHeld();
    const shown = latest(h.query$());
    // The list request is out; the wall clock steps (the user, NTP), timers keep their delays.
    d.clock.step(ms);
    await h.create({ id: 'n3', text: 'c' }, { wait: 'server' });
    await h.delete('n1', { wait: 'server' });
    await pulled();
    expect(await ids()).toEqual(['n2', 'n3']);
    expect(shown.value?.data.map((n) => n.id).sort()).toEqual(['n2', 'n3']);
  });

  it('a create and a delete confirmed meanwhile, the clock then stepping back a day before the answer lands: the answer undoes neither (RELIABILITY #57)', async () => {
    const { d, h, ids, pulled } = await pullHeld();
    const shown = latest(h.query$());
    await h.create({ id: 'n3', text: 'c' }, { wait: 'server' });
    await h.delete('n1', { wait: 'server' });
    // Both were answered after the request; the wall clock steps back (NTP, a laptop woken) before its answer arrives.
    d.clock.step(-24 * 3_600_000);
    await pulled();
    expect(await ids()).toEqual(['n2', 'n3']);
    expect(shown.value?.data.map((n) => n.id).sort()).toEqual(['n2', 'n3']);
  });

  it('an update confirmed meanwhile keeps its newer version', async () => {
    const { h, pulled } = await pullHeld();
    await h.update('n2', { text: 'b2' }, { wait: 'server' });
    await pulled();
    expect(await h.get('n2')).toMatchObject({ text: 'b2', version: 2 });
  });

  it('a delete confirmed meanwhile stays deleted: the answer does not bring it back', async () => {
    const { d, h, ids, pulled } = await pullHeld();
    const shown = latest(h.query$());
    await h.delete('n2', { wait: 'server' });
    await pulled();
    expect(await ids()).toEqual(['n1']);
    expect(shown.value?.data.map((n) => n.id).sort()).toEqual(['n1']);
    // Created again on the server later: the next list brings it.
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'again' } });
    await d.clock.advance(1);
    await h.refresh();
    expect(await h.get('n2')).toMatchObject({ text: 'again' });
  });

  it('a conflict that ends in the deletion the server answered: the answer does not bring it back', async () => {
    const { h, ids, pulled } = await pullHeld({ conflicts: 'server-wins' });
    await server.admin.edit({ resource: 'notes', id: 'n2', delete: true });
    await expect(h.update('n2', { text: 'mine' }, { wait: 'server' })).resolves.toBeUndefined();
    await pulled();
    expect(await ids()).toEqual(['n1']);
  });

  it('a deletion the server answered, taken when a parked conflict is resolved: the answer does not bring it back', async () => {
    const { d, h, ids, pulled } = await pullHeld({ conflicts: 'manual' });
    await server.admin.edit({ resource: 'notes', id: 'n2', delete: true });
    const conflicts = latest(d.client.conflicts$);
    await h.update('n2', { text: 'mine' });
    await until(() => conflicts.value?.length === 1, 'the conflict parked');
    await conflicts.value![0]!.resolve('remote');
    await pulled();
    expect(await ids()).toEqual(['n1']);
  });

  it('a parked deletion resolved after a pull heard the entity created again is not remembered: the answer in flight shows it', async () => {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'b' } });
    const lists = heldListAnswers();
    const d = make(server.apiUrl, { fetch: lists.fetch, conflicts: 'manual' });
    const h = d.client.resource(notes);
    await h.refresh();
    await server.admin.edit({ resource: 'notes', id: 'n2', delete: true });
    const conflicts = latest(d.client.conflicts$);
    await h.update('n2', { text: 'mine' });
    await until(() => conflicts.value?.length === 1, 'the conflict parked');
    // Created again on the server; a pull stores it under the parked change.
    await server.admin.edit({ resource: 'notes', create: { id: 'n2', text: 'again' } });
    await d.clock.advance(1);
    await h.refresh();
    const { landed } = await lists.heldRequest(() => h.refresh(), d.clock);
    // The parked answer (gone) is older than what is stored: the list in flight, computed since, speaks for it.
    await conflicts.value![0]!.resolve('remote');
    await landed();
    expect(await h.get('n2')).toMatchObject({ text: 'again' });
  });

  /** A device holding n1 and n3, its create of n3 confirmed, and n3 deleted on the server since. */
  async function createdThenDeletedOnServer() {
    await server.admin.edit({ resource: 'notes', create: { id: 'n1', text: 'a' } });
    const d = make(server.apiUrl);
    const h = d.client.resource(notes);
    await h.create({ id: 'n3', text: 'c' }, { wait: 'server' });
    await server.admin.edit({ resource: 'notes', id: 'n3', delete: true });
    return { d, h };
  }

  it('a create confirmed before the request goes when the answer leaves it out: it was deleted since', async () => {
    const { d, h } = await createdThenDeletedOnServer();
    await d.clock.advance(1);
    await h.refresh();
    expect((await h.list()).map((n) => n.id)).toEqual(['n1']);
  });

  it('a clock that stepped back after a create was confirmed does not keep it for ever once deleted on the server', async () => {
    const { d, h } = await createdThenDeletedOnServer();
    // Confirmed by a clock an hour ahead, set right since: every later request is "before" it.
    d.clock.jump(-3_600_000);
    await h.refresh();
    expect((await h.list()).map((n) => n.id)).toEqual(['n1']);
  });

  it('a local write on a confirmed entity, made without reading it first, keeps when its base was answered', async () => {
    const { d, h, pulled } = await pullHeld();
    await h.create({ id: 'n3', text: 'c' }, { wait: 'server' });
    d.online.next(false);
    await h.update('n3', { text: 'c2' });
    const raw = await openRaw(d.indexedDB, 'harborsync:default');
    const record = await result(raw.transaction('entities').objectStore('entities').get(['notes', 'n3']));
    raw.close();
    expect(record).toMatchObject({ view: { text: 'c2' }, settledAt: d.clock.now() });
    await pulled();
  });

  describe('through the delta feed', () => {
    /** A device following todos t1 and t2, its next delta request made (the time taken) but held before it leaves. */
    async function requestHeld() {
      await seedTodos(2);
      let gate: Promise<void> | null = null;
      let open = () => undefined as void;
      let requested = 0;
      const held: typeof fetch = async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'GET' && gate) {
          requested++;
          await gate;
        }
        return fetch(request);
      };
      const d = make(server.apiUrl, { fetch: held });
      const h = d.client.resource(todos);
      await h.refresh();
      gate = new Promise<void>((resolve) => (open = resolve));
      const pulling = h.refresh();
      await until(() => requested === 1, 'the delta requested');
      d.clock.jump(1);
      const since = () => d.calls.filter((c) => c.startsWith('GET /api/todos?since=')).map((c) => c.split('since=')[1]);
      return { d, h, since, pulled: async () => ((gate = null), open(), await pulling) };
    }

    it('an entity deleted here after the request and created again elsewhere before the page was computed: the page brings it (a newer version than the one deleted)', async () => {
      const { h, pulled } = await requestHeld();
      await h.delete('t0', { wait: 'server' });
      await server.admin.edit({ resource: 'todos', create: { id: 't0', title: 'again', done: false } });
      await pulled();
      expect(await h.get('t0')).toMatchObject({ title: 'again' });
    });

    it('a delete confirmed after the whole list that replaced a rejected cursor was requested: that list does not bring the entity back', async () => {
      await seedTodos(3);
      // Holds the whole list only (no query string): the delta request before it goes through.
      const lists = heldAnswers((request) => request.method === 'GET' && new URL(request.url).search === '');
      const d = make(server.apiUrl, { fetch: lists.fetch });
      const h = d.client.resource(todos);
      await h.refresh();
      await h.refresh();
      await backend.reset(); // the stored cursor is beyond every change now: 410
      await seedTodos(2);
      const { landed } = await lists.heldRequest(() => h.refresh(), d.clock);
      await h.delete('t0', { wait: 'server' });
      await landed();
      expect((await h.list()).map((t) => t.id)).toEqual(['t1']);
    });

    it('a delete confirmed after the request, the page computed before it landed: the page does not bring the entity back, and the next pull reads the deletion from the cursor it stored', async () => {
      const lists = heldListAnswers();
      await seedTodos(2);
      const d = make(server.apiUrl, { fetch: lists.fetch });
      const h = d.client.resource(todos);
      await h.refresh();
      // Changed here: the feed names t0 again, at the version the delete below is made on.
      await h.update('t0', { title: 'changed' }, { wait: 'server' });
      const { landed } = await lists.heldRequest(() => h.refresh(), d.clock);
      await h.delete('t0', { wait: 'server' });
      await landed();
      expect((await h.list()).map((t) => t.id)).toEqual(['t1']);
      await h.refresh();
      expect((await h.list()).map((t) => t.id)).toEqual(['t1']);
    });
  });
});

describe('a database written by another release', () => {
  /** The namespace's database as version 1 laid it out (an `r` index on entities), with records. */
  async function versionOne(factory: IDBFactory, name: string, entities: unknown[], outbox: unknown[], version = 1): Promise<void> {
    const db = await openRaw(factory, name, version, (v1) => {
      v1.createObjectStore('entities', { keyPath: ['r', 'id'] }).createIndex('r', 'r');
      v1.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true }).createIndex('entity', ['r', 'id']);
      v1.createObjectStore('meta');
    });
    const tx = db.transaction(['entities', 'outbox'], 'readwrite');
    for (const record of entities) tx.objectStore('entities').put(record);
    for (const entry of outbox) tx.objectStore('outbox').add(entry);
    await committed(tx);
    db.close();
  }

  it(`is upgraded to version ${DB_VERSION} in place: its cache shows at once, its queued change is sent, the \`r\` index is gone`, async () => {
    // README (Several tabs) names the version: a new one is a change users must hear of.
    expect(DB_VERSION).toBe(2);
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'A', done: false } });
    await server.admin.edit({ resource: 'todos', create: { id: 'b', title: 'B', done: false } });
    const a = { id: 'a', title: 'A', done: false, version: 1 };
    const b = { id: 'b', title: 'B', done: false, version: 1 };
    const factory = new IDBFactory();
    await versionOne(
      factory,
      'harborsync:upgraded',
      [
        { r: 'todos', id: 'a', base: a, view: a },
        { r: 'todos', id: 'b', base: b, view: { ...b, title: 'B, edited offline' } },
      ],
      [outboxEntry({ id: 'b', payload: { title: 'B, edited offline' }, key: 'key-from-v1', origin: 'an-old-tab' })],
    );

    const d = make(server.apiUrl, { namespace: 'upgraded' }, factory);
    d.online.next(false);
    const states: QueryState<Todo>[] = [];
    const subscription = d.client.resource(todos).query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success', 'the cached list');
    expect(states.at(-1)!.data.map((t) => t.title)).toEqual(['A', 'B, edited offline']);
    expect([...states.at(-1)!.pendingIds]).toEqual(['b']);

    d.online.next(true);
    await d.client.flush();
    const ledger = await server.admin.ledger('todos');
    expect(ledger.filter((r) => r.op === 'update')).toEqual([
      expect.objectContaining({ entityId: 'b', idempotencyKey: 'key-from-v1', body: { title: 'B, edited offline' } }),
    ]);
    await until(() => states.at(-1)?.pendingIds.size === 0, 'the change confirmed');
    subscription.unsubscribe();
    await d.client.close();

    const db = await openRaw(factory, 'harborsync:upgraded');
    expect(db.version).toBe(DB_VERSION);
    expect([...db.transaction('entities').objectStore('entities').indexNames]).toEqual([]);
    expect([...db.transaction('outbox').objectStore('outbox').indexNames]).toEqual(['entity']);
    db.close();
  });

  it('written by a newer release: every call fails with a StorageError that says to reload, and what it holds stays', async () => {
    const factory = new IDBFactory();
    const queued = { r: 'todos', id: 'n', op: 'create', payload: { id: 'n', title: 'Newer', done: false }, key: 'k' };
    await versionOne(factory, 'harborsync:newer', [], [queued], DB_VERSION + 1);
    const d = make(server.apiUrl, { namespace: 'newer' }, factory);
    const reload = `"harborsync:newer" was upgraded by a newer version of this app (this one knows version ${DB_VERSION}); reload this page`;
    await expect(d.client.resource(todos).list()).rejects.toThrow(reload);
    await expect(d.client.resource(todos).create({ id: 'm', title: 'Mine', done: false })).rejects.toThrow(reload);

    const db = await openRaw(factory, 'harborsync:newer');
    expect(db.version).toBe(DB_VERSION + 1);
    expect(await getAllRaw(db, 'outbox')).toEqual([{ ...queued, seq: 1 }]);
    db.close();
  });
});

describe('durability', () => {
  /** A browser's IndexedDB that notes the mode and options of every transaction opened. */
  class RecordingIDBFactory extends IDBFactory {
    readonly transactions: Array<{ stores: string[]; mode: string; durability: string | undefined }> = [];
    override open(name: string, version?: number): IDBOpenDBRequest {
      const request = super.open(name, version);
      request.addEventListener('success', () => {
        const db = request.result;
        const transaction = db.transaction.bind(db);
        db.transaction = ((stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) => {
          this.transactions.push({ stores: [stores].flat(), mode: mode ?? 'readonly', durability: options?.durability });
          return transaction(stores, mode, options);
        }) as typeof db.transaction;
      });
      return request;
    }
  }

  it('every transaction that writes (local writes, answers, pulls, conflict decisions) is strict (RELIABILITY 42)', async () => {
    await seedTodos(2);
    const indexedDB = new RecordingIDBFactory();
    const d = make(server.apiUrl, { conflicts: 'manual' }, indexedDB);
    const h = d.client.resource(todos);
    await h.refresh();
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'theirs' } });
    await h.update('a', { title: 'mine' });
    await d.client.flush();
    let conflicts: Array<{ resolve(choice: 'local'): Promise<void> }> = [];
    d.client.conflicts$.subscribe((c) => (conflicts = c)).unsubscribe();
    await conflicts[0]!.resolve('local');
    await d.client.flush();
    await h.delete('t0');
    await d.client.flush();
    const writes = indexedDB.transactions.filter((t) => t.mode === 'readwrite');
    expect(writes.length).toBeGreaterThan(8);
    expect(writes.filter((t) => t.durability !== 'strict')).toEqual([]);
    expect(await server.admin.ledger('todos')).toHaveLength(6);
  });
});

describe('a local write', () => {
  it('emits once to each live query and entity watch: its commit, storing what it showed, leaves the same objects shown', async () => {
    const d = make(server.apiUrl);
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    const lists: Array<QueryState<Todo>> = [];
    const entities: Array<EntityState<Todo>> = [];
    h.query$({ orderBy: 'title' }).subscribe((s) => lists.push(s));
    h.get$('a').subscribe((s) => entities.push(s));
    const [listsBefore, entitiesBefore] = [lists.length, entities.length];
    const updated = await h.update('a', { title: 'B' });
    const created = await h.create({ id: 'c', title: 'C', done: true });
    expect(lists.at(-1)!.data).toEqual([updated, created]);
    expect(lists.at(-1)!.data[0]).toBe(updated);
    expect(lists.at(-1)!.data[1]).toBe(created);
    await h.update('a', { done: true });
    expect(lists.slice(listsBefore).map((s) => s.data.map((t) => `${t.title}${t.done ? '+' : ''}`))).toEqual([['B'], ['B', 'C+'], ['B+', 'C+']]);
    expect(entities.slice(entitiesBefore).map((s) => s.data?.title)).toEqual(['B', 'B']);
    expect(lists.at(-1)!.data[1]).toBe(lists.at(-2)!.data[1]);
  });

  it('an entity read from get(), list() or a query cannot be changed in place (shown, never stored nor sent, its row misplaced): an update of a copy sends the change', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'A', done: false, tags: ['x'] } as never });
    await server.admin.edit({ resource: 'todos', create: { id: 'b', title: 'B', done: false } });
    const tagged = defineResource({ name: 'todos', schema: todoSchema.extend({ tags: z.array(z.string()).optional() }) });
    const d = make(server.apiUrl, { resources: [tagged] });
    const h = d.client.resource(tagged);
    const shown = latest(h.query$({ orderBy: 'title' }));
    await h.refresh();
    const a = (await h.get('a'))!;
    const [listed] = await h.list({ where: { id: 'a' } });
    for (const entity of [a, listed!, shown.value!.data[0]!]) {
      expect(() => (entity.title = 'Z')).toThrow(TypeError);
      expect(() => entity.tags!.push('y')).toThrow(TypeError);
    }
    await h.update('a', { ...a, title: 'Z', tags: [...a.tags!, 'y'] });
    await h.update('b', { title: 'C' });
    expect(shown.value!.data.map((t) => t.title)).toEqual(['C', 'Z']);
    await d.client.flush();
    expect((await server.admin.ledger('todos')).filter((r) => r.op === 'update').map((r) => [r.entityId, r.body])).toEqual([
      ['a', { title: 'Z', tags: ['x', 'y'] }],
      ['b', { title: 'C' }],
    ]);
    expect(await h.get('a')).toMatchObject({ title: 'Z', tags: ['x', 'y'], version: 2 });
  });

  it('the objects and arrays an app passes to create() and update() stay its own, mutable: the views freeze copies, even of fields the schema passes through', async () => {
    const loose = defineResource({ name: 'todos', schema: todoSchema.extend({ meta: z.any().optional() }) });
    const d = make(server.apiUrl, { resources: [loose] });
    const h = d.client.resource(loose);
    const meta = { tags: ['x'], owner: { name: 'ann' } };
    const created = await h.create({ id: 'a', title: 'A', done: false, meta });
    expect(Object.isFrozen(created.meta)).toBe(true);
    meta.tags.push('y');
    meta.owner.name = 'bob';
    expect((await h.get('a'))!.meta).toEqual({ tags: ['x'], owner: { name: 'ann' } });
    const next = { tags: ['z'] };
    await h.update('a', { meta: next });
    next.tags.push('w');
    expect((await h.get('a'))!.meta).toEqual({ tags: ['z'] });
    await d.client.flush();
    expect((await server.admin.ledger('todos')).map((r) => r.body)).toEqual([
      { id: 'a', title: 'A', done: false, meta: { tags: ['x'], owner: { name: 'ann' } } },
      { meta: { tags: ['z'] } },
    ]);
  });

  it('a change queued behind a deletion keeps the version it was made on: sent, it meets the deletion as a conflict', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'X', done: false } });
    const d = make(server.apiUrl, { namespace: 'behind-a-deletion' });
    const h = d.client.resource(todos);
    await h.refresh();
    d.online.next(false);
    await h.delete('x');
    // A later change of the same entity behind the delete: what a rename leaves when one entity
    // was known under two ids (a create whose answer was lost, pulled under its server id).
    const raw = await openRaw(d.indexedDB, 'harborsync:behind-a-deletion');
    const tx = raw.transaction('outbox', 'readwrite');
    const { seq, ...later } = outboxEntry({ id: 'x', payload: { title: 'Later' }, baseVersion: 1, key: 'key-later' });
    tx.objectStore('outbox').add(later);
    await committed(tx);
    raw.close();
    await d.client.close();

    const reopened = make(server.apiUrl, { namespace: 'behind-a-deletion' }, d.indexedDB, d.clock);
    const conflicts = latest(reopened.client.conflicts$);
    await reopened.client.flush();
    await until(() => conflicts.value?.length === 1, 'the change meeting the deletion');
    expect(conflicts.value![0]).toMatchObject({ id: 'x', remote: null });
    expect((await server.admin.ledger('todos')).map((r) => r.op)).toEqual(['create', 'delete']);
    expect(reopened.events.filter((e) => e.type === 'retrying')).toEqual([]);
  });

  it('commits in one transaction when the tab knows the entity clean, and in one when its copy is stale, redone there on what is stored', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'X', done: false } });
    await server.admin.edit({ resource: 'todos', create: { id: 'y', title: 'Y', done: false } });
    const factory = new IDBFactory();
    // Every readwrite transaction, and how it ended.
    const transactions: Array<'complete' | 'abort' | 'running'> = [];
    const open = factory.open.bind(factory);
    factory.open = (name: string, version?: number) => {
      const request = open(name, version);
      request.addEventListener('success', () => {
        const db = request.result;
        const transaction = db.transaction.bind(db);
        db.transaction = ((stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) => {
          const tx = transaction(stores, mode, options);
          if (mode === 'readwrite') {
            const at = transactions.push('running') - 1;
            tx.addEventListener('complete', () => (transactions[at] = 'complete'));
            tx.addEventListener('abort', () => (transactions[at] = 'abort'));
          }
          return tx;
        }) as typeof db.transaction;
      });
      return request;
    };
    const d = make(server.apiUrl, { namespace: 'one-round-trip' }, factory);
    const h = d.client.resource(todos);
    await h.refresh();
    d.online.next(false);

    transactions.length = 0;
    await h.update('x', { done: true });
    expect(transactions).toEqual(['complete']);

    // Another tab pulled y's next version; this tab has not heard of it.
    const y2 = { id: 'y', title: 'Y, pulled elsewhere', done: false, version: 2 };
    // Through the unwrapped open: the other tab's transaction is not one of this tab's.
    const other = await openRaw({ open }, 'harborsync:one-round-trip');
    const tx = other.transaction('entities', 'readwrite');
    tx.objectStore('entities').put({ r: 'todos', id: 'y', base: y2, view: y2 });
    await committed(tx);
    other.close();
    transactions.length = 0;
    await h.update('y', { done: true });
    expect(transactions).toEqual(['complete']);
    expect(await h.get('y')).toEqual({ ...y2, done: true });
    // One entry, made on the version that was stored; the one first added on the stale copy is gone.
    const raw = await openRaw({ open }, 'harborsync:one-round-trip');
    const queued = await getAllRaw<OutboxEntry>(raw, 'outbox');
    raw.close();
    expect(queued.map((e) => [e.id, e.payload, e.baseVersion])).toEqual([
      ['x', { done: true }, 1],
      ['y', { done: true }, 2],
    ]);
  });

  it('made on a copy older than what is stored (another tab pulled a newer version, unheard of here): it resolves with the local view it made, on that version', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'y', title: 'Y', done: false } });
    const d = make(server.apiUrl, { namespace: 'stale-copy' });
    const h = d.client.resource(todos);
    await h.refresh();
    d.online.next(false);
    const y2 = { id: 'y', title: 'Y, pulled elsewhere', done: false, version: 2 };
    const other = await openRaw(d.indexedDB, 'harborsync:stale-copy');
    const tx = other.transaction('entities', 'readwrite');
    tx.objectStore('entities').put({ r: 'todos', id: 'y', base: y2, view: y2 });
    await committed(tx);
    other.close();
    const updated = await h.update('y', { done: true });
    expect(await h.get('y')).toEqual({ ...y2, done: true });
    expect(updated).toEqual({ ...y2, done: true });
  });

  it('repeated while the first is still committing on a copy older than what is stored (a double submit): both resolve with the view as stored, on that version', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'y', title: 'Y', done: false } });
    const d = make(server.apiUrl, { namespace: 'stale-copy-twice' });
    const h = d.client.resource(todos);
    await h.refresh();
    d.online.next(false);
    const y2 = { id: 'y', title: 'Y, pulled elsewhere', done: false, version: 2 };
    const other = await openRaw(d.indexedDB, 'harborsync:stale-copy-twice');
    const tx = other.transaction('entities', 'readwrite');
    tx.objectStore('entities').put({ r: 'todos', id: 'y', base: y2, view: y2 });
    await committed(tx);
    other.close();
    const first = h.update('y', { done: true });
    const again = h.update('y', { done: true });
    expect(await first).toEqual({ ...y2, done: true });
    expect(await again).toEqual({ ...y2, done: true });
    expect(await h.get('y')).toEqual({ ...y2, done: true });
  });
});

describe('storing server answers', () => {
  it('an answer another tab stored first comes back as null; the others as stored once the outbox is re-read, not as this transaction left them', async () => {
    const factory = new IDBFactory();
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const options = { setTimer: new ManualClock().setTimer, now: () => 0, requestTimeoutMs: 30_000 };
    const here = new LocalStore(factory, 'answers', callbacks, options);
    const there = new LocalStore(factory, 'answers', callbacks, options);
    const def = todos as unknown as ResourceDefinition<object>;
    const fresh = (id: string, op: PendingOp) => (): NewEntry => {
      const { seq: _seq, ...entry } = outboxEntry({ id, op: op.op, payload: op.op === 'create' ? op.value : op.op === 'update' ? op.patch : null, key: `${id}-${op.op}` });
      return entry;
    };
    const create = (id: string): PendingOp => ({ op: 'create', value: { id, title: id.toUpperCase(), done: false } });
    await here.write(def, 'a', create('a'), fresh('a', create('a')), null);
    await here.write(def, 'b', create('b'), fresh('b', create('b')), null);
    const [a, b] = await here.freeze([here.outbox.entriesOf('todos', 'a')[0]!, here.outbox.entriesOf('todos', 'b')[0]!]);
    const answer = (id: string) => ({ id, title: id.toUpperCase(), done: false, version: 1 });

    // Another tab, sending too, stored a's answer first.
    await there.open();
    await there.settleMany([{ def, entry: a!, answer: answer('a') }], 0);
    // While this tab re-reads the outbox, a later change of b commits in that tab.
    const update: PendingOp = { op: 'update', patch: { title: 'B2' } };
    const reload = here.reloadOutbox.bind(here);
    here.reloadOutbox = async () => {
      await there.write(def, 'b', update, fresh('b', update));
      return reload();
    };
    const changes = await here.settleMany([
      { def, entry: a!, answer: answer('a') },
      { def, entry: b!, answer: answer('b') },
    ], 0);
    expect(changes).toEqual([null, { r: 'todos', id: 'b', view: { id: 'b', title: 'B2', done: false, version: 1 } }]);
    here.close();
    there.close();
  });

  it("a parked conflict takes the server's deletion from a tombstone or a whole list, never from an eviction or an on-demand page's scope", async () => {
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const store = new LocalStore(new IDBFactory(), 'reparked', callbacks, { setTimer: new ManualClock().setTimer, now: () => 0, requestTimeoutMs: 30_000 });
    const def = todos as unknown as ResourceDefinition<object>;
    const base = { id: 'a', title: 'A', done: false, version: 1 };
    const theirs = { ...base, title: 'theirs', version: 2 };
    const update: PendingOp = { op: 'update', patch: { title: 'mine' } };
    await store.applyPull(def, [base], { authoritative: false });
    await store.write(def, 'a', update, () => {
      const { seq: _seq, ...entry } = outboxEntry({ id: 'a', op: 'update', payload: { title: 'mine' }, key: 'a-update', baseVersion: 1 });
      return entry;
    });
    const local = { ...base, title: 'mine' };
    await store.rewrite(def, 'a', ({ base: stored, entries }) => ({
      base: stored,
      entries: entries.map((e) => ({ ...e, state: 'conflict' as const, conflict: { base, local, remote: theirs, fields: ['title'] } })),
    }));
    const remote = () => store.outbox.entriesOf('todos', 'a')[0]!.conflict!.remote;

    const evicted = await store.applyPull(def, [], { authoritative: false, deleted: ['a'], evicting: true });
    const outOfScope = await store.applyPull(def, [], { authoritative: false, deleted: ['a'], stillGone: () => true });
    expect([evicted.changes, outOfScope.changes]).toEqual([[{ r: 'todos', id: 'a', view: local }], [{ r: 'todos', id: 'a', view: local }]]);
    expect(remote()).toEqual(theirs);
    const tombstone = await store.applyPull(def, [], { authoritative: false, deleted: ['a'] });
    expect(tombstone.changes).toEqual([{ r: 'todos', id: 'a', view: local, outbox: true }]);
    expect(remote()).toBeNull();
    expect((await store.loadEntity('todos', 'a')).entries[0]!.conflict).toEqual({ base, local, remote: null, fields: ['title'] });
    // Created again: a whole list holding it gives it back; one silent on it deletes it again.
    const again = { ...base, title: 'again', version: 5 };
    await store.applyPull(def, [again], { authoritative: true });
    expect(remote()).toEqual(again);
    await store.applyPull(def, [], { authoritative: true });
    expect(remote()).toBeNull();
    store.close();
  });

  it('a conflict decision made on a remote that a pull has since overtaken, or on a parked conflict a pull has since changed, is made again', async () => {
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const clock = new ManualClock();
    const store = new LocalStore(new IDBFactory(), 'overtaken', callbacks, { setTimer: clock.setTimer, now: clock.now, requestTimeoutMs: 30_000 });
    const def = todos as unknown as ResourceDefinition<object>;
    const events: string[] = [];
    const host = {
      store,
      env: { clock } as unknown as Env,
      applied: () => undefined,
      emit: (event: { type: string }) => void events.push(event.type),
      settled: () => undefined,
      folded: () => undefined,
      announce: () => undefined,
    };
    const base = { id: 'a', title: 'A', done: false, version: 1 };
    const local = { ...base, title: 'mine' };
    const v2 = { ...base, title: 'theirs', version: 2 };
    const v3 = { ...v2, done: true, version: 3 };
    await store.applyPull(def, [base], { authoritative: false });
    await store.write(def, 'a', { op: 'update', patch: { title: 'mine' } }, () => {
      const { seq: _seq, ...entry } = outboxEntry({ id: 'a', op: 'update', payload: { title: 'mine' }, key: 'a-update', baseVersion: 1 });
      return entry;
    });
    const decide = async (remote: typeof v2, kind: 'remote' | 'park') => {
      const { entries } = await store.loadEntity('todos', 'a');
      const head = entries[0]!;
      const input = { base, local, remote, ignore: ['version'], seen: new Map(entries.map((e) => [e.seq, e])) };
      return applyOutcome(host, def, head, input, kind === 'park' ? { kind, fields: ['title'] } : { kind }, 'manual');
    };
    // The answer named version 2; a pull stored version 3 before the decision was stored.
    await store.applyPull(def, [v3], { authoritative: false });
    expect(await decide(v2, 'park')).toBe('stale');
    expect(store.outbox.entriesOf('todos', 'a')[0]!.state).toBe('queued');
    expect(await decide(v3, 'park')).toBeUndefined();
    expect(store.outbox.entriesOf('todos', 'a')[0]!.conflict!.remote).toEqual(v3);
    // Parked on version 3: a decision read before a pull brought version 4 is stale.
    const { entries: read } = await store.loadEntity('todos', 'a');
    const v4 = { ...v3, title: 'theirs again', version: 4 };
    await store.applyPull(def, [v4], { authoritative: false });
    const input = { base, local, remote: v4, ignore: ['version'], seen: new Map(read.map((e) => [e.seq, e])) };
    expect(await applyOutcome(host, def, read[0]!, input, { kind: 'remote' }, 'manual')).toBe('stale');
    expect(await decide(v3, 'remote')).toBe('stale');
    expect(await store.loadEntity('todos', 'a')).toMatchObject({ record: { base: v4 }, entries: [{ conflict: { remote: v4 } }] });
    expect(await decide(v4, 'remote')).toBeUndefined();
    expect(await store.loadEntity('todos', 'a')).toEqual({ record: expect.objectContaining({ base: v4, view: v4 }), entries: [] });
    expect(events).toEqual(['conflict', 'resolved']);
    store.close();
  });

  it('a delete answered while a create of the same id waits behind it: a list requested before does not make the old entity the base the create stands on', async () => {
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const store = new LocalStore(new IDBFactory(), 'recreated', callbacks, { setTimer: new ManualClock().setTimer, now: () => 0, requestTimeoutMs: 30_000 });
    const def = todos as unknown as ResourceDefinition<object>;
    const fresh = (op: PendingOp) => (): NewEntry => {
      const { seq: _seq, ...entry } = outboxEntry({ id: 'x', op: op.op, payload: op.op === 'create' ? op.value : null, key: `x-${op.op}`, baseVersion: 1 });
      return entry;
    };
    const old = { id: 'x', title: 'X', done: false, version: 1 };
    await store.applyPull(def, [old], { authoritative: false });
    const del: PendingOp = { op: 'delete' };
    await store.write(def, 'x', del, fresh(del));
    const [sent] = await store.freeze([store.outbox.entriesOf('todos', 'x')[0]!]);
    const again: PendingOp = { op: 'create', value: { id: 'x', title: 'again', done: false } };
    await store.write(def, 'x', again, fresh(again));
    await store.settleMany([{ def, entry: sent!, answer: null }], 100);
    // A list requested at 50, before the delete landed, still holds x.
    await store.applyPull(def, [old], { authoritative: false, answeredSinceRequest: (at) => at > 50 });
    expect((await store.loadEntity('todos', 'x')).record).toMatchObject({ base: null, view: { title: 'again' } });
    // The create cancelled before it is sent: nothing is left to show.
    await store.write(def, 'x', del, fresh(del));
    expect((await store.loadEntity('todos', 'x')).record).toBeUndefined();
    store.close();
  });

  it('remembers the entities its answers deleted for twice the request timeout, forgetting older ones, and ones far ahead of a clock that stepped back, as it goes', async () => {
    const factory = new IDBFactory();
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const store = new LocalStore(factory, 'deletions', callbacks, { setTimer: new ManualClock().setTimer, now: () => 0, requestTimeoutMs: 1_000 });
    const def = todos as unknown as ResourceDefinition<object>;
    /** An entity written and its change answered at `at` with no entity: deleted. */
    const deletedAt = async (id: string, at: number) => {
      const op: PendingOp = { op: 'create', value: { id, title: id, done: false } };
      const { seq: _seq, ...entry } = outboxEntry({ id, op: 'create', payload: op.value, key: `${id}-create` });
      await store.write(def, id, op, () => entry, null);
      const [frozen] = await store.freeze([store.outbox.entriesOf('todos', id)[0]!]);
      await store.settleMany([{ def, entry: frozen!, answer: null }], at);
    };
    const remembered = async () => {
      const raw = await openRaw(factory, 'harborsync:deletions');
      const value = await result(raw.transaction('meta').objectStore('meta').get('deletedAt:todos'));
      raw.close();
      return Object.fromEntries([...(value as Map<string, { at: number }>)].map(([id, deletion]) => [id, deletion.at]));
    };
    await deletedAt('a', 0);
    await deletedAt('b', 1_500);
    expect(await remembered()).toEqual({ a: 0, b: 1_500 });
    await deletedAt('c', 2_500);
    expect(await remembered()).toEqual({ b: 1_500, c: 2_500 });
    // Read a little before another tab's time, committed after it: that one stays; one far ahead (the clock stepped back) goes.
    await deletedAt('d', 100);
    expect(await remembered()).toEqual({ b: 1_500, d: 100 });
    store.close();
  });
});
