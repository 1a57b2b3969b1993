/**
 * Bad input (RELIABILITY.md §2 F and E, G7): every case ends in a typed error that names what was
 * wrong, and the stored data stays intact. Server answers come from a stub API, so they can be
 * anything; storage faults from fake-indexeddb, wrapped or patched.
 */
import { forceCloseDatabase, IDBFactory, IDBObjectStore, IDBOpenDBRequest } from 'fake-indexeddb';
import { BehaviorSubject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ClosedError,
  createSyncClient,
  defineResource,
  HttpError,
  NetworkError,
  SchemaError,
  StorageError,
  ValidationError,
  type Conflict,
  type EntityState,
  type FailedMutation,
  type QueryState,
  type SyncEvent,
} from '../../src/index.js';
import { notes, outcomeOf, trackedDevices, todos, until, type Device, type Todo } from '../helpers/harness.js';
import { ManualClock, seededRandom, upperHalfRandom } from '../helpers/manual-clock.js';
import { committed, getAllRaw, openRaw } from '../helpers/raw-idb.js';
import { OPEN_TIMEOUT_MS } from '../../src/store/db.js';
import { MAX_DEPTH } from '../../src/internal/plain.js';
import { createRestTransport } from '../../src/transport/rest.js';
import { handTimers, stalledBody } from '../helpers/hand-timers.js';

const API = 'http://api.test/api';
const { open, make } = trackedDevices();
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close()));
});

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** A stub API: `route` answers, or 404. Every request is kept with its body. */
function stubApi(route: (request: Request, url: URL, body: string) => Response | Promise<Response> | undefined) {
  const requests: Array<{ method: string; path: string; body: string; headers: Headers }> = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const body = request.method === 'GET' ? '' : await request.text();
    requests.push({ method: request.method, path: url.pathname + url.search, body, headers: request.headers });
    return (await route(request, url, body)) ?? json({ error: 'no route' }, 404);
  };
  return { fetch: fetchImpl, requests };
}

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};

/** Every record of every object store of one database, read with the raw API. */
async function dump(factory: IDBFactory, name: string): Promise<Record<string, Array<[unknown, unknown]>>> {
  const db = await openRaw(factory, name);
  const out: Record<string, Array<[unknown, unknown]>> = {};
  for (const store of Array.from(db.objectStoreNames)) {
    out[store] = await new Promise((resolve, reject) => {
      const rows: Array<[unknown, unknown]> = [];
      const request = db.transaction(store, 'readonly').objectStore(store).openCursor();
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor) return resolve(rows);
        rows.push([cursor.key, cursor.value]);
        cursor.continue();
      };
      request.onerror = () => reject(request.error);
    });
  }
  db.close();
  return out;
}

async function rawPut(factory: IDBFactory, name: string, store: string, value: unknown): Promise<void> {
  const db = await openRaw(factory, name);
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value);
  await committed(tx);
  db.close();
}

/**
 * A factory whose connections the test kills the way a browser does (iOS suspending the page):
 * transaction() throwing "The database connection is closing", a `close` event, or a transaction
 * aborted under the code. Counts the connections it opened.
 */
class KillableFactory extends IDBFactory {
  readonly connections: IDBDatabase[] = [];
  /** While set, open() throws it (a reopen that fails). */
  refuse: DOMException | null = null;

  override open(name: string, version?: number): IDBOpenDBRequest {
    if (this.refuse) throw this.refuse;
    const request = super.open(name, version);
    request.addEventListener('success', () => this.connections.push(request.result));
    return request;
  }

  /** Every transaction() on the connections open now throws, with no event (the connection is closing). */
  closing(): void {
    for (const db of this.connections) {
      db.transaction = () => {
        throw new DOMException('The database connection is closing.', 'InvalidStateError');
      };
    }
  }

  /** The browser closes the connections open now: they fire `close`. */
  forceClose(): void {
    // (Typed by fake-indexeddb as taking its class, though it takes a connection.)
    for (const db of this.connections) forceCloseDatabase(db as unknown as Parameters<typeof forceCloseDatabase>[0]);
  }

  /**
   * The next read-write transaction is aborted by the browser (AbortError) once its first requests
   * are issued, and the connection is closing from then on.
   */
  abortNextWrite(): void {
    for (const db of this.connections) {
      const original = db.transaction.bind(db);
      db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
        const tx = original(...args);
        if (args[1] !== 'readwrite') return tx;
        queueMicrotask(() => {
          (tx as unknown as { _abort(name: string): void })._abort('AbortError');
          this.closing();
        });
        return tx;
      }) as IDBDatabase['transaction'];
    }
  }

  /**
   * WebKit losing its IndexedDB server ("Connection to Indexed Database server lost") as the next
   * `mode` transaction runs: the connections open now begin closing, that transaction's request
   * and the transaction itself fail with UnknownError (not AbortError), then the connections fire
   * `close`.
   */
  loseServerOnNext(mode: IDBTransactionMode): void {
    type Internal = { _execRequestAsync(request: { operation: () => unknown; source: unknown }): IDBRequest };
    let lost = false;
    let closed = false;
    for (const db of this.connections) {
      const original = db.transaction.bind(db);
      db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
        const tx = original(...args);
        if (lost || (args[1] ?? 'readonly') !== mode) return tx;
        lost = true;
        const internal = tx as unknown as Internal;
        const exec = internal._execRequestAsync.bind(internal);
        internal._execRequestAsync = (request) =>
          exec({
            ...request,
            operation: () => {
              if (!closed) this.forceClose();
              closed = true;
              throw new DOMException('Connection to Indexed Database server lost. Refresh the page to try again', 'UnknownError');
            },
          });
        return tx;
      }) as IDBDatabase['transaction'];
    }
  }
}

/**
 * WebKit losing its IndexedDB server as the next read-write transaction commits, every request of
 * it done: the connections begin closing and the transaction fails with UnknownError. It may have
 * committed (the server may have written it before it went).
 */
function loseServerAsNextWriteCommits(factory: KillableFactory): void {
  type Internal = { _start(): void; _requests: unknown[]; _state: string; _abort(name: string): void };
  let lost = false;
  for (const db of factory.connections) {
    const original = db.transaction.bind(db);
    db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
      const tx = original(...args);
      if (lost || args[1] !== 'readwrite') return tx;
      lost = true;
      const internal = tx as unknown as Internal;
      const start = internal._start.bind(internal);
      internal._start = () => {
        if (internal._requests.length > 0 || internal._state === 'finished') return start();
        factory.forceClose();
        internal._abort('UnknownError');
      };
      return tx;
    }) as IDBDatabase['transaction'];
  }
}

/** The REST transport over `fetchImpl`, its deadline timers fired by hand with `fire()`. */
function handTimedTransport(fetchImpl: typeof fetch, timeoutMs: number) {
  const { setTimer, fire, pending } = handTimers();
  const transport = createRestTransport({ baseUrl: API, fetch: fetchImpl, auth: undefined, timeoutMs, setTimer });
  return { transport, fire, pending };
}

const schemaErrors = (d: Device) => d.events.filter((e): e is Extract<SyncEvent, { type: 'schemaError' }> => e.type === 'schemaError');

// ---- server answers to pulls ------------------------------------------------------------------

describe('server answers to pulls', () => {
  it('caches the valid rest of a list and reports each invalid item with resource, id and field; a cached copy stays', async () => {
    let answer: unknown = [
      { id: 'n1', text: 'one', version: 1 },
      { id: 'n2', text: 'two', version: 1 },
    ];
    const api = stubApi((_req, url) => (url.pathname === '/api/notes' ? json(answer) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(notes);
    await h.refresh();
    answer = [
      { id: 'n1', text: 'one!', version: 2 },
      { id: 'n2', text: 42, version: 2 },
      { id: 'n3', text: 'three', version: 'x' },
      { id: '', text: 'no id', version: 1 },
      'not an object',
      null,
    ];
    await h.refresh();
    expect(await h.list({ orderBy: 'id' })).toEqual([
      { id: 'n1', text: 'one!', version: 2 },
      { id: 'n2', text: 'two', version: 1 }, // the invalid answer does not remove or replace it
    ]);
    const errors = schemaErrors(d);
    expect(errors.map((e) => [e.id, e.error instanceof SchemaError])).toEqual([
      ['n2', true],
      ['n3', true],
      ['', true],
      [undefined, true],
      [undefined, true],
    ]);
    expect(errors[0]!.error.message).toMatch(/notes\/n2: field "text"/);
    expect(errors[1]!.error.message).toMatch(/notes\/n3: field "version"/);
    expect(errors[2]!.error.message).toMatch(/field "id"/);
  });

  it('keeps the cached copy of an entity named by a number whose item in the list fails the schema', async () => {
    const counters = defineResource({ name: 'counters', schema: z.object({ id: z.number(), n: z.number(), version: z.number() }) });
    let answer: unknown = [
      { id: 1, n: 1, version: 1 },
      { id: 2, n: 2, version: 1 },
    ];
    const api = stubApi((_req, url) => (url.pathname === '/api/counters' ? json(answer) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [counters] });
    const h = d.client.resource(counters);
    await h.refresh();
    answer = [
      { id: 1, n: 'one', version: 2 },
      { id: 2, n: 2, version: 1 },
    ];
    await h.refresh();
    expect(await h.list({ orderBy: 'id' })).toEqual([
      { id: 1, n: 1, version: 1 },
      { id: 2, n: 2, version: 1 },
    ]);
    expect(schemaErrors(d).map((e) => e.id)).toEqual(['1']);
  });

  it('an item nesting deeper than MAX_DEPTH (storing it would overflow the structured clone) is a SchemaError naming the field; the valid rest is cached', async () => {
    const docs = defineResource({ name: 'docs', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int() }).catchall(z.unknown()) });
    const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    // The entity is level 0, its field level 1: "ok" nests down to level MAX_DEPTH - 1, "deep" far beyond.
    const body = `[{"id":"ok","title":"A","version":1,"nest":${nest(MAX_DEPTH - 1)}},{"id":"deep","title":"B","version":1,"meta":{"nest":${nest(20_000)}}}]`;
    const api = stubApi((_req, url) => (url.pathname === '/api/docs' ? new Response(body, { headers: { 'content-type': 'application/json' } }) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [docs] });
    const h = d.client.resource(docs);
    await h.refresh();
    expect((await h.list()).map((x) => x.id)).toEqual(['ok']);
    const [reported] = schemaErrors(d);
    expect(schemaErrors(d)).toHaveLength(1);
    expect(reported!.error.message).toBe(`docs/deep: field "meta.nest${'.0'.repeat(MAX_DEPTH - 2)}" nests deeper than ${MAX_DEPTH} levels`);
  });

  it.each([
    ['HTML with 200', () => new Response('<html><body>Wi-Fi login</body></html>', { status: 200, headers: { 'content-type': 'text/html' } }), SchemaError, /not JSON/],
    ['truncated JSON', () => new Response('[{"id":"n1","te', { status: 200 }), SchemaError, /not JSON/],
    ['an object instead of a list', () => json({ items: [] }), SchemaError, /notes: the list answer is not an array/],
    ['null', () => json(null), SchemaError, /notes: the list answer is not an array/],
    ['an empty body with 200', () => new Response('', { status: 200 }), SchemaError, /notes: GET \/api\/notes answered 200 with an empty body/],
    ['an HTML 502', () => new Response('<html>Bad gateway</html>', { status: 502 }), HttpError, /notes: GET \/api\/notes answered 502/],
  ])('a malformed list answer (%s) rejects refresh() with a typed error and keeps the cache', async (_, answer, type, message) => {
    let good = true;
    const api = stubApi((_req, url) => (url.pathname === '/api/notes' ? (good ? json([{ id: 'n1', text: 'one', version: 1 }]) : answer()) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(notes);
    await h.refresh();
    const before = await dump(d.indexedDB, 'harborsync:default');
    good = false;
    const error = await h.refresh().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect(await h.list()).toEqual([{ id: 'n1', text: 'one', version: 1 }]);
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
    const state = latest<QueryState<{ id: string }>>(h.query$());
    expect(state.data).toHaveLength(1);
  });

  it.each([
    ['items not a list', { items: 'x', deleted: [], cursor: '1' }, /todos: the delta answer is not \{ items, deleted, cursor \}/],
    ['no cursor', { items: [], deleted: [] }, /todos: the delta answer has no string cursor/],
    ['a number cursor', { items: [], deleted: [], cursor: 7 }, /todos: the delta answer has no string cursor/],
  ])('a malformed delta answer (%s) is a SchemaError; the cursor and cache stay', async (_, bad, message) => {
    let answer: unknown = { items: [{ id: 't1', title: 'A', done: false, version: 1 }], deleted: [], cursor: '5' };
    const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json(answer) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    const before = await dump(d.indexedDB, 'harborsync:default');
    answer = bad;
    await expect(h.refresh()).rejects.toThrow(message);
    await expect(h.refresh()).rejects.toBeInstanceOf(SchemaError);
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
    answer = { items: [], deleted: [], cursor: '6' };
    await h.refresh();
    expect(api.requests.filter((r) => r.method === 'GET').map((r) => r.path).at(-1)).toBe('/api/todos?since=5');
  });

  it.each([410, 400])('a delta cursor answered %i is dropped and the whole list fetched instead; a 400 to a pull without a cursor is an HttpError', async (status) => {
    let rejecting = false;
    const api = stubApi((_req, url) => {
      if (url.pathname !== '/api/todos') return undefined;
      const since = url.searchParams.get('since');
      if (since === null) return json([{ id: 't2', title: 'B', done: false, version: 1 }]);
      if (rejecting && since !== '') return json({ error: `cursor ${since} rejected` }, status);
      if (rejecting) return json({ error: 'no delta feed today' }, 400);
      return json({ items: [{ id: 't1', title: 'A', done: false, version: 1 }], deleted: [], cursor: 'c5' });
    });
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    rejecting = true;
    await h.refresh();
    expect(api.requests.slice(1).map((r) => r.path)).toEqual(['/api/todos?since=c5', '/api/todos']);
    expect(await h.list()).toEqual([{ id: 't2', title: 'B', done: false, version: 1 }]);
    // The cursor went with the list: the next pull starts the feed afresh, and that request's
    // own 400 is not about a cursor.
    const error = await h.refresh().catch((e: unknown) => e);
    expect(api.requests.at(-1)!.path).toBe('/api/todos?since=');
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 400 });
    expect(await h.list()).toEqual([{ id: 't2', title: 'B', done: false, version: 1 }]);
  });

  it('an id named twice in one answer keeps its newest copy; one both in items and deleted is deleted; each is reported, and a reopen agrees', async () => {
    const api = stubApi((_req, url) =>
      url.pathname === '/api/todos'
        ? json({
            items: [
              { id: 'x', title: 'second', done: false, version: 2 },
              { id: 'x', title: 'first', done: false, version: 1 },
              { id: 'y', title: 'Y', done: false, version: 1 },
              { id: 'z', title: 'Z', done: false, version: 1 },
            ],
            deleted: ['y'],
            cursor: '3',
          })
        : undefined,
    );
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    const expected = [
      { id: 'x', title: 'second', done: false, version: 2 },
      { id: 'z', title: 'Z', done: false, version: 1 },
    ];
    expect(await h.list({ orderBy: 'id' })).toEqual(expected);
    expect(schemaErrors(d).map((e) => [e.resource, e.id, e.error.message])).toEqual([
      ['todos', 'x', 'todos/x: named 2 times in one answer: the copy of version 2 is kept'],
      ['todos', 'y', 'todos/y: named both in items and in deleted of one answer: deleted'],
    ]);
    expect(d.events.find((e) => e.type === 'pulled')).toMatchObject({ count: 2 });
    await d.client.close();
    const again = make(API, { fetch: api.fetch }, d.indexedDB);
    again.online.next(false);
    expect(await again.client.resource(todos).list({ orderBy: 'id' })).toEqual(expected);
  });

  it.each([
    ['tombstone objects', [{ id: 'a' }]],
    ['null', [null]],
    ['a string', 'a'],
    ['an object', { a: true }],
  ])('a delta answer whose deleted holds %s rejects refresh() with a SchemaError; the cursor stays, so the deletion is asked for again', async (_, deleted) => {
    let feed: unknown = { items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: 'c1' };
    const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json(feed) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    feed = { items: [], deleted, cursor: 'c2' };
    const error = await h.refresh().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as Error).message).toMatch(/^todos: .*deleted must be an array of ids/);
    expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false, version: 1 }]);
    feed = { items: [], deleted: ['a'], cursor: 'c2' };
    await h.refresh();
    expect(api.requests.map((r) => r.path)).toEqual(['/api/todos?since=', '/api/todos?since=c1', '/api/todos?since=c1']);
    expect(await h.list()).toEqual([]);
  });

  it('a delta answer may leave deleted out, or name its ids as numbers; a number JSON cannot hold (1e999) is no id: refused, the cursor stays', async () => {
    let feed = '{"items":[{"id":"1","title":"A","done":false,"version":1},{"id":"2","title":"B","done":false,"version":1}],"cursor":"c1"}';
    const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? new Response(feed, { headers: { 'content-type': 'application/json' } }) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    expect((await h.list({ orderBy: 'id' })).map((t) => t.id)).toEqual(['1', '2']);
    feed = '{"items":[],"deleted":[1e999],"cursor":"c2"}';
    await expect(h.refresh()).rejects.toThrow(/^todos: .*deleted must be an array of ids/);
    feed = '{"items":[],"deleted":[1],"cursor":"c2"}';
    await h.refresh();
    expect((await h.list()).map((t) => t.id)).toEqual(['2']);
    expect(api.requests.map((r) => r.path)).toEqual(['/api/todos?since=', '/api/todos?since=c1', '/api/todos?since=c1']);
  });

  it('an answer whose body stalls after its headers rejects refresh() with a NetworkError after timeoutMs; the cursor and cache stay', async () => {
    let stall = false;
    const api = stubApi((_req, url) =>
      url.pathname === '/api/todos' ? (stall ? stalledBody(200, '{"id":"a","ti') : json({ items: [{ id: 't1', title: 'A', done: false, version: 1 }], deleted: [], cursor: '5' })) : undefined,
    );
    const net = handTimedTransport(api.fetch, 5000);
    const d = make(API, { transport: net.transport });
    const h = d.client.resource(todos);
    await h.refresh();
    const before = await dump(d.indexedDB, 'harborsync:default');
    stall = true;
    const outcome = h.refresh().catch((e: unknown) => e);
    await until(() => api.requests.length === 2 && net.pending() > 0, 'the pull to be answered with headers');
    net.fire();
    const error = await outcome;
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as Error).message).toBe('todos: GET /api/todos failed: the answer (200) did not end within 5000 ms');
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
    expect(net.pending()).toBe(0);
  });

  it('an answer past maxAnswerBytes rejects refresh() with a SchemaError naming the limit; the cache stays', async () => {
    let big = false;
    const api = stubApi((_req, url) => {
      if (url.pathname !== '/api/notes') return undefined;
      const items = Array.from({ length: big ? 100 : 1 }, (_, i) => ({ id: `n${i}`, text: 'x'.repeat(50), version: 1 }));
      return json(items);
    });
    const d = make(API, { fetch: api.fetch, maxAnswerBytes: 4096 });
    const h = d.client.resource(notes);
    await h.refresh();
    big = true;
    const error = await h.refresh().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as Error).message).toBe(
      'notes: GET /api/notes answered 200, but its body passed the limit of 4096 bytes (maxAnswerBytes) and was not read',
    );
    expect(await h.list()).toEqual([{ id: 'n0', text: 'x'.repeat(50), version: 1 }]);
    expect(() => make(API, { fetch: api.fetch, maxAnswerBytes: 0 })).toThrow(/maxAnswerBytes must be a whole number of at least 1, got 0/);
  });

  it('caches an answer of 50,000 items whole, and loads it whole after a reopen', async () => {
    const items = Array.from({ length: 50_000 }, (_, i) => ({ id: `n${i}`, text: `note ${i}`, version: 1 }));
    const body = JSON.stringify(items);
    const api = stubApi((_req, url) => (url.pathname === '/api/notes' ? new Response(body, { status: 200 }) : undefined));
    const d = make(API, { fetch: api.fetch });
    await d.client.resource(notes).refresh();
    expect(await d.client.resource(notes).list()).toHaveLength(50_000);
    await d.client.close();
    const again = make(API, { fetch: api.fetch }, d.indexedDB);
    again.online.next(false);
    const all = await again.client.resource(notes).list({ orderBy: 'id' });
    expect(all).toHaveLength(50_000);
    expect(all[0]).toEqual({ id: 'n0', text: 'note 0', version: 1 });
  }, 120_000);
});

