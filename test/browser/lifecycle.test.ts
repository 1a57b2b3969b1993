// A page's lifecycle in real Chromium, with the back/forward cache on (as in a browser; playwright
// turns it off by default): a page of the app left for another page (of the app, or anything) is
// kept frozen with its JS heap, and going back restores it (pageshow with persisted) instead of
// loading it again. The pages are test/browser/tabs/ (the script-tag build, no injected seams)
// against the reference server, whose ledger is the witness.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../server/index.mjs';
import { launchChromium, scriptTagSite } from './chromium.js';

/** Bound of every wait for something a page shows. */
const STEP = 10_000;

interface Todo {
  id: string;
  title: string;
  done: boolean;
  version?: number;
}
/** What test/browser/tabs/app.js puts on `window.tab`, and the init script below on `window.life`. */
declare const window: {
  tab: {
    status: { leader: boolean; pending: number; syncing: boolean; nextRetryAt: number | null; lastError: string | null } | null;
    view: Todo[];
    events: Array<{ type: string; id?: string }>;
    create(todo: Omit<Todo, 'version'>): Promise<true>;
    createAndWait(todo: Omit<Todo, 'version'>): Promise<Todo>;
    clear(): Promise<void>;
  };
  /** The pageshow events this document saw: true when restored from the back/forward cache. */
  life: boolean[];
  /** Set by the test: still there after a restore, gone after a reload. */
  heap?: string;
  /** What a write's wait for the server resolved with, once it has. */
  confirmed?: Todo;
};

const pageDir = fileURLToPath(new URL('tabs', import.meta.url));

let site: string;
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;
let context: BrowserContext;
let pageErrors: string[] = [];
/** Why Chromium did not restore a page from the back/forward cache, as it reports it. */
let notRestored: string[] = [];

const applied = async () => (await server.admin.ledger('todos')).map((r) => `${r.op} ${r.entityId}`).sort();
const view = (page: Page) => page.evaluate(() => window.tab.view.map((t) => `${t.id}:${t.version ?? '-'}`).sort());
const leads = (page: Page) => page.evaluate(() => window.tab.status?.leader === true);
const sentIds = (page: Page) => page.evaluate(() => window.tab.events.filter((e) => e.type === 'sent').map((e) => e.id));

async function openTab(path = ''): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Page.enable');
  cdp.on('Page.backForwardCacheNotUsed', (event) => notRestored.push(...event.notRestoredExplanations.map((e) => e.reason)));
  await visit(page, path);
  return page;
}

async function visit(page: Page, path: string): Promise<void> {
  await page.goto(`${server.url}${path}`, { timeout: STEP });
  await page.waitForFunction(() => window.tab?.status !== null && window.tab?.status !== undefined, undefined, { timeout: STEP });
}

/** Back to the page before; it comes back from the back/forward cache, its heap as it was. */
async function backFromCache(page: Page): Promise<void> {
  // A restore fires no load event: the navigation is done once it commits.
  await page.goBack({ waitUntil: 'commit', timeout: STEP });
  // Restored: its first load's pageshow, then the restore's. Not restored: Chromium's reasons.
  const restored = async () => (notRestored.length ? notRestored : await page.evaluate(() => [window.heap, window.life]));
  await expect.poll(restored, { timeout: STEP }).toEqual(['kept', [false, true]]);
}

beforeAll(async () => {
  browser = await launchChromium({ backForwardCache: true });
  site = scriptTagSite(pageDir, 'lifecycle');
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
  notRestored = [];
  context = await browser.newContext();
  await context.addInitScript(() => {
    window.life = [];
    addEventListener('pageshow', (event) => window.life.push(event.persisted));
  });
});

afterEach(async () => {
  await context?.close();
  expect(pageErrors).toEqual([]);
});

