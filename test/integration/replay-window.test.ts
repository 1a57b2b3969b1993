import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSyncClient, defineResource, HttpError, type Entity, type SyncClient, type SyncClientOptions, type Transport } from '../../src/index.js';
import { todos, until } from '../helpers/harness.js';
import { IDBFactory } from 'fake-indexeddb';
import { BehaviorSubject, firstValueFrom } from 'rxjs';
import { ManualClock, seededRandom } from '../helpers/manual-clock.js';
import { getAllRaw, openRaw } from '../helpers/raw-idb.js';

const projects = defineResource({ name: 'projects', schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }) });
const tasks = defineResource({
  name: 'tasks',
  schema: z.object({ id: z.string(), projectId: z.string(), title: z.string(), version: z.number().int() }),
  references: { projectId: 'projects' },
});

/** A request the test answers when it chooses. */
interface HeldRequest {
  call: string;
  answer(): void;
}

/** A transport whose writes wait for the test: what is in flight is exactly what it holds. */
function heldTransport() {
  const held: HeldRequest[] = [];
  const sent: string[] = [];
  let versions = 0;
  const hold = (call: string, body: Entity): Promise<unknown> => {
    sent.push(call);
    return new Promise((resolve) => held.push({ call, answer: () => resolve({ ...body, version: ++versions }) }));
  };
  const transport: Transport = {
    list: async () => [],
    delta: async () => ({ items: [], deleted: [], cursor: null, hasMore: false }),
    one: async () => null,
    query: async () => [],
    create: (def, body) => hold(`create ${def.name}/${String(body[def.key])}`, body),
    update: (def, id, patch) => hold(`update ${def.name}/${id} ${JSON.stringify(patch)}`, { [def.key]: id, ...patch }),
    remove: (def, id) => hold(`delete ${def.name}/${id}`, {}),
  };
  /** Answers the held request whose call starts with `prefix`. */
  const answer = (prefix: string) => {
    const at = held.findIndex((h) => h.call.startsWith(prefix));
    if (at < 0) throw new Error(`no request in flight for ${prefix}; in flight: ${held.map((h) => h.call).join(', ')}`);
    held.splice(at, 1)[0]!.answer();
  };
  return { transport, held, sent, answer };
}

const clients: SyncClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Creates applied; every update answered `status` (a refusal, or 404: deleted on the server). Each request named in `sent`. */
function updatesAnswered(status: number) {
  const sent: string[] = [];
  const transport: Transport = {
    ...heldTransport().transport,
    create: async (def, body) => {
      sent.push(`create ${def.name}/${String(body[def.key])}`);
      return { ...body, version: 1 };
    },
    update: async (def, id) => {
      sent.push(`update ${def.name}/${id}`);
      throw new HttpError({ status, method: 'PATCH', url: `/${def.name}/${id}`, body: status === 404 ? null : { error: 'refused' } }, { resource: def.name });
    },
  };
  return { transport, sent };
}

function offlineClient(transport: Transport, options: Partial<SyncClientOptions> = {}) {
  const online = new BehaviorSubject(false);
  const clock = new ManualClock();
  const client = createSyncClient({
    baseUrl: 'http://127.0.0.1:9/api',
    resources: [todos, projects, tasks],
    transport,
    indexedDB: new IDBFactory(),
    now: clock.now,
    setTimer: clock.setTimer,
    random: seededRandom(7),
    online,
    locks: null,
    BroadcastChannel: null,
    ...options,
  });
  clients.push(client);
  return { client, goOnline: () => online.next(true) };
}

