import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestBackend, type LedgerEntry } from '../../server/index.mjs';
import { z } from 'zod';
import { ConflictError, defineResource, StorageError, ValidationError, type Conflict, type ConflictStrategy, type FailedMutation, type ResourceHandle, type SyncClientOptions } from '../../src/index.js';
import { closeDevices, device, heldAnswers, notes, outcomeOf, todos, todoSchema, until, type Device, type Todo } from '../helpers/harness.js';
import { upperHalfRandom } from '../helpers/manual-clock.js';

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const open: Device[] = [];

beforeAll(async () => {
  server = await backend.start();
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());
afterEach(async () => {
  await closeDevices(open);
});

const ledger = async () => (await server.admin.ledger('todos')).filter((r: LedgerEntry) => r.user !== 'mallory');
const serverTodo = async (id: string) => {
  const response = await fetch(`${server.apiUrl}/todos/${id}`, { headers: { Authorization: 'Bearer demo-alice' } });
  return response.status === 404 ? null : ((await response.json()) as Todo);
};

/** A device holding todo `a` (title A, done false) confirmed, then offline. */
async function offlineWithTodo(options: Partial<SyncClientOptions> = {}): Promise<Device> {
  const d = device(server.apiUrl, options);
  open.push(d);
  await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
  await d.client.flush();
  d.online.next(false);
  return d;
}

async function reconnect(d: Device): Promise<void> {
  d.online.next(true);
  await d.client.flush();
}

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};

function latestConflicts(d: Device): Conflict[] {
  let value: Conflict[] = [];
  d.client.conflicts$.subscribe((c) => (value = c)).unsubscribe();
  return value;
}

const theirs = (patch: Record<string, unknown>) => server.admin.edit({ resource: 'todos', id: 'a', patch });

