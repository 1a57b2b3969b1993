import { BehaviorSubject } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { IDBFactory } from 'fake-indexeddb';
import { closeDevices, device, heldAnswers, until, type Device } from '../helpers/harness.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const orderSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
type Order = z.infer<typeof orderSchema>;
const orders = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 120 });
/** The same resource keeping only 20 entities beyond what its queries show. */
const ordersKeeping20 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 20 });

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const open: Device[] = [];
const make = (overrides = {}) => {
  const d = device(server.apiUrl, { resources: [orders], ...overrides });
  open.push(d);
  return d;
};

beforeAll(async () => {
  server = await backend.start({ resources: [{ name: 'orders' }] });
  await backend.reset();
  await server.admin.seed('orders', 100_000);
}, 120_000);
afterAll(() => backend.close());
afterEach(async () => {
  await closeDevices(open);
});

const queries = (d: Device) => d.calls.filter((c) => c.startsWith('GET /api/orders?'));
const title = (n: number) => `Todo ${String(n).padStart(6, '0')}`;

function watch(d: Device, query: Parameters<ReturnType<Device['client']['resource']>['query$']>[0], resource = orders) {
  const states: Array<QueryState<Order>> = [];
  const sub = d.client.resource(resource).query$(query as never).subscribe((s) => states.push(s as QueryState<Order>));
  return { states, last: () => states.at(-1)!, stop: () => sub.unsubscribe() };
}

