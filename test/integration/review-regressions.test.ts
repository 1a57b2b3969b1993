/**
 * Faults a review of the reliability fixes found, each reproduced first: a change lost or a row
 * deleted by a conflict decision, writes stored out of call order after an abort, a parked change
 * whose retry() got one request, an entry starved after a clock step, and a client wedged by a
 * connection the browser closed before the first outbox load. Server answers come from a stub.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { ClosedError, ConflictError, defineResource, type Conflict, type ConflictStrategy, type FailedMutation, type QueryState, type SyncClientOptions, type SyncStatus, type Transport } from '../../src/index.js';
import { outcomeOf, trackedDevices, until } from '../helpers/harness.js';
import { ManualClock, seededRandom, upperHalfRandom } from '../helpers/manual-clock.js';
import { committed, getAllRaw, openRaw } from '../helpers/raw-idb.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const API = 'http://api.test/api';
const itemSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
type Item = z.infer<typeof itemSchema>;
const items = defineResource({ name: 'items', schema: itemSchema });

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A stub API: `route` answers, or 404. Every request is kept with its body. */
function stubApi(route: (request: Request, url: URL, body: string) => Response | undefined | Promise<Response | undefined>) {
  const requests: Array<{ method: string; body: string }> = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const body = request.method === 'GET' ? '' : await request.text();
    requests.push({ method: request.method, body });
    return (await route(request, new URL(request.url), body)) ?? json({ error: 'no route' }, 404);
  };
  return { fetch: fetchImpl, requests, patches: () => requests.filter((r) => r.method === 'PATCH') };
}

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};

interface OutboxRow {
  seq: number;
  id: string;
  payload: Record<string, unknown> | null;
}
interface EntityRow {
  id: string;
  view: Item | null;
}

async function stored(factory: IDBFactory): Promise<{ outbox: OutboxRow[]; entities: EntityRow[] }> {
  const db = await openRaw(factory, 'harborsync:default');
  const outbox = await getAllRaw<OutboxRow>(db, 'outbox');
  const entities = await getAllRaw<EntityRow>(db, 'entities');
  db.close();
  return { outbox, entities };
}

const { open, make } = trackedDevices();
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close().catch(() => undefined)));
});

/**
 * One item on a stub server whose first PATCH meets a conflict: another writer made `moved` of
 * it meanwhile. With `held`, that answer waits for `answer()`. Later PATCHes apply, checked
 * against If-Match.
 */
function conflictingServer(moved: (item: Item) => Item, { held = false } = {}) {
  const state = { item: { id: 'a', title: 'A', done: false, version: 1 } as Item };
  let answer = () => undefined as void;
  const gate = held ? new Promise<void>((resolve) => (answer = resolve)) : Promise.resolve();
  const api = stubApi(async (req, _url, body) => {
    if (req.method === 'GET') return json([state.item]);
    if (api.patches().length === 1) {
      await gate;
      state.item = moved(state.item);
      return json(state.item, 409);
    }
    if (req.headers.get('If-Match') !== `"${state.item.version}"`) return json(state.item, 412);
    state.item = { ...state.item, ...JSON.parse(body), version: state.item.version + 1 };
    return json(state.item);
  });
  return { api, state, answer: () => answer() };
}

/** Two tabs of one browser (one database, Web Locks, channel, clock), both loaded: the leader first. */
/**
 * A resource and an on-demand one loaded once, then each read again (a pull and a page) and the
 * client closed once both are out (`out`): the views' last states.
 */
async function closedWhileReading(options: Partial<SyncClientOptions>, out: () => boolean): Promise<QueryState<Item>[]> {
  const paged = defineResource({ name: 'paged', schema: itemSchema, load: 'on-demand' });
  const d = make(API, { ...options, resources: [items, paged] });
  const h = d.client.resource(items);
  const p = d.client.resource(paged);
  await h.refresh();
  const views = [h.query$(), p.query$({ limit: 5 })];
  const watching = views.map((view) => view.subscribe());
  await until(() => latest<QueryState<Item>>(views[1]!).status === 'success', 'the page loaded');
  void h.refresh().catch(() => undefined);
  void p.refresh().catch(() => undefined);
  await until(out, 'a pull and a page out');
  for (const subscription of watching) subscription.unsubscribe();
  await d.client.close();
  await new Promise<void>((resolve) => setImmediate(resolve));
  return views.map((view) => latest<QueryState<Item>>(view));
}

async function twoTabs(options: Partial<SyncClientOptions>) {
  const shared = { factory: new IDBFactory(), locks: new FakeLocks(), hub: new BroadcastHub(), clock: new ManualClock() };
  const tab = (seed: number) =>
    make(API, { resources: [items], locks: shared.locks, BroadcastChannel: shared.hub.Channel, random: seededRandom(seed), ...options }, shared.factory, shared.clock);
  const one = tab(1);
  const two = tab(2);
  await until(() => latest<SyncStatus>(one.client.status$).leader || latest<SyncStatus>(two.client.status$).leader, 'a leader');
  const [leader, follower] = latest<SyncStatus>(one.client.status$).leader ? [one, two] : [two, one];
  await leader.client.resource(items).refresh();
  await follower.client.resource(items).refresh();
  return { ...shared, leader, follower };
}