describe("'merge' (default)", () => {
  it('merges fields changed on one side each and re-sends against the remote version', async () => {
    const d = await offlineWithTodo();
    await d.client.resource(todos).update('a', { done: true });
    await theirs({ title: 'B' });
    await reconnect(d);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'B', done: true, version: 3 });
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'B', done: true, version: 3 });
    const resolved = d.events.find((e) => e.type === 'resolved');
    expect(resolved).toMatchObject({ choice: 'merged', strategy: 'merge' });
    expect(latestConflicts(d)).toEqual([]);
  });

  it('puts a field changed on both sides into conflicts$, holding back only that entity', async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await h.create({ id: 'b', title: 'other', done: false });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ resource: 'todos', id: 'a', fields: ['title'] });
    expect(conflict!.base).toMatchObject({ title: 'A' });
    expect(conflict!.local).toMatchObject({ title: 'mine' });
    expect(conflict!.remote).toMatchObject({ title: 'theirs', version: 2 });
    expect(await serverTodo('b')).not.toBeNull();
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    await conflict!.resolve({ value: { title: 'both' } });
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'both', version: 3 });
    expect(latestConflicts(d)).toEqual([]);
  });

  it.each(['merge', 'manual'] as const)("resolve({ value }) is applied on the merged entity: this device's one-sided change goes with it ('%s')", async (strategy) => {
    const d = await offlineWithTodo({ conflicts: strategy });
    await d.client.resource(todos).update('a', { title: 'mine', done: true });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ id: 'a', fields: ['title'] });
    await conflict!.resolve({ value: { title: 'both' } });
    await d.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'both', done: true, version: 3 });
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'both', done: true, version: 3 });
    expect(d.events.filter((e) => e.type === 'resolved')).toEqual([
      expect.objectContaining({ choice: 'value', overwritten: { title: { local: 'mine', remote: 'theirs' }, done: { local: true, remote: false } } }),
    ]);
  });

  it("resolve('remote') drops this device's change and logs what it overwrote", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    await latestConflicts(d)[0]!.resolve('remote');
    await d.client.flush();
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'theirs', done: false, version: 2 });
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
    expect(d.events.filter((e) => e.type === 'resolved')).toEqual([expect.objectContaining({ choice: 'remote', overwritten: { title: { local: 'mine', remote: 'theirs' } } })]);
  });

  it("resolve({ value }) taking the server's value logs this device's value as overwritten", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    await latestConflicts(d)[0]!.resolve({ value: { title: 'theirs' } });
    await d.client.flush();
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'theirs', done: false, version: 2 });
    expect(d.events.filter((e) => e.type === 'resolved')).toEqual([expect.objectContaining({ choice: 'value', overwritten: { title: { local: 'mine', remote: 'theirs' } } })]);
  });

  it('a pull that rebased a pending change on the other edit still compares with what the change was made on', async () => {
    const d = await offlineWithTodo();
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await d.client.resource(todos).refresh();
    expect(await d.client.resource(todos).get('a')).toMatchObject({ title: 'mine', version: 2 });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ id: 'a', fields: ['title'] });
    expect(conflict!.base).toMatchObject({ title: 'A', version: 1 });
    expect(conflict!.remote).toMatchObject({ title: 'theirs', version: 2 });
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs' });
  });

  it('keeps an unresolved conflict across a reload and resolves it after', async () => {
    const d = await offlineWithTodo();
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toHaveLength(1);
    await d.client.close();
    const reloaded = d.reopen();
    open.push(reloaded);
    await reloaded.client.flush();
    const conflicts = latestConflicts(reloaded);
    expect(conflicts).toHaveLength(1);
    await conflicts[0]!.resolve('local');
    await reloaded.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'mine', version: 3 });
  });

  it('local update vs remote delete: conflicts$ with remote null; resolve(remote) removes, resolve(local) re-creates', async () => {
    for (const choice of ['remote', 'local'] as const) {
      await backend.reset();
      const d = await offlineWithTodo();
      await d.client.resource(todos).update('a', { title: 'mine' });
      await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
      await reconnect(d);
      const [conflict] = latestConflicts(d);
      expect(conflict).toMatchObject({ id: 'a', remote: null });
      await conflict!.resolve(choice);
      await d.client.flush();
      if (choice === 'remote') {
        expect(await d.client.resource(todos).get('a')).toBeUndefined();
        expect(await serverTodo('a')).toBeNull();
      } else {
        expect(await serverTodo('a')).toMatchObject({ title: 'mine', done: false });
      }
    }
  });

  it('local delete vs remote update: conflicts$ (the remote edit is not silently deleted)', async () => {
    const d = await offlineWithTodo();
    await d.client.resource(todos).delete('a');
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ id: 'a', local: null, fields: ['title'] });
    await conflict!.resolve('local');
    await d.client.flush();
    expect(await serverTodo('a')).toBeNull();
  });

  it('create of an id that exists on the server: equal content is success, different content conflicts', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'same', done: false } });
    await server.admin.edit({ resource: 'todos', create: { id: 'y', title: 'theirs', done: false } });
    const d = device(server.apiUrl);
    open.push(d);
    await d.client.resource(todos).create({ id: 'x', title: 'same', done: false });
    await d.client.resource(todos).create({ id: 'y', title: 'mine', done: false });
    await d.client.flush();
    expect(latestConflicts(d).map((c) => [c.id, c.fields])).toEqual([['y', ['title']]]);
    expect(await d.client.resource(todos).get('x')).toMatchObject({ version: 1 });
  });

  // A server keeping a field unique answers a create that takes it with 409 and the entity holding it.
  const serverTodos = defineResource({ name: 'todos', schema: todoSchema, ids: 'server' });
  for (const [ids, def] of [['client', todos], ['server', serverTodos]] as const) {
    it.each(['merge', 'server-wins', 'client-wins'] as const)(`a create met by 409 naming another entity is refused, never taken for this one (ids: '${ids}', '%s')`, async (strategy) => {
      await server.admin.edit({ resource: 'todos', create: { id: 'z', title: 'taken', done: false } });
      const unique: typeof fetch = async (input, init) => {
        const request = new Request(input, init);
        if (request.method === 'POST' && ((await request.clone().json()) as Todo).title === 'taken') {
          return Response.json(await serverTodo('z'), { status: 409 });
        }
        return fetch(request);
      };
      const d = device(server.apiUrl, { fetch: unique, conflicts: strategy, resources: [def] });
      open.push(d);
      const h = d.client.resource(def as typeof todos);
      await h.refresh();
      const made = await h.create({ title: 'taken', done: true });
      await d.client.flush();
      expect(latestConflicts(d)).toEqual([]);
      let failed: FailedMutation[] = [];
      d.client.failed$.subscribe((f) => (failed = f)).unsubscribe();
      expect(failed).toMatchObject([{ id: made.id, op: 'create', error: { status: 409, body: { id: 'z' } } }]);
      expect(await h.list()).toEqual([{ id: 'z', title: 'taken', done: false, version: 1 }]);
      expect(await h.get(made.id)).toBeUndefined();
      expect(d.calls.filter((call) => !call.startsWith('GET'))).toEqual(['POST /api/todos']);
    });
  }

  it('a delete of an entity already deleted on the server is success', async () => {
    const d = await offlineWithTodo();
    await d.client.resource(todos).delete('a');
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await reconnect(d);
    expect(latestConflicts(d)).toEqual([]);
    expect(await d.client.resource(todos).get('a')).toBeUndefined();
  });

  it('a change made after a refused change was discarded is merged against the state it was made on, not the one the discarded change was', async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.update('a', { title: 'refused' });
    await theirs({ done: true });
    await h.refresh(); // the refused change is rebased on version 2 {A, done}
    await server.admin.faults({ failStatus: { status: 403, match: 'refused', count: 1 } });
    await reconnect(d);
    let failed: FailedMutation[] = [];
    d.client.failed$.subscribe((f) => (failed = f)).unsubscribe();
    await failed[0]!.discard();
    d.online.next(false);
    // Made on version 2: it takes the other writer's `done` back.
    await h.update('a', { done: false });
    await theirs({ title: 'B' });
    await reconnect(d);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'B', done: false, version: 4 });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 4 });
    expect(latestConflicts(d)).toEqual([]);
  });

  it('rejects a wait: server write that ends in conflicts$ with ConflictError', async () => {
    const d = await offlineWithTodo();
    const waiting = d.client.resource(todos).update('a', { title: 'mine' }, { wait: 'server' });
    await theirs({ title: 'theirs' });
    d.online.next(true);
    await expect(waiting).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('other strategies', () => {
  it("'server-wins' drops the local change and logs what it overwrote", async () => {
    const d = await offlineWithTodo({ conflicts: 'server-wins' });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'theirs', done: false, version: 2 });
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
    expect(d.events.find((e) => e.type === 'resolved')).toMatchObject({
      choice: 'remote',
      overwritten: { title: { local: 'mine', remote: 'theirs' } },
    });
  });

  it.each(['server-wins', 'client-wins'] as const)("local update vs remote delete under '%s': decided as the strategy says, never silently: a resolved event names what was overwritten (RELIABILITY #24)", async (strategy) => {
    const d = await offlineWithTodo({ conflicts: strategy });
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await reconnect(d);
    const kept = strategy === 'client-wins';
    expect(d.events.filter((e) => e.type === 'resolved')).toMatchObject([
      {
        id: 'a',
        strategy,
        choice: kept ? 'local' : 'remote',
        overwritten: { title: { local: 'mine', remote: undefined }, done: { local: false, remote: undefined } },
      },
    ]);
    expect(latestConflicts(d)).toEqual([]);
    expect(d.events.some((e) => e.type === 'failed')).toBe(false);
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
    if (kept) {
      expect(await serverTodo('a')).toMatchObject({ id: 'a', title: 'mine', done: false });
      expect(await h.get('a')).toEqual(await serverTodo('a'));
    } else {
      expect(await serverTodo('a')).toBeNull();
      expect(await h.get('a')).toBeUndefined();
    }
  });

  it("'client-wins' re-sends the local view against the remote version", async () => {
    const d = await offlineWithTodo({ conflicts: 'client-wins' });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await d.client.resource(todos).update('a', { done: true });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 3 });
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
  });

  // Another writer set a field this device never had: the local side never changed it, and a
  // request cannot clear it (null is a value this schema refuses).
  const notedTodos = defineResource({ name: 'todos', schema: todoSchema.extend({ note: z.string().optional() }) });
  it.each(['client-wins', 'manual'] as const)("the local side ('%s', resolve('local')) keeps a field only the other writer set", async (strategy) => {
    const d = await offlineWithTodo({ conflicts: strategy, resources: [notedTodos] });
    const h = d.client.resource(notedTodos);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs', note: 'their note' });
    await reconnect(d);
    if (strategy === 'manual') {
      await latestConflicts(d)[0]!.resolve('local');
      await d.client.flush();
    }
    const kept = { id: 'a', title: 'mine', done: false, note: 'their note', version: 3 };
    expect(await serverTodo('a')).toEqual(kept);
    expect(await h.get('a')).toEqual(kept);
    let failed: FailedMutation[] = [];
    d.client.failed$.subscribe((f) => (failed = f)).unsubscribe();
    expect(failed).toEqual([]);
    expect(d.events.find((e) => e.type === 'resolved')).toMatchObject({ choice: 'local', overwritten: { title: { local: 'mine', remote: 'theirs' } } });
  });

  it("'manual' sends every conflict to conflicts$", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    await d.client.resource(todos).update('a', { done: true });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toHaveLength(1);
  });

  it('a Conflict already decided decides nothing more, even once its re-send has met a new conflict', async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [decided] = latestConflicts(d);
    d.online.next(false);
    await decided!.resolve('local');
    await theirs({ title: 'theirs again' });
    await reconnect(d);
    const waiting = { id: 'a', local: { title: 'mine' }, remote: { title: 'theirs again' } };
    expect(latestConflicts(d)).toMatchObject([waiting]);
    await decided!.resolve('remote');
    await d.client.flush();
    expect(latestConflicts(d)).toMatchObject([waiting]);
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    expect(d.events.filter((e) => e.type === 'resolved')).toHaveLength(1);
  });

  it('a resolver function (async) decides, and a per-resource strategy overrides the client', async () => {
    const seen: string[][] = [];
    const resolver: ConflictStrategy<Todo> = async (ctx) => {
      seen.push(ctx.fields);
      return { value: { title: `${String(ctx.local?.title)}+${String(ctx.remote?.title)}` } };
    };
    const d = await offlineWithTodo({ conflicts: resolver as ConflictStrategy });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(seen).toEqual([['title']]);
    expect(await serverTodo('a')).toMatchObject({ title: 'mine+theirs' });
    // What each side had, not the value that won: this device's 'mine' is logged as lost.
    expect(d.events.filter((e) => e.type === 'resolved')).toMatchObject([{ choice: 'value', overwritten: { title: { local: 'mine', remote: 'theirs' } } }]);

    // The resource's own strategy is taken over the client's.
    await backend.reset();
    const manualTodos = defineResource({ name: 'todos', schema: todoSchema, conflicts: 'manual' });
    const own = await offlineWithTodo({ conflicts: 'server-wins', resources: [manualTodos] });
    await own.client.resource(manualTodos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(own);
    expect(latestConflicts(own)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: 'mine' } }]);
    expect(own.events.some((e) => e.type === 'resolved')).toBe(false);
  });
});