describe('the send window', () => {
  it('sends up to maxInFlight entities at once, started in global order, one request per entity at a time', async () => {
    const { transport, held, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 3 });
    const h = client.resource(todos);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await h.create({ id, title: id, done: false });
    goOnline();
    await until(() => held.length === 3, 'three requests in flight');
    expect(sent).toEqual(['create todos/a', 'create todos/b', 'create todos/c']);
    // a's create is out: this change is a second entry of a, queued behind e's create.
    await h.update('a', { done: true });
    // b answers first: the window refills with the next entity, never with a's second change.
    answer('create todos/b');
    await until(() => held.length === 3, 'the window to refill');
    expect(sent.at(-1)).toBe('create todos/d');
    // a's update (queued after e's create) waits for its create, then for its turn behind e.
    answer('create todos/a');
    await until(() => sent.length === 5, 'the next entity in global order');
    expect(sent.at(-1)).toBe('create todos/e');
    answer('create todos/c');
    await until(() => sent.length === 6, "a's second change");
    expect(sent.at(-1)).toBe('update todos/a {"done":true}');
    expect(held.map((r) => r.call).sort()).toEqual(['create todos/d', 'create todos/e', 'update todos/a {"done":true}']);
    for (const prefix of ['create todos/d', 'create todos/e', 'update todos/a']) answer(prefix);
    await client.flush();
    expect(sent).toHaveLength(6);
    expect(await h.get('a')).toMatchObject({ done: true });
    expect((await firstValueFrom(client.status$)).pending).toBe(0);
    expect((await h.list()).map((t) => t.id).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it.each([
    ['by default', {}],
    ['with maxInFlight: 1', { maxInFlight: 1 }],
  ])('%s sends strictly one after another in global order', async (_, options) => {
    const { transport, held, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, options);
    const h = client.resource(todos);
    for (const id of ['a', 'b', 'c']) await h.create({ id, title: id, done: false });
    goOnline();
    for (const id of ['a', 'b', 'c']) {
      await until(() => held.length === 1, `the request for ${id}`);
      expect(held[0]!.call).toBe(`create todos/${id}`);
      answer(`create todos/${id}`);
    }
    await client.flush();
    expect(sent).toEqual(['create todos/a', 'create todos/b', 'create todos/c']);
  });

  it('a change naming another entity in a references field waits for that entity’s earlier changes', async () => {
    const { transport, held, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 4 });
    await client.resource(projects).create({ id: 'p1', name: 'Home' });
    await client.resource(tasks).create({ id: 't1', projectId: 'p1', title: 'Milk' });
    await client.resource(tasks).create({ id: 't2', projectId: 'p2', title: 'Bread' });
    goOnline();
    await until(() => held.length === 2, 'the project and the unrelated task');
    expect(sent).toEqual(['create projects/p1', 'create tasks/t2']);
    answer('create projects/p1');
    await until(() => sent.length === 3, 'the task of the created project');
    expect(sent.at(-1)).toBe('create tasks/t1');
    answer('create tasks/t1');
    answer('create tasks/t2');
    await client.flush();
    expect(held).toHaveLength(0);
  });

  it.each([
    ['retried', 'retry'],
    ['discarded', 'discard'],
  ])('a change naming an entity whose earlier change is parked in failed$ waits until that one is %s', async (_, decision) => {
    const sent: string[] = [];
    let refusals = 1;
    const transport: Transport = {
      ...heldTransport().transport,
      create: async (def, body) => {
        sent.push(`create ${def.name}/${String(body[def.key])}`);
        if (def.name === 'projects' && refusals-- > 0) {
          throw new HttpError({ status: 422, method: 'POST', url: '/projects', body: { error: 'name taken' } }, { resource: 'projects' });
        }
        return { ...body, version: 1 };
      },
    };
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 4 });
    await client.resource(projects).create({ id: 'p1', name: 'Home' });
    await client.resource(tasks).create({ id: 't1', projectId: 'p1', title: 'Milk' });
    goOnline();
    await client.flush();
    const [refused, ...more] = await firstValueFrom(client.failed$);
    expect([refused!.resource, more]).toEqual(['projects', []]);
    expect(sent).toEqual(['create projects/p1']);
    expect((await firstValueFrom(client.status$)).pending).toBe(1);
    await (decision === 'retry' ? refused!.retry() : refused!.discard());
    await client.flush();
    expect(sent).toEqual(decision === 'retry' ? ['create projects/p1', 'create projects/p1', 'create tasks/t1'] : ['create projects/p1', 'create tasks/t1']);
    expect((await firstValueFrom(client.status$)).pending).toBe(0);
  });

  it('a change naming an entity the server has is not held back by a refused change to that entity', async () => {
    const { transport, sent } = updatesAnswered(422);
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 4 });
    goOnline();
    await client.resource(projects).create({ id: 'p1', name: 'Home' });
    await client.flush();
    await client.resource(projects).update('p1', { name: 'Taken' });
    await client.flush();
    expect((await firstValueFrom(client.failed$)).map((f) => f.op)).toEqual(['update']);
    await client.resource(tasks).create({ id: 't1', projectId: 'p1', title: 'Milk' });
    await client.flush();
    expect(sent).toEqual(['create projects/p1', 'update projects/p1', 'create tasks/t1']);
  });

  it('a change naming an entity whose change met its deletion on the server waits for that conflict to be decided', async () => {
    const { transport, sent } = updatesAnswered(404);
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 4, conflicts: 'manual' });
    goOnline();
    await client.resource(projects).create({ id: 'p1', name: 'Home' });
    await client.flush();
    await client.resource(projects).update('p1', { name: 'Away' });
    await client.flush();
    const [conflict] = await firstValueFrom(client.conflicts$);
    expect(conflict).toMatchObject({ id: 'p1', remote: null });
    await client.resource(tasks).create({ id: 't1', projectId: 'p1', title: 'Milk' });
    await client.flush();
    expect(sent).toEqual(['create projects/p1', 'update projects/p1']);
    // Kept: the project goes out again as a create, then the task.
    await conflict!.resolve('local');
    await client.flush();
    expect(sent).toEqual(['create projects/p1', 'update projects/p1', 'create projects/p1', 'create tasks/t1']);
  });

  it('an id of a resource whose ids the app names is sent as it is, whatever it starts with', async () => {
    const { transport, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 4 });
    await client.resource(tasks).create({ id: 't1', projectId: 'tmp:kitchen', title: 'Milk' });
    goOnline();
    await until(() => sent.length === 1, 'the task sent');
    expect(sent).toEqual(['create tasks/t1']);
    answer('create tasks/t1');
    await client.flush();
  });

  it('refuses a maxInFlight that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '4']) {
      expect(() => offlineClient(heldTransport().transport, { maxInFlight: bad as number })).toThrow(
        /maxInFlight must be a whole number of at least 1/,
      );
    }
  });
});