describe('a page in the back/forward cache', () => {
  it('is restored, not reloaded, after another page of the app in its tab wrote: it shows the write and leads again; applied once', async () => {
    const page = await openTab();
    await expect.poll(() => leads(page), { timeout: STEP }).toBe(true);
    await page.evaluate(() => window.tab.createAndWait({ id: 'first', title: 'On the first page', done: false }));
    await page.evaluate(() => (window.heap = 'kept'));

    // The next page of a multi-page app: the same namespace, in the same tab.
    await visit(page, '?second');
    await expect.poll(() => leads(page), { timeout: STEP }).toBe(true);
    await page.evaluate(() => window.tab.createAndWait({ id: 'second', title: 'On the second page', done: false }));

    await backFromCache(page);
    await expect.poll(() => view(page), { timeout: STEP }).toEqual(['first:1', 'second:1']);
    await expect.poll(() => leads(page), { timeout: STEP }).toBe(true);
    await page.evaluate(() => window.tab.createAndWait({ id: 'third', title: 'Back on the first page', done: false }));
    expect(await applied()).toEqual(['create first', 'create second', 'create third']);
  });

  it.each([
    ['Web Locks', false],
    ['an election over BroadcastChannel (no Web Locks)', true],
  ])('while another tab took over and wrote (%s): restored, it follows that tab (no second leader), shows its writes, and its own write is sent once', async (_, withoutLocks) => {
    // As in a browser without the Web Locks API: the SDK finds no navigator.locks.
    if (withoutLocks) await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));
    const a = await openTab();
    await expect.poll(() => leads(a), { timeout: STEP }).toBe(true);
    const b = await openTab();
    await expect.poll(() => leads(b), { timeout: STEP }).toBe(false);
    await a.evaluate(() => (window.heap = 'kept'));

    await a.goto('about:blank', { timeout: STEP });
    // The page that led is in the cache, its Web Lock let go: the other tab leads and sends.
    await expect.poll(() => leads(b), { timeout: STEP }).toBe(true);
    await b.evaluate(() => window.tab.createAndWait({ id: 'meanwhile', title: 'While the first was away', done: false }));

    await backFromCache(a);
    await expect.poll(() => view(a), { timeout: STEP }).toEqual(['meanwhile:1']);
    await a.evaluate(() => window.tab.create({ id: 'restored', title: 'Written after the restore', done: false }));
    await expect.poll(() => view(b), { timeout: STEP }).toEqual(['meanwhile:1', 'restored:1']);
    await expect.poll(() => view(a), { timeout: STEP }).toEqual(['meanwhile:1', 'restored:1']);
    expect([await leads(a), await leads(b)]).toEqual([false, true]);
    expect(await sentIds(b)).toContain('restored');
    expect(await applied()).toEqual(['create meanwhile', 'create restored']);
  });

  it("of a tab whose write waits for the server: the other tab sends it meanwhile; restored, the wait resolves with the server's answer, which it did not hear", async () => {
    const a = await openTab();
    await expect.poll(() => leads(a), { timeout: STEP }).toBe(true);
    const b = await openTab();
    await expect.poll(() => leads(b), { timeout: STEP }).toBe(false);
    await server.admin.faults({ offline: true });
    await b.evaluate(() => {
      window.heap = 'kept';
      void window.tab.createAndWait({ id: 'awaited', title: 'Awaited across the cache', done: false }).then((todo) => (window.confirmed = todo));
    });
    await expect.poll(() => sentIds(a), { timeout: STEP }).toContain('awaited');

    await b.goto('about:blank', { timeout: STEP });
    await server.admin.faults({ offline: false });
    await expect.poll(() => view(a), { timeout: STEP }).toEqual(['awaited:1']);

    await backFromCache(b);
    await expect.poll(() => b.evaluate(() => window.confirmed), { timeout: STEP }).toEqual({ id: 'awaited', title: 'Awaited across the cache', done: false, version: 1 });
    await expect.poll(() => view(b), { timeout: STEP }).toEqual(['awaited:1']);
    expect(await applied()).toEqual(['create awaited']);
  });

  it('of the leader with a request in flight: the tab that takes over sends it again with its key; the late answer reaches the restored page; applied once', async () => {
    const a = await openTab();
    await expect.poll(() => leads(a), { timeout: STEP }).toBe(true);
    const b = await openTab();
    await expect.poll(() => leads(b), { timeout: STEP }).toBe(false);
    await server.admin.faults({ latencyMs: 1500 });
    await a.evaluate(() => {
      window.heap = 'kept';
      void window.tab.createAndWait({ id: 'inflight', title: 'In flight as the page left', done: false }).then((todo) => (window.confirmed = todo));
    });
    await expect.poll(() => sentIds(a), { timeout: STEP }).toEqual(['inflight']);

    await a.goto('about:blank', { timeout: STEP });
    await expect.poll(() => sentIds(b), { timeout: STEP }).toEqual(['inflight']);
    await expect.poll(() => view(b), { timeout: STEP }).toEqual(['inflight:1']);
    await server.admin.faults({ latencyMs: 0 });

    await backFromCache(a);
    await expect.poll(() => a.evaluate(() => window.confirmed), { timeout: STEP }).toEqual({ id: 'inflight', title: 'In flight as the page left', done: false, version: 1 });
    await expect.poll(() => view(a), { timeout: STEP }).toEqual(['inflight:1']);
    // status$ tells what is so: nothing pending, nothing in flight or due, no leading.
    const told = (page: Page) => page.evaluate(() => ({ ...window.tab.status }));
    await expect.poll(() => told(a), { timeout: STEP }).toMatchObject({ leader: false, pending: 0, syncing: false, nextRetryAt: null, lastError: null });
    expect(await told(b)).toMatchObject({ leader: true, pending: 0, syncing: false, nextRetryAt: null, lastError: null });
    expect(await sentIds(a)).toEqual(['inflight']);
    expect(await applied()).toEqual(['create inflight']);
  });

  it("when another tab logs out (clear()) is not restored: its connection, kept open, hears the deletion, and Chromium evicts it with the old user's views in its heap", async () => {
    const a = await openTab();
    await expect.poll(() => leads(a), { timeout: STEP }).toBe(true);
    await a.evaluate(() => window.tab.createAndWait({ id: 'private', title: "The first user's", done: false }));
    const b = await openTab();
    await expect.poll(() => view(b), { timeout: STEP }).toEqual(['private:1']);
    await a.evaluate(() => (window.heap = 'kept'));

    await a.goto('about:blank', { timeout: STEP });
    await b.evaluate(() => window.tab.clear());
    await expect.poll(() => view(b), { timeout: STEP }).toEqual([]);

    await a.goBack({ waitUntil: 'commit', timeout: STEP });
    await a.waitForFunction(() => window.tab?.status !== null && window.tab?.status !== undefined, undefined, { timeout: STEP });
    expect(notRestored).toEqual(['IgnoreEventAndEvict']);
    expect(await a.evaluate(() => [window.heap, window.life])).toEqual([undefined, [false]]);
  });
});