describe('a 412 whose entity is what the change meant to write (DESIGN section 2)', () => {
  // The answer to an applied update is lost, and the server has forgotten its key (its records
  // expired, or it keeps none): the re-send meets 412 with the change already in. That is this
  // change delivered, under every strategy: no conflict, nothing sent again, nothing applied twice.
  // A resolver function that would park every conflict: never asked.
  const parksAll = Object.assign(() => 'manual' as const, { toString: () => 'a resolver function' });
  it.each(['merge', 'client-wins', 'server-wins', 'manual', parksAll] as const)("counts as delivered under '%s'", async (strategy) => {
    let keys = 0;
    const forgetful: typeof fetch = (input, init) => {
      const request = new Request(input, init);
      if (request.headers.has('Idempotency-Key')) request.headers.set('Idempotency-Key', `unseen-${keys++}`);
      return fetch(request);
    };
    const d = await offlineWithTodo({ conflicts: strategy, fetch: forgetful, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await server.admin.faults({ dropAfterApply: { count: 1 } });
    await d.client.resource(todos).update('a', { title: 'Mine' });
    d.online.next(true);
    await until(async () => (await ledger()).length === 2, 'the update applied, its answer lost');
    for (let i = 0; i < 3; i++) {
      await d.clock.advance(10);
      await d.client.flush();
    }
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'Mine', done: false, version: 2 });
    expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
    expect(latestConflicts(d)).toEqual([]);
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'Mine', done: false, version: 2 });
    expect(d.calls.filter((c) => c.startsWith('PATCH'))).toHaveLength(2);
  });

  it('the changes made while its re-send waited go after it, on its version: applied once each, no conflict (RELIABILITY #14)', async () => {
    let keys = 0;
    const forgetful: typeof fetch = (input, init) => {
      const request = new Request(input, init);
      if (request.headers.has('Idempotency-Key')) request.headers.set('Idempotency-Key', `unseen-${keys++}`);
      return fetch(request);
    };
    const d = await offlineWithTodo({ fetch: forgetful, random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    const h = d.client.resource(todos);
    await server.admin.faults({ dropAfterApply: { count: 1 } });
    await h.update('a', { title: 'Mine' });
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the update applied, its answer lost');
    await h.update('a', { done: true });
    await h.update('a', { title: 'Later' });
    await d.clock.advance(1000);
    await d.client.flush();
    expect((await ledger()).map((r) => [r.op, r.versionBefore, r.body])).toEqual([
      ['create', null, { id: 'a', title: 'A', done: false }],
      ['update', 1, { title: 'Mine' }],
      ['update', 2, { done: true, title: 'Later' }],
    ]);
    expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Later', done: true, version: 3 });
  });
});

/** A fetch that holds the first PATCH until `release()`: the change is in flight (frozen) meanwhile. */
function holdingFirstPatch(): { fetch: typeof fetch; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let holding = true;
  return {
    release,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      if (request.method === 'PATCH' && holding) {
        holding = false;
        await held;
      }
      return fetch(request);
    },
  };
}

/** Updates `a` twice with { wait: 'server' }: the second made while the first is in flight, then met by a conflict. */
async function secondBehindFirst(d: Device, release: () => void) {
  const h = d.client.resource(todos);
  const first = h.update('a', { title: 'X' }, { wait: 'server' });
  await until(() => d.events.some((e) => e.type === 'sent' && e.op === 'update'), 'the first update to be sent');
  const second = h.update('a', { title: 'Y' }, { wait: 'server' });
  await until(() => d.events.filter((e) => e.type === 'enqueued' && e.op === 'update').length === 2, 'the second update to be queued');
  release();
  await d.client.flush();
  return { first: await outcomeOf(first), second: await outcomeOf(second) };
}

