// Several tabs in real Chromium: two pages of ONE browser context share IndexedDB, Web Locks and
// BroadcastChannel, as two tabs of one profile do. Each page (test/browser/tabs/) loads the built
// script-tag file dist/harborsync.umd.min.js and calls HarborSync.createSyncClient with no
// injected seams, against the reference server (tokens demo-alice), whose ledger is the witness:
// every change applied exactly once, whichever tab sent it.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type LedgerEntry } from '../../server/index.mjs';
import { launchChromium, scriptTagSite } from './chromium.js';

/** Bound of every wait for something a page shows. */
const STEP = 10_000;

interface Todo {
  id: string;
  title: string;
  done: boolean;
  version?: number;
}
interface TabStatus {
  online: boolean;
  leader: boolean;
  pending: number;
  paused: string | null;
  lastError: string | null;
}
/** What test/browser/tabs/app.js puts on `window.tab`. */
interface TabApi {
  status: TabStatus | null;
  view: Todo[];
  pendingIds: string[];
  queryStatus: string;
  events: Array<{ type: string; id?: string; seq?: number; leader?: boolean; at: number }>;
  errors: string[];
  create(todo: Omit<Todo, 'version'>): Promise<true>;
  update(id: string, patch: Partial<Todo>): Promise<true>;
  createAndWait(todo: Omit<Todo, 'version'>): Promise<Todo>;
  clear(): Promise<void>;
}
declare const window: { tab: TabApi };

const pageDir = fileURLToPath(new URL('tabs', import.meta.url));

let site: string;
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;
let context: BrowserContext;
let pageErrors: string[] = [];

const ledger = async (): Promise<LedgerEntry[]> => server.admin.ledger('todos');
const applied = async () => (await ledger()).map((r) => `${r.op} ${r.entityId}`).sort();

async function openTab(): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(server.url, { timeout: STEP });
  await page.waitForFunction(() => window.tab?.status !== null && window.tab?.status !== undefined, undefined, { timeout: STEP });
  return page;
}

const status = (page: Page) => page.evaluate(() => window.tab.status!);
const sent = (page: Page) => page.evaluate(() => window.tab.events.filter((e) => e.type === 'sent').map((e) => `${e.id}#${e.seq}`));
/** The ids a page sent, in order. */
const sentIds = async (page: Page) => (await sent(page)).map((s) => s.split('#')[0]);
const view = (page: Page) =>
  page.evaluate(() => window.tab.view.map((t) => `${t.id}:${t.title}:${t.done}:${t.version ?? '-'}`).sort());

/** Waits until exactly one of the pages leads; returns [leader, follower]. */
async function roles(a: Page, b: Page): Promise<[Page, Page]> {
  await expect.poll(async () => (await status(a)).leader || (await status(b)).leader, { timeout: STEP }).toBe(true);
  // Give a second (wrong) leader time to show itself.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const leaders = [(await status(a)).leader, (await status(b)).leader];
  expect(leaders.filter(Boolean)).toHaveLength(1);
  return leaders[0] ? [a, b] : [b, a];
}

/** Both pages show exactly `expected` (id:title:done:version), nothing pending. */
async function bothShow(pages: Page[], expected: string[]): Promise<void> {
  for (const page of pages) {
    await expect.poll(() => view(page), { timeout: STEP }).toEqual([...expected].sort());
    await expect.poll(async () => (await status(page)).pending, { timeout: STEP }).toBe(0);
  }
}

