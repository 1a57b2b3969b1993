import { BehaviorSubject, Subject } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type EntityState, type QueryState, type SyncStatus } from '../../src/index.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ResourceDefinition } from '../../src/types.js';
import { IDBFactory } from 'fake-indexeddb';
import { closeDevices, device, heldAnswers, until, type Device } from '../helpers/harness.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { getAllRaw, openRaw } from '../helpers/raw-idb.js';
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

/**
 * A fetch that, once told which requests to hold, holds each one's answer (read whole, so the
 * server computed it before the test's next step) until the test releases it: the order in which
 * answers reach the client is the test's, not the network's.
 */
function heldRequests(inner: typeof fetch = fetch) {
  const held: Array<{ url: string; answered: boolean; released: boolean; open: () => void }> = [];
  let holding: ((url: string) => boolean) | null = null;
  const wrapped = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = decodeURIComponent(request.url);
    if (!holding?.(url)) return inner(request);
    const entry = { url, answered: false, released: false, open: () => undefined as void };
    const gate = new Promise<void>((resolve) => (entry.open = resolve));
    held.push(entry);
    const answer = await inner(request);
    const body = await answer.text();
    entry.answered = true;
    await gate;
    return new Response(body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
  }) as typeof fetch;
  const waiting = (part: string) => held.filter((e) => !e.released && e.url.includes(part));
  return {
    fetch: wrapped,
    /** Holds the answers to the requests whose URL (decoded) contains `part`, from now on. */
    hold: (part: string) => void (holding = (url) => url.includes(part)),
    /** A request containing `part` has been answered by the server and is held. */
    answered: (part: string) => waiting(part).some((e) => e.answered),
    /** Lets the held answers containing `part` go, in the order given: in the same tick. */
    release: (...parts: string[]) => {
      holding = null;
      for (const part of parts) {
        for (const entry of waiting(part)) {
          entry.released = true;
          entry.open();
        }
      }
    },
  };
}

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

  it("status$.lastSyncedAt says when a page was last confirmed, as a pull's does", async () => {
    const d = make();
    const statuses: SyncStatus[] = [];
    d.client.status$.subscribe((s) => statuses.push(s));
    const q = watch(d, { where: { done: true }, orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the first page');
    expect(q.last().lastSyncedAt).toBe(d.clock.now());
    expect(statuses.at(-1)!.lastSyncedAt).toBe(d.clock.now());
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

  it('fetches a query again after the clock stepped back: pages fetched "in the future" are stale, not fresh for the size of the step', async () => {
    const d = make();
    const first = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    await until(() => first.last().data.length === 10);
    first.stop();
    expect(queries(d)).toHaveLength(1);
    d.clock.step(-3 * 3_600_000);
    await d.clock.advance(60_000);
    const again = watch(d, { where: { done: true }, orderBy: 'title', limit: 10 });
    await until(() => queries(d).length === 2, 'the refetch after the clock stepped back');
    await until(() => again.last().data.length === 10);
  });

  it("lets go of the pages of queries no one watches once they are stale (a search typed letter by letter kept one per keystroke for the session); within staleTimeMs they still serve a query subscribed again", async () => {
    const d = make();
    const kept = () => (d.client as unknown as { onDemand: { pageCount: number } }).onDemand.pageCount;
    const search = (n: number) => watch(d, { where: { title: title(n) }, orderBy: 'title', limit: 5 });
    for (let n = 1; n <= 20; n++) {
      const q = search(n);
      await until(() => q.last().data.length === 1 && !q.last().isFetching, `search ${n}`);
      q.stop();
    }
    expect(queries(d)).toHaveLength(20);
    expect(kept()).toBe(20);
    await d.clock.advance(20_000);
    const again = search(7);
    await until(() => again.last().data.length === 1 && !again.last().isFetching, 'the search subscribed again');
    again.stop();
    expect(queries(d)).toHaveLength(20);
    await d.clock.advance(20_000);
    const next = search(21);
    await until(() => next.last().data.length === 1 && !next.last().isFetching, 'the next search');
    expect(queries(d)).toHaveLength(21);
    expect(kept()).toBe(1);
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

  it("a page's scope removal judged before another answer committed a newer version of the entity leaves that version (it deleted it, and the other query lacked it for good)", async () => {
    const answers = heldRequests();
    const d = make({ fetch: answers.fetch });
    const open = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 });
    const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 5 });
    await until(() => open.last().data.length === 5 && done.last().data.length === 5 && !open.last().isFetching, 'both pages');
    const s0 = open.last().data[0]!;
    expect(s0).toMatchObject({ id: '1', done: false });
    // Done on the server: the next open page leaves it out, the next done page has it first.
    await server.admin.edit({ resource: 'orders', id: s0.id, patch: { done: true } });
    answers.hold('filter[done]=');
    const refreshed = d.client.resource(orders).refresh();
    await until(() => answers.answered('filter[done]=false') && answers.answered('filter[done]=true'), 'both answers held');
    // The done answer first: its commit is queued before the open answer's, which is judged (on
    // this tab's views, where s0 is still open at its old version) before the done answer commits.
    answers.release('filter[done]=true', 'filter[done]=false');
    await refreshed;
    await until(() => !open.last().isFetching && !done.last().isFetching, 'both pages fetched again');
    expect(open.last().data.map((o) => o.id)).not.toContain(s0.id);
    expect(done.last().data[0]).toMatchObject({ id: s0.id, done: true, version: s0.version + 1 });
    expect(await d.client.resource(orders).get(s0.id)).toMatchObject({ done: true, version: s0.version + 1 });
    await server.admin.edit({ resource: 'orders', id: s0.id, patch: { done: false } });
  });

  it("a create confirmed while a page was being fetched stays in that page's query: the answer, computed before it landed, does not remove it", async () => {
    const answers = heldRequests();
    const d = make({ fetch: answers.fetch });
    const q = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the page');
    answers.hold('filter[done]=false');
    const refreshed = d.client.resource(orders).refresh();
    await until(() => answers.answered('filter[done]=false'), 'the answer held');
    d.clock.jump(1); // the change below is made after the request
    // First in the page's order: inside the scope the answer speaks for, and missing from it.
    await d.client.resource(orders).create({ id: 'early', title: 'A new order', done: false }, { wait: 'server' });
    answers.release('filter[done]=false');
    try {
      await refreshed;
      await until(() => !q.last().isFetching, 'the page fetched again');
      expect(q.last().data[0]).toMatchObject({ id: 'early', title: 'A new order', version: 1 });
      expect(await d.client.resource(orders).get('early')).toMatchObject({ id: 'early', version: 1 });
    } finally {
      await server.admin.edit({ resource: 'orders', id: 'early', delete: true });
    }
  });

  it('says it is not fetching once two pages fetched at once are done, one evicting while the other commits (each saw the other in flight and left the flag set)', async () => {
    const answers = heldRequests();
    const d = make({ resources: [ordersKeeping20], fetch: answers.fetch });
    const first = watch(d, { where: { done: true }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => first.last().data.length === 100 && !first.last().isFetching, 'the page no query will show');
    first.stop();
    answers.hold('filter[done]=false');
    const up = watch(d, { where: { done: false }, orderBy: 'title', limit: 50 }, ordersKeeping20);
    const down = watch(d, { where: { done: false }, orderBy: [['title', 'desc']], limit: 50 }, ordersKeeping20);
    await until(() => answers.answered('sort=title') && answers.answered('sort=-title'), 'both answers held');
    // At once: the first answer to commit evicts what no query shows (100 > cacheLimit) while the
    // other commits, the other still in flight for each.
    answers.release('sort=title', 'sort=-title');
    await until(() => up.last().data.length === 50 && down.last().data.length === 50, 'both pages');
    await until(async () => (await d.client.resource(ordersKeeping20).list()).length <= 120, 'the eviction');
    await d.client.flush();
    await until(() => !up.last().isFetching && !down.last().isFetching, 'isFetching cleared once both requests are done');
    expect(up.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    expect(down.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    expect(queries(d)).toHaveLength(3);
  });

  it('two limits of one query fetched at once from the start: the shorter answer committing last leaves hasMore false for the longer one that found the end', async () => {
    const probes = ['hm-1', 'hm-2', 'hm-3'].map((id) => ({ id, title: 'ProbeHasMore', done: false }));
    for (const create of probes) await server.admin.edit({ resource: 'orders', create });
    const answers = heldRequests();
    const d = make({ fetch: answers.fetch });
    answers.hold('filter[title]=ProbeHasMore');
    const short = watch(d, { where: { title: 'ProbeHasMore' }, orderBy: 'id', limit: 2 });
    const long = watch(d, { where: { title: 'ProbeHasMore' }, orderBy: 'id', limit: 5 });
    await until(() => answers.answered('limit=2') && answers.answered('limit=5'), 'both answers held');
    // The server has 3: limit 5 finds the end (cursor null), limit 2 does not. The longer commits
    // first, the shorter (from the same start) after it.
    answers.release('limit=5');
    await until(() => long.last().data.length === 3, 'the longer page');
    answers.release('limit=2');
    await until(() => !short.last().isFetching && !long.last().isFetching, 'both pages');
    expect(long.last().data.map((o) => o.id)).toEqual(['hm-1', 'hm-2', 'hm-3']);
    expect(long.last().hasMore).toBe(false);
    expect(short.last().hasMore).toBe(true);
    // Loaded is what the longer answer reached (3, the end), not 2 + 3 with more to come.
    const four = watch(d, { where: { title: 'ProbeHasMore' }, orderBy: 'id', limit: 4 });
    await until(() => four.last().data.length === 3 && !four.last().isFetching, 'the limit of 4');
    expect(four.last().hasMore).toBe(false);
    expect(queries(d)).toHaveLength(2);
    for (const { id } of probes) await server.admin.edit({ resource: 'orders', id, delete: true });
  });

  it("an eviction picked before another answer committed leaves what that answer shows (it was not shown when picked, and the query lost it)", async () => {
    const answers = heldRequests();
    const d = make({ resources: [ordersKeeping20], fetch: answers.fetch });
    const first = watch(d, { where: { done: true }, orderBy: 'title', limit: 100 }, ordersKeeping20);
    await until(() => first.last().data.length === 100 && !first.last().isFetching, 'the page no query will show');
    expect(first.last().data[0]).toMatchObject({ id: '2', title: title(2) });
    first.stop();
    // Renamed on the server: the cached copy matches no query until the answer brings the new one.
    await server.admin.edit({ resource: 'orders', id: '2', patch: { title: 'Renamed000002' } });
    answers.hold('filter[title]=');
    const other = watch(d, { where: { title: title(1) } }, ordersKeeping20);
    const cached = watch(d, { where: { title: 'Renamed000002' } }, ordersKeeping20);
    await until(() => answers.answered('000001') && answers.answered('000002'), 'both answers held');
    // One tick, one row each: the first answer commits, then evicts (100 shown by no query >
    // cacheLimit 20, id '2' among the first to go) with the second answer's commit, which shows
    // id '2', queued before the eviction's.
    answers.release('000001', '000002');
    await until(() => !other.last().isFetching && !cached.last().isFetching && other.last().data.length === 1, 'both answers');
    await until(async () => (await d.client.resource(ordersKeeping20).list()).length <= 30, 'the eviction');
    await d.client.flush();
    expect(cached.last().data.map((o) => o.id)).toEqual(['2']);
    expect(cached.last().hasMore).toBe(false);
    await server.admin.edit({ resource: 'orders', id: '2', patch: { title: title(2) } });
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

  it('refetches a query grown past the server\'s largest page from its first row (refresh(), back online, staleTimeMs): the server answers a page at most and the rest follows by cursor (it answered 400, and the query showed the error)', async () => {
    const d = make();
    const first = watch(d, { where: { done: true }, orderBy: 'title', limit: 1000 });
    await until(() => first.last().data.length === 1000 && !first.last().isFetching, 'the first 1,000 rows');
    // Scrolled on: only the missing rows are asked for, after the cursor.
    const grown = watch(d, { where: { done: true }, orderBy: 'title', limit: 1200 });
    await until(() => grown.last().data.length === 1200 && !grown.last().isFetching, 'the next 200 rows');
    await d.client.resource(orders).refresh();
    expect(grown.last()).toMatchObject({ status: 'success', error: null, hasMore: true, isFetching: false });
    expect(grown.last().data).toHaveLength(1200);
    expect(grown.last().data.at(-1)).toMatchObject({ title: title(2400) });
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

describe("a page's scope removal, in the store", () => {
  it('judges again a record stored since at another version than it was judged at: kept once out of the scope, removed still in it, whatever the versions are', async () => {
    const callbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const store = new LocalStore(new IDBFactory(), 'judged', callbacks, { setTimer: new ManualClock().setTimer, now: () => 0, requestTimeoutMs: 30_000 });
    const schema = (version: z.ZodType) => z.object({ id: z.string(), title: z.string(), done: z.boolean(), version });
    const numbered = defineResource({ name: 'numbered', schema: schema(z.number()), load: 'on-demand' }) as unknown as ResourceDefinition<object>;
    const tagged = defineResource({ name: 'tagged', schema: schema(z.string()), load: 'on-demand' }) as unknown as ResourceDefinition<object>;
    for (const [def, judged, since] of [
      [numbered, 8, 9],
      [tagged, 'W/"a"', 'W/"b"'],
    ] as const) {
      const order = (id: string, version: number | string, done = false) => ({ id, title: id, done, version });
      await store.applyPull(def, [order('left', judged), order('same', judged), order('unheard', judged)], { authoritative: false });
      // All judged gone (open, absent from an open page) at `judged`. Since, an answer stored
      // `left` done (out of the page's scope) and `unheard` still open (the judging view had
      // not heard of it); `same` is as judged.
      await store.applyPull(def, [order('left', since, true), order('unheard', since)], { authoritative: false });
      // The page's judgment, as OnDemandLoader makes it: the version judged, or another still open.
      const stillGone = (_id: string, stored: Record<string, unknown>) => Object.is(stored['version'], judged) || stored['done'] === false;
      const result = await store.applyPull(def, [], { authoritative: false, deleted: ['left', 'same', 'unheard'], stillGone });
      expect(result.changes).toEqual([
        { r: def.name, id: 'same', view: null },
        { r: def.name, id: 'unheard', view: null },
      ]);
      const { records } = await store.loadResource(def.name);
      expect(records.map((r) => [r.id, r.base])).toEqual([['left', order('left', since, true)]]);
    }
    store.close();
  });
});

const STUB_API = 'http://api.test/api';
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const rowsOf = (n: number): Order[] => Array.from({ length: n }, (_, i) => ({ id: `o${i}`, title: `T${String(i).padStart(3, '0')}`, done: false, version: 1 }));

/** A small on-demand server over `rows`: filter[done], sorted by title then id, limit, cursor = offset. */
function onDemandApi(rows: Order[]): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    if (request.method !== 'GET' || url.pathname !== '/api/orders') return json({ error: 'no route' }, 404);
    const done = url.searchParams.get('filter[done]');
    const all = rows.filter((r) => done === null || String(r.done) === done).sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : a.id < b.id ? -1 : 1));
    const offset = Number(url.searchParams.get('cursor') ?? 0);
    const limit = Number(url.searchParams.get('limit'));
    return json({ items: all.slice(offset, offset + limit), cursor: offset + limit < all.length ? String(offset + limit) : null });
  };
}

/** A page answer of `fetchImpl` rewritten by `edit` while `edit` is set. */
function rewritten(fetchImpl: typeof fetch) {
  const state: { edit: ((body: { items: Array<Record<string, unknown>>; cursor: string | null }) => void) | null } = { edit: null };
  const wrapped: typeof fetch = async (input, init) => {
    const answer = await fetchImpl(input, init);
    if (!state.edit || !answer.ok) return answer;
    const body = (await answer.json()) as { items: Array<Record<string, unknown>>; cursor: string | null };
    state.edit(body);
    return json(body);
  };
  return { fetch: wrapped, state };
}

async function storedIds(factory: IDBFactory): Promise<string[]> {
  const db = await openRaw(factory, 'harborsync:default');
  const entities = await getAllRaw<{ id: string; view: object | null }>(db, 'entities');
  db.close();
  return entities.filter((e) => e.view !== null).map((e) => e.id).sort();
}

describe("an on-demand page's scope, on a small server", () => {
  const makeOver = (fetchImpl: typeof fetch) => {
    const d = device(STUB_API, { fetch: fetchImpl, resources: [orders] });
    open.push(d);
    return d;
  };

  it('get$ alone (it fetches no page) says it is not fetching once the cache is loaded: no spinner for ever, no request', async () => {
    const api = rewritten(onDemandApi(rowsOf(5)));
    const d = makeOver(api.fetch);
    const states: Array<EntityState<Order>> = [];
    d.client.resource(orders).get$('o1').subscribe((s) => states.push(s));
    await until(() => states.length > 1, 'the cache loaded');
    await settle();
    expect(states.at(-1)).toMatchObject({ data: undefined, status: 'success', isFetching: false });
    expect(d.calls).toEqual([]);
  });

  it('an item of a page that fails the schema keeps its cached copy: it is not absent from the page (RELIABILITY 44)', async () => {
    const api = rewritten(onDemandApi(rowsOf(5)));
    const d = makeOver(api.fetch);
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the first page');
    api.state.edit = (body) => (body.items = body.items.map((item) => (item['id'] === 'o2' ? { ...item, title: 42, version: 2 } : item)));
    await d.client.resource(orders).refresh();
    expect(d.events.some((e) => e.type === 'schemaError')).toBe(true);
    expect(q.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    expect(q.last().data[2]).toMatchObject({ title: 'T002', version: 1 });
    expect(await storedIds(d.indexedDB)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    // Last of its page, it is still there for the next page, whose range starts after the last valid item.
    const byPage = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 });
    await until(() => d.calls.some((c) => c.includes('filter')) && !byPage.last().isFetching, 'the first page of three');
    byPage.stop();
    const grown = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 });
    await until(() => d.calls.some((c) => c.includes('cursor=3')) && !grown.last().isFetching, 'the next page');
    expect(grown.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    expect(await storedIds(d.indexedDB)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
  });

  it('a page with no items that says the server has more covers nothing: it removes no cached entity, nor does one whose items all fail the schema', async () => {
    const inner = onDemandApi(rowsOf(10));
    // A server that pages before filtering by permission: a page may hold nothing, with more to read.
    const fetchImpl: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const sort = new URL(request.url).searchParams.get('sort');
      if (sort === '-title,id') return json({ items: [], cursor: 'next' });
      if (sort === '-id') return json({ items: [{ id: 'o9', title: 42, done: false, version: 2 }], cursor: 'next' });
      return inner(request);
    };
    const d = makeOver(fetchImpl);
    const all = watch(d, { orderBy: 'title', limit: 10 });
    await until(() => all.last().data.length === 10 && !all.last().isFetching, 'every row');
    const empty = watch(d, { orderBy: [['title', 'desc']], limit: 2 });
    await until(() => d.calls.some((c) => c.includes('sort=-title')) && !empty.last().isFetching, 'the empty page');
    expect(empty.last()).toMatchObject({ hasMore: true });
    expect(all.last().data).toHaveLength(10);
    const invalid = watch(d, { orderBy: [['id', 'desc']], limit: 2 });
    await until(() => d.events.some((e) => e.type === 'schemaError') && !invalid.last().isFetching, 'the page of invalid items');
    expect(all.last().data).toHaveLength(10);
    expect(await storedIds(d.indexedDB)).toEqual(rowsOf(10).map((o) => o.id).sort());
  });

  it('a page whose items after the first fail the schema (a server deployed ahead of the app) is not followed page after page through the whole table: they take their places', async () => {
    const api = rewritten(onDemandApi(rowsOf(100)));
    api.state.edit = (body) => (body.items = body.items.map((item) => (item['id'] === 'o0' ? item : { ...item, title: 42 })));
    const d = makeOver(api.fetch);
    const q = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => d.events.some((e) => e.type === 'schemaError') && !q.last().isFetching, 'the first page');
    await settle();
    expect(q.last()).toMatchObject({ status: 'success', hasMore: true, isFetching: false });
    expect(q.last().data.map((o) => o.id)).toEqual(['o0']);
    expect(queries(d)).toEqual(['GET /api/orders?sort=title%2Cid&limit=3']);
  });

  it('a page with no items that says the server has no more removes what follows the previous page: the end', async () => {
    const rows = rowsOf(5);
    const d = makeOver(onDemandApi(rows));
    const all = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => all.last().data.length === 5 && !all.last().isFetching, 'every row');
    const first = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 });
    await until(() => d.calls.some((c) => c.includes('filter')) && !first.last().isFetching, 'the first page of three');
    first.stop();
    rows.splice(3);
    const grown = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 });
    await until(() => d.calls.some((c) => c.includes('cursor=3')) && !grown.last().isFetching, 'the empty last page');
    expect(grown.last()).toMatchObject({ hasMore: false });
    expect(grown.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2']);
    expect(await storedIds(d.indexedDB)).toEqual(['o0', 'o1', 'o2']);
  });

  it('after clear(), here or in another tab, a query subscribed through it loads its page again, and so does a new subscriber, at once', async () => {
    const api = onDemandApi(rowsOf(10));
    const shared = { indexedDB: new IDBFactory(), hub: new BroadcastHub(), locks: new FakeLocks(), clock: new ManualClock() };
    const tab = () => {
      const d = device(STUB_API, { fetch: api, resources: [orders], locks: shared.locks, BroadcastChannel: shared.hub.Channel }, shared.indexedDB, shared.clock);
      open.push(d);
      return d;
    };
    const a = tab();
    const b = tab();
    const pages = (d: Device) => d.calls.filter((c) => c.startsWith('GET /api/orders?')).length;
    const through = watch(a, { orderBy: 'title', limit: 5 });
    const other = watch(b, { orderBy: 'title', limit: 5 });
    await until(() => through.last().data.length === 5 && other.last().data.length === 5, 'the page in both tabs');
    const [fetchedA, fetchedB] = [pages(a), pages(b)];
    await a.client.clear();
    await until(() => pages(a) > fetchedA && pages(b) > fetchedB, 'each tab fetching its page again');
    for (const q of [through, other]) {
      await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the page again');
      expect(q.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    }
    // No query watches any more: a new subscriber after clear() finds its page loaded no longer.
    through.stop();
    other.stop();
    await a.client.clear();
    const after = pages(a);
    const fresh = watch(a, { orderBy: 'title', limit: 5 });
    await until(() => fresh.last().data.length === 5 && !fresh.last().isFetching, 'the page for a new subscriber');
    expect(pages(a)).toBe(after + 1);
    expect(fresh.last()).toMatchObject({ status: 'success', hasMore: true });
  });

  it('lastSyncedAt of a page outlives a reopen, as a pull\'s does (it came back null: "never synced" beside the cached rows)', async () => {
    const d = makeOver(onDemandApi(rowsOf(3)));
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the page');
    const confirmedAt = q.last().lastSyncedAt;
    expect(confirmedAt).toBe(d.clock.now());
    q.stop();
    await d.client.close();
    d.clock.jump(1_000);
    const again = d.reopen({ online: new BehaviorSubject(false) });
    open.push(again);
    const cached = watch(again, { orderBy: 'title', limit: 5 });
    await until(() => cached.last().data.length === 3, 'the cached page');
    expect(cached.last()).toMatchObject({ status: 'success', isFetching: false, lastSyncedAt: confirmedAt });
  });

  it('says it is fetching while one page is in flight and another fails (the failure said it was not)', async () => {
    const inner = onDemandApi(rowsOf(10));
    const failing: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      return new URL(request.url).searchParams.get('sort') === '-title,id' ? json({ error: 'no such order' }, 400) : inner(request);
    };
    const answers = heldRequests(failing);
    const d = makeOver(answers.fetch);
    answers.hold('sort=title');
    const held = watch(d, { orderBy: 'title', limit: 3 });
    const failed = watch(d, { orderBy: [['title', 'desc']], limit: 3 });
    await until(() => answers.answered('sort=title') && failed.last().error !== null, 'one answer held, the other failed');
    expect(held.last()).toMatchObject({ isFetching: true, data: [] });
    answers.release('sort=title');
    await until(() => held.last().data.length === 3 && !held.last().isFetching, 'the held page');
    expect(held.last()).toMatchObject({ status: 'success', error: null });
  });

  it('a page requested again from the start while the first request is in flight (back online) says what its answer found: no more (it shared that request, which filled the pages it replaced)', async () => {
    const answers = heldRequests(onDemandApi(rowsOf(3)));
    const d = makeOver(answers.fetch);
    answers.hold('sort=title');
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => answers.answered('sort=title'), 'the first answer held');
    d.online.next(false);
    d.online.next(true);
    answers.release('sort=title');
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the page');
    await d.client.flush();
    expect(q.last().hasMore).toBe(false);
    // What is loaded is known: a wider limit asks for nothing more.
    const before = d.calls.length;
    const wider = watch(d, { orderBy: 'title', limit: 8 });
    await until(() => wider.last().data.length === 3 && !wider.last().isFetching, 'the wider query');
    expect(wider.last().hasMore).toBe(false);
    expect(d.calls.slice(before)).toEqual([]);
  });

  it('a page request that fails after its pages were fetched again (back online while it hung) leaves the query without its error: the fresh page succeeded', async () => {
    const api = onDemandApi(rowsOf(5));
    let fail = (_error: Error) => undefined as void;
    let hung = false;
    // The first request hangs on the dead connection and fails later; the ones after it go through.
    const fetchImpl: typeof fetch = async (input, init) => {
      if (hung) return api(input, init);
      hung = true;
      return new Promise<Response>((_resolve, reject) => (fail = reject));
    };
    const d = makeOver(fetchImpl);
    const q = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => hung, 'the first request hung');
    d.online.next(false);
    d.online.next(true);
    await until(() => q.last().data.length === 3, 'the page fetched again once online');
    fail(new TypeError('Failed to fetch'));
    await until(() => !q.last().isFetching, 'the hung request given up');
    await d.client.flush();
    expect(q.last()).toMatchObject({ status: 'success', error: null, hasMore: true });
    expect(q.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2']);
  });

  it('a network flapping while the page fetched again on its way back online is out fetches it once more after that request, not once per flip (10 flips made 11 identical requests)', async () => {
    const rows = rowsOf(5);
    const answers = heldRequests(onDemandApi(rows));
    const d = makeOver(answers.fetch);
    answers.hold('sort=title');
    const q = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => answers.answered('sort=title'), 'the first request held');
    for (let flip = 0; flip < 10; flip++) {
      d.online.next(false);
      await settle();
      d.online.next(true);
      await settle();
    }
    await until(() => queries(d).length >= 2 && answers.answered('sort=title'), 'the page fetched again at once');
    await settle();
    expect(queries(d)).toHaveLength(2);
    // Changed after the last flip: only a request sent after it has it.
    rows[0] = { ...rows[0]!, title: 'T000 renamed', version: 2 };
    answers.release('sort=title');
    await until(() => q.last().data[0]?.title === 'T000 renamed' && !q.last().isFetching, 'the page fetched once more');
    await d.client.flush();
    expect(queries(d)).toEqual(Array.from({ length: 3 }, () => 'GET /api/orders?sort=title%2Cid&limit=3'));
    expect(q.last()).toMatchObject({ status: 'success', error: null, hasMore: true });
  });

  it('a page request that fails after an eviction forgot its pages (none fetched since) still shows its error', async () => {
    const keeping0 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 0 });
    const inner = onDemandApi(rowsOf(8).map((o, i) => ({ ...o, done: i === 7 })));
    const failing: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      return new URL(request.url).searchParams.get('cursor') === '6' ? json({ error: 'boom' }, 500) : inner(request);
    };
    const answers = heldRequests(failing);
    const d = device(STUB_API, { fetch: answers.fetch, resources: [keeping0] });
    open.push(d);
    const first = watch(d, { orderBy: 'title', limit: 6 }, keeping0);
    await until(() => first.last().data.length === 6 && !first.last().isFetching, 'the first rows');
    first.stop();
    answers.hold('cursor=6');
    // Its next page is in flight; it does not show o4 and o5.
    const picky = watch(d, { where: (o: object) => !['o4', 'o5'].includes((o as Order).id), orderBy: 'title', limit: 8 }, keeping0);
    await until(() => answers.answered('cursor=6'), 'the next page held');
    // Its answer evicts o4 and o5, which the pages of the request in flight held.
    const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 1 }, keeping0);
    await until(() => done.last().data.length === 1, 'the page that evicts');
    await until(async () => (await d.client.resource(keeping0).list()).length === 5, 'the eviction');
    answers.release('cursor=6');
    await until(() => !picky.last().isFetching, 'the next page failed');
    expect(picky.last().error).toMatchObject({ name: 'HttpError', status: 500 });
  });

  it('an eviction forgets only the pages whose range held what it evicted: a shown query raising its limit still fetches only the missing page', async () => {
    const keeping2 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 2 });
    const d = device(STUB_API, { fetch: onDemandApi(rowsOf(10)), resources: [keeping2] });
    open.push(d);
    const pages = () => d.calls.filter((c) => c.startsWith('GET /api/orders?'));
    const shown = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 }, keeping2);
    await until(() => shown.last().data.length === 3 && !shown.last().isFetching, 'the shown page');
    const other = watch(d, { orderBy: 'title', limit: 8 }, keeping2);
    await until(() => other.last().data.length === 8 && !other.last().isFetching, 'the page no query will show');
    other.stop();
    // Its answer evicts 3 of the 5 no query shows (o3 to o5): past the shown page's range.
    const third = watch(d, { where: { done: false }, orderBy: 'id', limit: 1 }, keeping2);
    await until(() => third.last().data.length === 1 && !third.last().isFetching, 'the page that evicts');
    await until(async () => (await d.client.resource(keeping2).list()).length === 5, 'the eviction');
    let asked = pages().length;
    const grown = watch(d, { where: { done: false }, orderBy: 'title', limit: 5 }, keeping2);
    await until(() => pages().length > asked && !grown.last().isFetching, 'the grown page');
    expect(pages().slice(asked)).toEqual(['GET /api/orders?filter%5Bdone%5D=false&sort=title%2Cid&limit=2&cursor=3']);
    expect(grown.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    // The page whose range held them is fetched again when shown.
    asked = pages().length;
    const again = watch(d, { orderBy: 'title', limit: 8 }, keeping2);
    await until(() => pages().length > asked && !again.last().isFetching, 'the evicted page again');
    expect(pages().slice(asked)).toEqual(['GET /api/orders?sort=title%2Cid&limit=8']);
    expect(again.last().data).toHaveLength(8);
  });

  it('offline, a query subscribed again says the server has more, as it did online (it said hasMore: false)', async () => {
    const d = makeOver(onDemandApi(rowsOf(10)));
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the first page');
    expect(q.last().hasMore).toBe(true);
    q.stop();
    d.online.next(false);
    const again = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => again.last().data.length === 5, 'the cached page');
    await d.client.flush();
    expect(again.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
  });

  it('refresh() also makes a query no one watched at the call fetch again when subscribed (it showed what was fetched before the call, within staleTimeMs)', async () => {
    const rows = rowsOf(10);
    const d = makeOver(onDemandApi(rows));
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => q.last().data.length === 5 && !q.last().isFetching, 'the first page');
    q.stop();
    rows[0] = { ...rows[0]!, title: 'T000 renamed', version: 2 };
    await d.client.resource(orders).refresh();
    const asked = d.calls.length;
    const again = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => d.calls.length > asked && !again.last().isFetching, 'the page fetched again');
    expect(again.last().data[0]).toMatchObject({ id: 'o0', title: 'T000 renamed', version: 2 });
  });

  it('evicts the rows shown least recently, counting until they stopped being shown: the query and the entity closed last stay (a tie evicted by id)', async () => {
    const keeping1 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 1 });
    const rows = rowsOf(10).map((o, i) => ({ ...o, done: i >= 6 }));
    const d = device(STUB_API, { fetch: onDemandApi(rows), resources: [keeping1] });
    open.push(d);
    const cached = async () => (await d.client.resource(keeping1).list()).map((o) => o.id);
    const list = watch(d, { where: { done: false }, orderBy: 'title', limit: 2 }, keeping1);
    await until(() => list.last().data.length === 2 && !list.last().isFetching, 'the list');
    const detail = d.client.resource(keeping1).get$('o0').subscribe();
    const wider = watch(d, { orderBy: 'title', limit: 4 }, keeping1);
    await until(() => wider.last().data.length === 4 && !wider.last().isFetching, 'the wider list');
    // Closed in this order, nothing changing in between: o2 and o3 go out of sight first, o1
    // next, o0 last.
    wider.stop();
    list.stop();
    detail.unsubscribe();
    const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 2 }, keeping1);
    await until(() => done.last().data.length === 2 && !done.last().isFetching, 'the page that evicts');
    await until(async () => (await cached()).length === 3, 'the eviction');
    expect(await cached()).toEqual(['o0', 'o6', 'o7']);
  });

  it('a page requested before clear() (logout) and answered after it is not cached: the deleted data does not come back', async () => {
    const answers = heldRequests(onDemandApi(rowsOf(5)));
    const d = makeOver(answers.fetch);
    answers.hold('sort=title');
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => answers.answered('sort=title'), 'the answer held');
    q.stop();
    await d.client.clear();
    const events = d.events.length;
    answers.release('sort=title');
    // Waits for the requests in flight.
    await d.client.resource(orders).refresh();
    await d.client.flush();
    expect(await d.client.resource(orders).list()).toEqual([]);
    expect(await storedIds(d.indexedDB)).toEqual([]);
    expect(d.events.slice(events).filter((e) => e.type === 'pulled')).toEqual([]);
  });

  it('fills its limit from a server that answers fewer rows than asked with more to come (it showed the first answer\'s rows, hasMore, and asked for nothing more)', async () => {
    const inner = onDemandApi(rowsOf(10));
    // A server whose pages hold at most 3 rows, whatever the limit asked.
    const capped: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      url.searchParams.set('limit', String(Math.min(3, Number(url.searchParams.get('limit')))));
      return inner(url.toString(), init);
    };
    const d = makeOver(capped);
    const q = watch(d, { orderBy: 'title', limit: 8 });
    await until(() => q.last().data.length === 8 && !q.last().isFetching, 'the limit filled');
    expect(q.last()).toMatchObject({ status: 'success', hasMore: true });
    // Fetching until then: no state says it is done with 3 or 6 rows.
    expect(q.states.filter((s) => s.status === 'success' && !s.isFetching && s.data.length < 8)).toEqual([]);
    expect(d.calls.filter((c) => c.startsWith('GET /api/orders?'))).toEqual([
      'GET /api/orders?sort=title%2Cid&limit=8',
      'GET /api/orders?sort=title%2Cid&limit=5&cursor=3',
      'GET /api/orders?sort=title%2Cid&limit=2&cursor=6',
    ]);
  });

  it('a page cursor the server no longer knows (410: expired) is dropped: the query fetches from its first row again, where it failed each time its limit grew until staleTimeMs', async () => {
    const inner = onDemandApi(rowsOf(10));
    const expired = new Set<string>();
    const expiring: typeof fetch = async (input, init) => {
      const cursor = new URL(input instanceof Request ? input.url : String(input)).searchParams.get('cursor');
      return cursor !== null && expired.has(cursor) ? json({ error: 'cursor expired' }, 410) : inner(input, init);
    };
    const d = makeOver(expiring);
    const pages = () => d.calls.filter((c) => c.startsWith('GET /api/orders?'));
    const first = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => first.last().data.length === 3 && !first.last().isFetching, 'the first page');
    expired.add('3');
    const grown = watch(d, { orderBy: 'title', limit: 6 });
    await until(() => pages().length >= 2 && !grown.last().isFetching, 'the grown query');
    expect(grown.last()).toMatchObject({ status: 'success', error: null, hasMore: true });
    expect(grown.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
    expect(pages()).toEqual([
      'GET /api/orders?sort=title%2Cid&limit=3',
      'GET /api/orders?sort=title%2Cid&limit=3&cursor=3',
      'GET /api/orders?sort=title%2Cid&limit=6',
    ]);
    // The fresh pages' cursor goes on from there.
    const more = watch(d, { orderBy: 'title', limit: 8 });
    await until(() => more.last().data.length === 8 && !more.last().isFetching, 'the next page');
    expect(pages().at(-1)).toBe('GET /api/orders?sort=title%2Cid&limit=2&cursor=6');
  });

  it('a query subscribed again after staleTimeMs fetches its first page again, though a later page of the same query was fetched within it (the rows fetched first were served as fresh)', async () => {
    const rows = rowsOf(10);
    const d = makeOver(onDemandApi(rows));
    const pages = () => d.calls.filter((c) => c.startsWith('GET /api/orders?'));
    const first = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => first.last().data.length === 3 && !first.last().isFetching, 'the first page');
    first.stop();
    await d.clock.advance(25_000);
    const grown = watch(d, { orderBy: 'title', limit: 6 });
    await until(() => pages().length === 2 && !grown.last().isFetching, 'the next page');
    grown.stop();
    rows[0] = { ...rows[0]!, title: 'T000 renamed', version: 2 };
    // The first page is 35 s old now (staleTimeMs 30 s), the next one 10 s.
    await d.clock.advance(10_000);
    const again = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => pages().length === 3 && !again.last().isFetching, 'the first page fetched again');
    expect(pages()[2]).toBe('GET /api/orders?sort=title%2Cid&limit=3');
    expect(again.last().data[0]).toMatchObject({ id: 'o0', title: 'T000 renamed', version: 2 });
  });

  it('a page back to the foreground fetches again the pages its queries show that are older than staleTimeMs; fresher ones are served without a request', async () => {
    const rows = rowsOf(10);
    const foreground = new Subject<void>();
    const d = device(STUB_API, { fetch: onDemandApi(rows), resources: [orders], foreground });
    open.push(d);
    const q = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the first page');
    rows[0] = { ...rows[0]!, title: 'T000 renamed', version: 2 };
    await d.clock.advance(20_000);
    foreground.next();
    await settle();
    expect(queries(d)).toHaveLength(1);
    await d.clock.advance(10_001);
    foreground.next();
    await until(() => q.last().data[0]?.title === 'T000 renamed' && !q.last().isFetching, 'the page fetched again');
    expect(queries(d)).toEqual(['GET /api/orders?sort=title%2Cid&limit=3', 'GET /api/orders?sort=title%2Cid&limit=3']);
  });

  it('a fetched page says whether the server has more as it stops fetching: no state in between says it has no more (hasMore: false, not fetching, then true)', async () => {
    const d = makeOver(onDemandApi(rowsOf(10)));
    // The first query of the resource, then another once the first is fetched.
    for (const query of [{ orderBy: 'title', limit: 3 }, { where: { done: false }, orderBy: 'title', limit: 3 }] as const) {
      const q = watch(d, query);
      await until(() => q.last().data.length === 3 && !q.last().isFetching && q.last().hasMore, 'the page');
      const sinceFetching = q.states.slice(q.states.findIndex((s) => s.isFetching));
      expect(sinceFetching.filter((s) => !s.isFetching && !s.hasMore)).toEqual([]);
    }
  });

  it('a page requested before clear() and answered after the page fetched again says nothing of what the server has: the query keeps hasMore: false (it said true for good)', async () => {
    const api = onDemandApi(rowsOf(3));
    let release = () => undefined as void;
    let held = false;
    // The first request's answer, computed, waits for the test; the ones after it go through.
    const fetchImpl: typeof fetch = async (input, init) => {
      const answer = await api(input, init);
      if (!held) {
        held = true;
        await new Promise<void>((resolve) => (release = resolve));
      }
      return answer;
    };
    const d = makeOver(fetchImpl);
    const q = watch(d, { orderBy: 'title', limit: 5 });
    await until(() => held, 'the first answer held');
    await d.client.clear();
    await until(() => q.last().data.length === 3 && !q.last().hasMore, 'the page fetched again: the server has no more');
    release();
    await until(() => !q.last().isFetching, 'the first answer');
    await d.client.flush();
    expect(d.calls.filter((c) => c.startsWith('GET /api/orders?'))).toHaveLength(2);
    expect(q.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: false });
  });

  it('a query subscribed once its resource is loaded says it is fetching from its first state: never an empty success, not fetching, before its page comes', async () => {
    const d = makeOver(onDemandApi(rowsOf(10).map((o, i) => ({ ...o, done: i % 2 === 0 }))));
    const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 3 });
    await until(() => done.last().data.length === 3 && !done.last().isFetching, 'the first query');
    const open = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 });
    expect(open.states[0]).toMatchObject({ status: 'success', data: [], isFetching: true });
    await until(() => open.last().data.length === 3 && !open.last().isFetching, 'the other query');
    expect(open.states.filter((s) => !s.isFetching && s.data.length === 0)).toEqual([]);
  });

  it('a query with limit: 0 subscribed once its resource is loaded never says it is fetching: none is made', async () => {
    const d = makeOver(onDemandApi(rowsOf(10)));
    const first = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => first.last().data.length === 3 && !first.last().isFetching, 'the first page');
    const asked = d.calls.length;
    const none = watch(d, { where: { done: true }, orderBy: 'title', limit: 0 });
    await d.client.flush();
    await settle(5);
    expect(none.states.filter((s) => s.isFetching)).toEqual([]);
    expect(none.last()).toMatchObject({ status: 'success', data: [], isFetching: false, hasMore: true });
    expect(d.calls.slice(asked)).toEqual([]);
  });

  it('a query subscribed again within staleTimeMs says from its first state that the server has more, online or offline (it said hasMore: false until its load ended)', async () => {
    const d = makeOver(onDemandApi(rowsOf(10)));
    const first = watch(d, { orderBy: 'title', limit: 3 });
    await until(() => first.last().data.length === 3 && !first.last().isFetching && first.last().hasMore, 'the first page');
    first.stop();
    const asked = d.calls.length;
    const again = watch(d, { orderBy: 'title', limit: 3 });
    expect(again.states[0]).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    expect(again.states[0]!.data).toHaveLength(3);
    again.stop();
    d.online.next(false);
    const offline = watch(d, { orderBy: 'title', limit: 3 });
    expect(offline.states[0]).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    await d.client.flush();
    expect(offline.states.filter((s) => !s.hasMore)).toEqual([]);
    expect(d.calls.slice(asked)).toEqual([]);
  });

  it('a shown query whose rows beyond its limit are evicted still says the server has more (it said hasMore: false once the cache held no more than it shows)', async () => {
    const keeping0 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 0 });
    // Seven open orders, one done.
    const rows = rowsOf(8).map((o, i) => ({ ...o, done: i === 7 }));
    // The shown query subscribed before, or after, a wider one of the same filter loads them all.
    for (const shownFirst of [true, false]) {
      const d = device(STUB_API, { fetch: onDemandApi(rows), resources: [keeping0] });
      open.push(d);
      const shownQuery = { where: { done: false }, orderBy: 'title', limit: 5 } as const;
      let shown = shownFirst ? watch(d, shownQuery, keeping0) : null;
      if (shown) await until(() => shown!.last().data.length === 5 && !shown!.last().isFetching, 'the shown page');
      const wider = watch(d, { where: { done: false }, orderBy: 'title', limit: 10 }, keeping0);
      await until(() => wider.last().data.length === 7 && !wider.last().isFetching && !wider.last().hasMore, 'every open order');
      shown ??= watch(d, shownQuery, keeping0);
      await until(() => shown!.last().data.length === 5 && !shown!.last().isFetching, 'the shown page');
      expect(shown.last().hasMore).toBe(true);
      wider.stop();
      // Its answer evicts what no query shows: the two open orders past the shown five.
      const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 1 }, keeping0);
      await until(() => done.last().data.length === 1 && !done.last().isFetching, 'the page that evicts');
      await until(async () => (await d.client.resource(keeping0).list()).length === 6, 'the eviction');
      await d.client.flush();
      expect(shown.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
      expect(shown.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    }
  });

  it('an eviction judged on a predicate query whose function throws on an evicted row still forgets the other pages it emptied: a query shown again fetches its rows (it showed them missing, hasMore: false)', async () => {
    const keeping0 = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 0 });
    // Seven open orders, one done.
    const rows = rowsOf(8).map((o, i) => ({ ...o, done: i === 7 }));
    const d = device(STUB_API, { fetch: onDemandApi(rows), resources: [keeping0] });
    open.push(d);
    // An app predicate that cannot read one row: its query leaves it out and carries the error.
    const readable = (o: object) => {
      if ((o as Order).id === 'o5') throw new Error('cannot read o5');
      return true;
    };
    const picky = watch(d, { where: readable, orderBy: 'title', limit: 5 }, keeping0);
    await until(() => picky.last().data.length === 5 && !picky.last().isFetching, 'the predicate page');
    const openQuery = { where: { done: false }, orderBy: 'title', limit: 7 } as const;
    const opened = watch(d, openQuery, keeping0);
    await until(() => opened.last().data.length === 7 && !opened.last().isFetching, 'every open order');
    // The unfiltered pages (the predicate's) reach o5 and past it.
    const all = watch(d, { orderBy: 'title', limit: 8 }, keeping0);
    await until(() => all.last().data.length === 8 && !all.last().isFetching, 'every order');
    all.stop();
    opened.stop();
    // Its answer evicts what no query shows: o5 and o6.
    const done = watch(d, { where: { done: true }, orderBy: 'title', limit: 1 }, keeping0);
    await until(() => done.last().data.length === 1 && !done.last().isFetching, 'the page that evicts');
    await until(async () => (await d.client.resource(keeping0).list()).length === 6, 'the eviction');
    expect(done.last().error).toBeNull();
    const again = watch(d, openQuery, keeping0);
    await until(() => !again.last().isFetching, 'the open orders again');
    await d.client.flush();
    await until(() => !again.last().isFetching, 'the open orders again');
    expect(again.last().data.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
  });

  it('a page answer the client cannot read (not JSON, or not { items, cursor }: a cursor missing or neither a string nor null) is reported on events$, as a pull\'s is (only the query\'s state carried the SchemaError)', async () => {
    const inner = onDemandApi(rowsOf(5));
    const fetchImpl: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const sort = new URL(request.url).searchParams.get('sort');
      if (sort === '-title,id') return json({ rows: [] });
      if (sort === '-id') return new Response('<html>maintenance</html>', { status: 200, headers: { 'content-type': 'text/html' } });
      if (sort === 'title,id') return json({ items: [], cursor: 7 });
      if (sort === 'id') return json({ items: [] });
      return inner(request);
    };
    const d = makeOver(fetchImpl);
    for (const orderBy of [[['title', 'desc']], [['id', 'desc']], [['title', 'asc']], [['id', 'asc']]] as const) {
      const events = d.events.length;
      const q = watch(d, { orderBy, limit: 3 });
      await until(() => q.last().error !== null && !q.last().isFetching, 'the page refused');
      expect(q.last().error).toMatchObject({ name: 'SchemaError' });
      expect(d.events.slice(events).filter((e) => e.type === 'error')).toEqual([{ type: 'error', at: d.clock.now(), resource: 'orders', error: q.last().error }]);
      q.stop();
    }
  });

  it('a predicate query subscribed again with another function (an inline one, rendered again) within staleTimeMs serves what was loaded without a request: the predicate is never sent', async () => {
    const d = makeOver(onDemandApi(rowsOf(10)));
    const pages = () => d.calls.filter((c) => c.startsWith('GET /api/orders?'));
    const first = watch(d, { where: (o: object) => (o as Order).title !== 'T001', orderBy: 'title', limit: 5 });
    await until(() => pages().length === 1 && !first.last().isFetching, 'the first page');
    first.stop();
    const again = watch(d, { where: (o: object) => (o as Order).title !== 'T001', orderBy: 'title', limit: 5 });
    const unfiltered = watch(d, { orderBy: 'title', limit: 5 });
    await d.client.flush();
    await until(() => !again.last().isFetching && !unfiltered.last().isFetching, 'both queries');
    expect(pages()).toEqual(['GET /api/orders?sort=title%2Cid&limit=5']);
    expect(again.last().data.map((o) => o.id)).toEqual(['o0', 'o2', 'o3', 'o4']);
    expect(again.last().hasMore).toBe(true);
  });
});