describe('{ wait: server } and conflict decisions', () => {
  it("a change queued behind a conflicted one is folded into the merged re-send: its wait resolves with that re-send's answer", async () => {
    const held = holdingFirstPatch();
    const d = await offlineWithTodo({ fetch: held.fetch });
    await theirs({ done: true });
    d.online.next(true);
    const confirmed = { id: 'a', title: 'Y', done: true, version: 3 };
    expect(await secondBehindFirst(d, held.release)).toEqual({ first: { value: confirmed }, second: { value: confirmed } });
  });

  it("'server-wins' drops the changes queued behind the conflicted one too: their waits resolve with the server's entity", async () => {
    const held = holdingFirstPatch();
    const d = await offlineWithTodo({ fetch: held.fetch, conflicts: 'server-wins' });
    await theirs({ done: true });
    d.online.next(true);
    const remote = { id: 'a', title: 'A', done: true, version: 2 };
    expect(await secondBehindFirst(d, held.release)).toEqual({ first: { value: remote }, second: { value: remote } });
  });

  /** A change parked in conflicts$ ('manual'), and a second one awaited behind it. */
  async function secondBehindAParkedConflict() {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    const h = d.client.resource(todos);
    const first = h.update('a', { title: 'mine' }, { wait: 'server' });
    await theirs({ title: 'theirs' });
    d.online.next(true);
    await expect(first).rejects.toBeInstanceOf(ConflictError);
    const second = h.update('a', { done: true }, { wait: 'server' });
    await until(() => d.events.filter((e) => e.type === 'enqueued').length === 3, 'the second update to be queued');
    return { d, second };
  }

  it("resolve('local') folds the changes queued behind a conflict into its re-send; their waits settle with it", async () => {
    const { d, second } = await secondBehindAParkedConflict();
    await latestConflicts(d)[0]!.resolve('local');
    await d.client.flush();
    expect(await outcomeOf(second)).toEqual({ value: { id: 'a', title: 'mine', done: true, version: 3 } });
  });

  it("resolve('remote') drops the changes queued behind a conflict; their waits resolve with the server's entity", async () => {
    const { d, second } = await secondBehindAParkedConflict();
    await latestConflicts(d)[0]!.resolve('remote');
    expect(await outcomeOf(second)).toEqual({ value: { id: 'a', title: 'theirs', done: false, version: 2 } });
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
  });
});

describe('a { value } decision is checked with the schema, as a local write', () => {
  it('resolve({ value }) naming another id rejects with ValidationError naming the key; nothing is sent, the conflict stays', async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict!.remote).toBeNull();
    await expect(conflict!.resolve({ value: { id: 'b', title: 'elsewhere' } })).rejects.toThrow(/^todos\/a: field "id" the key cannot be changed$/);
    await d.client.flush();
    expect(latestConflicts(d)).toHaveLength(1);
    expect(await h.list()).toEqual([{ id: 'a', title: 'mine', done: false, version: 1 }]);
    expect(await serverTodo('b')).toBeNull();
  });

  it("resolve({ value }) leaves the app's objects its own, mutable: the views freeze copies, even of fields the schema passes through", async () => {
    const loose = defineResource({ name: 'todos', schema: todoSchema.extend({ meta: z.any().optional() }) });
    const d = device(server.apiUrl, { resources: [loose] });
    open.push(d);
    const h = d.client.resource(loose);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    d.online.next(false);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const meta = { tags: ['x'] };
    await latestConflicts(d)[0]!.resolve({ value: { title: 'both', meta } });
    expect(Object.isFrozen((await h.get('a'))!.meta)).toBe(true);
    meta.tags.push('y');
    await d.client.flush();
    expect(await h.get('a')).toMatchObject({ title: 'both', meta: { tags: ['x'] } });
    expect(await serverTodo('a')).toMatchObject({ title: 'both', meta: { tags: ['x'] } });
  });

  it('resolve({ value }) that fails the schema rejects with ValidationError naming the field; nothing changes', async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    const invalid = { value: { title: 42 as unknown as string } };
    await expect(conflict!.resolve(invalid)).rejects.toBeInstanceOf(ValidationError);
    await expect(conflict!.resolve(invalid)).rejects.toThrow(/^todos\/a: field "title"/);
    await d.client.flush();
    expect(latestConflicts(d)).toHaveLength(1);
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', version: 2 });
    await latestConflicts(d)[0]!.resolve({ value: { title: 'both' } });
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'both', version: 3 });
  });

  const bug = new Error('resolver bug');
  const throwing: ConflictStrategy = () => {
    throw bug;
  };
  const rejecting: ConflictStrategy = () => Promise.reject(bug);
  it.each([['throws', throwing], ['rejects', rejecting]] as const)("a resolver that %s decides nothing: the conflict waits in conflicts$, sent once, and an error event carries what it threw", async (_, resolver) => {
    const d = await offlineWithTodo({ conflicts: resolver, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    d.online.next(true);
    await until(() => latestConflicts(d).length === 1, 'the conflict to wait in conflicts$');
    await d.clock.advance(100);
    await d.client.flush();
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: 'mine' }, remote: { title: 'theirs' } }]);
    expect(d.calls.filter((c) => c.startsWith('PATCH'))).toHaveLength(1);
    const errors = d.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ error: { name: 'ConflictError' } });
    expect((errors[0] as { error: Error }).error.message).toContain('resolver bug');
    expect((errors[0] as { error: Error }).error.cause).toBe(bug);
  });

  it('a resolver answering { value } with no object of fields (a string) decides nothing: the conflict waits in conflicts$, an error event says what it answered', async () => {
    // An app without types: the title alone, where the fields were meant.
    const resolver = (() => ({ value: 'mine' })) as unknown as ConflictStrategy;
    const d = await offlineWithTodo({ conflicts: resolver });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: 'mine' }, remote: { title: 'theirs' } }]);
    expect(d.calls.filter((c) => c.startsWith('PATCH'))).toHaveLength(1);
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', version: 2 });
    const errors = d.events.filter((e) => e.type === 'error');
    expect(errors).toMatchObject([{ error: { name: 'ConflictError' } }]);
    expect((errors[0] as { error: Error }).error.message).toContain('{ value } holding no object of fields');
  });

  it("a resolver's { value } that fails the schema is never sent: the conflict waits in conflicts$, an error event names the field", async () => {
    const resolver: ConflictStrategy<Todo> = () => ({ value: { done: 'yes' as unknown as boolean } });
    const d = await offlineWithTodo({ conflicts: resolver as ConflictStrategy });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: 'mine' }, remote: { title: 'theirs' } }]);
    expect(d.events.find((e) => e.type === 'error')).toMatchObject({
      resource: 'todos',
      error: { name: 'ValidationError', message: expect.stringMatching(/^todos\/a: field "done"/) },
    });
    expect(d.events.some((e) => e.type === 'resolved')).toBe(false);
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
  });

  it('a slow resolver answering after clear({ discardPending: true }) tells of no conflict: the change it decided on went with the database', async () => {
    for (const answer of ['manual', 'throw'] as const) {
      await backend.reset();
      let release!: () => void;
      let asked = 0;
      const resolver: ConflictStrategy = async () => {
        asked++;
        await new Promise<void>((resolve) => (release = resolve));
        if (answer === 'throw') throw new Error('resolver bug');
        return 'manual' as const;
      };
      const d = await offlineWithTodo({ conflicts: resolver });
      await d.client.resource(todos).update('a', { title: 'mine' });
      await theirs({ title: 'theirs' });
      d.online.next(true);
      await until(() => asked === 1, 'the resolver to be asked');
      await d.client.clear({ discardPending: true });
      const cleared = d.events.length;
      release();
      await d.client.flush();
      // A round trip to the server: the decision, were it stored, would be by now.
      await d.client.resource(todos).refresh();
      expect(d.events.slice(cleared).filter((e) => e.type === 'conflict' || e.type === 'error')).toEqual([]);
      expect(latestConflicts(d)).toEqual([]);
      expect(asked).toBe(1);
    }
  });
});