describe('conflict decisions', () => {
  it('a change made while a resolver decides is kept after the decision, and its wait gets its own answer', async () => {
    const { api, state } = conflictingServer((item) => ({ ...item, done: true, version: 2 }));
    let decide!: (choice: 'local') => void;
    const resolver = (() => new Promise<'local'>((resolve) => (decide = resolve))) as ConflictStrategy;
    const d = make(API, { fetch: api.fetch, resources: [items], conflicts: resolver });
    const h = d.client.resource(items);
    await h.refresh();
    await h.update('a', { title: 'L1' });
    void d.client.flush();
    await until(() => decide !== undefined, 'the resolver asked');
    const later = h.update('a', { title: 'L2' }, { wait: 'server' });
    await until(async () => (await h.get('a'))?.title === 'L2', 'the later change shown');
    decide('local');
    await expect(later).resolves.toMatchObject({ title: 'L2' });
    await d.client.flush();
    expect(state.item.title).toBe('L2');
    expect((await stored(d.indexedDB)).outbox).toEqual([]);
  });

  it('a write merged into an entry the decision saw makes the decision again, on what is stored', async () => {
    const { api, state, answer } = conflictingServer((item) => ({ ...item, version: 2 }), { held: true });
    // The first decision waits for the test; any asked again decides at once.
    let decide: ((choice: 'local') => void) | undefined;
    let asked = 0;
    const resolver = (() => (asked++ === 0 ? new Promise<'local'>((resolve) => (decide = resolve)) : 'local')) as ConflictStrategy;
    const d = make(API, { fetch: api.fetch, resources: [items], conflicts: resolver });
    const h = d.client.resource(items);
    await h.refresh();
    await h.update('a', { title: 'L1' });
    void d.client.flush();
    await until(() => api.patches().length === 1, 'the first request out');
    await h.update('a', { done: true }); // queued behind the request in flight
    answer();
    await until(() => decide !== undefined, 'the resolver asked');
    // Merged into the queued entry the decision read.
    const later = h.update('a', { title: 'L3' }, { wait: 'server' });
    await until(async () => (await h.get('a'))?.title === 'L3', 'the later change shown');
    decide!('local');
    await expect(later).resolves.toMatchObject({ title: 'L3', done: true });
    await d.client.flush();
    expect(asked).toBe(2);
    expect(state.item).toMatchObject({ title: 'L3', done: true });
  });

  it("another tab's change stored but not heard of yet is in the decision, and is not sent again after it", async () => {
    const { api, state, answer } = conflictingServer((item) => ({ ...item, title: 'S', version: 2 }), { held: true });
    // The decision: the local title, but done stays false.
    const resolver = ((context: { local: Item | null }) => ({ value: { ...context.local!, done: false } })) as unknown as ConflictStrategy;
    const { leader, follower, ...shared } = await twoTabs({ fetch: api.fetch, conflicts: resolver });
    await leader.client.resource(items).update('a', { title: 'L1' });
    await until(() => api.patches().length === 1, 'the first request out');
    // The follower's hint is late: the leader decides before it arrives.
    shared.hub.drop = (data) => (data as { t?: string }).t === 'changed';
    await follower.client.resource(items).update('a', { done: true });
    answer();
    await until(() => api.patches().length >= 2, 'the re-send');
    shared.hub.drop = () => false;
    for (let i = 0; i < 5; i++) {
      await shared.clock.advance(1000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(api.patches()).toHaveLength(2);
    expect(state.item).toMatchObject({ title: 'L1', done: false });
  }, 30_000);

  it.each([1, 2])('with maxAttempts %i, a conflict the strategy drops is decided, not parked', async (maxAttempts) => {
    let server: Item = { id: 'a', title: 'A', done: false, version: 1 };
    const api = stubApi((req) => {
      if (req.method === 'GET') return json([server]);
      if (maxAttempts === 2 && api.patches().length === 1) return json({ error: 'busy' }, 503);
      server = { ...server, title: 'S', version: 2 };
      return json(server, 409);
    });
    const d = make(API, { fetch: api.fetch, resources: [items], conflicts: 'server-wins', retry: { maxAttempts, baseDelayMs: 1, maxDelayMs: 1 } });
    const h = d.client.resource(items);
    await h.refresh();
    await h.update('a', { title: 'L' });
    for (let i = 0; i < 5; i++) {
      await d.client.flush();
      await d.clock.advance(10);
    }
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    expect((await h.get('a'))!.title).toBe('S');
  });

  it.each(['merge', 'server-wins'] as const)('a quarantined row of the entity survives the decision on an earlier change (%s)', async (conflicts) => {
    const { api } = conflictingServer((item) => ({ ...item, done: true, version: 2 }));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    await d.client.resource(items).refresh();
    d.online.next(false);
    await d.client.resource(items).update('a', { title: 'A1' });
    await d.client.close();
    // Planted after the update, as a row another release queued later would be.
    const planted = (await stored(d.indexedDB)).outbox[0]!.seq + 100;
    const db = await openRaw(d.indexedDB, 'harborsync:default');
    const tx = db.transaction('outbox', 'readwrite');
    const row = { baseVersion: 1, key: 'k', rekeys: 0, frozen: false, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, changedAt: 0, state: 'queued', conflict: null, failure: null, origin: 'x' };
    tx.objectStore('outbox').put({ ...row, seq: planted, r: 'items', id: 'a', op: 'upsert', payload: { title: 'X' } });
    await committed(tx);
    db.close();
    const again = make(API, { fetch: api.fetch, resources: [items], conflicts }, d.indexedDB);
    await again.client.resource(items).list();
    await again.client.flush();
    expect((await stored(d.indexedDB)).outbox.map((r) => r.seq)).toEqual([planted]);
    expect(latest<FailedMutation[]>(again.client.failed$).map((f) => f.error.message)).toEqual([expect.stringMatching(/corrupted outbox entry/)]);
  });

  it('retry() of a change parked after conflict upon conflict starts its count afresh', async () => {
    let server: Item = { id: 'a', title: 'A', done: false, version: 1 };
    let broken = true;
    let oneMore = false;
    const api = stubApi((req, _url, body) => {
      if (req.method === 'GET') return json([server]);
      if (broken || oneMore) {
        // Another writer moves the entity on every time: each re-send meets a new version.
        oneMore = false;
        server = { ...server, done: !server.done, version: server.version + 1 };
        return json(server, 412);
      }
      server = { ...server, ...JSON.parse(body), version: server.version + 1 };
      return json(server);
    });
    const d = make(API, { fetch: api.fetch, resources: [items], retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10 } });
    const h = d.client.resource(items);
    await h.refresh();
    await h.update('a', { title: 'L' });
    for (let i = 0; i < 20 && latest<FailedMutation[]>(d.client.failed$).length === 0; i++) {
      await d.client.flush();
      await d.clock.advance(100);
    }
    expect(api.patches()).toHaveLength(3);
    const [parked] = latest<FailedMutation[]>(d.client.failed$);
    expect(parked!.error.message).toMatch(/gave up after 3 attempts, the last met by a conflict/);
    broken = false;
    oneMore = true;
    await parked!.retry();
    for (let i = 0; i < 10; i++) {
      await d.client.flush();
      await d.clock.advance(100);
    }
    // One more ordinary conflict, merged and re-sent: not parked again at once.
    expect(api.patches()).toHaveLength(5);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    expect(server.title).toBe('L');
  });

  it('resolve() rejects with ConflictError when the conflict changes under every try, and decides nothing', async () => {
    const { api, state } = conflictingServer((item) => ({ ...item, title: 'S', version: 2 }));
    // Checking a decision waits for the test, which writes meanwhile; the server's answer is checked at once.
    const checks: Array<() => void> = [];
    let gated = true;
    const standard = itemSchema['~standard'];
    const schema = {
      '~standard': {
        ...standard,
        validate: (value: unknown) =>
          gated && (value as Item).title === 'decided'
            ? new Promise<void>((resolve) => checks.push(resolve)).then(() => standard.validate(value))
            : standard.validate(value),
      },
    } as typeof itemSchema;
    const gatedItems = defineResource({ name: 'items', schema });
    const d = make(API, { fetch: api.fetch, resources: [gatedItems], conflicts: 'manual' });
    const h = d.client.resource(gatedItems);
    await h.refresh();
    await h.update('a', { title: 'L' });
    await d.client.flush();
    const [conflict] = latest<Conflict[]>(d.client.conflicts$);
    expect(conflict).toMatchObject({ fields: ['title'] });
    await h.update('a', { done: true }); // queued behind the conflict: the decision reads it
    const deciding = conflict!.resolve({ value: { title: 'decided' } });
    for (let round = 1; round <= 3; round++) {
      await until(() => checks.length === round, `decision ${round} checked`);
      await h.update('a', { done: round % 2 === 0 }); // changes what the decision read
      checks[round - 1]!();
    }
    await expect(deciding).rejects.toThrow(ConflictError);
    await expect(deciding).rejects.toThrow(/changed under each of 3 tries/);
    expect(latest<SyncStatus>(d.client.status$).conflicts).toBe(1);
    expect(await h.get('a')).toMatchObject({ title: 'L', done: false });
    // Decided again, on what the conflict holds now.
    const [again] = latest<Conflict[]>(d.client.conflicts$);
    const decided = again!.resolve({ value: { title: 'decided' } });
    await until(() => checks.length === 4, 'the new decision checked');
    gated = false;
    checks[3]!();
    await decided;
    await d.client.flush();
    expect(state.item).toMatchObject({ title: 'decided', done: false });
  });
});

describe('close()', () => {
  it('every call after close() fails with ClosedError: pause(), resume() and resource() throw it, as get$() and query$() do', async () => {
    const api = stubApi((req) => (req.method === 'GET' ? json([]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    const h = d.client.resource(items);
    await h.list();
    await d.client.close();
    const statuses: Array<SyncStatus['paused']> = [];
    d.client.status$.subscribe((status) => statuses.push(status.paused));
    const thrown = (call: () => unknown): unknown => {
      try {
        call();
      } catch (error) {
        return error;
      }
      return 'nothing thrown';
    };
    expect(thrown(() => d.client.pause())).toBeInstanceOf(ClosedError);
    expect(thrown(() => d.client.resume())).toBeInstanceOf(ClosedError);
    expect(thrown(() => d.client.resource(items))).toBeInstanceOf(ClosedError);
    expect(thrown(() => d.client.resource('items'))).toBeInstanceOf(ClosedError);
    expect(thrown(() => h.get$('a'))).toBeInstanceOf(ClosedError);
    expect(thrown(() => h.query$())).toBeInstanceOf(ClosedError);
    const calls = [h.create({ id: 'a', title: 'A', done: false }) as Promise<unknown>, h.update('a', { title: 'B' }), h.delete('a'), h.get('a'), h.list(), h.refresh(), d.client.flush(), d.client.clear()];
    for (const outcome of calls.map((call) => outcomeOf(call, 'the call'))) expect(await outcome).toEqual({ error: expect.any(ClosedError) });
    expect(statuses.every((paused) => paused === null)).toBe(true);
  });

  it('close() rejects a Conflict.resolve() whose decision waits for a validation that never answers with ClosedError', async () => {
    const { api } = conflictingServer((item) => ({ ...item, title: 'S', version: 2 }));
    const standard = itemSchema['~standard'];
    const asked: unknown[] = [];
    const schema = {
      '~standard': {
        ...standard,
        validate: (value: unknown) => ((value as Item).title === 'decided' ? new Promise(() => asked.push(value)) : standard.validate(value)),
      },
    } as typeof itemSchema;
    const gatedItems = defineResource({ name: 'items', schema });
    const d = make(API, { fetch: api.fetch, resources: [gatedItems], conflicts: 'manual' });
    const h = d.client.resource(gatedItems);
    await h.refresh();
    await h.update('a', { title: 'L' });
    await d.client.flush();
    const [conflict] = latest<Conflict[]>(d.client.conflicts$);
    const deciding = outcomeOf(conflict!.resolve({ value: { title: 'decided' } }), 'resolve()');
    await until(() => asked.length === 1, 'the decision asked to validate');
    await d.client.close();
    expect(await deciding).toEqual({ error: expect.any(ClosedError) });
  });

  it('a flush() under way as the client closes rejects with ClosedError, in the tab that sends and in one that does not: its changes were not sent', async () => {
    const sent: string[] = [];
    const api = stubApi((req) => {
      if (req.method === 'GET') return json([]);
      sent.push(req.method);
      return new Promise<undefined>(() => undefined);
    });
    const d = make(API, { fetch: api.fetch, resources: [items] });
    await d.client.resource(items).create({ id: 'a', title: 'A', done: false });
    const flushing = outcomeOf(d.client.flush(), 'flush()');
    await until(() => sent.length === 1, 'the create sent');
    await d.client.close();
    expect(await flushing).toEqual({ error: expect.any(ClosedError) });

    const { leader, follower } = await twoTabs({ fetch: api.fetch });
    await follower.client.resource(items).create({ id: 'b', title: 'B', done: false });
    const asking = outcomeOf(follower.client.flush(), 'the follower’s flush()');
    await until(() => sent.length === 2, 'the leader sending the change');
    await follower.client.close();
    expect(await asking).toEqual({ error: expect.any(ClosedError) });
    await leader.client.close();
  });

  it('a custom transport gets a signal with each call that close() aborts; close() does not wait for a call that ignores it', async () => {
    const signals = new Map<string, AbortSignal | undefined>();
    const never = (call: string, signal: AbortSignal | undefined) => {
      signals.set(call, signal);
      return new Promise<never>(() => undefined);
    };
    const transport: Transport = {
      list: (_def, signal) => never('list', signal),
      delta: (_def, _cursor, signal) => never('delta', signal),
      one: (_def, _id, signal) => never('one', signal),
      query: (_def, _query, signal) => never('query', signal),
      create: (_def, _body, _key, signal) => never('create', signal),
      update: (_def, _id, _patch, _version, _key, signal) => never('update', signal),
      remove: (_def, _id, _version, _key, signal) => never('remove', signal),
    };
    const feed = defineResource({ name: 'feed', schema: itemSchema, delta: true });
    const paged = defineResource({ name: 'paged', schema: itemSchema, load: 'on-demand' });
    const d = make(API, { transport, resources: [items, feed, paged] });
    const refreshing = outcomeOf(d.client.resource(items).refresh(), 'refresh()');
    const following = outcomeOf(d.client.resource(feed).refresh(), 'the delta refresh()');
    const watching = d.client.resource(paged).query$({ limit: 5 }).subscribe();
    await d.client.resource(items).create({ id: 'a', title: 'A', done: false });
    const flushing = outcomeOf(d.client.flush(), 'flush()');
    await until(() => signals.size === 4, 'list, delta, query and create called');
    expect(Object.fromEntries([...signals].map(([call, signal]) => [call, signal?.aborted]))).toEqual({ list: false, delta: false, query: false, create: false });
    await outcomeOf(d.client.close(), 'close()');
    for (const [call, signal] of signals) expect({ call, reason: signal?.reason }).toEqual({ call, reason: expect.any(ClosedError) });
    for (const call of [refreshing, following, flushing]) expect(await call).toEqual({ error: expect.any(ClosedError) });
    watching.unsubscribe();
  });

  it('close() completes every observable of the client, the live queries included; one subscribed after close() gives its last value and completes', async () => {
    const api = stubApi((req) => (req.method === 'GET' ? json([{ id: 'a', title: 'A', done: false, version: 1 }]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    const h = d.client.resource(items);
    await h.refresh();
    const seen: string[] = [];
    const watch = (name: string, source: Observable<unknown>) =>
      source.subscribe({ next: () => seen.push(`${name}: value`), complete: () => seen.push(`${name}: complete`) });
    const later = h.query$({ where: { done: false } });
    const names = ['status$', 'conflicts$', 'failed$', 'events$', 'get$', 'query$'];
    [d.client.status$, d.client.conflicts$, d.client.failed$, d.client.events$, h.get$('a'), h.query$()].forEach((source, i) => watch(names[i]!, source));
    seen.length = 0;
    await d.client.close();
    const atClose = seen.splice(0);
    watch('status$ after close()', d.client.status$);
    watch('query$ after close()', later);
    expect(atClose.filter((line) => line.endsWith('complete')).sort()).toEqual(names.map((name) => `${name}: complete`).sort());
    expect(seen).toEqual(['status$ after close(): value', 'status$ after close(): complete', 'query$ after close(): value', 'query$ after close(): complete']);
    expect(latest<SyncStatus>(d.client.status$).leader).toBe(false);
  });

  it('a pull or an on-demand page close() abandons leaves no error in the views: their last state is the one before it', async () => {
    const answered = new Set<string>();
    const api = stubApi((_req, url) => {
      // Each resource's first read is answered; the next one stays out until close().
      if (answered.has(url.pathname)) return new Promise<undefined>(() => undefined);
      answered.add(url.pathname);
      return json(url.pathname.endsWith('/paged') ? { items: [{ id: 'p', title: 'P', done: false, version: 1 }], cursor: null } : [{ id: 'a', title: 'A', done: false, version: 1 }]);
    });
    expect(await closedWhileReading({ fetch: api.fetch }, () => api.requests.length === 4)).toEqual([
      expect.objectContaining({ status: 'success', error: null, data: [expect.objectContaining({ id: 'a' })] }),
      expect.objectContaining({ status: 'success', error: null, data: [expect.objectContaining({ id: 'p' })] }),
    ]);
  });

  it('a custom transport rejecting an aborted read with its own error (axios\'s CanceledError) leaves no error in the views either', async () => {
    const reads = new Map<string, number>();
    // Each resource's first read is answered; the next one rejects as a library does once aborted.
    const read = (name: string, first: unknown, signal: AbortSignal | undefined) => {
      reads.set(name, (reads.get(name) ?? 0) + 1);
      if (reads.get(name) === 1) return Promise.resolve(first);
      return new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('canceled'))));
    };
    const row = { id: 'a', title: 'A', done: false, version: 1 };
    const transport: Transport = {
      list: (def, signal) => read(def.name, [row], signal),
      delta: () => Promise.reject(new Error('unused')),
      one: () => Promise.reject(new Error('unused')),
      query: (def, _query, signal) => read(def.name, { items: [row], cursor: null }, signal),
      create: () => Promise.reject(new Error('unused')),
      update: () => Promise.reject(new Error('unused')),
      remove: () => Promise.reject(new Error('unused')),
    };
    expect(await closedWhileReading({ transport }, () => reads.get('items') === 2 && reads.get('paged') === 2)).toEqual([
      expect.objectContaining({ status: 'success', error: null }),
      expect.objectContaining({ status: 'success', error: null }),
    ]);
  });

  it.each([1, 2, 3, 4, 6])('a { wait: server } write committing as the client closes (%i turns in) rejects with ClosedError, never hangs', async (turns) => {
    const api = stubApi((req) => (req.method === 'GET' ? json([]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    await d.client.resource(items).list();
    d.client.pause();
    const waiting = d.client.resource(items).create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    await d.client.close();
    await expect(outcomeOf(waiting, 'the wait')).resolves.toMatchObject({ error: expect.any(ClosedError) });
  });

  it.each([0, 1, 2, 3, 4, 6])('a write under way as the client closes (%i turns in) either commits or rejects with ClosedError, never a StorageError', async (turns) => {
    const api = stubApi((req) => (req.method === 'GET' ? json([]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    await d.client.resource(items).list();
    d.client.pause();
    const writing = d.client.resource(items).create({ id: 'a', title: 'A', done: false });
    for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    await d.client.close();
    const outcome = await outcomeOf(writing, 'the write');
    if ('error' in outcome) expect(outcome.error).toBeInstanceOf(ClosedError);
    else expect(outcome.value).toMatchObject({ id: 'a', title: 'A' });
  });

  it.each<[string, (d: ReturnType<typeof make>) => Promise<unknown>]>([
    ['create()', (d) => d.client.resource(items).create({ id: 'a', title: 'A', done: false })],
    ['list()', (d) => d.client.resource(items).list()],
    ['flush()', (d) => d.client.flush()],
  ])('%s made while the database is still opening, as the client closes, rejects with ClosedError, never a StorageError', async (_, call) => {
    const api = stubApi((req) => (req.method === 'GET' ? json([]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [items] });
    d.client.pause();
    const calling = call(d);
    await d.client.close();
    const outcome = await outcomeOf(calling, 'the call');
    expect((outcome as { error?: unknown }).error).toBeInstanceOf(ClosedError);
  });
});

describe('a delta feed', () => {
  it.each([
    ['repeats its cursor', () => 'c1'],
    ['goes round in a cycle', (page: number) => `c${page % 2}`],
  ])('that says it has more but %s stops the pull with a SchemaError, the pages read kept', async (_, cursorOf) => {
    const feed = defineResource({ name: 'feed', schema: itemSchema, delta: true });
    let page = 0;
    const api = stubApi((req) => {
      if (req.method !== 'GET') return undefined;
      page++;
      return json({ items: [{ id: `i${page}`, title: 'I', done: false, version: 1 }], deleted: [], cursor: cursorOf(page), hasMore: true });
    });
    const d = make(API, { fetch: api.fetch, resources: [feed] });
    const h = d.client.resource(feed);
    await expect(h.refresh()).rejects.toThrow(/the delta answer says hasMore but names cursor "c\d" again/);
    expect(api.requests.length).toBeLessThanOrEqual(3);
    expect((await h.list()).length).toBe(api.requests.length);
  });
});

describe('storage', () => {
  /** Aborts the next read-write transaction (AbortError) while the connection stays usable. */
  class AbortOnce extends IDBFactory {
    readonly connections: IDBDatabase[] = [];
    override open(name: string, version?: number): IDBOpenDBRequest {
      const request = super.open(name, version);
      request.addEventListener('success', () => this.connections.push(request.result));
      return request;
    }
    abortNextWrite(): void {
      for (const db of this.connections) {
        const original = db.transaction.bind(db);
        let armed = true;
        db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
          const tx = original(...args);
          if (args[1] !== 'readwrite' || !armed) return tx;
          armed = false;
          queueMicrotask(() => (tx as unknown as { _abort(name: string): void })._abort('AbortError'));
          return tx;
        }) as IDBDatabase['transaction'];
      }
    }
  }

  it('a write aborted on a connection that still works is not run again after the writes behind it', async () => {
    const api = stubApi((req) =>
      req.method === 'GET' ? json([{ id: 'a', title: 'A', done: false, version: 1 }, { id: 'b', title: 'B', done: false, version: 1 }]) : undefined,
    );
    const factory = new AbortOnce();
    const d = make(API, { fetch: api.fetch, resources: [items] }, factory);
    const h = d.client.resource(items);
    await h.refresh();
    d.online.next(false);
    factory.abortNextWrite();
    const outcomes = await Promise.allSettled([h.update('a', { title: 'first' }), h.update('a', { title: 'second' }), h.update('b', { title: 'third' })]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    const { outbox, entities } = await stored(factory);
    expect(outbox.map((r) => [r.id, r.payload])).toEqual([
      ['a', { title: 'second' }],
      ['b', { title: 'third' }],
    ]);
    expect(entities.find((e) => e.id === 'a')!.view!.title).toBe('second');
    expect((await h.get('a'))!.title).toBe('second');
  });

  it('a connection closing before the first outbox load is opened again, like any other', async () => {
    /** The first connection is closing from the moment it opens (a page suspended as it started). */
    class ClosingFirst extends IDBFactory {
      opened = 0;
      override open(name: string, version?: number): IDBOpenDBRequest {
        const request = super.open(name, version);
        const first = this.opened++ === 0;
        request.addEventListener('success', () => {
          if (!first) return;
          request.result.transaction = () => {
            throw new DOMException('The database connection is closing.', 'InvalidStateError');
          };
        });
        return request;
      }
    }
    const api = stubApi((req) => (req.method === 'GET' ? json([]) : undefined));
    const factory = new ClosingFirst();
    const d = make(API, { fetch: api.fetch, resources: [items] }, factory);
    d.online.next(false);
    const h = d.client.resource(items);
    await h.create({ id: 'x', title: 'X', done: false });
    await h.create({ id: 'y', title: 'Y', done: false });
    expect(factory.opened).toBe(2);
    expect(latest<SyncStatus>(d.client.status$)).toMatchObject({ pending: 2, lastError: null });
    expect((await stored(factory)).outbox.map((r) => r.id)).toEqual(['x', 'y']);
  });
});

describe('a clock stepped back', () => {
  it.each([false, true])('a backed-off entry goes out within the longest wait, even while another tab writes (%s)', async (otherTabWrites) => {
    const server = new Map<string, Item>([['a', { id: 'a', title: 'A', done: false, version: 1 }]]);
    let busy = 1;
    const api = stubApi((req, url, body) => {
      if (req.method === 'GET') return json([...server.values()]);
      const id = decodeURIComponent(url.pathname.split('/').pop()!);
      if (req.method === 'POST') {
        const created = { ...JSON.parse(body), version: 1 } as Item;
        server.set(created.id, created);
        return json(created, 201);
      }
      if (id === 'a' && busy-- > 0) return json({ error: 'busy' }, 503);
      const next = { ...server.get(id)!, ...JSON.parse(body), version: server.get(id)!.version + 1 };
      server.set(id, next);
      return json(next);
    });
    // The 503's backoff draws 500 ms or more (one stream for both tabs: their draws still differ), so
    // the re-send waits for the clock and meets the step: a draw under 0.01 re-sent it within the
    // advance(10) below, before the step (nothing left to check), and one under 0.001 at once, past
    // the until() below.
    const { leader, follower, ...shared } = await twoTabs({ fetch: api.fetch, random: upperHalfRandom() });
    await leader.client.resource(items).update('a', { title: 'A1' });
    await until(() => api.patches().length === 1, 'the first attempt');
    await shared.clock.advance(10);
    shared.clock.step(-2 * 24 * 3_600_000);
    // Six hours, ten minutes at a time; each of the other tab's writes makes this one re-read the outbox.
    for (let minutes = 0; minutes < 6 * 60 && server.get('a')!.title !== 'A1'; minutes += 10) {
      if (otherTabWrites && minutes % 30 === 0) await follower.client.resource(items).create({ id: `b${minutes}`, title: 'B', done: false });
      await shared.clock.advance(10 * 60_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(server.get('a')!.title).toBe('A1');
    expect(api.patches().filter((r) => r.body.includes('A1'))).toHaveLength(2);
  }, 60_000);
});

describe('references between entities whose ids the client names', () => {
  const projects = defineResource({ name: 'projects', schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }) });
  const tasks = defineResource({
    name: 'tasks',
    schema: z.object({ id: z.string(), title: z.string(), projectId: z.string().nullable(), version: z.number().int() }),
    references: { projectId: 'projects' },
  });

  /** A server that refuses a task naming a project it does not hold, as a foreign key would. */
  function checkingServer() {
    const held = new Map<string, Record<string, unknown>>();
    const api = stubApi((req, url, body) => {
      if (req.method === 'GET') return json([]);
      const [, resource, id] = url.pathname.split('/').slice(1);
      const key = `${resource}/${id ?? (JSON.parse(body) as { id: string }).id}`;
      const current = held.get(key);
      const next: Record<string, unknown> = { ...current, ...(JSON.parse(body) as Record<string, unknown>), version: ((current?.['version'] as number | undefined) ?? 0) + 1 };
      if (resource === 'tasks' && next['projectId'] !== null && !held.has(`projects/${String(next['projectId'])}`)) return json({ error: 'no such project' }, 422);
      held.set(key, next);
      return json(next, req.method === 'POST' ? 201 : 200);
    });
    return { api, held };
  }

  it('a task pointed at a project created after it is not folded into its create: the project goes first, then the change naming it', async () => {
    const { api, held } = checkingServer();
    const d = make(API, { fetch: api.fetch, resources: [projects, tasks] });
    d.online.next(false);
    await d.client.resource(tasks).create({ id: 't1', title: 'notes', projectId: null });
    await d.client.resource(projects).create({ id: 'p1', name: 'Launch' });
    await d.client.resource(tasks).update('t1', { projectId: 'p1' });
    // Folded into a change made after the project's create, as before.
    await d.client.resource(tasks).update('t1', { title: 'notes!' });
    d.online.next(true);
    await d.client.flush();
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0 });
    expect(api.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, JSON.parse(r.body) as unknown])).toEqual([
      ['POST', { id: 't1', title: 'notes', projectId: null }],
      ['POST', { id: 'p1', name: 'Launch' }],
      ['PATCH', { projectId: 'p1', title: 'notes!' }],
    ]);
    expect(held.get('tasks/t1')).toMatchObject({ title: 'notes!', projectId: 'p1' });
  });

  it('a task naming a project created just before it, while projects were not loaded yet, goes after the project', async () => {
    const { api, held } = checkingServer();
    const d = make(API, { fetch: api.fetch, resources: [projects, tasks] });
    d.online.next(false);
    // Tasks are shown; projects were never read, so its write waits for its load.
    await d.client.resource(tasks).list();
    const project = d.client.resource(projects).create({ id: 'p1', name: 'Launch' });
    const task = d.client.resource(tasks).create({ id: 't1', title: 'notes', projectId: 'p1' });
    await Promise.all([project, task]);
    d.online.next(true);
    await d.client.flush();
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0 });
    expect(api.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, (JSON.parse(r.body) as { id: string }).id])).toEqual([
      ['POST', 'p1'],
      ['POST', 't1'],
    ]);
    expect(held.get('tasks/t1')).toMatchObject({ projectId: 'p1' });
  });

  it('retry() of a task parked before it was sent does not fold in a fix naming, inside an array, a project created after it: the project goes first', async () => {
    const users = defineResource({ name: 'users', schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }), ids: 'server' });
    const tagged = defineResource({
      name: 'tasks',
      schema: z.object({ id: z.string(), title: z.string(), ownerId: z.string(), projectIds: z.array(z.string()), version: z.number().int() }),
      references: { ownerId: 'users', projectIds: 'projects' },
    });
    let named = 0;
    const api = stubApi((req, url, body) => {
      if (req.method === 'GET') return json([]);
      const sent = JSON.parse(body) as Record<string, unknown>;
      return json(url.pathname.endsWith('/users') ? { ...sent, id: `u${++named}`, version: 1 } : { ...sent, version: 1 }, 201);
    });
    const d = make(API, { fetch: api.fetch, resources: [users, projects, tagged] });
    await d.client.resource(users).create({ name: 'Ann' });
    await d.client.flush();
    const ownerId = (await d.client.resource(users).list())[0]!.id;
    // Parked unsent: its owner's create was dropped before the server named it.
    d.online.next(false);
    const gone = await d.client.resource(users).create({ name: 'Gone' });
    await d.client.resource(tagged).create({ id: 't1', title: 'notes', ownerId: gone.id, projectIds: [] });
    await d.client.resource(users).delete(gone.id);
    d.online.next(true);
    await d.client.flush();
    const [failed] = latest(d.client.failed$);
    expect(failed).toMatchObject({ resource: 'tasks', id: 't1', op: 'create' });
    // The fix names a project queued after the task: folded into the task's create, it would reach the server first.
    d.client.pause();
    await d.client.resource(projects).create({ id: 'p1', name: 'Launch' });
    await d.client.resource(tagged).update('t1', { ownerId, projectIds: ['p1'] });
    await failed!.retry();
    d.client.resume();
    await d.client.flush();
    const posts = () => api.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(posts()).toEqual([{ name: 'Ann' }, { id: 'p1', name: 'Launch' }]);
    // Retried once the project is sent, the task goes out with the fix.
    const [again] = latest(d.client.failed$);
    await again!.retry();
    await d.client.flush();
    expect(posts().at(-1)).toEqual({ id: 't1', title: 'notes', ownerId, projectIds: ['p1'] });
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0 });
  });
});

