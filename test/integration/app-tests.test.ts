// @vitest-environment happy-dom
/**
 * An app's own tests, with harborsync inside: a DOM environment (happy-dom: the page's
 * localStorage, a Node BroadcastChannel, no Web Locks) and a fresh fake IndexedDB per test.
 */
import { IDBFactory } from 'fake-indexeddb';
import { config, type Observable } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSyncClient, StorageError, type SyncClient, type SyncStatus } from '../../src/index.js';
import { stubApi } from '../adapters/stub-api.js';
import { todos } from '../adapters/fake-client.js';

const clients: SyncClient[] = [];
afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** A client as an app's test makes one: its own IndexedDB, the rest of the platform the DOM environment's. */
function appClient(): { client: SyncClient; storageErrors: string[] } {
  const client = createSyncClient({ baseUrl: 'http://api.test/api', resources: [todos], indexedDB: new IDBFactory(), fetch: stubApi([]).fetch, BroadcastChannel: null });
  clients.push(client);
  const storageErrors: string[] = [];
  client.events$.subscribe((event) => {
    if (event.type === 'storageError') storageErrors.push(event.error.message);
  });
  return { client, storageErrors };
}

const lastError = (client: SyncClient) => {
  let status: SyncStatus | undefined;
  client.status$.subscribe((s) => (status = s)).unsubscribe();
  return status!.lastError;
};

describe("an app's tests, each with a fresh injected IndexedDB", () => {
  it("the page's localStorage, which outlives each test, reports no eviction of the next test's database", async () => {
    expect(typeof localStorage.getItem).toBe('function');
    for (let run = 0; run < 2; run++) {
      const { client, storageErrors } = appClient();
      await client.resource(todos).create({ id: `t${run}`, title: 'Milk', done: false });
      await client.close();
      expect(storageErrors).toEqual([]);
      expect(lastError(client)).toBeNull();
    }
  });
});

describe('an IndexedDB factory given without the IndexedDB classes as globals', () => {
  it("is refused at once with a StorageError naming what is missing and where it comes from, not at each call's open", () => {
    // A Node test that imports fake-indexeddb's factory but not 'fake-indexeddb/auto': idb tells requests apart by the global classes.
    for (const name of ['indexedDB', 'IDBRequest', 'IDBDatabase', 'IDBTransaction', 'IDBObjectStore', 'IDBIndex', 'IDBCursor']) vi.stubGlobal(name, undefined);
    const make = () => createSyncClient({ baseUrl: 'http://api.test/api', resources: [todos], indexedDB: new IDBFactory(), fetch: stubApi([]).fetch, BroadcastChannel: null });
    expect(make).toThrow(StorageError);
    expect(make).toThrow(/IDBRequest, IDBDatabase, IDBTransaction, IDBObjectStore, IDBIndex, IDBCursor.*fake-indexeddb\/auto/);
  });
});

describe("a test's subscriber that throws", () => {
  it('is reported as RxJS reports it, and the client goes on: the other subscribers, the writes, flush() and { wait: "server" }', async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (error) => reported.push(error);
    try {
      const api = stubApi([]);
      const client = createSyncClient({ baseUrl: 'http://api.test/api', resources: [todos], indexedDB: new IDBFactory(), fetch: api.fetch, BroadcastChannel: null });
      clients.push(client);
      const h = client.resource(todos);
      const bug = () => {
        throw new Error('a bug in the test');
      };
      const observables: Array<Observable<unknown>> = [h.query$({}), h.get$('t1'), client.status$, client.events$, client.failed$, client.conflicts$];
      for (const observable of observables) observable.subscribe(bug);
      const shown: string[][] = [];
      h.query$({ orderBy: 'id' }).subscribe((state) => shown.push(state.data.map((todo) => todo.title)));
      await h.create({ id: 't1', title: 'Milk', done: false });
      expect(await h.update('t1', { title: 'Oat milk' }, { wait: 'server' })).toMatchObject({ title: 'Oat milk', version: 2 });
      await h.create({ id: 't2', title: 'Eggs', done: false });
      await client.flush();
      expect([...api.table.values()].map((todo) => todo['title'])).toEqual(['Oat milk', 'Eggs']);
      expect(shown.at(-1)).toEqual(['Oat milk', 'Eggs']);
      await client.close();
      // RxJS reports each on a timer of its own.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(reported.length).toBeGreaterThan(0);
      expect(reported.every((error) => error instanceof Error && error.message === 'a bug in the test')).toBe(true);
    } finally {
      config.onUnhandledError = null;
    }
  });
});

describe("close() in afterEach, on the DOM environment's own platform (its BroadcastChannel, no Web Locks)", () => {
  it("leaves no channel open, no connection (the database deletes at once) and no write of the next client's missing", async () => {
    const ports = () => (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    const api = stubApi([]);
    const make = () => createSyncClient({ baseUrl: 'http://api.test/api', resources: [todos], namespace: 'app-tests', fetch: api.fetch });
    const first = make();
    await first.resource(todos).create({ id: 't1', title: 'Milk', done: false });
    await first.flush();
    expect(ports()).toBeGreaterThan(before);
    await first.close();
    expect(ports()).toBe(before);

    const second = make();
    expect(await second.resource(todos).list()).toMatchObject([{ id: 't1', title: 'Milk', version: 1 }]);
    await second.close();
    const deleted = await new Promise<string>((resolve) => {
      const request = indexedDB.deleteDatabase('harborsync:app-tests');
      request.onsuccess = () => resolve('deleted');
      request.onblocked = () => resolve('blocked');
    });
    expect(deleted).toBe('deleted');
  });
});

describe("vitest's fake timers, setImmediate left real (fake-indexeddb runs on it)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drive the retries of a write the server refused for a while; flush() and { wait: "server" } settle, and close() leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const api = stubApi([]);
    let busy = 2;
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method === 'POST' && busy-- > 0) return new Response('busy', { status: 503 });
      return api.fetch(request);
    };
    const client = createSyncClient({ baseUrl: 'http://api.test/api', resources: [todos], indexedDB: new IDBFactory(), fetch, BroadcastChannel: null });
    clients.push(client);
    const confirmed = client.resource(todos).create({ id: 't1', title: 'Milk', done: false }, { wait: 'server' });
    await client.flush();
    expect(api.table.size).toBe(0);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    // Two backoffs at most (1 s, then 2 s, full jitter).
    await vi.advanceTimersByTimeAsync(3_000);
    await client.flush();
    expect(await confirmed).toMatchObject({ id: 't1', version: 1 });
    expect(api.table.size).toBe(1);
    await client.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