describe('the entity a merge or the local side keeps is checked with the schema too', () => {
  // Each side passes the schema, but a refinement across fields refuses their mix.
  const checked = defineResource({
    name: 'todos',
    schema: todoSchema.refine((t) => !(t.done && t.title === ''), { message: 'a done todo needs a title', path: ['title'] }),
  });

  async function offlineWithChecked(): Promise<{ d: Device; h: ResourceHandle<Todo> }> {
    const d = await offlineWithTodo({ resources: [checked] });
    return { d, h: d.client.resource(checked) };
  }

  it('a merge the schema refuses is never sent nor shown: the conflict waits in conflicts$ naming the field, an error event carries it', async () => {
    const { d, h } = await offlineWithChecked();
    await h.update('a', { title: '' });
    await theirs({ done: true });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: '', done: false }, remote: { title: 'A', done: true, version: 2 } }]);
    expect(d.events.find((e) => e.type === 'error')).toMatchObject({
      resource: 'todos',
      error: { name: 'ValidationError', message: expect.stringMatching(/^todos\/a: field "title"/) },
    });
    expect(d.events.some((e) => e.type === 'resolved' || e.type === 'failed')).toBe(false);
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
    expect(await h.get('a')).toMatchObject({ title: '', done: false });
    await latestConflicts(d)[0]!.resolve('remote');
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: true, version: 2 });
  });

  it('a parked conflict that a pull leaves undisputed, with a merge the schema refuses, keeps waiting: nothing is sent, refused once', async () => {
    const { d, h } = await offlineWithChecked();
    await h.update('a', { title: '' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ fields: ['title'] }]);
    // The other side takes its title back, and marks the todo done: merged, a done todo with no title.
    await theirs({ title: 'A', done: true });
    await h.refresh();
    await d.client.flush();
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: [], local: { title: '', done: true }, remote: { title: 'A', done: true, version: 3 } }]);
    expect(d.events.filter((e) => e.type === 'error')).toMatchObject([{ error: { name: 'ValidationError' } }]);
    expect(d.events.some((e) => e.type === 'resolved')).toBe(false);
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`)).toEqual(['create a', 'create b']);
    // A change that makes the mix valid decides it.
    await h.update('a', { title: 'mine' });
    await d.client.flush();
    expect(latestConflicts(d)).toEqual([]);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 4 });
  });

  it("so is the local view a pull rebased: 'client-wins' never sends it when the schema refuses it, and resolve('local') rejects", async () => {
    const d = await offlineWithTodo({ resources: [checked], conflicts: 'client-wins' });
    const h = d.client.resource(checked);
    await h.update('a', { title: '' });
    await theirs({ done: true });
    // The pending change, rebased on the other side's: a done todo with no title.
    await h.refresh();
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ id: 'a', fields: ['title'], local: { title: '', done: true }, remote: { title: 'A', done: true, version: 2 } }]);
    expect(d.events.find((e) => e.type === 'error')).toMatchObject({ error: { name: 'ValidationError', message: expect.stringMatching(/^todos\/a: field "title"/) } });
    expect(d.events.some((e) => e.type === 'resolved' || e.type === 'failed')).toBe(false);
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
    await expect(latestConflicts(d)[0]!.resolve('local')).rejects.toBeInstanceOf(ValidationError);
    expect(latestConflicts(d)).toHaveLength(1);
    await latestConflicts(d)[0]!.resolve({ value: { title: 'mine' } });
    await d.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 3 });
  });
});

describe('a decision and a write at once', () => {
  it("resolve('local') made while the change queued behind the conflict is taken back decides on what the entity is now", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    const h = d.client.resource(todos);
    await h.delete('a');
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ local: null, remote: { title: 'theirs' } });
    await h.create({ id: 'a', title: 'again', done: false });
    // The decision reads the entity created again; the delete, made right after, takes the create back.
    const deciding = conflict!.resolve('local');
    const deleting = h.delete('a');
    await Promise.all([deciding, deleting]);
    await d.client.flush();
    expect(await h.get('a')).toBeUndefined();
    expect(await serverTodo('a')).toBeNull();
    expect(latestConflicts(d)).toEqual([]);
  });
});

/** `a` as the server holds it, created again ('again'), here and after the next pull. */
async function expectCreatedAgain(h: ResourceHandle<Todo>): Promise<void> {
  const again = await serverTodo('a');
  expect(again).toMatchObject({ title: 'again' });
  expect(await h.get('a')).toEqual(again);
  await h.refresh();
  expect(await h.get('a')).toEqual(again);
}

describe('an answer that lands after a pull heard a newer version', () => {
  /** A device whose update of `a`'s title to 'mine 1' was applied (version 2) with its answer held. */
  async function answerHeldAfterUpdate(strategy: ConflictStrategy) {
    const writes = heldAnswers((request) => request.method === 'PATCH');
    const d = device(server.apiUrl, { conflicts: strategy, fetch: writes.fetch });
    open.push(d);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    const { landed } = await writes.heldRequest(() => h.update('a', { title: 'mine 1' }).then(() => d.client.flush()), d.clock);
    return { d, h, landed };
  }

  it("a change queued behind it meets another writer's change to the same field as a conflict, never overwriting it", async () => {
    const { d, h, landed } = await answerHeldAfterUpdate('manual');
    await h.update('a', { title: 'mine 2' });
    await theirs({ title: 'theirs' });
    await h.refresh();
    await landed();
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', version: 3 });
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ base: { title: 'mine 1', version: 2 }, local: { title: 'mine 2' }, remote: { title: 'theirs', version: 3 }, fields: ['title'] });
    await conflict!.resolve('local');
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'mine 2', version: 4 });
  });

  it.each(['manual', 'server-wins'] as const)('a change made after the pull, on the version it heard, goes out on that version (%s)', async (strategy) => {
    const { d, h, landed } = await answerHeldAfterUpdate(strategy);
    await theirs({ done: true });
    await h.refresh();
    await h.update('a', { title: 'mine 2' }); // made on version 3
    await landed();
    await d.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine 2', done: true, version: 4 });
    expect(latestConflicts(d)).toEqual([]);
    expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
  });

  it.each(['merge', 'manual'] as const)("a change made after one pull meets what a later pull heard as a conflict, on the answer's base (%s)", async (strategy) => {
    const { d, h, landed } = await answerHeldAfterUpdate(strategy);
    await theirs({ done: true });
    await h.refresh();
    await h.update('a', { title: 'mine 2' }); // made on version 3
    await theirs({ title: 'theirs 2' });
    await h.refresh(); // version 4, never shown with this title: the local change covers it
    await landed();
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs 2', done: true, version: 4 });
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ base: { title: 'mine 1', version: 2 }, local: { title: 'mine 2' }, remote: { title: 'theirs 2', version: 4 }, fields: ['title'] });
  });

  it("under 'merge', a change queued behind it takes another writer's change to another field with it", async () => {
    const { d, h, landed } = await answerHeldAfterUpdate('merge');
    await h.update('a', { title: 'mine 2' });
    await theirs({ done: true });
    await h.refresh();
    await landed();
    await d.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine 2', done: true, version: 4 });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'mine 2', done: true, version: 4 });
    expect(latestConflicts(d)).toEqual([]);
  });

  it('a delete answered after a pull heard the entity created again keeps it, here and after the next pull', async () => {
    const writes = heldAnswers((request) => request.method === 'DELETE');
    const d = device(server.apiUrl, { fetch: writes.fetch });
    open.push(d);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await h.refresh();
    const { landed } = await writes.heldRequest(() => h.delete('a').then(() => d.client.flush()), d.clock);
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'again', done: false } });
    await h.refresh();
    await landed();
    await d.client.flush();
    await expectCreatedAgain(h);
  });

  it('a delete answered after a pull heard the entity created again, whose server could not be asked then, is sent again and asks again', async () => {
    const writes = heldAnswers((request) => request.method === 'DELETE');
    let failOneGet = false;
    const d = device(server.apiUrl, {
      fetch: async (input, init) => {
        const request = new Request(input, init);
        if (failOneGet && request.method === 'GET' && new URL(request.url).pathname.endsWith('/todos/a')) {
          failOneGet = false;
          throw new TypeError('fetch failed');
        }
        return writes.fetch(request);
      },
    });
    open.push(d);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    const { landed } = await writes.heldRequest(() => h.delete('a').then(() => d.client.flush()), d.clock);
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'again', done: false } });
    await h.refresh();
    failOneGet = true;
    await landed();
    expect(d.events.filter((e) => e.type === 'retrying')).toHaveLength(1);
    await d.clock.advance(60_000);
    await d.client.flush();
    await expectCreatedAgain(h);
  });

  it('a delete that finds the entity deleted by someone else after a pull heard a later version removes it for good', async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.delete('a'); // made on version 1
    await theirs({ title: 'theirs' });
    await h.refresh(); // version 2 stored under the queued delete
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh(); // the tombstone, under the queued delete
    await reconnect(d);
    expect(await serverTodo('a')).toBeNull();
    expect(await h.get('a')).toBeUndefined();
    await h.refresh();
    expect(await h.get('a')).toBeUndefined();
    expect(latestConflicts(d)).toEqual([]);
  });
});

describe('a parked conflict meets later pulls', () => {
  /** A device whose change of `a`'s title met another one: parked, under 'manual' or 'merge'. */
  async function titleInConflict(strategy: ConflictStrategy) {
    const d = await offlineWithTodo({ conflicts: strategy });
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    return { d, h };
  }

  it('conflicts$ follows the changes made to the entity after the conflict was parked: local carries them, fields are told anew', async () => {
    const { d, h } = await titleInConflict('manual');
    expect(latestConflicts(d)).toMatchObject([{ local: { title: 'mine' }, remote: { title: 'theirs' }, fields: ['title'] }]);
    await h.update('a', { title: 'mine, edited', done: true });
    expect(latestConflicts(d)).toMatchObject([{ local: { title: 'mine, edited', done: true }, remote: { title: 'theirs', done: false }, fields: ['title'] }]);
    // The user takes the other side's title: nothing is in dispute any more; under 'manual' it still waits.
    await h.update('a', { title: 'theirs' });
    expect(latestConflicts(d)).toMatchObject([{ local: { title: 'theirs', done: true }, fields: [] }]);
    await latestConflicts(d)[0]!.resolve('local');
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', done: true });
  });

  it("under 'merge', a change made after the conflict that leaves no field in dispute decides it: merged and sent", async () => {
    const { d, h } = await titleInConflict('merge');
    expect(latestConflicts(d)).toHaveLength(1);
    await h.update('a', { title: 'theirs', done: true });
    await d.client.flush();
    expect(latestConflicts(d)).toEqual([]);
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', done: true });
    expect(await h.get('a')).toMatchObject({ title: 'theirs', done: true });
  });

  it("resolve('remote') after a pull heard a newer server version keeps that version, here and after the next pull", async () => {
    const { d, h } = await titleInConflict('manual');
    const [conflict] = latestConflicts(d);
    expect(conflict!.remote).toMatchObject({ title: 'theirs', version: 2 });
    await theirs({ title: 'theirs again' });
    await h.refresh();
    await conflict!.resolve('remote');
    expect(await h.get('a')).toEqual({ id: 'a', title: 'theirs again', done: false, version: 3 });
    await h.refresh();
    expect(await h.get('a')).toEqual({ id: 'a', title: 'theirs again', done: false, version: 3 });
    expect(latestConflicts(d)).toEqual([]);
  });

  it("conflicts$ shows the newer server state a pull heard, and resolve('local') goes out against it once", async () => {
    const { d, h } = await titleInConflict('manual');
    await theirs({ done: true });
    await h.refresh();
    const [conflict] = latestConflicts(d);
    // Its local side is the view, rebased on that state: the change made on version 1 still shows.
    expect(conflict).toMatchObject({ local: { title: 'mine', done: true }, remote: { title: 'theirs', done: true, version: 3 }, fields: ['title'] });
    expect(conflict!.base).toMatchObject({ title: 'A', done: false, version: 1 });
    await conflict!.resolve('local');
    await d.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 4 });
    expect(d.events.filter((e) => e.type === 'conflict')).toHaveLength(1);
    expect(latestConflicts(d)).toEqual([]);
  });

  it("a conflict with the server's deletion takes the entity created again, which resolve('remote') keeps", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await reconnect(d);
    expect(latestConflicts(d)[0]!.remote).toBeNull();
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'again', done: false } });
    await h.refresh();
    const [conflict] = latestConflicts(d);
    expect(conflict!.remote).toMatchObject({ title: 'again' });
    await conflict!.resolve('remote');
    const again = await serverTodo('a');
    expect(await h.get('a')).toEqual(again);
    await h.refresh();
    expect(await h.get('a')).toEqual(again);
  });

  it("a conflict takes the server's later deletion: resolve('remote') removes the entity, and no pull brings it back", async () => {
    const { d, h } = await titleInConflict('manual');
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh();
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ remote: null, local: { title: 'mine' } });
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    await conflict!.resolve('remote');
    expect(await h.get('a')).toBeUndefined();
    await h.refresh();
    expect(await h.get('a')).toBeUndefined();
    expect(await ledger()).toHaveLength(1);
  });

  it("under 'merge', a conflict that a newer server state leaves with no field in dispute is merged and sent; under 'manual' it waits", async () => {
    for (const strategy of ['merge', 'manual'] as const) {
      await backend.reset();
      const { d, h } = await titleInConflict(strategy);
      expect(latestConflicts(d)).toHaveLength(1);
      // The other side takes its title back, and marks the todo done.
      await theirs({ title: 'A', done: true });
      await h.refresh();
      if (strategy === 'manual') {
        expect(latestConflicts(d)).toMatchObject([{ fields: [], remote: { title: 'A', done: true, version: 3 } }]);
        continue;
      }
      // flush() waits for the decision, then sends it.
      await d.client.flush();
      expect(latestConflicts(d)).toEqual([]);
      expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 4 });
      expect(await h.get('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 4 });
      expect(d.events.filter((e) => e.type === 'resolved')).toMatchObject([{ strategy: 'merge', choice: 'merged' }]);
    }
  });

  it("under 'merge', an undisputed conflict whose decision could not be stored is decided again on the next commit", async () => {
    const { d, h } = await titleInConflict('merge');
    await theirs({ title: 'A' });
    // The second outbox put from here fails: the pull's own (the conflict taking version 3) goes
    // through, the decision's (the merge re-queued) meets a full disk.
    const put = IDBObjectStore.prototype.put;
    let outboxPuts = 0;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<typeof put>) {
      if (this.name === 'outbox' && ++outboxPuts === 2) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    };
    try {
      await h.refresh();
      await until(() => d.events.some((e) => e.type === 'error'), 'the failed decision reported');
    } finally {
      IDBObjectStore.prototype.put = put;
    }
    expect(d.events.filter((e) => e.type === 'error')).toMatchObject([{ resource: 'todos', error: { name: 'StorageError' } }]);
    expect(latestConflicts(d)).toMatchObject([{ fields: [] }]);
    // Any later commit tries it again.
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    expect(latestConflicts(d)).toEqual([]);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: false, version: 4 });
  });

  it("under 'merge', a conflict left with no field in dispute by a pull before the page closed is decided when it opens again", async () => {
    // 'manual' leaves it parked, as a tab closed between the pull and the decision would.
    const { d, h } = await titleInConflict('manual');
    await theirs({ title: 'A' });
    await h.refresh();
    expect(latestConflicts(d)).toMatchObject([{ fields: [] }]);
    await d.client.close();
    const reopened = d.reopen({ conflicts: 'merge' });
    open.push(reopened);
    await reopened.client.flush();
    expect(latestConflicts(reopened)).toEqual([]);
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: false, version: 4 });
    expect(reopened.events.filter((e) => e.type === 'resolved')).toMatchObject([{ strategy: 'merge', choice: 'merged' }]);
  });

  it("under 'merge', a delete in conflict with an update the server then took back is decided: the delete goes out against the server's version", async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.delete('a');
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ local: null, fields: ['title'] }]);
    await theirs({ title: 'A' });
    await h.refresh();
    await d.client.flush();
    expect(latestConflicts(d)).toEqual([]);
    expect(await serverTodo('a')).toBeNull();
    expect(await h.get('a')).toBeUndefined();
    expect(d.events.filter((e) => e.type === 'resolved')).toMatchObject([{ strategy: 'merge', choice: 'merged' }]);
  });

  it("under 'merge', an update in conflict with the server's deletion that this device then takes back is decided: removed, nothing sent", async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ remote: null, fields: ['title'] }]);
    await h.update('a', { title: 'A' });
    await d.client.flush();
    expect(latestConflicts(d)).toEqual([]);
    expect(await h.get('a')).toBeUndefined();
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
  });

  it("under 'merge', a delete in conflict with an update is done once the server deletes the entity too: nothing is sent", async () => {
    const d = await offlineWithTodo();
    const h = d.client.resource(todos);
    await h.delete('a');
    await theirs({ title: 'theirs' });
    await reconnect(d);
    expect(latestConflicts(d)).toMatchObject([{ local: null, remote: { title: 'theirs' } }]);
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh();
    await until(() => latestConflicts(d).length === 0, 'the conflict decided');
    expect(await h.get('a')).toBeUndefined();
    expect(d.events.filter((e) => e.type === 'resolved')).toMatchObject([{ strategy: 'merge', choice: 'remote' }]);
    expect(await ledger()).toHaveLength(1);
    await h.refresh();
    expect(await h.get('a')).toBeUndefined();
  });

  /** A device whose change of `a` (title 'mine') met `serverFirst`, its answer held once the server computed it. */
  async function answerHeld(strategy: ConflictStrategy, serverFirst: () => Promise<unknown>) {
    const writes = heldAnswers((request) => request.method === 'PATCH');
    const d = await offlineWithTodo({ conflicts: strategy, fetch: writes.fetch });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await serverFirst();
    const { landed } = await writes.heldRequest(() => reconnect(d), d.clock);
    return { d, h: d.client.resource(todos), landed };
  }

  /** The decision ('server-wins' made it; under 'manual', resolve('remote')) keeps `newest`, also after the next pull. */
  async function keepsNewest(d: Device, strategy: ConflictStrategy, newest: unknown) {
    const h = d.client.resource(todos);
    if (strategy === 'manual') {
      const [conflict] = latestConflicts(d);
      expect(conflict!.remote).toEqual(newest);
      await conflict!.resolve('remote');
    }
    expect(await h.get('a')).toEqual(newest);
    await h.refresh();
    expect(await h.get('a')).toEqual(newest);
  }

  for (const strategy of ['manual', 'server-wins'] as const) {
    it(`a pull that lands while the conflict's answer is on its way gives the decision its newer version ('${strategy}')`, async () => {
      // The 412 is computed on version 2; version 3 is pulled before it arrives.
      const { d, h, landed } = await answerHeld(strategy, () => theirs({ title: 'theirs' }));
      await theirs({ done: true });
      await h.refresh();
      await landed();
      await keepsNewest(d, strategy, { id: 'a', title: 'theirs', done: true, version: 3 });
    });

    it(`a "gone" answer while a pull stored the entity created again: the server is asked, and the decision keeps it ('${strategy}')`, async () => {
      const { d, h, landed } = await answerHeld(strategy, () => server.admin.edit({ resource: 'todos', id: 'a', delete: true }));
      await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'again', done: false } });
      await h.refresh();
      await landed();
      const again = await serverTodo('a');
      expect(again).toMatchObject({ title: 'again' });
      await keepsNewest(d, strategy, again);
    });
  }

  it('a server that answers 410 for what it deleted: the "gone" answer and the GET that asks again both count as gone', async () => {
    const as410 = async (answer: Response) => (answer.status === 404 ? new Response(await answer.text(), { status: 410, headers: answer.headers }) : answer);
    const writes = heldAnswers((request) => request.method === 'PATCH');
    const d = await offlineWithTodo({ conflicts: 'manual', fetch: (input, init) => writes.fetch(input, init).then(as410) });
    const h = d.client.resource(todos);
    await h.update('a', { title: 'mine' });
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    // Created again and pulled while the 410 is on its way, then deleted again: the GET answers 410 too.
    const { landed } = await writes.heldRequest(() => reconnect(d), d.clock);
    await server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'again', done: false } });
    await h.refresh();
    await server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await landed();
    expect(latestConflicts(d)).toMatchObject([{ remote: null, local: { title: 'mine' } }]);
    expect(d.events.filter((e) => e.type === 'retrying' || e.type === 'failed')).toEqual([]);
    expect(d.calls.filter((c) => c.startsWith('GET') && c.includes('/todos/a'))).toHaveLength(1);
  });

  it('a pull that lands while the answer is on its way with what the change meant to write: a success, no conflict', async () => {
    const writes = heldAnswers((request) => request.method === 'PATCH');
    const d = await offlineWithTodo({ conflicts: 'manual', fetch: writes.fetch });
    const h = d.client.resource(todos);
    const saved = h.update('a', { title: 'mine' }, { wait: 'server' });
    await theirs({ title: 'theirs' });
    const { landed } = await writes.heldRequest(() => reconnect(d), d.clock);
    await theirs({ title: 'mine' });
    await h.refresh();
    await landed();
    const mine = { id: 'a', title: 'mine', done: false, version: 3 };
    expect(await saved).toEqual(mine);
    expect(latestConflicts(d)).toEqual([]);
    expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
    expect(await h.get('a')).toEqual(mine);
  });
});