// ---- server answers to writes -------------------------------------------------------------------

describe('server answers to writes', () => {
  it.each([
    ['HTML with 200', () => new Response('<html>Please log in to the Wi-Fi</html>', { status: 200, headers: { 'content-type': 'text/html' } })],
    ['truncated JSON with 201', () => new Response('{"id":"a","title":"A","do', { status: 201 })],
    ['an empty 200 with text/html', () => new Response('', { status: 200, headers: { 'content-type': 'text/html' } })],
    ['an empty 201', () => new Response(null, { status: 201 })],
  ])('%s on a create is retried with the same key and body, never taken as success', async (_, bad) => {
    let portal = true;
    const api = stubApi((req, url, body) => {
      if (req.method !== 'POST') return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      if (portal) {
        portal = false;
        return bad();
      }
      return json({ ...JSON.parse(body), version: 1 }, 201);
    });
    // Every backoff draws 50 ms or more: the re-send waits for the clock, so what the client holds
    // after the bad answer is checked before it (a draw under 0.01 gave 0 ms: re-sent at once).
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    expect(d.events.some((e) => e.type === 'succeeded')).toBe(false);
    expect(latest(d.client.status$).pending).toBe(1);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: false });
    await d.clock.advance(100);
    await d.client.flush();
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[1]!.headers.get('Idempotency-Key')).toBe(posts[0]!.headers.get('Idempotency-Key'));
    expect(posts[1]!.body).toBe(posts[0]!.body);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
    expect(latest(d.client.status$).pending).toBe(0);
    expect(latest(d.client.failed$)).toHaveLength(0);
  });

  it('an empty 200 to an update is retried with the same key and body; an empty 204 to a delete is its success', async () => {
    let portal = true;
    const api = stubApi((req, url, body) => {
      if (req.method === 'GET') return url.pathname === '/api/todos' ? json({ items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: '1' }) : undefined;
      if (req.method === 'DELETE') return new Response(null, { status: 204 });
      if (portal) {
        portal = false;
        return new Response('', { status: 200, headers: { 'content-type': 'text/html' } });
      }
      return json({ id: 'a', title: 'A', done: false, ...JSON.parse(body), version: 2 });
    });
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(todos);
    await h.refresh();
    await h.update('a', { done: true });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    expect(d.events.some((e) => e.type === 'succeeded' || e.type === 'failed')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: true, version: 1 });
    await d.clock.advance(100);
    await d.client.flush();
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(2);
    expect(patches[1]!.headers.get('Idempotency-Key')).toBe(patches[0]!.headers.get('Idempotency-Key'));
    expect(patches[1]!.body).toBe(patches[0]!.body);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: true, version: 2 });
    await h.delete('a');
    await d.client.flush();
    expect(api.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(d.events.filter((e) => e.type === 'succeeded').map((e) => e.op)).toEqual(['update', 'delete']);
    expect(await h.get('a')).toBeUndefined();
    expect(latest(d.client.failed$)).toHaveLength(0);
    expect(latest(d.client.status$).pending).toBe(0);
  });

  it('an empty 200 to the fetch of the current entity after a 412 is no answer: the change is retried, not taken as deleted on the server', async () => {
    let empty = true;
    const api = stubApi((req, url) => {
      if (req.method === 'PATCH') return new Response(null, { status: 412 });
      if (url.pathname === '/api/todos') return json({ items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: '1' });
      if (url.pathname !== '/api/todos/a') return undefined;
      if (empty) {
        empty = false;
        return new Response('', { status: 200 });
      }
      return json({ id: 'a', title: 'theirs', done: false, version: 2 });
    });
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(todos);
    await h.refresh();
    await h.update('a', { title: 'mine' });
    await until(() => d.events.some((e) => e.type === 'retrying' || e.type === 'conflict'), 'the change to be retried or conflicted');
    expect(d.events.some((e) => e.type === 'conflict')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'mine', done: false, version: 1 });
    await d.clock.advance(100);
    await until(() => d.events.some((e) => e.type === 'conflict'), 'the conflict');
    expect(latest<Conflict[]>(d.client.conflicts$).map((c) => c.remote)).toEqual([{ id: 'a', title: 'theirs', done: false, version: 2 }]);
  });

  it('a 2xx answer to an update that names another entity goes to failed$ with a SchemaError naming both ids; neither entity takes it; the resource is pulled again', async () => {
    const api = stubApi((req, url) => {
      if (req.method === 'PATCH') return json({ id: 'b', text: 'not a', version: 7 });
      return url.pathname === '/api/notes' ? json([{ id: 'a', text: 'A', version: 1 }, { id: 'b', text: 'B', version: 1 }]) : undefined;
    });
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(notes);
    await h.refresh();
    await h.update('a', { text: 'A2' });
    await d.client.flush();
    await until(() => api.requests.filter((r) => r.method === 'GET').length === 2, 'a pull after the answer');
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ resource: 'notes', id: 'a', op: 'update' });
    expect(failed[0]!.error.message).toBe('notes/a: field "id" names notes/b, another entity than the one asked for');
    expect(schemaErrors(d).map((e) => e.error)).toEqual([expect.any(SchemaError)]);
    expect(await h.list()).toEqual([{ id: 'a', text: 'A2', version: 1 }, { id: 'b', text: 'B', version: 1 }]);
    const stored = (await dump(d.indexedDB, 'harborsync:default'))['entities']!.map(([, record]) => record);
    expect(stored).toMatchObject([{ id: 'a', base: { id: 'a', text: 'A', version: 1 } }, { id: 'b', base: { id: 'b', text: 'B', version: 1 } }]);
  });

  it.each([
    // The body is no answer about `a`: the server is asked, and its fetch names `b` too.
    ['a 412 whose body', () => json({ id: 'b', text: 'B', version: 2 }, 412), 2],
    ['the fetch of the current entity after a 412 with no body', () => new Response(null, { status: 412 }), 1],
  ])('%s is another entity: no answer, the change is retried, not a conflict with that entity', async (_, refusal, reports) => {
    const api = stubApi((req, url) => {
      if (req.method === 'PATCH') return refusal();
      if (url.pathname === '/api/notes/a') return json({ id: 'b', text: 'B', version: 2 });
      return url.pathname === '/api/notes' ? json([{ id: 'a', text: 'A', version: 1 }]) : undefined;
    });
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(notes);
    await h.refresh();
    await h.update('a', { text: 'mine' });
    await until(() => d.events.some((e) => e.type === 'retrying' || e.type === 'conflict'), 'the change to be retried or conflicted');
    expect(d.events.some((e) => e.type === 'conflict')).toBe(false);
    expect(schemaErrors(d).map((e) => e.error.message)).toEqual(Array(reports).fill('notes/a: field "id" names notes/b, another entity than the one asked for'));
    expect(await h.get('a')).toEqual({ id: 'a', text: 'mine', version: 1 });
  });

  it('a 412 whose body is an error naming the id, not the entity, is a conflict with what the server holds, fetched: merged and sent again, not retried into failed$', async () => {
    let server = { id: 'a', title: 'A', done: true, version: 2 };
    const api = stubApi((req, url, body) => {
      if (req.method === 'PATCH') {
        if (req.headers.get('If-Match') !== `"${server.version}"`) return json({ id: 'a', error: 'the version does not match' }, 412);
        server = { ...server, ...(JSON.parse(body) as object), version: server.version + 1 };
        return json(server);
      }
      if (url.pathname === '/api/todos/a') return json(server);
      return url.pathname === '/api/todos' ? json({ items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: '1' }) : undefined;
    });
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(todos);
    await h.refresh();
    await h.update('a', { title: 'mine' });
    await until(() => d.events.some((e) => e.type === 'retrying' || e.type === 'succeeded' || e.type === 'conflict'), 'the change to be answered');
    expect(d.events.filter((e) => e.type === 'retrying')).toEqual([]);
    await d.client.flush();
    expect(api.requests.filter((r) => r.method === 'PATCH').map((r) => r.headers.get('If-Match'))).toEqual(['"1"', '"2"']);
    expect(server).toEqual({ id: 'a', title: 'mine', done: true, version: 3 });
    expect(await h.get('a')).toEqual(server);
    expect(latest(d.client.failed$)).toHaveLength(0);
  });

  it('a 422 to a write parks it in failed$ with a message naming the Idempotency-Key sent; the server\'s answer stays in error.body', async () => {
    const refusal = { error: 'Idempotency-Key was already used for a different request' };
    const api = stubApi((req, url) => {
      if (req.method === 'PATCH') return json(refusal, 422);
      return url.pathname === '/api/todos' ? json({ items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: '1' }) : undefined;
    });
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.refresh();
    await h.update('a', { done: true });
    await d.client.flush();
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(1); // not retried
    const key = patches[0]!.headers.get('Idempotency-Key')!;
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatchObject({ status: 422, body: refusal });
    expect(failed[0]!.error.message).toBe(`todos/a: PATCH /api/todos/a answered 422 (Idempotency-Key ${key})`);
  });

  it('an answer whose body stalls after its headers is given up after timeoutMs and re-sent with its key; the writes behind it go out', async () => {
    let stall = true;
    const api = stubApi((req, url, body) => {
      if (req.method !== 'POST') return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      const row = JSON.parse(body) as Todo;
      if (row.id === 'a' && stall) {
        stall = false;
        return stalledBody(201, '{"id":"a","ti');
      }
      return json({ ...row, version: 1 }, 201);
    });
    const net = handTimedTransport(api.fetch, 5000);
    // One request at a time: a stalled answer that held its slot would stop every entity.
    const d = make(API, { transport: net.transport, maxInFlight: 1, retry: { baseDelayMs: 100, maxDelayMs: 100 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await until(() => api.requests.some((r) => r.method === 'POST') && net.pending() > 0, 'the first POST to be answered with headers');
    expect(d.events.some((e) => e.type === 'retrying')).toBe(false);
    net.fire();
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the stalled answer to be given up');
    const retrying = d.events.find((e): e is Extract<SyncEvent, { type: 'retrying' }> => e.type === 'retrying')!;
    expect(retrying).toMatchObject({ resource: 'todos', id: 'a', op: 'create' });
    expect(retrying.error.message).toMatch(/POST \/api\/todos failed: the answer \(201\) did not end within 5000 ms/);
    await d.clock.advance(100);
    await d.client.flush();
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => (JSON.parse(r.body) as Todo).id).sort()).toEqual(['a', 'a', 'b']);
    const [first, again] = posts.filter((r) => r.body.includes('"a"'));
    expect(again!.headers.get('Idempotency-Key')).toBe(first!.headers.get('Idempotency-Key'));
    expect(again!.body).toBe(first!.body);
    expect(await h.list({ orderBy: 'id' })).toEqual([
      { id: 'a', title: 'A', done: false, version: 1 },
      { id: 'b', title: 'B', done: false, version: 1 },
    ]);
    expect(latest(d.client.status$).pending).toBe(0);
    expect(net.pending()).toBe(0);
  });

  it('a JSON 2xx answer to a write that fails the schema goes to failed$ with a SchemaError; nothing of it is cached; the resource is pulled again', async () => {
    let created = false;
    const api = stubApi((req) => {
      if (req.method === 'POST') {
        created = true;
        return json({ id: 'a', title: 5, done: 'yes', version: 1 }, 201);
      }
      return json({ items: created ? [{ id: 'a', title: 'A', done: false, version: 1 }] : [], deleted: [], cursor: created ? '1' : '0' });
    });
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    // The server probably applied the write: what it holds is fetched, not guessed from the bad answer.
    await until(() => api.requests.findIndex((r) => r.method === 'GET') > api.requests.findIndex((r) => r.method === 'POST'), 'a pull after the answer');
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ resource: 'todos', id: 'a', op: 'create' });
    expect(failed[0]!.error.message).toMatch(/todos\/a/);
    expect(schemaErrors(d)[0]!.error.message).toMatch(/todos\/a: field "title"/);
    await until(async () => ((await dump(d.indexedDB, 'harborsync:default'))['entities']![0]![1] as { base: unknown }).base !== null, 'the pulled base');
    const stored = (await dump(d.indexedDB, 'harborsync:default'))['entities']!;
    expect(stored).toHaveLength(1);
    expect(stored[0]![1]).toMatchObject({ base: { id: 'a', title: 'A', done: false, version: 1 }, view: { id: 'a', title: 'A', done: false } });
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1); // parked, not replayed forever
  });

  it('a 2xx answer to an update with a version older than the one it was sent against goes to failed$ with a SchemaError naming the field; the change stays shown, not the old state', async () => {
    const api = stubApi((req, _url, body) => {
      if (req.method === 'GET') return json([{ id: 'n', text: 'base', version: 3 }]);
      return json({ id: 'n', text: (JSON.parse(body) as { text: string }).text, version: 2 });
    });
    const d = make(API, { fetch: api.fetch, resources: [notes] });
    const h = d.client.resource(notes);
    await h.refresh();
    const error = await h.update('n', { text: 'mine' }, { wait: 'server' }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as Error).message).toMatch(/^notes\/n: field "version" is 2, older than the version 3 the change was sent against/);
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed).toMatchObject([{ resource: 'notes', id: 'n', op: 'update' }]);
    expect(await h.get('n')).toMatchObject({ text: 'mine' });
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });
});