describe("load: 'on-demand' over 100,000 rows", () => {
  it('fetches the first page of a filtered, sorted query with one request of limit rows', async () => {
    const d = make();
    const q = watch(d, { where: { done: true }, orderBy: [['title', 'desc']], limit: 50 });
    await until(() => q.last().data.length === 50, 'the first page');
    expect(queries(d)).toEqual(['GET /api/orders?filter%5Bdone%5D=true&sort=-title%2Cid&limit=50']);
    expect(q.last().data[0]).toMatchObject({ title: title(100_000), done: true });
    expect(q.last().data[49]).toMatchObject({ title: title(99_902) });
    expect(q.last()).toMatchObject({ status: 'success', hasMore: true, isFetching: false });
    expect(q.states.some((s) => s.status === 'success' && s.data.length === 0)).toBe(false);
  });

  it('fetches a query ordered by the key descending in that order (it was sent ascending, and its scope then removed the rows it should show)', async () => {
    const d = make();
    const q = watch(d, { where: { done: true }, orderBy: [['id', 'desc']], limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the first page');
    expect(queries(d)).toEqual(['GET /api/orders?filter%5Bdone%5D=true&sort=-id&limit=5']);
    // Ids are the row numbers as text: the greatest even ones, compared as strings.
    expect(q.last().data.map((o) => o.id)).toEqual(['99998', '99996', '99994', '99992', '99990']);
    expect(q.last().hasMore).toBe(true);
  });

  it('shares identical queries in flight and fetches only the missing page when the limit grows', async () => {
    const d = make();
    const a = watch(d, { where: { done: false }, orderBy: 'title', limit: 20 });
    const b = watch(d, { where: { done: false }, orderBy: 'title', limit: 20 });
    await until(() => a.last().data.length === 20 && b.last().data.length === 20, 'both queries');
    expect(queries(d)).toHaveLength(1);
    const more = watch(d, { where: { done: false }, orderBy: 'title', limit: 30 });
    await until(() => more.last().data.length === 30, 'the grown query');
    const calls = queries(d);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatch(/cursor=[^&]+/);
    expect(calls[1]).toContain('limit=10');
    expect(more.last().data.map((o) => o.title)).toEqual(Array.from({ length: 30 }, (_, i) => title(2 * i + 1)));
  });

  it('shows a local write in every query it matches and removes it from those it leaves, before the server answers', async () => {
    const d = make();
    const doneQ = watch(d, { where: { done: true }, orderBy: 'title', limit: 5 });
    const openQ = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 });
    await until(() => doneQ.last().data.length === 5 && openQ.last().data.length === 5);
    d.online.next(false);
    const moving = doneQ.last().data[0]!;
    await d.client.resource(orders).update(moving.id, { done: false, title: 'Todo 000000' });
    expect(doneQ.last().data.map((o) => o.id)).not.toContain(moving.id);
    expect(openQ.last().data[0]).toMatchObject({ id: moving.id, title: 'Todo 000000' });
    expect(openQ.last().pendingIds.has(moving.id)).toBe(true);
    d.online.next(true);
    await d.client.flush();
    await server.admin.edit({ resource: 'orders', id: moving.id, patch: { done: true, title: moving.title } });
  });

  it('treats an answer as authoritative only inside its scope', async () => {
    const d = make();
    const inside = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    const outside = watch(d, { where: { done: false }, orderBy: 'title', limit: 10 });
    await until(() => inside.last().data.length === 10 && outside.last().data.length === 10);
    const gone = inside.last().data[3]!;
    const untouched = outside.last().data[3]!;
    await server.admin.edit({ resource: 'orders', id: gone.id, delete: true });
    await server.admin.edit({ resource: 'orders', id: untouched.id, delete: true });
    inside.stop();
    outside.stop();
    await d.clock.advance(60_000);
    const again = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    await until(() => !again.last().data.some((o) => o.id === gone.id), 'the refetch to remove the deleted order');
    expect(await d.client.resource(orders).get(untouched.id)).toBeDefined();
    await server.admin.edit({ resource: 'orders', create: gone });
    await server.admin.edit({ resource: 'orders', create: untouched });
  });

  it('keeps cacheLimit entities beyond what queries show, evicting the least recently shown, and refetches them when needed', async () => {
    const d = make({ resources: [ordersKeeping20] });
    const watchHere = (query: Parameters<typeof watch>[1]) => watch(d, query, ordersKeeping20);
    const first = watchHere({ where: { done: true }, orderBy: 'title', limit: 100 });
    await until(() => first.last().data.length === 100);
    first.stop();
    const second = watchHere({ where: { done: false }, orderBy: 'title', limit: 100 });
    await until(() => second.last().data.length === 100);
    await until(async () => (await d.client.resource(ordersKeeping20).list()).length <= 120, 'the eviction');
    const cached = await d.client.resource(ordersKeeping20).list();
    // The 100 shown are not counted: 20 of the page no query shows any more stay.
    expect(cached).toHaveLength(120);
    expect(cached.filter((o) => !o.done)).toHaveLength(100);
    expect(second.last().data).toHaveLength(100);
    await d.clock.advance(60_000);
    const back = watchHere({ where: { done: true }, orderBy: 'title', limit: 100 });
    await until(() => back.last().data.length === 100, 'the evicted page fetched again');
  });

  it('evicts nothing while what no query shows fits in cacheLimit, however much is shown', async () => {
    const d = make();
    const first = watch(d, { where: { done: true }, orderBy: 'title', limit: 100 });
    await until(() => first.last().data.length === 100);
    first.stop();
    const second = watch(d, { where: { done: false }, orderBy: 'title', limit: 100 });
    await until(() => second.last().data.length === 100);
    await d.client.flush();
    expect(await d.client.resource(orders).list()).toHaveLength(200);
  });

  it("one tab's eviction leaves what another tab shows in that tab's query", async () => {
    const shared = { indexedDB: new IDBFactory(), hub: new BroadcastHub(), locks: new FakeLocks(), clock: new ManualClock() };
    const tab = () => {
      const d = device(server.apiUrl, { resources: [ordersKeeping20], namespace: 'evicting', locks: shared.locks, BroadcastChannel: shared.hub.Channel }, shared.indexedDB, shared.clock);
      open.push(d);
      return d;
    };
    const a = tab();
    const b = tab();
    const shownInB = watch(b, { where: { done: true }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => shownInB.last().data.length === 100, 'the page in one tab');
    const first = watch(a, { where: { done: true }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => first.last().data.length === 100, 'the same page in the other');
    first.stop();
    const second = watch(a, { where: { done: false }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => second.last().data.length === 100);
    await until(async () => (await a.client.resource(ordersKeeping20).list()).length <= 120, 'the eviction in the other tab');
    // Whatever the other tab said since has been heard.
    await b.client.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shownInB.last().data).toHaveLength(100);

    // One of them is deleted on the server: not stored any more, yet the tab that shows it drops it.
    const gone = shownInB.last().data[0]!;
    await server.admin.edit({ resource: 'orders', id: gone.id, delete: true });
    await b.client.resource(ordersKeeping20).refresh();
    await until(() => !shownInB.last().data.some((o) => o.id === gone.id), 'the deletion in the tab that showed it');
    await server.admin.edit({ resource: 'orders', create: gone });
  });

  it("a tab back from suspension keeps what another tab evicted meanwhile, and its refetch drops what was deleted", async () => {
    const shared = { indexedDB: new IDBFactory(), hub: new BroadcastHub(), locks: new FakeLocks(), clock: new ManualClock() };
    const suspended = new BehaviorSubject(false);
    const tab = (more = {}) => {
      const d = device(server.apiUrl, { resources: [ordersKeeping20], namespace: 'suspending', locks: shared.locks, BroadcastChannel: shared.hub.Channel, ...more }, shared.indexedDB, shared.clock);
      open.push(d);
      return d;
    };
    const a = tab();
    const b = tab({ suspended });
    const page = { where: { done: true }, orderBy: 'title', limit: 100 } as const;
    const shownInB = watch(b, page, ordersKeeping20);
    await until(() => shownInB.last().data.length === 100, 'the page in the tab to suspend');
    suspended.next(true);
    shared.hub.drop = () => true; // a page in the back/forward cache hears nothing
    const first = watch(a, page, ordersKeeping20);
    await until(() => first.last().data.length === 100 && !first.last().isFetching, 'the same page fetched in the other tab');
    const gone = first.last().data[0]!;
    await server.admin.edit({ resource: 'orders', id: gone.id, delete: true });
    await a.client.resource(ordersKeeping20).refresh();
    await until(() => !first.last().data.some((o) => o.id === gone.id), 'the deletion in the other tab');
    first.stop();
    const second = watch(a, { where: { done: false }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => second.last().data.length === 100);
    await until(async () => (await a.client.resource(ordersKeeping20).list()).length <= 120, 'the eviction in the other tab');
    shared.hub.drop = () => false;
    const asked = queries(b).length;
    const shownBefore = shownInB.states.length;
    suspended.next(false);
    // Back: its query is fetched again, which says what is gone; what was only evicted stays shown.
    await until(() => queries(b).length > asked, 'the refetch on return');
    await until(() => !shownInB.last().data.some((o) => o.id === gone.id), 'the deletion in the returning tab');
    await b.client.flush();
    expect(shownInB.last().data).toHaveLength(100);
    // Never a hole meanwhile: only the deleted one left.
    expect(shownInB.states.slice(shownBefore).map((s) => s.data.length).filter((n) => n < 99)).toEqual([]);
    await server.admin.edit({ resource: 'orders', create: gone });
  });

  it('refresh() while the page is being fetched waits for that request and fetches again: a change made in between shows', async () => {
    const answers = heldAnswers();
    const d = make({ fetch: answers.fetch });
    answers.hold();
    const q = watch(d, { where: { done: true }, orderBy: [['title', 'desc']], limit: 10 });
    await until(() => queries(d).length === 1, 'the page requested');
    // Answered by the server already, held on its way: the edit below is not in it.
    const leaving = title(100_000);
    await server.admin.edit({ resource: 'orders', id: '100000', patch: { done: false } });
    const refreshed = d.client.resource(orders).refresh();
    answers.release();
    await refreshed;
    expect(queries(d)).toHaveLength(2);
    expect(q.last().data.map((o) => o.title)).not.toContain(leaving);
    await server.admin.edit({ resource: 'orders', id: '100000', patch: { done: true } });
  });

  it('offline, answers from what was loaded, says it is not fetching, and refetches when online', async () => {
    const d = make();
    const q = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    await until(() => q.last().data.length === 10);
    q.stop();
    d.online.next(false);
    await d.clock.advance(60_000);
    const offline = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    await until(() => offline.last().data.length === 10);
    expect(offline.last()).toMatchObject({ status: 'success', isFetching: false });
    const before = queries(d).length;
    d.online.next(true);
    await until(() => queries(d).length > before, 'a refetch once online');
  });

  it('filters a predicate where on the client, never sending it', async () => {
    const d = make();
    const endsInZero = (o: Order) => o.title.endsWith('0');
    const q = watch(d, { where: endsInZero as (o: object) => boolean, orderBy: 'title', limit: 50 });
    await until(() => queries(d).length === 1 && !q.last().isFetching);
    expect(queries(d)[0]).not.toContain('filter');
    expect(q.last().data.every((o) => o.title.endsWith('0'))).toBe(true);
  });
});