describe('on-demand pages on the reference server, ordered by a field of mixed values', () => {
  const markSchema = z.object({ id: z.string(), mark: z.union([z.string(), z.number(), z.boolean()]).nullable().optional(), version: z.number().int() });
  const marks = defineResource({ name: 'marks', schema: markSchema, load: 'on-demand' });

  it("pages ordered by a field some rows lack, some hold null, and others a string, a number or a boolean: each row once, in the server's order, none removed from the cache (the client ordered missing before null and booleans before numbers before strings, so a page's scope reached rows the server had not sent yet)", async () => {
    const marksServer = await backend.start({ resources: [{ name: 'marks' }] });
    const rows = [{ id: 'a', mark: null }, { id: 'b' }, { id: 'c', mark: 'x' }, { id: 'd', mark: 1 }, { id: 'e', mark: true }];
    for (const row of rows) {
      const reply = await fetch(`${marksServer.apiUrl}/marks`, {
        method: 'POST',
        headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': `mark-${row.id}` },
        body: JSON.stringify(row),
      });
      expect(reply.status).toBe(201);
    }
    const d = device(marksServer.apiUrl, { resources: [marks] });
    open.push(d);
    const all = watch(d, { orderBy: 'id', limit: 10 }, marks as never);
    await until(() => all.last().data.length === 5 && !all.last().isFetching, 'every row');
    // Postgres orders JSONB: null (and a missing field, read as null) < strings < numbers < booleans.
    for (const [limit, expected] of [[1, ['a']], [3, ['a', 'b', 'c']], [5, ['a', 'b', 'c', 'd', 'e']]] as const) {
      const pages = d.calls.filter((c) => c.includes('sort=mark')).length;
      const byMark = watch(d, { orderBy: 'mark', limit }, marks as never);
      await until(() => d.calls.filter((c) => c.includes('sort=mark')).length > pages && !byMark.last().isFetching, `the rows up to ${limit}`);
      expect(byMark.last().data.map((m) => m.id)).toEqual(expected);
      expect(all.last().data.map((m) => m.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
      byMark.stop();
    }
  });

  it("fills its limit when the server's filter also matches rows of another type (it sends the number 1 and the string '1' alike, as text): it showed fewer rows than its limit, hasMore, and asked for nothing more", async () => {
    const codes = defineResource({ name: 'codes', schema: markSchema, load: 'on-demand' });
    const codesServer = await backend.start({ resources: [{ name: 'codes' }] });
    const rows = [{ id: 'o', mark: 1 }, { id: 'p', mark: '1' }, { id: 'q', mark: 1 }, { id: 'r', mark: '1' }, { id: 's', mark: '1' }];
    for (const row of rows) {
      const reply = await fetch(`${codesServer.apiUrl}/codes`, {
        method: 'POST',
        headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': `code-${row.id}` },
        body: JSON.stringify(row),
      });
      expect(reply.status).toBe(201);
    }
    const d = device(codesServer.apiUrl, { resources: [codes] });
    open.push(d);
    // The server's pages of two: o and p, then q (none the query shows), then r.
    const q = watch(d, { where: { mark: '1' }, orderBy: 'id', limit: 2 }, codes as never);
    await until(() => d.calls.some((c) => c.includes('filter')) && !q.last().isFetching, 'the first page');
    expect(q.last().data.map((m) => m.id)).toEqual(['p', 'r']);
    expect(q.last().hasMore).toBe(true);
    // Never settled short of its limit between the pages.
    expect(q.states.filter((state) => state.status === 'success' && !state.isFetching && state.data.length < 2)).toEqual([]);
  });

  it('an equality the server is not sent (an array value) filters the page loaded, as a predicate does: one request, not page after page through the resource', async () => {
    const tagged = defineResource({ name: 'tagged', schema: z.object({ id: z.string(), tags: z.array(z.string()), version: z.number().int() }), load: 'on-demand' });
    const taggedServer = await backend.start({ resources: [{ name: 'tagged' }] });
    for (const [id, tags] of [['a', []], ['b', ['y']], ['c', []], ['d', ['x']], ['e', ['x']]] as const) {
      const reply = await fetch(`${taggedServer.apiUrl}/tagged`, {
        method: 'POST',
        headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': `tagged-${id}` },
        body: JSON.stringify({ id, tags }),
      });
      expect(reply.status).toBe(201);
    }
    const d = device(taggedServer.apiUrl, { resources: [tagged] });
    open.push(d);
    const q = watch(d, { where: { tags: ['x'] }, orderBy: 'id', limit: 2 }, tagged as never);
    await until(() => d.calls.some((c) => c.startsWith('GET /api/tagged?')) && !q.last().isFetching, 'the first page');
    expect(d.calls.filter((c) => c.startsWith('GET /api/tagged?'))).toEqual(['GET /api/tagged?sort=id&limit=2']);
    expect(q.last().data).toEqual([]);
    expect(q.last().hasMore).toBe(true);
  });
});

describe('an on-demand query whose rows leave it while the server has more', () => {
  const taskSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });

  /** An on-demand resource `name` on a server of its own holding `count` tasks, not done, titled after their ids; a device over it. */
  async function seeded(name: string, count: number, idOf = (i: number) => `t${i}`, fetchOverride?: typeof fetch) {
    const tasks = defineResource({ name, schema: taskSchema, load: 'on-demand' });
    const tasksServer = await backend.start({ resources: [{ name }] });
    for (let i = 0; i < count; i++) {
      const reply = await fetch(`${tasksServer.apiUrl}/${name}`, {
        method: 'POST',
        headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': `${name}-${i}` },
        body: JSON.stringify({ id: idOf(i), title: idOf(i).replace('t', 'T'), done: false }),
      });
      expect(reply.status).toBe(201);
    }
    const d = device(tasksServer.apiUrl, { resources: [tasks], ...(fetchOverride ? { fetch: fetchOverride } : {}) });
    open.push(d);
    return { tasks, d };
  }

  it('fetches the next rows to fill its limit when a local update moves a row out of its filter or a local delete removes one (it showed fewer rows than its limit, hasMore, until refresh())', async () => {
    const { tasks, d } = await seeded('tasks', 8);
    const q = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 }, tasks as never);
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the first page');
    expect(q.last().data.map((t) => t.id)).toEqual(['t0', 't1', 't2']);
    expect(q.last().hasMore).toBe(true);
    const handle = d.client.resource(tasks);
    await handle.update('t0', { done: true });
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the row after the page');
    expect(q.last().data.map((t) => t.id)).toEqual(['t1', 't2', 't3']);
    await handle.delete('t1');
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the row after that');
    expect(q.last().data.map((t) => t.id)).toEqual(['t2', 't3', 't4']);
    expect(q.last().hasMore).toBe(true);
    await d.client.flush();
    // Each refill asked only for the rows missing, after the page's cursor.
    const pages = d.calls.filter((c) => c.startsWith('GET /api/tasks?'));
    expect(pages).toHaveLength(3);
    expect(pages.slice(1).every((c) => /cursor=[^&]+/.test(c) && c.includes('limit=1'))).toBe(true);
  });

  it('fetches the rows after its page when a row leaves it and a row cached beyond its page takes the place (it showed that row right after the page, the rows between missing)', async () => {
    const { tasks, d } = await seeded('jobs', 8);
    // Another query (or an earlier session) cached the last row.
    const last = watch(d, { orderBy: [['id', 'desc']], limit: 1 }, tasks as never);
    await until(() => last.last().data.length === 1 && !last.last().isFetching, 'the last row');
    const q = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 }, tasks as never);
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the first page');
    expect(q.last().data.map((t) => t.id)).toEqual(['t0', 't1', 't2']);
    await d.client.resource(tasks).delete('t0');
    await until(() => !q.last().isFetching && d.calls.filter((c) => c.startsWith('GET /api/jobs?')).length === 3, 'the row after the page');
    expect(q.last().data.map((t) => t.id)).toEqual(['t1', 't2', 't3']);
  });

  it('rows deleted one after another while the next rows are being fetched ask for the rest once that request ends, not one request each (limits 1, 2, 3... from the same cursor)', async () => {
    const answers = heldRequests();
    const { tasks, d } = await seeded('errands', 12, (i) => `t${String(i).padStart(2, '0')}`, answers.fetch);
    const q = watch(d, { where: { done: false }, orderBy: 'title', limit: 4 }, tasks as never);
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'the first page');
    const handle = d.client.resource(tasks);
    answers.hold('cursor=');
    for (const id of ['t00', 't01', 't02', 't03']) await handle.delete(id);
    await until(() => answers.answered('cursor='), 'the next rows requested');
    answers.release('cursor=');
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'the rows after the page');
    await d.client.flush();
    expect(q.last().data.map((t) => t.id)).toEqual(['t04', 't05', 't06', 't07']);
    const pages = d.calls.filter((c) => c.startsWith('GET /api/errands?'));
    // The first page, the row after it, then the three still missing.
    expect(pages).toHaveLength(3);
    expect(pages[1]).toContain('limit=1');
    expect(pages[2]).toContain('limit=3');
  });

  it('fills its limit when its page, fetched again, holds a row deleted here and not sent yet (deleted offline, back online): it showed one row fewer, hasMore, once the delete was sent', async () => {
    const { tasks, d } = await seeded('chores', 8);
    const q = watch(d, { where: { done: false }, orderBy: 'title', limit: 3 }, tasks as never);
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the first page');
    // Held back: the page fetched again on the way back online still holds the deleted row.
    d.client.pause();
    d.online.next(false);
    await d.client.resource(tasks).delete('t0');
    expect(q.last().data.map((t) => t.id)).toEqual(['t1', 't2']);
    const pages = () => d.calls.filter((c) => c.startsWith('GET /api/chores?')).length;
    d.online.next(true);
    await until(() => pages() >= 2 && !q.last().isFetching, 'the page fetched again');
    d.client.resume();
    await d.client.flush();
    await until(() => q.last().data.length === 3 && !q.last().isFetching, 'the row after the page');
    expect(q.last().data.map((t) => t.id)).toEqual(['t1', 't2', 't3']);
    expect(q.last().hasMore).toBe(true);
  });
});