// ---- prototype pollution ---------------------------------------------------------------------------

describe('versions If-Match cannot match', () => {
  const tagged = defineResource({ name: 'tagged', schema: z.object({ id: z.string(), title: z.string(), version: z.string() }) });

  it('a weak entity-tag as version is never sent in If-Match: the change is parked at once, naming the field', async () => {
    const api = stubApi((req) => (req.method === 'GET' ? json([{ id: 'w', title: 'A', version: 'W/"1"' }]) : json({ id: 'w', title: 'B', version: 'W/"2"' })));
    const d = make(API, { fetch: api.fetch, resources: [tagged] });
    const h = d.client.resource(tagged);
    await h.refresh();
    await h.update('w', { title: 'B' });
    await d.client.flush();
    expect(api.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed.map((f) => [f.id, f.op])).toEqual([['w', 'update']]);
    expect(failed[0]!.error.message).toMatch(/tagged\/w: field "version" a weak entity-tag \(W\/"1"\) never matches If-Match/);
    expect(d.events.filter((e) => e.type === 'retrying')).toEqual([]);
    // Parked, not refused by the server: the change still shows, for the app to decide.
    expect(await h.get('w')).toMatchObject({ title: 'B' });
  });

  it('a server whose If-Match never matches its own versions: re-sends back off and end in failed$ after maxAttempts', async () => {
    // Every PATCH meets 412 with the entity at the very version it was sent against.
    const api = stubApi((req) => (req.method === 'GET' ? json([{ id: 'x', title: 'A', version: '1' }]) : json({ id: 'x', title: 'A', version: '1' }, 412)));
    // Every backoff draws 500 ms or more: full jitter may give 0 ms (a draw under 0.001), a re-send
    // at once that is no failure of the backoff; the check below is that a re-send waits for it.
    const d = make(API, { fetch: api.fetch, random: upperHalfRandom(), resources: [tagged], retry: { baseDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 4 } });
    const h = d.client.resource(tagged);
    await h.refresh();
    await h.update('x', { title: 'B' });
    const patches = () => api.requests.filter((r) => r.method === 'PATCH');
    await until(() => patches().length === 2, 'the first re-send');
    // The next re-send waits out its backoff instead of following at once.
    for (let i = 0; i < 10; i++) await d.client.flush();
    expect(patches()).toHaveLength(2);
    for (let i = 0; i < 6 && latest<FailedMutation[]>(d.client.failed$).length === 0; i++) await d.clock.advance(1000);
    expect(patches().map((r) => r.headers.get('Idempotency-Key')?.split(':')[1] ?? '0')).toEqual(['0', '1', '2', '3']);
    const failed = latest<FailedMutation[]>(d.client.failed$);
    expect(failed.map((f) => [f.id, f.error.status])).toEqual([['x', 412]]);
    expect(failed[0]!.error.message).toMatch(/gave up after 4 attempts, the last met by a conflict/);
    await d.clock.advance(10_000);
    expect(patches()).toHaveLength(4);
  });
});