describe('a second look at conflict decisions', () => {
  const noted = defineResource({
    name: 'todos',
    schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), note: z.string().optional(), version: z.number().int() }),
    delta: true,
  });

  it("resolve() of a conflict parked by a page that defines its resource, in one that does not, rejects with StorageError naming it; a page that does resolves it", async () => {
    const d = await offlineWithTodo({ conflicts: 'manual' });
    await d.client.resource(todos).update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    await d.client.close();
    const notesOnly = d.reopen({ resources: [notes] });
    open.push(notesOnly);
    await notesOnly.client.flush();
    const [conflict] = latestConflicts(notesOnly);
    expect(conflict).toMatchObject({ resource: 'todos', id: 'a', fields: ['title'] });
    const refused = conflict!.resolve('remote');
    await expect(refused).rejects.toBeInstanceOf(StorageError);
    await expect(refused).rejects.toThrow(/^todos\/a: .*resource "todos", which this client does not define/);
    expect(latestConflicts(notesOnly)).toHaveLength(1);
    await notesOnly.client.close();
    const again = d.reopen();
    open.push(again);
    await again.client.flush();
    await latestConflicts(again)[0]!.resolve('local');
    await again.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'mine', version: 3 });
  });

  it('resolve({ value }) clearing a field with undefined rejects with ValidationError naming it, as update() does; nothing changes', async () => {
    const d = device(server.apiUrl, { resources: [noted] });
    open.push(d);
    const h = d.client.resource(noted);
    await h.create({ id: 'a', title: 'A', done: false, note: 'keep?' });
    await d.client.flush();
    d.online.next(false);
    await h.update('a', { title: 'mine' });
    await theirs({ title: 'theirs' });
    await reconnect(d);
    const [conflict] = latestConflicts(d);
    expect(conflict).toMatchObject({ id: 'a', fields: ['title'] });
    await expect(conflict!.resolve({ value: { title: 'both', note: undefined } })).rejects.toThrow(/^todos\/a: field "note"/);
    await d.client.flush();
    expect(latestConflicts(d)).toHaveLength(1);
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', note: 'keep?', version: 2 });
  });
});