beforeAll(async () => {
  browser = await launchChromium();
  site = scriptTagSite(pageDir, 'tabs');
  server = await startServer({ port: 0, staticDir: site });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

beforeEach(async () => {
  await server.admin.reset();
  pageErrors = [];
  context = await browser.newContext();
});

afterEach(async () => {
  await context?.close();
  expect(pageErrors).toEqual([]);
});

describe('two tabs of one browser', () => {
  it("a write in one page appears in the other's live query; only the leader sends; one application each", async () => {
    const a = await openTab();
    const b = await openTab();
    const [leader, follower] = await roles(a, b);

    await follower.evaluate(() => window.tab.create({ id: 'f1', title: 'From the follower', done: false }));
    await expect.poll(async () => (await view(leader)).some((t) => t.startsWith('f1:From the follower:false:')), { timeout: STEP }).toBe(true);
    await leader.evaluate(() => window.tab.create({ id: 'l1', title: 'From the leader', done: false }));
    const confirmed = await follower.evaluate(() => window.tab.createAndWait({ id: 'f2', title: 'Awaited', done: false }));
    expect(confirmed).toEqual({ id: 'f2', title: 'Awaited', done: false, version: 1 });

    await bothShow([a, b], ['f1:From the follower:false:1', 'l1:From the leader:false:1', 'f2:Awaited:false:1']);
    expect(await applied()).toEqual(['create f1', 'create f2', 'create l1']);
    expect(await sent(follower)).toEqual([]);
    expect((await sentIds(leader)).sort()).toEqual(['f1', 'f2', 'l1']);
  });

  it('closing the leader page hands replay to the other within a second; the queued change is applied once', async () => {
    const a = await openTab();
    const b = await openTab();
    const [leader, follower] = await roles(a, b);
    await server.admin.faults({ offline: true });
    await follower.evaluate(() => window.tab.create({ id: 'q1', title: 'Queued', done: false }));
    await expect.poll(() => sentIds(leader), { timeout: STEP }).toContain('q1');

    const closing = Date.now();
    await leader.close();
    await follower.waitForFunction(() => window.tab.status!.leader, undefined, { timeout: STEP, polling: 20 });
    expect(Date.now() - closing).toBeLessThan(1000);

    await server.admin.faults({ offline: false });
    await bothShow([follower], ['q1:Queued:false:1']);
    expect(await applied()).toEqual(['create q1']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await applied()).toEqual(['create q1']);
  });

  it('a leader page closed while its request is in flight: the next leader re-sends with the same key, applied once', async () => {
    const a = await openTab();
    const b = await openTab();
    const [leader, follower] = await roles(a, b);
    await server.admin.faults({ latencyMs: 1500 });
    await follower.evaluate(() => window.tab.create({ id: 'm1', title: 'Mid-flight', done: false }));
    await expect.poll(() => sentIds(leader), { timeout: STEP }).toContain('m1');
    const [first] = await sent(leader);
    await leader.close();
    // The same entry (its seq), sent again.
    await expect.poll(() => sent(follower), { timeout: STEP }).toContain(first);
    await bothShow([follower], ['m1:Mid-flight:false:1']);
    await new Promise((resolve) => setTimeout(resolve, 1800)); // the first request's answer has come and gone
    const rows = await ledger();
    expect(rows.map((r) => `${r.op} ${r.entityId}`)).toEqual(['create m1']);
  });

  it("clear() (logout) in one page empties both pages' views and leaves no database of the namespace, in either page", async () => {
    const a = await openTab();
    const b = await openTab();
    const [leader, follower] = await roles(a, b);
    await leader.evaluate(() => window.tab.createAndWait({ id: 'x1', title: 'Before the logout', done: false }));
    await bothShow([a, b], ['x1:Before the logout:false:1']);
    const databases = (page: Page) => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    expect(await databases(a)).toEqual(['harborsync:tabs']);

    await follower.evaluate(() => window.tab.clear());
    await bothShow([a, b], []);
    // Each page reads its view again as it learns of the deletion (its connection's versionchange, then the message).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await databases(a)).toEqual([]);
    expect(await databases(b)).toEqual([]);
  });

  it('offline through the browser context: writes in both pages, a reload, back online: each delivered once', async () => {
    // The app shell comes from Node while offline, as a service worker's cache would serve it;
    // the API still goes to the network, which the context cuts.
    await context.route(/^[^?]*\/(index\.html|app\.js|harborsync\.umd\.min\.js)?$/, async (route) => {
      const path = new URL(route.request().url()).pathname;
      const name = path === '/' ? 'index.html' : path.slice(1);
      const contentType = name.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8';
      await route.fulfill({ status: 200, contentType, body: readFileSync(join(site, name)) });
    });
    const a = await openTab();
    const b = await openTab();
    await roles(a, b);
    await a.evaluate(() => window.tab.createAndWait({ id: 's1', title: 'Synced', done: false }));

    await context.setOffline(true);
    for (const page of [a, b]) {
      await expect.poll(async () => (await status(page)).paused, { timeout: STEP }).toBe('offline');
    }
    await a.evaluate(() => window.tab.create({ id: 'o1', title: 'Offline one', done: false }));
    await b.evaluate(() => window.tab.create({ id: 'o2', title: 'Offline two', done: false }));
    await a.evaluate(() => window.tab.update('o1', { done: true }));
    await b.evaluate(() => window.tab.update('s1', { title: 'Synced, then renamed offline' }));
    await expect.poll(async () => (await status(a)).pending, { timeout: STEP }).toBe(3);

    await a.reload({ timeout: STEP });
    await a.waitForFunction(() => window.tab?.status?.pending === 3 && window.tab.view.length === 3, undefined, { timeout: STEP });
    expect((await status(a)).online).toBe(false);
    expect(await applied()).toEqual(['create s1']);

    await context.setOffline(false);
    await bothShow([a, b], ['o1:Offline one:true:1', 'o2:Offline two:false:1', 's1:Synced, then renamed offline:false:2']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await applied()).toEqual(['create o1', 'create o2', 'create s1', 'update s1']);
    const keys = (await ledger()).map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe("a write in a tab that has not heard of another tab's commit", () => {
  it('is redone from what IndexedDB holds: on the newer version, coalesced into the queued change, each sent once', async () => {
    const page = await openTab();
    await expect.poll(async () => (await status(page)).leader, { timeout: STEP }).toBe(true);
    await page.evaluate(() => window.tab.createAndWait({ id: 'x', title: 'X', done: false }));
    await page.evaluate(() => window.tab.createAndWait({ id: 'y', title: 'Y', done: false }));
    await context.setOffline(true);
    await expect.poll(async () => (await status(page)).paused, { timeout: STEP }).toBe('offline');

    // What another tab committed, its messages lost: a pull of x's next version, a queued rename of y.
    expect((await server.admin.edit({ resource: 'todos', id: 'x', patch: { title: 'X, renamed elsewhere' } })).status).toBe(200);
    await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('harborsync:tabs');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const tx = db.transaction(['entities', 'outbox'], 'readwrite');
      const x = { id: 'x', title: 'X, renamed elsewhere', done: false, version: 2 };
      const y = { id: 'y', title: 'Y', done: false, version: 1 };
      tx.objectStore('entities').put({ r: 'todos', id: 'x', base: x, view: x });
      tx.objectStore('entities').put({ r: 'todos', id: 'y', base: y, view: { ...y, title: 'Y, renamed in another tab' } });
      tx.objectStore('outbox').add({
        r: 'todos',
        id: 'y',
        op: 'update',
        payload: { title: 'Y, renamed in another tab' },
        baseVersion: 1,
        key: crypto.randomUUID(),
        rekeys: 0,
        frozen: false,
        attempts: 0,
        firstFailureAt: null,
        nextAttemptAt: 0,
        changedAt: Date.now(),
        state: 'queued',
        conflict: null,
        failure: null,
        origin: 'another-tab',
      });
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
      });
      db.close();
    });
    expect(await view(page)).toEqual(['x:X:false:1', 'y:Y:false:1']);

    await page.evaluate(() => window.tab.update('x', { done: true }));
    await page.evaluate(() => window.tab.update('y', { done: true }));
    expect(await view(page)).toEqual(['x:X, renamed elsewhere:true:2', 'y:Y, renamed in another tab:true:1']);
    const queued = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve) => {
        const request = indexedDB.open('harborsync:tabs');
        request.onsuccess = () => resolve(request.result);
      });
      const entries = await new Promise<Array<{ id: string; payload: unknown; baseVersion: unknown }>>((resolve) => {
        const request = db.transaction('outbox').objectStore('outbox').getAll();
        request.onsuccess = () => resolve(request.result);
      });
      db.close();
      return entries.map(({ id, payload, baseVersion }) => ({ id, payload, baseVersion }));
    });
    expect(queued).toEqual([
      { id: 'y', payload: { title: 'Y, renamed in another tab', done: true }, baseVersion: 1 },
      { id: 'x', payload: { done: true }, baseVersion: 2 },
    ]);

    await context.setOffline(false);
    await bothShow([page], ['x:X, renamed elsewhere:true:3', 'y:Y, renamed in another tab:true:2']);
    const writes = (await ledger()).filter((r) => r.op === 'update' && r.idempotencyKey !== null);
    expect(writes.map((r) => ({ id: r.entityId, before: r.versionBefore, body: r.body })).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual([
      { id: 'x', before: 2, body: { done: true } },
      { id: 'y', before: 1, body: { title: 'Y, renamed in another tab', done: true } },
    ]);
  });
});