describe('an entity deleted while the first pull is under way', () => {
  it("goes from shown straight to deleted in get$(): never 'loading', however its delete's answer falls", async () => {
    let answerList = () => undefined as void;
    const listHeld = new Promise<void>((resolve) => (answerList = resolve));
    let answerDelete = () => undefined as void;
    const deleteHeld = new Promise<void>((resolve) => (answerDelete = resolve));
    const api = stubApi(async (req, _url, body) => {
      if (req.method === 'GET') return listHeld.then(() => json([]));
      if (req.method === 'POST') return json({ ...(JSON.parse(body) as Item), version: 1 }, 201);
      if (req.method === 'DELETE') return deleteHeld.then(() => new Response(null, { status: 204 }));
      return undefined;
    });
    const d = make(API, { fetch: api.fetch, resources: [items] });
    const handle = d.client.resource(items);
    const states: Array<{ title: string | undefined; status: string; pending: boolean }> = [];
    handle.get$('a').subscribe((s) => states.push({ title: s.data?.title, status: s.status, pending: s.pending }));
    await handle.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    const shown = states.length;

    await handle.delete('a');
    await until(() => states.at(-1)?.pending === true && states.at(-1)?.title === undefined, 'the delete shown');
    answerDelete();
    await until(() => states.at(-1)?.pending === false, 'the delete confirmed');
    answerList();
    await until(() => api.requests.filter((r) => r.method === 'GET').length > 0 && latest(d.client.status$).lastSyncedAt !== null, 'the first pull done');

    expect(states[shown - 1]).toEqual({ title: 'A', status: 'success', pending: false });
    expect(states.slice(shown).map((s) => s.status)).not.toContain('loading');
    expect(states.at(-1)).toEqual({ title: undefined, status: 'success', pending: false });
  });

  it("leaves a list it was the only entity of empty at once in query$(): never 'loading'", async () => {
    let answerList = () => undefined as void;
    const listHeld = new Promise<void>((resolve) => (answerList = resolve));
    const api = stubApi(async (req, _url, body) => {
      if (req.method === 'GET') return listHeld.then(() => json([]));
      if (req.method === 'POST') return json({ ...(JSON.parse(body) as Item), version: 1 }, 201);
      if (req.method === 'DELETE') return new Response(null, { status: 204 });
      return undefined;
    });
    const d = make(API, { fetch: api.fetch, resources: [items] });
    const handle = d.client.resource(items);
    const states: Array<{ ids: string[]; status: string }> = [];
    handle.query$().subscribe((s) => states.push({ ids: s.data.map((item) => item.id), status: s.status }));
    await handle.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    const shown = states.length;

    await handle.delete('a', { wait: 'server' });
    answerList();
    await until(() => latest(d.client.status$).lastSyncedAt !== null, 'the first pull done');

    expect(states[shown - 1]).toEqual({ ids: ['a'], status: 'success' });
    expect(states.slice(shown).map((s) => s.status)).not.toContain('loading');
    expect(states.at(-1)).toEqual({ ids: [], status: 'success' });
  });
});

describe('a schema whose output holds a bigint in an object without a prototype', () => {
  it('orders a list by that field without an error: every entity shown, the pull stored', async () => {
    const size = z.object({ bytes: z.coerce.bigint() }).transform((value) => Object.assign(Object.create(null) as object, value) as { bytes: bigint });
    const files = defineResource({ name: 'files', schema: z.object({ id: z.string(), size, version: z.number().int() }) });
    const api = stubApi((req) => (req.method === 'GET' ? json([{ id: 'a', size: { bytes: '5' }, version: 1 }, { id: 'b', size: { bytes: '7' }, version: 1 }]) : undefined));
    const d = make(API, { fetch: api.fetch, resources: [files] });
    const states: Array<QueryState<{ id: string }>> = [];
    d.client.resource(files).query$({ orderBy: 'size' }).subscribe((state) => states.push(state));
    await until(() => latest(d.client.status$).lastSyncedAt !== null || states.at(-1)?.error !== null, 'the pull ended');

    expect(states.at(-1)).toMatchObject({ status: 'success', error: null });
    expect(states.at(-1)!.data.map((file) => file.id).sort()).toEqual(['a', 'b']);
    expect(latest(d.client.status$).lastSyncedAt).not.toBeNull();
  });
});
