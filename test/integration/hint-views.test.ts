/**
 * The views on-demand change hints carry: shown by a tab only for an entity it still shows whose
 * record another tab's cache evicted, never for one this tab deleted after the hinted commit.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { closeDevices, device, until, type Device } from '../helpers/harness.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const orderSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
type Order = z.infer<typeof orderSchema>;
const orders = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 120 });

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const open: Device[] = [];

beforeAll(async () => {
  server = await backend.start({ resources: [{ name: 'orders' }] });
});
afterAll(() => backend.close());
afterEach(async () => {
  await closeDevices(open);
  await backend.reset();
});

function watch(d: Device) {
  const states: Array<QueryState<Order>> = [];
  const sub = d.client.resource(orders).query$({ orderBy: 'title', limit: 10 } as never).subscribe((s) => states.push(s as QueryState<Order>));
  return { last: () => states.at(-1)!, stop: () => sub.unsubscribe() };
}

function leads(d: Device): boolean {
  let leader = false;
  d.client.status$.subscribe((status) => (leader = status.leader)).unsubscribe();
  return leader;
}

/** Five orders on a fresh server, and what the tabs of one browser share. */
async function oneBrowser() {
  await backend.reset();
  await server.admin.seed('orders', 5);
  return { indexedDB: new IDBFactory(), hub: new BroadcastHub(), locks: new FakeLocks(), clock: new ManualClock() };
}

/** Two tabs showing the same page of five orders; A's page can be frozen, to hear B late. */
async function twoTabs() {
  const { indexedDB, hub, locks, clock } = await oneBrowser();
  const pageA = hub.page();
  const b = device(server.apiUrl, { resources: [orders], namespace: 'views', locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
  await until(() => leads(b), 'B leads');
  const a = device(server.apiUrl, { resources: [orders], namespace: 'views', locks, BroadcastChannel: pageA.Channel }, indexedDB, clock);
  open.push(a, b);
  const inA = watch(a);
  const inB = watch(b);
  await until(() => inA.last()?.data.length === 5 && inB.last()?.data.length === 5, 'both tabs loaded');
  return { a, b, inA, inB, page: pageA.page, clock, hub };
}

it("a tab's own delete, committed after another tab's hinted update, is not undone by that hint's view", async () => {
  const { a, b, inA, page } = await twoTabs();
  const x = inA.last().data[0]!;
  a.online.next(false);
  b.online.next(false);
  page.freeze(); // A hears B's hint only after its own delete
  await b.client.resource(orders).update(x.id, { title: 'From B' });
  await a.client.resource(orders).delete(x.id);
  expect(inA.last().data.some((o) => o.id === x.id)).toBe(false);
  page.thaw();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await a.client.flush(); // resolves once the hints heard before it are re-read
  expect(inA.last().data.some((o) => o.id === x.id)).toBe(false);
});

it('a deletion this tab committed after the hinted commit (record gone) does not bring the entity back for good', async () => {
  const { a, b, inA, page } = await twoTabs();
  const x = inA.last().data[0]!;
  page.freeze();
  await b.client.resource(orders).update(x.id, { title: 'From B' });
  await b.client.flush();
  // Deleted on the server; A's refetch of the page removes it from storage (no hint to itself).
  await server.admin.edit({ resource: 'orders', id: x.id, delete: true });
  await a.client.resource(orders).refresh();
  await until(() => !inA.last().data.some((o) => o.id === x.id), 'deleted in A');
  page.thaw();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await a.client.flush();
  expect(inA.last().data.some((o) => o.id === x.id)).toBe(false);
});

it("a local write's hint tells the view it committed, not only its id", async () => {
  const { b, inB, hub } = await twoTabs();
  const x = inB.last().data[0]!;
  b.online.next(false);
  const before = hub.posted.length;
  await b.client.resource(orders).update(x.id, { title: 'Told' });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const hint = hub.posted.slice(before).map((p) => p.data as { t: string; ids?: string[]; views?: Array<{ title?: string } | null> }).find((m) => m.t === 'changed');
  expect(hint?.ids).toEqual([x.id]);
  expect(hint?.views?.[0]).toMatchObject({ id: x.id, title: 'Told' });
});

it("a tab's page finding gone an entity another tab's cache evicted drops its own stale copy only: a tab showing a newer version, out of that page, keeps it", async () => {
  const { indexedDB, hub, locks, clock } = await oneBrowser();
  const keepingOne = defineResource({ name: 'orders', schema: orderSchema, load: 'on-demand', cacheLimit: 1 });
  const tab = (resource: typeof orders) =>
    device(server.apiUrl, { resources: [resource], namespace: 'views', locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
  const b = tab(orders);
  await until(() => leads(b), 'B leads');
  const a = tab(orders);
  const c = tab(keepingOne);
  open.push(a, b, c);
  const query = (d: Device, resource: typeof orders, q: object) => {
    const states: Array<QueryState<Order>> = [];
    d.client.resource(resource).query$(q as never).subscribe((s) => states.push(s as QueryState<Order>));
    return () => states.at(-1)!;
  };
  const openPage = query(b, orders, { where: { done: false }, orderBy: 'title', limit: 10 });
  const done = query(a, orders, { where: { done: true }, orderBy: 'title', limit: 10 });
  const third = query(c, keepingOne, { where: { title: 'Todo 000003' } });
  await until(() => openPage()?.data.length === 3 && done()?.data.length === 2 && third()?.data.length === 1, 'the three pages');
  const x = openPage().data[0]!;
  expect(x).toMatchObject({ id: '1', done: false });
  // C has heard of x (B's page), and shows none of it.
  await until(async () => (await c.client.resource(keepingOne).list()).some((o) => o.id === x.id), 'C caches x');
  // Done on the server; A's page stores and shows the new version, its hint lost: B never hears of it.
  await server.admin.edit({ resource: 'orders', id: x.id, patch: { done: true } });
  hub.drop = () => true;
  await a.client.resource(orders).refresh();
  expect(done().data.find((o) => o.id === x.id)).toMatchObject({ done: true, version: x.version + 1 });
  hub.drop = () => false;
  // C's eviction (cacheLimit 1) deletes the record; A's views keep what they show.
  await c.client.resource(keepingOne).refresh();
  // B's page lacks x, which B's views still hold, open: judged gone, its record not in storage.
  await b.client.resource(orders).refresh();
  expect(openPage().data.map((o) => o.id)).not.toContain(x.id);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await a.client.flush(); // resolves once the hints heard before it are re-read
  expect(done().data.find((o) => o.id === x.id)).toMatchObject({ done: true, version: x.version + 1 });
  await until(() => !done().isFetching, 'A settled');
  expect(done().data.map((o) => o.id)).toContain(x.id);
});
