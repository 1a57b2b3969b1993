import { IDBFactory } from 'fake-indexeddb';
import { BehaviorSubject } from 'rxjs';
import { z } from 'zod';
import { createSyncClient, defineResource } from '../../src/index.js';
import type { Entity, ResourceDefinition, SyncClient } from '../../src/types.js';
import { todos } from './fake-client.js';

/** The same todos, named by the server (the stub's POST answers ids 's1', 's2', …). */
export const serverTodos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
  ids: 'server',
});

/**
 * A fetch stub answering DESIGN section 2's list, create and update for `/api/todos` from memory,
 * enough for the adapters' tests with the real client.
 */
export function stubApi(rows: Entity[]) {
  const table = new Map(rows.map((row) => [String(row['id']), row]));
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const [, id] = new URL(request.url).pathname.split('/api/todos');
    const key = id?.replace(/^\//, '');
    if (request.method === 'GET' && !key) return json(200, [...table.values()]);
    if (request.method === 'POST') {
      const body = (await request.json()) as Entity;
      const created: Entity = { id: `s${table.size + 1}`, ...body, version: 1 };
      table.set(String(created['id']), created);
      return json(201, created);
    }
    const current = key ? table.get(key) : undefined;
    if (!current) return json(404, { message: 'not found' });
    if (request.method === 'PATCH') {
      const updated: Entity = { ...current, ...((await request.json()) as Entity), version: Number(current['version']) + 1 };
      table.set(String(key), updated);
      return json(200, updated);
    }
    return json(200, current);
  };
  return { fetch, table };
}

/** The real client on a fresh fake IndexedDB, talking to a stub API. */
export function realClient(rows: Entity[], resource: ResourceDefinition<object> = todos): { client: SyncClient; table: Map<string, Entity> } {
  const api = stubApi(rows);
  const client = createSyncClient({
    baseUrl: 'http://api.test/api',
    resources: [resource],
    indexedDB: new IDBFactory(),
    fetch: api.fetch,
    online: new BehaviorSubject(true),
    locks: null,
    BroadcastChannel: null,
  });
  return { client, table: api.table };
}