describe('two tabs of one browser without Web Locks', () => {
  it('elect one sender over the real BroadcastChannel; closing it hands over, and the queued change is applied once', async () => {
    // As in a browser without the Web Locks API: the SDK finds no navigator.locks.
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));
    const a = await openTab();
    const b = await openTab();
    expect(await a.evaluate(() => navigator.locks)).toBeUndefined();
    const [leader, follower] = await roles(a, b);

    await follower.evaluate(() => window.tab.create({ id: 'e1', title: 'Elected', done: false }));
    await bothShow([a, b], ['e1:Elected:false:1']);
    expect(await sent(follower)).toEqual([]);
    expect(await sentIds(leader)).toEqual(['e1']);

    await server.admin.faults({ offline: true });
    await follower.evaluate(() => window.tab.create({ id: 'e2', title: 'Queued', done: false }));
    await expect.poll(() => sentIds(leader), { timeout: STEP }).toContain('e2');
    // The follower page listens to the election too, to see the leader's page resign as it closes.
    await follower.evaluate(() => {
      const heard: string[] = [];
      (window as unknown as { heard: string[] }).heard = heard;
      new BroadcastChannel('harborsync:tabs:election').onmessage = (event) => heard.push(event.data.t);
    });
    await leader.close();
    await follower.waitForFunction(() => window.tab.status!.leader, undefined, { timeout: STEP, polling: 20 });
    expect(await follower.evaluate(() => (window as unknown as { heard: string[] }).heard)).toContain('resign');
    await server.admin.faults({ offline: false });
    await bothShow([follower], ['e1:Elected:false:1', 'e2:Queued:false:1']);
    expect(await applied()).toEqual(['create e1', 'create e2']);
  });
});
