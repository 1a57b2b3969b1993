// @vitest-environment happy-dom
/**
 * An app's own tests, with harborsync inside: a DOM environment (happy-dom: the page's
 * localStorage, a Node BroadcastChannel, no Web Locks) and a fresh fake IndexedDB per test.
 */
import { IDBFactory } from 'fake-indexeddb';
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