describe('__proto__, constructor and prototype keys', () => {
  const baseline = Object.getOwnPropertyNames(Object.prototype).sort();
  const polluted = () => (({}) as Record<string, unknown>)['polluted'];
  const evil = (extra: Record<string, unknown> = {}) =>
    JSON.parse(
      `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"},"nested":{"__proto__":{"polluted":"yes"}}${Object.entries(
        extra,
      )
        .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
        .join('')}}`,
    ) as Record<string, unknown>;
  // A schema that keeps unknown keys, so the keys reach the store, the merge and the patch.
  const docs = defineResource({ name: 'docs', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int() }).catchall(z.unknown()) });

  afterEach(() => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(baseline);
    expect(polluted()).toBeUndefined();
  });

  function docsDevice(route: Parameters<typeof stubApi>[0]) {
    const api = stubApi(route);
    const d = make(API, { fetch: api.fetch, resources: [docs] });
    return { d, h: d.client.resource(docs), api };
  }

  it('in local writes: kept out of the entity, the request and the prototype', async () => {
    const { d, h, api } = docsDevice((req, _url, body) =>
      req.method === 'POST' ? json({ ...JSON.parse(body), version: 1 }, 201) : req.method === 'PATCH' ? json({ id: 'p1', title: 'B', version: 2 }) : undefined,
    );
    const created = await h.create(evil({ id: 'p1', title: 'A' }) as never);
    expect(Object.getPrototypeOf(created)).toBe(Object.prototype);
    expect(Object.hasOwn(created, '__proto__')).toBe(false);
    await h.update('p1', evil({ title: 'B' }) as never);
    await d.client.flush();
    // Top-level keys are dropped; nested ones stay plain data (an own property, as JSON.parse made it).
    for (const request of api.requests.filter((r) => r.method !== 'GET')) {
      expect(Object.keys(JSON.parse(request.body) as object)).not.toEqual(expect.arrayContaining(['constructor']));
      expect(request.body).not.toMatch(/^\{"__proto__"|,"(__proto__|constructor|prototype)":/);
    }
    const stored = await h.get('p1');
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect((stored as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('in server answers to pulls and writes: plain data at most, never a prototype', async () => {
    const item = (id: string) => `{"id":"${id}","title":"T","version":1,"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"nested":{"__proto__":{"polluted":"yes"}}}`;
    const { d, h } = docsDevice((req, url) => {
      if (req.method === 'GET' && url.pathname === '/api/docs') return new Response(`[${item('s1')},${item('s2')}]`, { status: 200 });
      if (req.method === 'POST') return new Response(item('w1'), { status: 201 });
      return undefined;
    });
    await h.refresh();
    await h.create({ id: 'w1', title: 'T' } as never);
    await d.client.flush();
    for (const id of ['s1', 's2', 'w1']) {
      const value = (await h.get(id)) as Record<string, unknown>;
      expect(value).toMatchObject({ id, title: 'T', version: 1 });
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(value['polluted']).toBeUndefined();
      expect(Object.getPrototypeOf(value['nested'])).toBe(Object.prototype);
    }
  });

  it('in a three-way merge of a conflict and in a resolution value', async () => {
    let version = 1;
    const remote = () =>
      `{"id":"m1","title":"theirs","version":${version},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"x":1},"extra":{"__proto__":{"polluted":"yes"},"a":1}}`;
    const { d, h } = docsDevice((req, url, body) => {
      if (req.method === 'GET') return url.pathname === '/api/docs' ? new Response(`[{"id":"m1","title":"base","version":1}]`) : undefined;
      if (req.method === 'PATCH' && req.headers.get('If-Match') === `"${version}"` && version > 1) {
        version++;
        return json({ ...JSON.parse(remote()), ...JSON.parse(body), version });
      }
      version = Math.max(version, 2);
      return new Response(remote(), { status: 412 });
    });
    await h.refresh();
    await h.update('m1', evil({ title: 'mine', extra: { b: 2 } }) as never);
    await d.client.flush();
    const [conflict] = latest<Array<{ fields: string[]; resolve(c: unknown): Promise<void>; remote: unknown }>>(d.client.conflicts$);
    expect(conflict!.fields).toEqual(['title']);
    expect(Object.getPrototypeOf(conflict!.remote)).toBe(Object.prototype);
    await conflict!.resolve({ value: evil({ title: 'both' }) });
    await d.client.flush();
    const merged = (await h.get('m1')) as Record<string, unknown>;
    expect(merged).toMatchObject({ title: 'both' });
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });
});

describe('values IndexedDB cannot store or a JSON request cannot carry (RELIABILITY #49)', () => {
  // A schema that lets anything through in unknown keys, so only the write's own check stands between.
  const docs = defineResource({ name: 'docs', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int() }).catchall(z.unknown()) });

  class Point {
    constructor(readonly x: number) {}
  }

  async function offlineDocs() {
    const d = make(API, { fetch: stubApi(() => undefined).fetch, resources: [docs] });
    d.online.next(false);
    const h = d.client.resource(docs);
    await h.create({ id: 'p', title: 'T' } as never);
    return { d, h };
  }

  const outboxRows = async (d: Device) => {
    const db = await openRaw(d.indexedDB, 'harborsync:default');
    try {
      return await getAllRaw(db, 'outbox');
    } finally {
      db.close();
    }
  };

  it.each([
    ['a function', () => 1, /a function, which IndexedDB cannot store/],
    ['a symbol', Symbol('s'), /a symbol/],
    ['a bigint', 10n, /a bigint/],
    ['NaN', NaN, /NaN, which a JSON request carries as null/],
    ['a Map', new Map([['a', 1]]), /a Map, not plain data/],
    ['a class instance', new Point(1), /a Point/],
    ['a function nested in an array', [{ run: () => 1 }], /a function/],
  ])('update() with %s: a ValidationError naming the field before any transaction; nothing written', async (_, value, message) => {
    const { d, h } = await offlineDocs();
    const before = await outboxRows(d);
    const error = await h.update('p', { x: value } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^docs\/p: field "x(\.0\.run)?" /);
    expect((error as Error).message).toMatch(message);
    expect(await h.get('p')).toEqual({ id: 'p', title: 'T' });
    expect(await outboxRows(d)).toEqual(before);
    expect(d.events.filter((e) => e.type === 'error' || e.type === 'storageError')).toEqual([]);
  });

  it('create() with a function: a ValidationError naming the field; nothing written', async () => {
    const { d, h } = await offlineDocs();
    await expect(h.create({ id: 'q', title: 'Q', meta: { onClick: () => 1 } } as never)).rejects.toThrow(/^docs\/q: field "meta.onClick" holds a function/);
    expect((await h.list()).map((x) => x.id)).toEqual(['p']);
    expect(await outboxRows(d)).toHaveLength(1);
  });

  it("a Date the schema produces is kept: stored as a Date, sent as its ISO string, read back through the schema", async () => {
    const events = defineResource({ name: 'events', schema: z.object({ id: z.string(), at: z.coerce.date(), version: z.number().int() }) });
    const api = stubApi((req, _url, body) => (req.method === 'POST' ? json({ ...JSON.parse(body), version: 1 }, 201) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [events] });
    const h = d.client.resource(events);
    await h.create({ id: 'e', at: new Date('2024-01-15T12:00:00.000Z') });
    expect((await h.get('e'))!.at).toEqual(new Date('2024-01-15T12:00:00.000Z'));
    await d.client.flush();
    expect(JSON.parse(api.requests.find((r) => r.method === 'POST')!.body)).toEqual({ id: 'e', at: '2024-01-15T12:00:00.000Z' });
    expect(await h.get('e')).toEqual({ id: 'e', at: new Date('2024-01-15T12:00:00.000Z'), version: 1 });
  });

  it("a conflict's resolve({ value }) holding a function is refused with a ValidationError; the conflict stays", async () => {
    const api = stubApi((req) => {
      if (req.method === 'GET') return json([{ id: 'c', title: 'base', version: 1 }]);
      return new Response(JSON.stringify({ id: 'c', title: 'theirs', version: 2 }), { status: 412 });
    });
    const d = make(API, { fetch: api.fetch, resources: [docs], conflicts: 'manual' });
    const h = d.client.resource(docs);
    await h.refresh();
    await h.update('c', { title: 'mine' } as never);
    await d.client.flush();
    const [conflict] = latest<Array<{ resolve(c: unknown): Promise<void> }>>(d.client.conflicts$);
    await expect(conflict!.resolve({ value: { title: 'both', run: () => 1 } })).rejects.toThrow(/^docs\/c: field "run" holds a function/);
    expect(latest<unknown[]>(d.client.conflicts$)).toHaveLength(1);
  });

  it.each([
    ['a misspelt choice', 'mine'],
    ['undefined', undefined],
    ['a value that is a string', { value: 'both' }],
    ['a value that is an array', { value: ['both'] }],
    ['a value that is null', { value: null }],
  ])("a conflict's resolve() with %s is refused with a TypeError naming the choice; nothing is decided or sent", async (_, choice) => {
    const api = stubApi((req) => {
      if (req.method === 'GET') return json([{ id: 'c', title: 'base', version: 1 }]);
      return new Response(JSON.stringify({ id: 'c', title: 'theirs', version: 2 }), { status: 412 });
    });
    const d = make(API, { fetch: api.fetch, resources: [docs], conflicts: 'manual' });
    const h = d.client.resource(docs);
    await h.refresh();
    await h.update('c', { title: 'mine' } as never);
    await d.client.flush();
    const sent = api.requests.length;
    const [conflict] = latest<Array<{ resolve(c: unknown): Promise<void> }>>(d.client.conflicts$);
    await expect(conflict!.resolve(choice)).rejects.toThrow(/resolve\(\) takes 'local', 'remote' or \{ value: \{ \.\.\.fields \} \}/);
    await expect(conflict!.resolve(choice)).rejects.toBeInstanceOf(TypeError);
    await d.client.flush();
    expect(latest<unknown[]>(d.client.conflicts$)).toHaveLength(1);
    expect(await h.get('c')).toEqual({ id: 'c', title: 'mine', version: 1 });
    expect(api.requests.length).toBe(sent);
  });
});

// ---- ids -----------------------------------------------------------------------------------------------

describe('ids', () => {
  const bad: Array<[string, unknown]> = [
    ['empty', ''],
    ['1,025 characters', 'x'.repeat(1025)],
    ['an object', { id: 'a' }],
    ['an object without a prototype (a parsed query string\'s, say)', Object.assign(Object.create(null) as object, { id: 'a' })],
    ['an array', ['a']],
    ['a boolean', true],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a symbol', Symbol('a')],
    ['a bigint', 1n],
    ['"." (a path segment the URL parser removes)', '.'],
    ['".." (a path segment the URL parser removes)', '..'],
    ['a string with a lone surrogate (no URL can carry it)', 'a\uD800'],
  ];

  it.each(bad)('an id that is %s is a ValidationError naming the resource and the key, before anything is written', async (_, id) => {
    const api = stubApi(() => undefined);
    const d = make(API, { fetch: api.fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    const key = id as string;
    await expect(h.get(key)).rejects.toBeInstanceOf(ValidationError);
    expect(() => h.get$(key)).toThrow(ValidationError);
    await expect(h.update(key, { done: true })).rejects.toThrow(/todos\/.*field "id"/);
    await expect(h.delete(key)).rejects.toBeInstanceOf(ValidationError);
    await expect(h.create({ id: key, title: 'A', done: false })).rejects.toBeInstanceOf(ValidationError);
    expect(await dump(d.indexedDB, 'harborsync:default')).toMatchObject({ entities: [], outbox: [] });
  });

  it('keeps the longest valid id (1,024 characters) and ids with /, ?, % and .. inside, each on its own URL', async () => {
    const api = stubApi((req, _url, body) => (req.method === 'POST' ? json({ ...JSON.parse(body), version: 1 }, 201) : req.method === 'DELETE' ? new Response(null, { status: 204 }) : undefined));
    const d = make(API, { fetch: api.fetch });
    const h = d.client.resource(todos);
    const ids = ['x'.repeat(1024), '../admin', 'a/b?c=%41', '..%2F', '...'];
    for (const id of ids) await h.create({ id, title: 'A', done: false });
    for (const id of ids) await h.delete(id);
    await d.client.flush();
    const deletes = api.requests.filter((r) => r.method === 'DELETE').map((r) => r.path);
    expect(deletes).toEqual(ids.map((id) => `/api/todos/${encodeURIComponent(id)}`));
  });

  it('server data with an invalid id is a SchemaError and is not cached', async () => {
    const api = stubApi((_req, url) =>
      url.pathname === '/api/notes'
        ? json([
            { id: '', text: 'empty', version: 1 },
            { id: 'x'.repeat(1025), text: 'huge', version: 1 },
            { id: '..', text: 'dots', version: 1 },
            { id: '\uDC00', text: 'lone surrogate', version: 1 },
            { id: 'ok', text: 'fine', version: 1 },
          ])
        : undefined,
    );
    const d = make(API, { fetch: api.fetch });
    await d.client.resource(notes).refresh();
    expect((await d.client.resource(notes).list()).map((n) => n.id)).toEqual(['ok']);
    expect(schemaErrors(d)).toHaveLength(4);
    for (const e of schemaErrors(d)) expect(e.error.message).toMatch(/field "id"/);
  });
});

describe('write options', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['null', null, /options must be an object/],
    ["a wait that is not 'local' or 'server'", { wait: 'Server' }, /options\.wait must be 'local' or 'server', received "Server"/],
    ['a signal that is not an AbortSignal', { wait: 'server', signal: {} }, /options\.signal must be an AbortSignal/],
    ["a misspelt option name (Wait: 'server', which would resolve before the server answers)", { Wait: 'server' }, /options\.Wait is not an option \(wait, signal\)/],
    ['an array', [], /options must be an object, received an array/],
  ];

  it.each(bad)('%s is a TypeError naming the option, before anything is written or shown', async (_, options, message) => {
    const d = make(API, { fetch: stubApi(() => undefined).fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    const before = await dump(d.indexedDB, 'harborsync:default');
    await expect(h.create({ id: 'b', title: 'B', done: false }, options as never)).rejects.toThrow(message);
    await expect(h.update('a', { done: true }, options as never)).rejects.toThrow(TypeError);
    await expect(h.delete('a', options as never)).rejects.toThrow(message);
    expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
  });
});

describe('write arguments', () => {
  it('a create of an id shown, a value that is no object or a patch no plain object (an array, a Map: no field changed, silently), a patch changing the key, an update or delete of no entity: each a ValidationError naming it; nothing is written or shown', async () => {
    const d = make(API, { fetch: stubApi(() => undefined).fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    const before = await dump(d.indexedDB, 'harborsync:default');
    const shown: Todo[][] = [];
    h.query$().subscribe((state) => shown.push(state.data));
    const refusals: Array<[Promise<unknown>, string]> = [
      [h.create({ id: 'a', title: 'again', done: true }), 'todos/a: field "id" an entity with this id already exists'],
      [h.create(null as never), 'todos: create() takes an object'],
      [h.create('a' as never), 'todos: create() takes an object'],
      [h.update('a', null as never), 'todos/a: update() takes an object of changed fields'],
      [h.update('a', ['B'] as never), 'todos/a: update() takes an object of changed fields'],
      [h.update('a', new Map([['done', true]]) as never), 'todos/a: update() takes an object of changed fields'],
      [h.update('a', { id: 'b' }), 'todos/a: field "id" the key cannot be changed'],
      [h.update('b', { done: true }), 'todos/b: field "id" no entity with this id'],
      [h.delete('b'), 'todos/b: field "id" no entity with this id'],
    ];
    for (const [refused, message] of refusals) {
      const error = await refused.then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toBe(message);
    }
    expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
    expect(shown).toEqual(shown.map(() => [{ id: 'a', title: 'A', done: false }]));
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
  });
});

describe('client options', () => {
  it('a timeoutMs or sendDelayMs no timer can wait for (Infinity, past 2^31 - 1 ms), negative or NaN is a TypeError naming it', () => {
    for (const key of ['timeoutMs', 'sendDelayMs'] as const) {
      for (const bad of [Number.POSITIVE_INFINITY, 2 ** 31, -1, Number.NaN]) {
        expect(() => make(API, { [key]: bad })).toThrow(`createSyncClient: ${key} must be a number of milliseconds from 0 to 2147483647 (the longest a timer waits), got ${bad}`);
      }
    }
    // Compared with an age, never waited for: Infinity is "never stale".
    expect(() => make(API, { staleTimeMs: Number.POSITIVE_INFINITY, timeoutMs: 2 ** 31 - 1, sendDelayMs: 0 })).not.toThrow();
  });

  it('a baseUrl without its scheme ("localhost:8787/api", read as a URL of scheme "localhost:") is a TypeError naming it, not every request failing', () => {
    for (const bad of ['localhost:8787/api', 'api.example.com:443/v1', 'mailto:api@example.com']) {
      expect(() => make(bad)).toThrow(`createSyncClient: baseUrl must be an absolute URL, or relative to the page (like '/api'), got ${JSON.stringify(bad)}`);
    }
    for (const good of ['http://localhost:8787/api', 'https://api.example.com', 'app://api/v1']) expect(() => make(good)).not.toThrow();
  });

  it('a baseUrl holding credentials (user:password@), which fetch refuses on every request, is a TypeError that does not repeat them', () => {
    for (const bad of ['https://user:pa55@api.example.com/api', 'https://user@api.example.com/api']) {
      let error: unknown;
      try {
        make(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe('createSyncClient: baseUrl must not hold credentials (user:password@), which fetch refuses to send');
    }
  });

  it('retry options out of range are a TypeError naming the option', () => {
    for (const key of ['baseDelayMs', 'maxDelayMs'] as const) {
      for (const bad of [Number.POSITIVE_INFINITY, 2 ** 31, -1, Number.NaN]) {
        expect(() => make(API, { retry: { [key]: bad } })).toThrow(
          `createSyncClient: retry.${key} must be a number of milliseconds from 0 to 2147483647 (the longest a timer waits), got ${bad}`,
        );
      }
    }
    for (const bad of [0, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => make(API, { retry: { maxAttempts: bad } })).toThrow(`createSyncClient: retry.maxAttempts must be a whole number of at least 1, got ${bad}`);
    }
    for (const bad of [-1, Number.NaN]) {
      expect(() => make(API, { retry: { maxAgeMs: bad } })).toThrow(`createSyncClient: retry.maxAgeMs must be a non-negative number, got ${bad}`);
    }
    expect(() => make(API, { retry: { baseDelayMs: 0, maxDelayMs: 2 ** 31 - 1, maxAttempts: 1, maxAgeMs: Number.POSITIVE_INFINITY } })).not.toThrow();
  });

  it('a resources entry that is not a defineResource() definition is a TypeError naming its place', () => {
    for (const bad of [undefined, null, 'todos', {}, { name: 'todos' }]) {
      expect(() => make(API, { resources: [todos, bad as never] })).toThrow('createSyncClient: resources[1] is not a defineResource() definition');
    }
  });

  it('a conflicts strategy that is none of the four names nor a function is a TypeError naming it, not a resolver that throws at each conflict', () => {
    for (const bad of ['serverWins', 'last-write-wins', '', 42, null]) {
      expect(() => make(API, { conflicts: bad as never })).toThrow(
        `createSyncClient: conflicts must be 'merge', 'client-wins', 'server-wins', 'manual' or a function, got ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`,
      );
    }
    for (const good of ['merge', 'client-wins', 'server-wins', 'manual', () => 'remote' as const] as const) expect(() => make(API, { conflicts: good })).not.toThrow();
  });

  it('missing options, no resources, a resource listed twice, an empty namespace or a negative staleTimeMs is a TypeError naming it; so is resource() of a name the client does not define', () => {
    for (const bad of [undefined, null, 'http://api.test/api']) expect(() => createSyncClient(bad as never)).toThrow(new TypeError('createSyncClient: options are required'));
    for (const bad of [[], undefined, 'todos']) {
      expect(() => make(API, { resources: bad as never })).toThrow(new TypeError('createSyncClient: resources must list at least one defineResource() definition'));
    }
    expect(() => make(API, { resources: [todos, notes, todos] })).toThrow(new TypeError('createSyncClient: resource "todos" is listed twice'));
    for (const bad of ['', 42]) expect(() => make(API, { namespace: bad as never })).toThrow(new TypeError('createSyncClient: namespace must be a non-empty string'));
    for (const bad of [-1, Number.NaN, '1000']) {
      expect(() => make(API, { staleTimeMs: bad as never })).toThrow(new TypeError(`createSyncClient: staleTimeMs must be a non-negative number, got ${String(bad)}`));
    }
    expect(() => make(API, { staleTimeMs: 0 })).not.toThrow();
    expect(() => make(API).client.resource('projects')).toThrow(new TypeError('resource("projects"): not one of this client\'s resources (todos, notes)'));
  });

  it('resource() of no definition nor name (undefined from an import misspelt, null, a number, an object without a name) is a TypeError saying what it takes, not a crash reading .name', () => {
    const { client } = make(API);
    for (const [bad, named] of [[undefined, 'undefined'], [null, 'null'], [42, '42'], [{}, 'an object with no name']] as const) {
      expect(() => client.resource(bad as never)).toThrow(new TypeError(`resource(): takes a defineResource() definition or the name of one, received ${named}`));
    }
  });

  it("a namespace ending in \":election\", the name of another namespace's election channel, is a TypeError", () => {
    expect(() => make(API, { namespace: 'team:election' })).toThrow('createSyncClient: namespace must not end with ":election" (another namespace\'s channel has that name), got "team:election"');
    expect(() => make(API, { namespace: 'team:elections' })).not.toThrow();
  });
});

describe('query objects', () => {
  it("a predicate where that throws on one entity: that query reports the error and leaves the entity out; writes of it are stored and shown elsewhere", async () => {
    const d = make(API, { fetch: stubApi(() => undefined).fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    const bug = new Error('predicate bug');
    const states: Array<QueryState<Todo>> = [];
    const sub = h
      .query$({
        where: (t) => {
          if (t.title === 'boom') throw bug;
          return true;
        },
        orderBy: 'id',
      })
      .subscribe((state) => states.push(state));
    await expect(h.update('a', { title: 'boom' })).resolves.toMatchObject({ title: 'boom' });
    expect(states.at(-1)).toMatchObject({ data: [{ id: 'b' }], error: bug });
    await expect(h.update('a', { title: 'fine' })).resolves.toMatchObject({ title: 'fine' });
    expect(states.at(-1)!.data.map((t) => t.title)).toEqual(['fine', 'B']);
    sub.unsubscribe();
    await d.client.close();
    const again = make(API, { fetch: stubApi(() => undefined).fetch }, d.indexedDB);
    again.online.next(false);
    expect(await again.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'fine', done: false });
  });
});

describe('tokens getToken() returns', () => {
  it.each([
    ['a line break', 'secret-abc\nsecret-def', 'returned a token holding a character no Authorization header can carry'],
    ['a character past U+00FF', 'secret-tök€n', 'returned a token holding a character no Authorization header can carry'],
    ['an object', { access_token: 'secret-abc' }, 'returned a value of type object, not a string'],
  ])('one holding %s pauses replay as unauthorized, naming getToken(); nothing is sent, and the token is in no error', async (_, token, message) => {
    const api = stubApi(() => undefined);
    const d = make(API, { fetch: api.fetch, auth: { getToken: () => token as string }, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    for (let i = 0; i < 3; i++) {
      await d.clock.advance(20);
      await d.client.flush();
    }
    const status = latest<{ paused: unknown; pending: number; lastError: Error | null }>(d.client.status$);
    expect(status).toMatchObject({ paused: 'unauthorized', pending: 1, lastError: { status: 401 } });
    expect(status.lastError!.message).toContain(`getToken() failed: TypeError: getToken() ${message}`);
    expect(api.requests).toEqual([]);
    const said = [status.lastError, (status.lastError as { cause?: unknown }).cause, ...d.events].map((e) => `${String(e)} ${JSON.stringify(e)}`).join(' ');
    expect(said).not.toContain('secret');
  });
});

describe('clear() options', () => {
  it.each([
    ["discardPending as the string 'false'", { discardPending: 'false' }, /clear\(\): options.discardPending must be true or false, got "false"/],
    ['discardPending as 1', { discardPending: 1 }, /clear\(\): options.discardPending must be true or false, got 1/],
    ['null', null, /clear\(\): options must be an object, got null/],
  ])('%s is a TypeError naming it; nothing is deleted', async (_, options, message) => {
    const d = make(API, { fetch: stubApi(() => undefined).fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    const before = await dump(d.indexedDB, 'harborsync:default');
    await expect(d.client.clear(options as never)).rejects.toThrow(message);
    expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
    expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
  });
});

describe('resource definitions', () => {
  const schema = z.object({ id: z.string(), version: z.number().int() });

  it('a name or path whose URL leaves the resource\'s place ("." or ".." segments, "?", "#", "\\") is a TypeError naming it', () => {
    for (const name of ['.', '..']) {
      expect(() => defineResource({ name, schema })).toThrow(`defineResource: name must not be "." or ".."`);
    }
    for (const path of ['/..', '/a/../b', '/a/.', '/%2e%2E', '/a/%2e/b', '/todos?x=1', '/todos#top', '/a\\b']) {
      expect(() => defineResource({ name: 'things', schema, path })).toThrow(`defineResource(things): path must be URL path segments`);
    }
    for (const path of ['/a.b/...', '/v1/todos', '/items:batch', '/']) expect(() => defineResource({ name: 'things', schema, path })).not.toThrow();
  });

  it('a bad name, a schema without Standard Schema, the key as the version field or either not a field name, no options at all, an option name misspelt, a path not starting with "/" or a bad cacheLimit is a TypeError naming it', () => {
    for (const name of ['', 'my todos', 'a/b', 42]) {
      expect(() => defineResource({ name: name as never, schema })).toThrow(
        new TypeError(`defineResource: name must be a non-empty string of letters, digits, "_", "-" or ".", got ${JSON.stringify(name)}`),
      );
    }
    for (const bad of [undefined, null, {}, (v: unknown) => v]) {
      expect(() => defineResource({ name: 'things', schema: bad as never })).toThrow(new TypeError('defineResource(things): schema must implement Standard Schema (zod 4, valibot, arktype)'));
    }
    expect(() => defineResource({ name: 'things', schema, key: 'version' as never })).toThrow(new TypeError('defineResource(things): key and version must be different fields'));
    expect(() => defineResource({ name: 'things', schema, key: 5 as never })).toThrow(new TypeError('defineResource(things): key must be a field name, got 5'));
    expect(() => defineResource({ name: 'things', schema, version: '' as never })).toThrow(new TypeError('defineResource(things): version must be a field name, got ""'));
    expect(() => (defineResource as (options?: unknown) => unknown)()).toThrow(new TypeError('defineResource: options are required ({ name, schema })'));
    expect(() => defineResource({ name: 'things', schema, loading: 'on-demand' } as never)).toThrow(
      new TypeError('defineResource: loading is not an option (name, schema, key, version, path, delta, conflicts, ids, references, load, cacheLimit, toSearchParams)'),
    );
    expect(() => defineResource({ name: 'things', schema, toSearchParams: 'filter' as never })).toThrow(new TypeError('defineResource(things): toSearchParams must be a function, got "filter"'));
    const spread = defineResource({ name: 'things', schema, delta: true });
    expect(defineResource({ ...spread, name: 'others' })).toMatchObject({ name: 'others', delta: true });
    expect(() => defineResource({ name: 'things', schema, path: 'things' })).toThrow(new TypeError('defineResource(things): path must start with "/", got "things"'));
    for (const cacheLimit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => defineResource({ name: 'things', schema, cacheLimit })).toThrow(new TypeError(`defineResource(things): cacheLimit must be a non-negative integer, got ${cacheLimit}`));
    }
    expect(() => defineResource({ name: 'things', schema, cacheLimit: 0 })).not.toThrow();
  });

  it('a conflicts, ids or load option with an unknown value is a TypeError naming it, not the default taken silently', () => {
    expect(() => defineResource({ name: 'things', schema, conflicts: 'serverWins' as never })).toThrow(
      `defineResource(things): conflicts must be 'merge', 'client-wins', 'server-wins', 'manual' or a function, got "serverWins"`,
    );
    expect(() => defineResource({ name: 'things', schema, ids: 'Server' as never })).toThrow(`defineResource(things): ids must be 'client' or 'server', got "Server"`);
    expect(() => defineResource({ name: 'things', schema, load: 'ondemand' as never })).toThrow(`defineResource(things): load must be 'all' or 'on-demand', got "ondemand"`);
    expect(() => defineResource({ name: 'things', schema, conflicts: 'server-wins', ids: 'server', load: 'on-demand' })).not.toThrow();
  });

  it('a delta option that is not true or false (a setting read as text, "false") is a TypeError naming it, not taken as true', () => {
    for (const delta of ['false', 'true', 0, 1]) {
      expect(() => defineResource({ name: 'things', schema, delta: delta as never })).toThrow(`defineResource(things): delta must be true or false, got ${JSON.stringify(delta)}`);
    }
    expect(defineResource({ name: 'things', schema, delta: false }).delta).toBe(false);
    expect(defineResource({ name: 'things', schema, delta: true }).delta).toBe(true);
    expect(defineResource({ name: 'things', schema }).delta).toBe(false);
  });

  it('references that are not an object of field names to resource names is a TypeError naming the field', () => {
    for (const references of ['projects', ['projects'], 42]) {
      expect(() => defineResource({ name: 'things', schema, references: references as never })).toThrow('defineResource(things): references must be an object of field names to resource names');
    }
    for (const [field, target] of [['projectId', 42], ['projectId', ''], ['projectId', '..'], ['projectId', 'a/b'], ['', 'projects']] as const) {
      expect(() => defineResource({ name: 'things', schema, references: { [field]: target } as never })).toThrow(`defineResource(things): references.${field} must name a resource`);
    }
    expect(defineResource({ name: 'things', schema, references: { projectId: 'projects' } }).references).toEqual({ projectId: 'projects' });
  });

  it('a path whose first segment holds ":" (like "/todos:v2") is requested under baseUrl, not read as a URL scheme', async () => {
    const things = defineResource({ name: 'things', schema, path: '/todos:v2' });
    const api = stubApi((_req, url) => (url.pathname === '/api/todos:v2' ? json([{ id: 'a', version: 1 }]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [things] });
    await d.client.resource(things).refresh();
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/todos:v2']);
    expect((await d.client.resource(things).list()).map((t) => t.id)).toEqual(['a']);
  });
});

// ---- storage ---------------------------------------------------------------------------------------------

describe('storage faults', () => {
  it('a corrupted record in IndexedDB is skipped and reported on events$ naming it; the rest loads', async () => {
    const api = stubApi(() => undefined);
    const d = make(API, { fetch: api.fetch });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.close();
    await rawPut(d.indexedDB, 'harborsync:default', 'entities', { r: 'todos', id: 'junk', base: 'garbage', view: 12 });
    await rawPut(d.indexedDB, 'harborsync:default', 'entities', { r: 'todos', id: 'wrong', base: null, view: { id: 'wrong', title: 5, done: 'no' } });
    await rawPut(d.indexedDB, 'harborsync:default', 'entities', { r: 'todos', id: 'twin', base: null, view: { id: 'a', title: 'A twin', done: true } });
    const again = make(API, { fetch: api.fetch }, d.indexedDB);
    again.online.next(false);
    const rows = await again.client.resource(todos).list({ orderBy: 'id' });
    expect(rows).toEqual([
      { id: 'a', title: 'A', done: false },
      { id: 'b', title: 'B', done: false },
    ]);
    const reported = again.events.filter((e) => e.type === 'error' || e.type === 'schemaError');
    expect(reported.map((e) => ('error' in e ? [e.error.name, e.error.id] : null))).toEqual(
      expect.arrayContaining([
        ['StorageError', 'junk'],
        ['SchemaError', 'wrong'],
        ['SchemaError', 'twin'],
      ]),
    );
    for (const e of reported) expect('error' in e && e.error.message).toMatch(/todos\/(junk|wrong|twin)/);
    // The queued changes are intact and still go out.
    expect(latest(again.client.status$).pending).toBe(2);
  });

  it('a corrupted syncedAt row (NaN, -Infinity) is no sync time: a subscriber revalidates, not trusts it for ever', async () => {
    for (const corrupt of [NaN, -Infinity]) {
      let served = [{ id: 'a', title: 'A', done: false, version: 1 }];
      const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json({ items: served, deleted: [], cursor: String(served.length) }) : undefined));
      const factory = new IDBFactory();
      const first = make(API, { fetch: api.fetch, staleTimeMs: Infinity }, factory);
      await first.client.resource(todos).refresh();
      await first.client.close();
      const db = await openRaw(factory, 'harborsync:default');
      const tx = db.transaction('meta', 'readwrite');
      tx.objectStore('meta').put(corrupt, 'syncedAt:todos');
      tx.objectStore('meta').delete('cursor:todos');
      await committed(tx);
      db.close();
      served = [...served, { id: 'b', title: 'B', done: false, version: 1 }];
      const again = make(API, { fetch: api.fetch, staleTimeMs: Infinity }, factory);
      const states: Array<QueryState<Todo>> = [];
      again.client.resource(todos).query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
      await until(() => states.at(-1)?.data.length === 2, 'the stale cache revalidated');
      expect(Number.isFinite(states.at(-1)!.lastSyncedAt)).toBe(true);
      await again.client.close();
    }
  });

  it('a corrupted outbox row is quarantined to failed$: never sent as another operation, never merged into, kept until discarded', async () => {
    const api = stubApi((request, _url, body) => {
      if (request.method === 'GET') return json([]);
      if (request.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
      if (request.method === 'PATCH') return json({ id: 'a', title: 'A2', done: false, version: 2 });
      return undefined;
    });
    const d = make(API, { fetch: api.fetch });
    d.online.next(false);
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await d.client.close();
    // Planted after the create, as rows another release queued later would be.
    const created = (await dump(d.indexedDB, 'harborsync:default')).outbox![0]![0] as number;
    const at = (n: number) => created + n;
    const entry = { baseVersion: 1, key: 'planted', rekeys: 0, frozen: false, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, changedAt: 0, state: 'queued', conflict: null, failure: null, origin: 'x' };
    // An operation this release does not know (written by another release, or garbage): it used to go out as a DELETE.
    await rawPut(d.indexedDB, 'harborsync:default', 'outbox', { ...entry, seq: at(100), r: 'todos', id: 'a', op: 'upsert', payload: { title: 'X' } });
    // A row with nothing of an entry, and an update whose payload is not an object.
    await rawPut(d.indexedDB, 'harborsync:default', 'outbox', { seq: at(101), junk: true });
    await rawPut(d.indexedDB, 'harborsync:default', 'outbox', { ...entry, seq: at(102), r: 'todos', id: 'a', op: 'update', payload: ['x'] });
    const again = make(API, { fetch: api.fetch }, d.indexedDB);
    const h = again.client.resource(todos);
    // A write after them is a change of its own, not merged into a row of unknown meaning; like
    // any parked entry, the rows hold back their entity's later changes until they are dealt with.
    await h.update('a', { title: 'A2' });
    await again.client.flush();
    const writes = () => api.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path, r.body]);
    expect(writes()).toEqual([['POST', '/api/todos', JSON.stringify({ id: 'a', title: 'A', done: false })]]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A2', done: false, version: 1 });
    const failed = latest<FailedMutation[]>(again.client.failed$);
    expect(failed.map((f) => [f.resource, f.id, f.error.message])).toEqual([
      ['todos', 'a', expect.stringMatching(/corrupted outbox entry \(unknown op "upsert"\)/)],
      ['', '', expect.stringMatching(/corrupted outbox entry \(no resource\)/)],
      ['todos', 'a', expect.stringMatching(/corrupted outbox entry \(a payload that does not fit a update\)/)],
    ]);
    expect(failed[1]!.error.body).toEqual({ seq: at(101), junk: true });
    expect(latest(again.client.status$)).toMatchObject({ pending: 1, failed: 3 });
    await expect(failed[0]!.retry()).rejects.toThrow(StorageError);
    // Still stored as it was: nothing is dropped until the app says so.
    expect((await dump(d.indexedDB, 'harborsync:default')).outbox!.map(([seq]) => seq)).toEqual([at(100), at(101), at(102), at(103)]);
    for (const f of failed) await f.discard();
    expect(latest<FailedMutation[]>(again.client.failed$)).toEqual([]);
    await again.client.flush();
    expect(writes()).toEqual([
      ['POST', '/api/todos', JSON.stringify({ id: 'a', title: 'A', done: false })],
      ['PATCH', '/api/todos/a', JSON.stringify({ title: 'A2' })],
    ]);
    expect((await dump(d.indexedDB, 'harborsync:default')).outbox).toEqual([]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A2', done: false, version: 2 });
    await again.client.clear();
  });

  it('a change to a resource this client does not define is held for a client that does, not sent or spun on', async () => {
    const api = stubApi((request, _url, body) => (request.method === 'POST' ? json({ ...JSON.parse(body), version: 1 }, 201) : json([])));
    const d = make(API, { fetch: api.fetch });
    d.online.next(false);
    await d.client.resource(notes).create({ id: 'n1', text: 'kept' });
    await d.client.close();
    // Another page of the app, with only todos: it leads, and must not send (or loop on) the note.
    const todosOnly = make(API, { fetch: api.fetch, resources: [todos] }, d.indexedDB);
    await todosOnly.client.flush();
    expect(api.requests.filter((r) => r.method === 'POST')).toEqual([]);
    expect(latest(todosOnly.client.status$)).toMatchObject({ pending: 1, failed: 0 });
    expect(todosOnly.events.filter((e) => e.type === 'sent')).toEqual([]);
    await todosOnly.client.close();
    const both = make(API, { fetch: api.fetch }, d.indexedDB);
    await both.client.flush();
    expect(api.requests.filter((r) => r.method === 'POST').map((r) => [r.path, r.body])).toEqual([['/api/notes', JSON.stringify({ id: 'n1', text: 'kept' })]]);
  });

  it('retry() of a failed change to a resource this client does not define rejects with StorageError naming it and keeps it; a client that does retries it', async () => {
    let refuse = true;
    const api = stubApi((request, _url, body) => (request.method !== 'POST' ? json([]) : refuse ? json({ error: 'no' }, 403) : json({ ...JSON.parse(body), version: 1 }, 201)));
    const d = make(API, { fetch: api.fetch });
    await d.client.resource(notes).create({ id: 'n1', text: 'kept' });
    await d.client.flush();
    await d.client.close();
    const todosOnly = make(API, { fetch: api.fetch, resources: [todos] }, d.indexedDB);
    await todosOnly.client.flush();
    const [failed] = latest(todosOnly.client.failed$);
    expect(failed).toMatchObject({ resource: 'notes', id: 'n1', op: 'create', error: { status: 403 } });
    const error = await failed!.retry().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toBe('notes/n1: a change to resource "notes", which this client does not define, cannot be retried here');
    expect(latest(todosOnly.client.failed$)).toEqual([failed]);
    await todosOnly.client.close();
    refuse = false;
    const both = make(API, { fetch: api.fetch }, d.indexedDB);
    await both.client.flush();
    await latest(both.client.failed$)[0]!.retry();
    await both.client.flush();
    expect(latest(both.client.failed$)).toEqual([]);
    expect(await both.client.resource(notes).get('n1')).toEqual({ id: 'n1', text: 'kept', version: 1 });
  });

  it('without IndexedDB (no option, no global) createSyncClient throws a StorageError', () => {
    const g = globalThis as { indexedDB?: IDBFactory };
    const saved = g.indexedDB;
    delete g.indexedDB;
    try {
      expect(() => createSyncClient({ baseUrl: API, resources: [todos], indexedDB: undefined, online: new BehaviorSubject(true), locks: null, BroadcastChannel: null })).toThrow(
        StorageError,
      );
      expect(() => createSyncClient({ baseUrl: API, resources: [todos], locks: null, BroadcastChannel: null })).toThrow(/IndexedDB is not available/);
    } finally {
      g.indexedDB = saved;
    }
  });

  function clientOn(factory: IDBFactory) {
    const clock = new ManualClock();
    const events: SyncEvent[] = [];
    const client = createSyncClient({
      baseUrl: API,
      resources: [todos],
      indexedDB: factory,
      online: new BehaviorSubject(false),
      now: clock.now,
      setTimer: clock.setTimer,
      random: seededRandom(),
      locks: null,
      BroadcastChannel: null,
      fetch: stubApi(() => undefined).fetch,
    });
    client.events$.subscribe((e) => events.push(e));
    return { client, events, clock };
  }

  it('an IDBFactory whose open() throws (private mode): the first call rejects with a StorageError naming the database', async () => {
    const refusing = new IDBFactory();
    refusing.open = () => {
      throw new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError');
    };
    const { client, events } = clientOn(refusing);
    const error = await client.resource(todos).create({ id: 'a', title: 'A', done: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/harborsync:default.*InvalidStateError/);
    await expect(client.flush()).rejects.toBeInstanceOf(StorageError);
    expect(events.some((e) => e.type === 'storageError')).toBe(true);
    await client.close();
  });

  it('an IDBFactory whose open() throws: live queries and entity watches end in the error state, not loading for ever', async () => {
    const refusing = new IDBFactory();
    refusing.open = () => {
      throw new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError');
    };
    const { client } = clientOn(refusing);
    const queried: Array<QueryState<Todo>> = [];
    const watched: Array<EntityState<Todo>> = [];
    client.resource(todos).query$().subscribe((s) => queried.push(s));
    client.resource(todos).get$('a').subscribe((s) => watched.push(s));
    await until(() => queried.at(-1)!.error !== null && watched.at(-1)!.error !== null, 'the failed load reported');
    for (const state of [queried.at(-1)!, watched.at(-1)!]) {
      expect(state).toMatchObject({ status: 'error', isFetching: false });
      expect(state.error).toBeInstanceOf(StorageError);
    }
    await client.close();
  });

  it('an open that fails later (a newer database version on disk): the first call rejects with a StorageError', async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve) => {
      const request = factory.open('harborsync:default', 999);
      request.onsuccess = () => {
        request.result.close();
        resolve();
      };
    });
    const { client, clock } = clientOn(factory);
    await expect(client.resource(todos).list()).rejects.toBeInstanceOf(StorageError);
    await expect(client.resource(todos).create({ id: 'a', title: 'A', done: false })).rejects.toThrow(
      /"harborsync:default" was upgraded by a newer version of this app \(this one knows version \d+\); reload this page/,
    );
    // It stays: nothing tries to open the database again.
    expect(clock.pendingTimers).toBe(0);
    await client.close();
  });

  const deleteDb = (factory: IDBFactory) =>
    new Promise<void>((resolve, reject) => {
      const request = factory.deleteDatabase('harborsync:default');
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
    });

  /** What a promise has come to so far, without waiting for it. */
  function watch(promise: Promise<unknown>) {
    const state: { outcome: 'pending' | 'resolved' | Error } = { outcome: 'pending' };
    promise.then(
      () => (state.outcome = 'resolved'),
      (e: unknown) => (state.outcome = e as Error),
    );
    return state;
  }

  it(`an open that never answers: calls reject with a StorageError after ${OPEN_TIMEOUT_MS / 1000} s of the injected clock, none left hanging; a later call opens again, bounded alike`, async () => {
    const hanging = new IDBFactory();
    hanging.open = () => new IDBOpenDBRequest(); // no event ever fires (WebKit bug 226547)
    const { client, events, clock } = clientOn(hanging);
    const listing = watch(client.resource(todos).list());
    const writing = watch(client.resource(todos).create({ id: 'a', title: 'A', done: false }));
    await clock.advance(OPEN_TIMEOUT_MS - 1);
    expect([listing.outcome, writing.outcome]).toEqual(['pending', 'pending']);
    await clock.advance(1);
    for (const { outcome } of [listing, writing]) {
      expect(outcome).toBeInstanceOf(StorageError);
      expect((outcome as Error).message).toMatch(/opening "harborsync:default" got no answer from IndexedDB within 10 s/);
    }
    expect(events.filter((e) => e.type === 'storageError')).toHaveLength(1);
    const flushing = watch(client.flush());
    await clock.advance(OPEN_TIMEOUT_MS);
    await until(() => flushing.outcome !== 'pending', 'the second open given up');
    expect(flushing.outcome).toBeInstanceOf(StorageError);
    expect(events.filter((e) => e.type === 'storageError')).toHaveLength(1);
    await client.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('close() while an open hangs: the open is given up at once, no timer left behind', async () => {
    const hanging = new IDBFactory();
    hanging.open = () => new IDBOpenDBRequest();
    const { client, clock } = clientOn(hanging);
    const listing = watch(client.resource(todos).list());
    await clock.advance(1_000);
    await client.close();
    await clock.advance(0);
    // Given up by close(), not failed: the call rejects as every call after close() does.
    expect(listing.outcome).toBeInstanceOf(ClosedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('close() while the look clear() leaves before a read (does the database exist?) hangs: no timer left behind', async () => {
    const factory = new IDBFactory();
    const { client, clock } = clientOn(factory);
    await client.resource(todos).list();
    await client.clear();
    factory.open = () => new IDBOpenDBRequest();
    const flushing = watch(client.flush());
    await clock.advance(1_000);
    expect(flushing.outcome).toBe('pending');
    await client.close();
    await clock.advance(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an open blocked by an older connection is not timed out: it is reported, and goes on once that connection closes', async () => {
    const factory = new IDBFactory();
    // An older release's tab: version 1 open, and it does not close for the upgrade.
    const older = await openRaw(factory, 'harborsync:default', 1, (v1) => {
      v1.createObjectStore('entities', { keyPath: ['r', 'id'] }).createIndex('r', 'r');
      v1.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true }).createIndex('entity', ['r', 'id']);
      v1.createObjectStore('meta');
    });
    const { client, events, clock } = clientOn(factory);
    const listing = watch(client.resource(todos).list());
    await until(() => events.some((e) => e.type === 'storageError'), 'the blocked open reported');
    expect(events.find((e) => e.type === 'storageError')).toMatchObject({ error: { message: expect.stringMatching(/is blocked/) } });
    await clock.advance(10 * OPEN_TIMEOUT_MS);
    expect(listing.outcome).toBe('pending');
    older.close();
    await until(() => listing.outcome !== 'pending', 'the open to go on');
    expect(listing.outcome).toBe('resolved');
    expect(events.filter((e) => e.type === 'storageError')).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
    await client.close();
  });

  /** A factory that refuses its opens (UnknownError) or leaves them unanswered until `heal()`. */
  function failingAtStart(how: 'refused' | 'unanswered') {
    const factory = new KillableFactory();
    const answering = factory.open.bind(factory);
    if (how === 'refused') factory.refuse = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');
    else factory.open = () => new IDBOpenDBRequest(); // no event ever fires (WebKit bug 226547)
    const heal = () => {
      factory.refuse = null;
      factory.open = answering;
    };
    return { factory, heal };
  }
  const createsApi = () => stubApi((req, _url, body) => (req.method === 'POST' ? json({ ...JSON.parse(body), version: 1 }, 201) : undefined));
  const posted = (api: ReturnType<typeof createsApi>) => api.requests.filter((r) => r.method === 'POST').map((r) => r.body);

  it.each(['refused', 'unanswered'] as const)(
    'a first open at start %s: reported once, then opened again on its own after the storage-fault backoff; writes and sends go on without a reload',
    async (how) => {
      const { factory, heal } = failingAtStart(how);
      const api = createsApi();
      const d = make(API, { fetch: api.fetch, localStorage: null, storageManager: null }, factory);
      d.online.next(false);
      if (how === 'unanswered') await d.clock.advance(OPEN_TIMEOUT_MS);
      await until(() => d.events.some((e) => e.type === 'storageError'), 'the failed open reported');
      expect(latest(d.client.status$).lastError).toMatchObject({ name: 'StorageError', message: expect.stringMatching(/opening "harborsync:default"/) });
      heal();
      await d.clock.advance(1_000); // retry.baseDelayMs
      await until(() => factory.connections.length === 1, 'the open tried again');
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
      d.online.next(true);
      await d.client.flush();
      expect(posted(api)).toEqual(['{"id":"a","title":"A","done":false}']);
      expect(d.events.filter((e) => e.type === 'storageError')).toHaveLength(1);
    },
  );

  it('a first open at start refused: a live query shown meanwhile, in error, loads once the open tried again succeeds', async () => {
    const { factory, heal } = failingAtStart('refused');
    const d = make(API, { fetch: createsApi().fetch, localStorage: null, storageManager: null }, factory);
    d.online.next(false);
    const states: Array<QueryState<{ id: string }>> = [];
    const subscription = d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'error', 'the query in error');
    expect(states.at(-1)!.error).toMatchObject({ name: 'StorageError' });
    heal();
    await d.clock.advance(1_000); // retry.baseDelayMs
    await until(() => states.at(-1)?.status !== 'error', 'the query loaded');
    expect(states.at(-1)).toMatchObject({ status: 'success', data: [], error: null });
    subscription.unsubscribe();
  });

  it('a first open at start refused: a call that opens the database before the retry is due starts the client at once', async () => {
    const { factory, heal } = failingAtStart('refused');
    const api = createsApi();
    const d = make(API, { fetch: api.fetch, localStorage: null, storageManager: null }, factory);
    await until(() => d.events.some((e) => e.type === 'storageError'), 'the failed open reported');
    heal();
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    // No time passed: the client leads and sends without waiting for its retry.
    await until(() => posted(api).length === 1, 'the create sent');
    expect(factory.connections).toHaveLength(1);
    expect(d.clock.pendingTimers).toBe(0);
  });

  describe('the connection lost mid-session (iOS suspending the page)', () => {
    const writesApi = () =>
      stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        if (req.method === 'PATCH') return json({ id: 'a', title: 'A', done: false, version: 2, ...JSON.parse(body) });
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
    const sent = (api: ReturnType<typeof writesApi>) => api.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.body}`);

    /** A device with a todo `a` created offline (queued), on a killable factory. */
    async function withQueuedCreate() {
      const factory = new KillableFactory();
      const api = writesApi();
      const d = make(API, { fetch: api.fetch }, factory);
      d.online.next(false);
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      return { factory, api, d, h };
    }

    it.each([
      ['transaction() throws "The database connection is closing"', (f: KillableFactory) => f.closing()],
      ['the connection fires `close`', (f: KillableFactory) => f.forceClose()],
      ['the write\'s transaction is aborted and the connection is closing', (f: KillableFactory) => f.abortNextWrite()],
      ['the write\'s transaction fails with UnknownError and the connection fires `close` (WebKit\'s lost server)', (f: KillableFactory) => f.loseServerOnNext('readwrite')],
    ])('%s: the write reopens once, commits once, and goes out once; nothing is reported', async (_, kill) => {
      const { factory, api, d, h } = await withQueuedCreate();
      kill(factory);
      expect(await h.update('a', { done: true })).toEqual({ id: 'a', title: 'A', done: true });
      expect(factory.connections).toHaveLength(2);
      // A resource not loaded before is read on the new connection too.
      expect(await d.client.resource(notes).list()).toEqual([]);
      const stored = await dump(factory, 'harborsync:default');
      expect(stored['outbox']!.map(([, e]) => (e as { op: string; payload: unknown }).payload)).toEqual([{ id: 'a', title: 'A', done: true }]);
      expect(latest(d.client.status$)).toMatchObject({ pending: 1, lastError: null });
      expect(d.events.filter((e) => e.type === 'storageError')).toEqual([]);
      // Later writes and the queue keep going: the loss was not taken as permanent.
      await h.update('a', { title: 'A2' });
      d.online.next(true);
      await d.client.flush();
      expect(sent(api)).toEqual(['POST {"id":"a","title":"A2","done":true}']);
      expect(latest(d.client.status$).pending).toBe(0);
    });

    it("WebKit's lost server as a write commits (its requests done, the transaction failed with UnknownError): the write may have been stored, so it is not run again; it rejects with a StorageError", async () => {
      const { factory, d, h } = await withQueuedCreate();
      loseServerAsNextWriteCommits(factory);
      const error = await h.update('a', { done: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).cause).toMatchObject({ name: 'UnknownError' });
      expect(factory.connections).toHaveLength(1);
      // The next operation opens again.
      await h.update('a', { title: 'A2' });
      expect(factory.connections).toHaveLength(2);
      expect(latest(d.client.status$).pending).toBe(1);
    });

    it("WebKit's lost server as a read runs (its request and transaction fail with UnknownError, the connection fires `close`): the read runs again on a new connection; nothing is reported", async () => {
      const { factory, d, h } = await withQueuedCreate();
      // A resource not loaded yet: listing it reads IndexedDB.
      factory.loseServerOnNext('readonly');
      expect(await d.client.resource(notes).list()).toEqual([]);
      expect(factory.connections).toHaveLength(2);
      expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
      expect(latest(d.client.status$).lastError).toBeNull();
      expect(d.events.filter((e) => e.type === 'storageError')).toEqual([]);
    });

    it('opening again fails: the write rejects with a StorageError saying so, status$.lastError is set, nothing is stored; once opening works, writes go on', async () => {
      const { factory, d, h } = await withQueuedCreate();
      const before = await dump(factory, 'harborsync:default');
      const opened = factory.connections.length;
      factory.closing();
      factory.refuse = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');
      const error = await h.update('a', { done: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toMatch(
        /todos\/a: saving failed: the browser closed the connection to "harborsync:default" and opening it again failed .*UnknownError: Internal error/,
      );
      expect(error).toMatchObject({ resource: 'todos', id: 'a' });
      expect(latest(d.client.status$).lastError).toBe(error);
      expect(d.events.filter((e) => e.type === 'storageError').map((e) => 'error' in e && e.error)).toEqual([error]);
      expect(await h.list()).toEqual([{ id: 'a', title: 'A', done: false }]);
      factory.refuse = null;
      expect(await dump(factory, 'harborsync:default')).toEqual(before);
      await h.update('a', { title: 'A2' });
      expect(factory.connections.length - opened).toBe(2); // the reopen, and dump()'s own
      expect(await h.list()).toEqual([{ id: 'a', title: 'A2', done: false }]);
    });
    it('refresh() of a shown resource whose load fails (clear(), then opening refused): it rejects, and the queries do not say they are fetching for ever', async () => {
      const factory = new KillableFactory();
      const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined));
      const d = make(API, { fetch: api.fetch }, factory);
      const h = d.client.resource(todos);
      const states: Array<QueryState<Todo>> = [];
      h.query$().subscribe((s) => states.push(s));
      await h.refresh();
      factory.refuse = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');
      await d.client.clear();
      await until(() => states.at(-1)!.error !== null, 'the failed load after clear()');
      expect(await h.refresh().catch((e: unknown) => e)).toBeInstanceOf(StorageError);
      expect(states.at(-1)).toMatchObject({ status: 'error', isFetching: false });
    });

    it.each([
      ["this tab's clear()", (d: Device) => d.client.clear({ discardPending: true })],
      ["another tab's clear() (the database deleted under the open connection)", (d: Device) => deleteDb(d.indexedDB)],
    ])('after %s, the first open of the fresh database is refused: that write rejects, the next one opens again and is stored; a read meanwhile creates nothing', async (_, deleteIt) => {
      const factory = new KillableFactory();
      const d = make(API, { fetch: stubApi(() => undefined).fetch, localStorage: null, storageManager: null }, factory);
      d.online.next(false);
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      await deleteIt(d);
      factory.refuse = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');
      expect(await h.create({ id: 'b', title: 'B', done: false }).catch((e: unknown) => e)).toBeInstanceOf(StorageError);
      factory.refuse = null;
      // Still deleted: a read finds nothing and leaves no database behind.
      expect(await h.list()).toEqual([]);
      expect(await factory.databases()).toEqual([]);
      await h.create({ id: 'c', title: 'C', done: false });
      expect(await h.list()).toEqual([{ id: 'c', title: 'C', done: false }]);
      expect(latest(d.client.status$).pending).toBe(1);
    });

    it(`after clear(), a first open of the fresh database that gets no answer is given up after ${OPEN_TIMEOUT_MS / 1000} s; the next write opens again`, async () => {
      const factory = new KillableFactory();
      const d = make(API, { fetch: stubApi(() => undefined).fetch, localStorage: null, storageManager: null }, factory);
      d.online.next(false);
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      await d.client.clear({ discardPending: true });
      const answering = factory.open.bind(factory);
      factory.open = () => new IDBOpenDBRequest(); // no event ever fires (WebKit bug 226547)
      const writing = watch(h.create({ id: 'b', title: 'B', done: false }));
      await d.clock.advance(OPEN_TIMEOUT_MS);
      await until(() => writing.outcome !== 'pending', 'the hung open given up');
      expect(writing.outcome).toBeInstanceOf(StorageError);
      factory.open = answering;
      await h.create({ id: 'c', title: 'C', done: false });
      expect(await h.list()).toEqual([{ id: 'c', title: 'C', done: false }]);
    });

    it('a resource whose load failed while opening again failed: once a later load works, its queries show it, not the old StorageError', async () => {
      const { factory, d } = await withQueuedCreate();
      factory.closing();
      factory.refuse = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');
      const states: Array<QueryState<{ id: string }>> = [];
      d.client.resource(notes).query$().subscribe((s) => states.push(s));
      await until(() => states.at(-1)!.error !== null, 'the failed load');
      expect(states.at(-1)).toMatchObject({ status: 'error', error: { name: 'StorageError' } });
      factory.refuse = null;
      expect(await d.client.resource(notes).list()).toEqual([]);
      expect(states.at(-1)).toMatchObject({ status: 'success', error: null, isFetching: false });
    });
  });

  describe('a database deleted behind the app\'s back (evicted, site data cleared)', () => {
    /** localStorage as a Map. */
    const memoryStorage = () => {
      const items = new Map<string, string>();
      return {
        items,
        getItem: (key: string) => items.get(key) ?? null,
        setItem: (key: string, value: string) => void items.set(key, value),
        removeItem: (key: string) => void items.delete(key),
      };
    };
    /** navigator.storage whose persist() is refused with an error, as a browser may. */
    const refusingManager = () => {
      const manager = {
        calls: 0,
        persist: () => {
          manager.calls++;
          return Promise.reject(new DOMException('not allowed', 'NotAllowedError'));
        },
      };
      return manager;
    };
    const storageErrors = (d: Device) => d.events.flatMap((e) => (e.type === 'storageError' ? [e.error.message] : []));

    it('between sessions: the start reports a StorageError on events$ and status$.lastError, not a silent empty start', async () => {
      const localStorage = memoryStorage();
      const factory = new IDBFactory();
      const start = () => make(API, { fetch: stubApi(() => undefined).fetch, localStorage, storageManager: null }, factory);
      const first = start();
      first.online.next(false);
      await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
      await first.client.close();
      await deleteDb(factory);

      const again = start();
      again.online.next(false);
      expect(await again.client.resource(todos).list()).toEqual([]);
      const reported = storageErrors(again);
      expect(reported).toEqual([expect.stringMatching(/"harborsync:default" was missing and has been created empty: the browser evicted it or the site's data was cleared/)]);
      expect(latest(again.client.status$).lastError).toMatchObject({ name: 'StorageError', message: reported[0] });
      // Reported once: the next start finds the database this one created.
      await again.client.close();
      const third = start();
      third.online.next(false);
      await third.client.resource(todos).list();
      expect(storageErrors(third)).toEqual([]);
    });

    it('during a session: the browser closes the connection and deletes the database; the reopen reports it and the views empty', async () => {
      const factory = new KillableFactory();
      const d = make(API, { fetch: stubApi(() => undefined).fetch, localStorage: null, storageManager: null }, factory);
      d.online.next(false);
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      factory.forceClose();
      await deleteDb(factory);
      await h.create({ id: 'b', title: 'B', done: false });
      expect(storageErrors(d)).toEqual([expect.stringMatching(/was missing and has been created empty/)]);
      await until(async () => (await h.list()).length === 1, 'the views emptied of what went');
      expect(await h.list()).toEqual([{ id: 'b', title: 'B', done: false }]);
      expect(latest(d.client.status$).pending).toBe(1);
    });

    it('during a session, with a delta cursor stored: the first refresh() after the deletion fetches the feed from its start, not from the cursor that went with it', async () => {
      const factory = new KillableFactory();
      const a = { id: 'a', title: 'A', done: false, version: 1 };
      const api = stubApi((_req, url) => {
        if (url.pathname !== '/api/todos') return undefined;
        return json(url.searchParams.get('since') === '' ? { items: [a], deleted: [], cursor: '1' } : { items: [], deleted: [], cursor: '1' });
      });
      const d = make(API, { fetch: api.fetch, localStorage: null, storageManager: null }, factory);
      const h = d.client.resource(todos);
      await h.refresh();
      expect(await h.list()).toEqual([a]);
      factory.forceClose();
      await deleteDb(factory);
      await h.refresh();
      expect(storageErrors(d)).toEqual([expect.stringMatching(/was missing and has been created empty/)]);
      expect(await h.list()).toEqual([a]);
      // Later pulls go on from the cursor the fresh database was given with that whole feed.
      await h.refresh();
      expect(await h.list()).toEqual([a]);
    });

    it('during a session, while a delta page is requested: the page, asked from a cursor that went with the database, is not stored in the fresh one', async () => {
      const factory = new KillableFactory();
      const a = { id: 'a', title: 'A', done: false, version: 1 };
      let evictOnRequest = false;
      const api = stubApi(async (_req, url) => {
        if (url.pathname !== '/api/todos') return json({ error: 'no route' }, 404);
        if (evictOnRequest) {
          evictOnRequest = false;
          factory.forceClose();
          await deleteDb(factory);
        }
        return json(url.searchParams.get('since') === '' ? { items: [a], deleted: [], cursor: '1' } : { items: [], deleted: [], cursor: '1' });
      });
      const d = make(API, { fetch: api.fetch, localStorage: null, storageManager: null }, factory);
      const h = d.client.resource(todos);
      await h.refresh();
      evictOnRequest = true;
      await h.refresh();
      await h.refresh();
      expect(storageErrors(d)).toEqual([expect.stringMatching(/was missing and has been created empty/)]);
      expect(await h.list()).toEqual([a]);
    });

    it('during a session: an update made as the deletion is found is kept on the server version shown, not refused, and a refresh() brings the rest back', async () => {
      const factory = new KillableFactory();
      const a = { id: 'a', title: 'A', done: false, version: 1 };
      const b = { id: 'b', title: 'B', done: false, version: 1 };
      const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json({ items: [a, b], deleted: [], cursor: '1' }) : json({ error: 'no route' }, 404)));
      const d = make(API, { fetch: api.fetch, localStorage: null, storageManager: null }, factory);
      const h = d.client.resource(todos);
      await h.refresh();
      d.online.next(false);
      factory.forceClose();
      await deleteDb(factory);
      expect(await h.update('a', { done: true })).toEqual({ ...a, done: true });
      expect(storageErrors(d)).toEqual([expect.stringMatching(/was missing and has been created empty/)]);
      expect(latest(d.client.status$).pending).toBe(1);
      await h.refresh();
      expect(await h.list({ orderBy: 'id' })).toEqual([{ ...a, done: true }, b]);
    });

    it('nothing is reported on a first start, a restart, or a start after clear(); persist() is asked once, when the database is created, and its refusal ignored', async () => {
      const localStorage = memoryStorage();
      const storageManager = refusingManager();
      const factory = new IDBFactory();
      const start = () => make(API, { fetch: stubApi(() => undefined).fetch, localStorage, storageManager }, factory);
      const first = start();
      first.online.next(false);
      await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
      expect(storageManager.calls).toBe(1);
      expect(localStorage.items.get('harborsync:default')).toBeDefined();
      await first.client.close();

      const second = start();
      second.online.next(false);
      expect(await second.client.resource(todos).list()).toEqual([{ id: 'a', title: 'A', done: false }]);
      expect(storageManager.calls).toBe(1);
      await second.client.clear({ discardPending: true });
      await second.client.close();
      // Whether or not the database was created again before the close, a start after clear() is no eviction.
      const third = start();
      third.online.next(false);
      expect(await third.client.resource(todos).list()).toEqual([]);
      for (const d of [first, second, third]) {
        expect(storageErrors(d)).toEqual([]);
        expect(latest(d.client.status$).lastError).toBeNull();
      }
    });

    it('localStorage that throws (storage blocked) only costs the report: the client works', async () => {
      const throwing = {
        getItem: () => {
          throw new DOMException('The operation is insecure.', 'SecurityError');
        },
        setItem: () => {
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        },
        removeItem: () => undefined,
      };
      const d = make(API, { fetch: stubApi(() => undefined).fetch, localStorage: throwing, storageManager: null });
      d.online.next(false);
      await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
      expect(await d.client.resource(todos).list()).toEqual([{ id: 'a', title: 'A', done: false }]);
      expect(storageErrors(d)).toEqual([]);
    });
  });

  describe('a read that IndexedDB fails on a working connection', () => {
    // Chrome's "UnknownError: Failed to read large IndexedDB value" (a value whose blob file is gone).
    type Internal = { _execRequestAsync(request: { operation: () => never; source: unknown }): IDBRequest };
    const originalGetAll = IDBObjectStore.prototype.getAll;
    let failing = 0;
    beforeEach(() => {
      IDBObjectStore.prototype.getAll = function (this: IDBObjectStore, ...args: Parameters<typeof originalGetAll>) {
        if (failing === 0 || this.name !== 'entities') return originalGetAll.apply(this, args);
        failing--;
        return (this.transaction as unknown as Internal)._execRequestAsync({
          operation: () => {
            throw new DOMException('Failed to read large IndexedDB value', 'UnknownError');
          },
          source: this,
        });
      };
    });
    afterEach(() => {
      IDBObjectStore.prototype.getAll = originalGetAll;
      failing = 0;
    });

    it('a resource whose load it fails: its live query shows a StorageError, list() rejects with one naming the resource, its cause kept; the next read works', async () => {
      const d = make(API, { fetch: stubApi(() => undefined).fetch });
      d.online.next(false);
      await d.client.resource(todos).list();
      failing = 1;
      const states: Array<QueryState<{ id: string }>> = [];
      d.client.resource(notes).query$().subscribe((s) => states.push(s));
      await until(() => states.at(-1)?.status === 'error', 'the failed load shown');
      expect(states.at(-1)!.error).toBeInstanceOf(StorageError);
      failing = 1;
      const error = await d.client.resource(notes).list().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toMatch(/loading notes failed: UnknownError: Failed to read large IndexedDB value/);
      expect((error as StorageError).cause).toMatchObject({ name: 'UnknownError' });
      expect(await d.client.resource(notes).list()).toEqual([]);
      expect(states.at(-1)).toMatchObject({ status: 'success', error: null });
    });
  });

  it('an on-demand page stored, then trimming the cache past cacheLimit fails: the query shows its page, not that error, which goes to events$', async () => {
    const orders = defineResource({
      name: 'orders',
      schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
      load: 'on-demand',
      cacheLimit: 0,
    });
    const row = (id: string, done: boolean) => ({ id, title: id.toUpperCase(), done, version: 1 });
    const api = stubApi((_req, url) => {
      if (url.pathname !== '/api/orders') return undefined;
      const done = url.searchParams.get('filter[done]') === 'true';
      return json({ items: done ? [row('c', true), row('d', true)] : [row('a', false), row('b', false)], cursor: null });
    });
    const d = make(API, { fetch: api.fetch, resources: [orders] });
    const h = d.client.resource(orders);
    const first = h.query$({ where: { done: false } }).subscribe(() => undefined);
    await until(async () => (await h.list()).length === 2, 'the first page');
    first.unsubscribe();
    // The browser aborts the trim (deleting what no query shows any more) with an error of its own.
    const originalDelete = IDBObjectStore.prototype.delete;
    let failing = true;
    IDBObjectStore.prototype.delete = function (this: IDBObjectStore, ...args: Parameters<typeof originalDelete>) {
      if (!failing || this.name !== 'entities') return originalDelete.apply(this, args);
      failing = false;
      return (this.transaction as unknown as { _execRequestAsync(request: { operation: () => never; source: unknown }): IDBRequest })._execRequestAsync({
        operation: () => {
          throw new DOMException('Internal error.', 'UnknownError');
        },
        source: this,
      });
    };
    try {
      const states: Array<QueryState<{ id: string }>> = [];
      const second = h.query$({ where: { done: true } }).subscribe((s) => states.push(s));
      await until(() => !failing && states.at(-1)?.isFetching === false, 'the second page, and the failed trim');
      expect(states.at(-1)).toMatchObject({ status: 'success', error: null, data: [row('c', true), row('d', true)] });
      expect(d.events.filter((e) => e.type === 'error')).toMatchObject([{ resource: 'orders', error: { name: 'StorageError' } }]);
      second.unsubscribe();
    } finally {
      IDBObjectStore.prototype.delete = originalDelete;
    }
  });

  describe('QuotaExceededError on a write', () => {
    // Like a browser: the put's request fails with a QuotaExceededError and the transaction aborts
    // with it. (fake-indexeddb's request machinery runs the failing operation asynchronously.)
    type Internal = { _execRequestAsync(request: { operation: () => never; source: unknown }): IDBRequest };
    const originalPut = IDBObjectStore.prototype.put;
    const originalAdd = IDBObjectStore.prototype.add;
    let failStore: string | null = null;
    /** How many writes to `failStore` fail before it works again. */
    let failTimes = 1;
    /** 'request': the request fails and the transaction aborts; 'throw': put() throws at once (as a DataCloneError would). */
    let failMode: 'request' | 'throw' = 'request';
    const failing = (original: typeof originalPut) =>
      function (this: IDBObjectStore, ...args: Parameters<typeof originalPut>) {
        if (failStore === null || this.name !== failStore) return original.apply(this, args);
        if (--failTimes <= 0) failStore = null;
        if (failMode === 'throw') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return (this.transaction as unknown as Internal)._execRequestAsync({
          operation: () => {
            throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          },
          source: this,
        });
      };
    beforeEach(() => {
      IDBObjectStore.prototype.put = failing(originalPut);
      IDBObjectStore.prototype.add = failing(originalAdd);
    });
    afterEach(() => {
      IDBObjectStore.prototype.put = originalPut;
      IDBObjectStore.prototype.add = originalAdd;
      failStore = null;
      failTimes = 1;
      failMode = 'request';
    });

    it.each([
      ['the entity', 'entities', 'update', 'request'],
      ['the outbox entry', 'outbox', 'update', 'request'],
      ['the outbox entry of a create', 'outbox', 'create', 'request'],
      ['the entity of a delete', 'entities', 'delete', 'request'],
      ['the entity (put throws, the entry already issued)', 'entities', 'update', 'throw'],
      ['the entity of a create (put throws)', 'entities', 'create', 'throw'],
    ] as const)('when storing %s fails: StorageError, the view rolls back, nothing partial is stored, the outbox stays consistent', async (_, store, op, mode) => {
      failMode = mode;
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        if (req.method === 'PATCH') return json({ id: 'a', title: 'A', done: true, version: 2, ...JSON.parse(body) });
        if (req.method === 'DELETE') return new Response(null, { status: 204 });
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch });
      const h = d.client.resource(todos);
      const states: Array<QueryState<Todo>> = [];
      h.query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
      await h.create({ id: 'a', title: 'A', done: false });
      await d.client.flush(); // confirmed as version 1
      d.online.next(false);
      await h.update('a', { done: true }); // one queued update
      const before = await dump(d.indexedDB, 'harborsync:default');
      const viewBefore = await h.list({ orderBy: 'id' });
      failStore = store;
      const write =
        op === 'update' ? h.update('a', { title: 'too big' }) : op === 'create' ? h.create({ id: 'b', title: 'B', done: false }) : h.delete('a');
      const error = await write.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toMatch(/todos\/(a|b).*storage quota exceeded/);
      expect(error).toMatchObject({ resource: 'todos', id: op === 'create' ? 'b' : 'a' });
      expect((error as StorageError).cause).toMatchObject({ name: 'QuotaExceededError' });
      expect(await h.list({ orderBy: 'id' })).toEqual(viewBefore);
      expect(states.at(-1)!.data).toEqual(viewBefore);
      expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
      expect(latest(d.client.status$).pending).toBe(1);
      // The client keeps working: the next write and the queue go through.
      await h.update('a', { title: 'fits' });
      d.online.next(true);
      await d.client.flush();
      expect(api.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.body}`)).toEqual([
        'POST {"id":"a","title":"A","done":false}',
        'PATCH {"done":true,"title":"fits"}',
      ]);
      expect(latest(d.client.status$).pending).toBe(0);
    });

    it('when storing the answer to a change fails: flush() resolves, the change stays queued and goes out again with its key once storing works', async () => {
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch });
      const h = d.client.resource(todos);
      d.online.next(false);
      await h.create({ id: 'a', title: 'A', done: false });
      failStore = 'entities';
      failTimes = 1000; // the storage stays full
      d.online.next(true);
      await until(() => d.events.some((e) => e.type === 'error'), 'the answer not stored');
      // Nothing can be sent before the storage fault's wait is over: flush() does not wait for it.
      expect('value' in (await outcomeOf(d.client.flush(), 'flush() during the storage fault'))).toBe(true);
      // It goes out again once retry.baseDelayMs has passed.
      expect(latest(d.client.status$)).toMatchObject({ pending: 1, syncing: false, nextRetryAt: d.clock.now() + 1000 });
      failStore = null;
      await d.clock.advance(1000);
      await d.client.flush();
      const posts = api.requests.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(2);
      expect(new Set(posts.map((r) => r.headers.get('Idempotency-Key'))).size).toBe(1);
      expect(latest(d.client.status$).pending).toBe(0);
    });

    it.each(['entities', 'outbox'] as const)('when storing the answer (%s) or the sending mark fails: status$.lastError is that StorageError naming the quota, not only an event', async (store) => {
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch });
      d.online.next(false);
      await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
      failStore = store;
      d.online.next(true);
      await until(() => d.events.some((e) => e.type === 'error'), 'the storage fault');
      const fault = d.events.find((e) => e.type === 'error')!;
      expect(fault).toMatchObject({ error: { name: 'StorageError', message: expect.stringMatching(/storage quota exceeded/) } });
      expect(latest(d.client.status$)).toMatchObject({ pending: 1, lastError: 'error' in fault ? fault.error : null });
    });

    /**
     * A change to 'a' queued offline, then sent while the storage stays full: its answer is not
     * stored. `sentAt`: when each POST arrived (the client's clock); `faults()`: storage faults heard.
     */
    async function storageStaysFull(retry: { baseDelayMs: number; maxDelayMs: number }) {
      const sentAt: number[] = [];
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') {
          sentAt.push(d.clock.now());
          return json({ ...JSON.parse(body), version: 1 }, 201);
        }
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch, retry });
      const h = d.client.resource(todos);
      d.online.next(false);
      await h.create({ id: 'a', title: 'A', done: false });
      failStore = 'entities';
      failTimes = 1000;
      const faults = () => d.events.filter((e) => e.type === 'error').length;
      d.online.next(true);
      await until(() => faults() === 1, 'the answer not stored');
      return { api, d, h, sentAt, faults };
    }

    it('while storing answers keeps failing (the storage stays full): the change is re-sent with its key at waits that double up to retry.maxDelayMs, not every baseDelayMs', async () => {
      const { api, d, h, sentAt, faults } = await storageStaysFull({ baseDelayMs: 1000, maxDelayMs: 8000 });
      // Each attempt's fault is heard before the clock moves on.
      for (let second = 0; second < 40; second++) {
        await d.clock.advance(1000);
        await until(() => faults() === sentAt.length, 'the answer not stored again');
      }
      expect(sentAt.slice(1).map((at, i) => at - sentAt[i]!)).toEqual([1000, 2000, 4000, 8000, 8000, 8000, 8000]);
      // Once an answer is stored, the next storage fault waits baseDelayMs again.
      failStore = null;
      await d.clock.advance(8000);
      await d.client.flush();
      expect(latest(d.client.status$).pending).toBe(0);
      d.online.next(false);
      await h.create({ id: 'b', title: 'B', done: false });
      failStore = 'entities';
      failTimes = 1;
      const [before, faultsBefore] = [sentAt.length, faults()];
      d.online.next(true);
      await until(() => faults() === faultsBefore + 1, 'the answer to b not stored');
      await d.clock.advance(1000);
      await d.client.flush();
      expect(sentAt.slice(before).map((at) => at - sentAt[before]!)).toEqual([0, 1000]);
      expect(new Set(api.requests.filter((r) => r.body.includes('"id":"a"')).map((r) => r.headers.get('Idempotency-Key'))).size).toBe(1);
      expect(latest(d.client.status$).pending).toBe(0);
    });

    it('after storage faults long enough to wait retry.maxDelayMs, clear() (a logout, a fresh database) lets a change made since go at once, not after the old wait', async () => {
      const { api, d, h, sentAt, faults } = await storageStaysFull({ baseDelayMs: 1000, maxDelayMs: 60_000 });
      for (let second = 0; second < 15; second++) {
        await d.clock.advance(1000);
        await until(() => faults() === sentAt.length, 'the answer not stored again');
      }
      expect(sentAt.length).toBe(5); // waits of 1, 2, 4, 8 s; the next is 16 s after the fifth
      failStore = null;
      await d.client.clear({ discardPending: true });
      await h.create({ id: 'b', title: 'B', done: false });
      await d.client.flush();
      expect(api.requests.filter((r) => r.method === 'POST' && r.body.includes('"id":"b"'))).toHaveLength(1);
      expect(latest(d.client.status$).pending).toBe(0);
    });

    /** A client whose todo 'a' the server confirmed (version 1), offline since. */
    async function confirmedOffline() {
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch });
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      await d.client.flush();
      d.online.next(false);
      return { d, h };
    }

    it('when two writes of one entity made in a row both fail: the view rolls back to what is stored, not to the first of them', async () => {
      const { d, h } = await confirmedOffline();
      const states: Array<QueryState<Todo>> = [];
      h.query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
      await h.update('a', { done: true });
      const viewBefore = await h.list({ orderBy: 'id' });
      failStore = 'outbox';
      failTimes = 2;
      const first = h.update('a', { title: 'first' });
      const second = h.update('a', { title: 'second' });
      expect(await first.catch((e: unknown) => e)).toBeInstanceOf(StorageError);
      expect(await second.catch((e: unknown) => e)).toBeInstanceOf(StorageError);
      expect(await h.list({ orderBy: 'id' })).toEqual(viewBefore);
      expect(states.at(-1)!.data).toEqual(viewBefore);
      expect(latest(d.client.status$).pending).toBe(1);
    });

    it.each(['local', 'server'] as const)("when a write fails, an update repeating its values made meanwhile (a double submit, wait: '%s') fails with it: it never resolves as if stored", async (wait) => {
      const { d, h } = await confirmedOffline();
      failStore = 'outbox';
      const first = h.update('a', { title: 'X' }).catch((e: unknown) => e);
      // Changes nothing of the view shown: its values are the first write's.
      const second = outcomeOf(h.update('a', { title: 'X' }, { wait }), 'the second update');
      expect(await first).toBeInstanceOf(StorageError);
      expect(await second).toEqual({ error: expect.any(StorageError) });
      expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
      expect(latest(d.client.status$).pending).toBe(0);
    });

    it("when storing a conflict's decision fails: resolve() rejects with a StorageError naming the resource and id; the conflict stays", async () => {
      const api = stubApi((req, url, body) => {
        if (req.method === 'POST') return json({ ...JSON.parse(body), version: 1 }, 201);
        if (req.method === 'PATCH') return json({ id: 'a', title: 'theirs', done: false, version: 2 }, 412);
        return url.pathname === '/api/todos' ? json({ items: [], deleted: [], cursor: '0' }) : undefined;
      });
      const d = make(API, { fetch: api.fetch, conflicts: 'manual' });
      const h = d.client.resource(todos);
      await h.create({ id: 'a', title: 'A', done: false });
      await d.client.flush();
      await h.update('a', { title: 'mine' });
      await until(() => latest<Conflict[]>(d.client.conflicts$).length === 1, 'the conflict parked');
      failStore = 'outbox';
      const error = await latest<Conflict[]>(d.client.conflicts$)[0]!.resolve('local').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ resource: 'todos', id: 'a', message: expect.stringMatching(/storage quota exceeded/) });
      expect(latest<Conflict[]>(d.client.conflicts$)).toHaveLength(1);
    });

    it('when a write fails, the next write of the entity made meanwhile resolves with the view it stored, without the failed change', async () => {
      const { h } = await confirmedOffline();
      failStore = 'outbox';
      const first = h.update('a', { title: 'X' }).catch((e: unknown) => e);
      // Made on the first one's view, stored without it.
      const second = h.update('a', { done: true });
      expect(await first).toBeInstanceOf(StorageError);
      const stored = { id: 'a', title: 'A', done: true, version: 1 };
      expect(await second).toEqual(stored);
      expect(await h.get('a')).toEqual(stored);
    });

    it('when a write redone on what another tab stored fails: StorageError, nothing is stored, and no promise is left rejected unhandled', async () => {
      const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json({ items: [{ id: 'a', title: 'A', done: false, version: 1 }], deleted: [], cursor: '1' }) : undefined));
      const d = make(API, { fetch: api.fetch });
      const h = d.client.resource(todos);
      await h.refresh();
      // Another tab pulled a newer version; its message has not arrived.
      const newer = { id: 'a', title: 'B', done: false, version: 2 };
      await rawPut(d.indexedDB, 'harborsync:default', 'entities', { r: 'todos', id: 'a', base: newer, view: newer });
      const before = await dump(d.indexedDB, 'harborsync:default');
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        failStore = 'outbox';
        // Its transaction reads the record, finds it changed, and reads on while the entry's request fails.
        expect(await h.update('a', { done: true }).catch((e: unknown) => e)).toBeInstanceOf(StorageError);
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      expect(unhandled).toEqual([]);
      expect(await dump(d.indexedDB, 'harborsync:default')).toEqual(before);
    });

    it('when a write fails after a pull stored a newer version under it: the view rolls back to what is stored, not to the copy the write was made on', async () => {
      let a = { id: 'a', title: 'A', done: false, version: 1 };
      const api = stubApi((_req, url) => (url.pathname === '/api/todos' ? json({ items: [a], deleted: [], cursor: String(a.version) }) : undefined));
      const factory = new KillableFactory();
      const d = make(API, { fetch: api.fetch }, factory);
      const h = d.client.resource(todos);
      const states: Array<QueryState<Todo>> = [];
      h.query$({ orderBy: 'id' }).subscribe((s) => states.push(s));
      await h.refresh();
      a = { id: 'a', title: 'B', done: false, version: 2 };
      // The write is made while the pull's transaction is under way: it commits after the pull's.
      let write: Promise<unknown> | undefined;
      for (const db of factory.connections) {
        const original = db.transaction.bind(db);
        db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
          const tx = original(...args);
          if (args[1] === 'readwrite' && !write) {
            failStore = 'outbox';
            write = h.update('a', { done: true }).catch((e: unknown) => e);
          }
          return tx;
        }) as IDBDatabase['transaction'];
      }
      await h.refresh();
      expect(await write).toBeInstanceOf(StorageError);
      const stored = { id: 'a', title: 'B', done: false, version: 2 };
      expect((await dump(factory, 'harborsync:default'))['entities']!.map(([, record]) => (record as { view: unknown }).view)).toEqual([stored]);
      await until(() => states.at(-1)!.data[0]?.version === 2, 'the view back on what is stored');
      expect(states.at(-1)!.data).toEqual([stored]);
      expect(await h.get('a')).toEqual(stored);
    });

    it('when storing a pulled page fails: the delta cursor stays where it was, and the next pull brings that page again (RELIABILITY #23)', async () => {
      const a = { id: 'a', title: 'A', done: false, version: 1 };
      const api = stubApi((_req, url) => {
        if (url.pathname !== '/api/todos') return undefined;
        return json(url.searchParams.get('since') === '' ? { items: [a], deleted: [], cursor: '1' } : { items: [], deleted: [], cursor: '1' });
      });
      const d = make(API, { fetch: api.fetch });
      const h = d.client.resource(todos);
      failStore = 'entities';
      const error = await h.refresh().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ resource: 'todos', message: expect.stringMatching(/^todos: caching failed: storage quota exceeded/) });
      expect(await h.list()).toEqual([]);
      // The next start reads the stored cursor.
      await d.client.close();
      const again = make(API, { fetch: api.fetch }, d.indexedDB, d.clock);
      await again.client.resource(todos).refresh();
      expect(api.requests.map((r) => r.path)).toEqual(['/api/todos?since=', '/api/todos?since=']);
      expect(await again.client.resource(todos).list()).toEqual([a]);
    });
  });
});