describe('changes frozen ahead of their requests', () => {
  it('are not sent once clear() discarded them', async () => {
    const { transport, held, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 1 });
    const h = client.resource(todos);
    for (const id of ['a', 'b', 'c']) await h.create({ id, title: id, done: false });
    goOnline();
    await until(() => held.length === 1, 'the first request');
    await client.clear({ discardPending: true });
    answer('create todos/a');
    await client.flush();
    expect(sent).toEqual(['create todos/a']);
    expect(await h.list()).toEqual([]);
  });

  it('are frozen in batches, the next one while some of the last are still to be sent: a request never waits for a freeze', async () => {
    const indexedDB = new IDBFactory();
    const { transport, held, sent, answer } = heldTransport();
    const { client, goOnline } = offlineClient(transport, { maxInFlight: 1, indexedDB, namespace: 'batches' });
    const ids = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    for (const id of ids) await client.resource(todos).create({ id, title: id, done: false });
    /** The ids of the entries IndexedDB holds as frozen (to be sent with their key as stored). */
    const frozen = async (): Promise<string[]> => {
      const db = await openRaw(indexedDB, 'harborsync:batches');
      const entries = await getAllRaw<{ id: string; frozen: boolean }>(db, 'outbox');
      db.close();
      return entries.filter((e) => e.frozen).map((e) => e.id);
    };

    goOnline();
    await until(() => held.length === 1, 'the first request');
    expect(await frozen()).toEqual(ids.slice(0, 16));
    // Answered one by one: once fewer than half the batch is left to send, the next is frozen.
    for (let i = 0; i < 10; i++) {
      answer(`create todos/${ids[i]}`);
      await until(() => sent.length === i + 2, `request ${i + 2}`);
    }
    await until(async () => (await frozen()).includes(ids[16]!), 'the next batch frozen');
    expect(held.map((h) => h.call)).toEqual([`create todos/${ids[10]}`]);
    for (let i = 10; i < ids.length; i++) {
      answer(`create todos/${ids[i]}`);
      if (i + 1 < ids.length) await until(() => sent.length === i + 2, `request ${i + 2}`);
    }
    await client.flush();
    expect(sent).toEqual(ids.map((id) => `create todos/${id}`));
    expect(await frozen()).toEqual([]);
  });
});

describe('a custom transport', () => {
  it('whose one() answers null (gone) to the lookup after a 412 without an entity has the change parked in conflicts$ with remote null', async () => {
    const transport: Transport = {
      ...heldTransport().transport,
      create: async (_def, body) => ({ ...body, version: 1 }),
      update: async (def, id) => {
        throw new HttpError({ status: 412, method: 'PATCH', url: `/${def.name}/${id}`, body: null }, { resource: def.name, id });
      },
      one: async () => null,
    };
    const { client, goOnline } = offlineClient(transport);
    const h = client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    goOnline();
    await client.flush();
    await h.update('a', { title: 'mine' });
    await client.flush();
    const conflicts = await firstValueFrom(client.conflicts$);
    expect(conflicts).toMatchObject([{ resource: 'todos', id: 'a', remote: null, local: { id: 'a', title: 'mine', done: false, version: 1 } }]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'mine', done: false, version: 1 });
  });

  it('whose write throws what is no harborsync error (a TypeError) has the change retried with its key after a backoff: not parked, not dropped', async () => {
    const keys: string[] = [];
    const transport: Transport = {
      ...heldTransport().transport,
      create: async (_def, body, key) => {
        keys.push(key);
        if (keys.length === 1) throw new TypeError('transport bug');
        return { ...body, version: 1 };
      },
    };
    const clock = new ManualClock();
    const { client, goOnline } = offlineClient(transport, { now: clock.now, setTimer: clock.setTimer, retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    const retrying: unknown[] = [];
    client.events$.subscribe((e) => e.type === 'retrying' && retrying.push(e.error));
    await client.resource(todos).create({ id: 'a', title: 'A', done: false });
    goOnline();
    await until(() => retrying.length === 1, 'the failed attempt');
    expect(await firstValueFrom(client.status$)).toMatchObject({ pending: 1, failed: 0 });
    await clock.advance(1000);
    await client.flush();
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(await firstValueFrom(client.status$)).toMatchObject({ pending: 0, failed: 0 });
    expect(await client.resource(todos).get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
  });
});
