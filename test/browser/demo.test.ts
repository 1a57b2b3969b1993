// The demo (`npm run demo`) in real Chromium: for each of the three apps (legacy script tag, React,
// Vue) — load, add a todo, go offline, rename it, reload (the page comes from the service worker,
// the todo and its unsent change from IndexedDB), come back online: the server has the rename
// exactly once. Then a conflict: offline rename + another user's rename on the server, resolved in
// the dialog (keep mine / merged / take theirs, one per app). No console errors.
// Screenshots for a reviewer: test-results/demo/<app>.png and <app>-conflict.png (not committed).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from '../../demo/server.mjs';
import type { RunningDemo } from '../../demo/server.mjs';
import type { LedgerEntry } from '../../server/index.mjs';
import { ensureBuilt } from '../package/build.js';
import { launchChromium } from './chromium.js';

const TOKEN = 'demo-alice';
const SHOTS = fileURLToPath(new URL('../../test-results/demo/', import.meta.url));

interface Todo {
  id: string;
  title: string;
  done: boolean;
  version: number;
}

type App = 'legacy' | 'react' | 'vue';
/** Each app resolves its conflict a different way, so the three choices are all exercised. */
const RESOLUTION: Record<App, 'keep-mine' | 'use-merged' | 'take-theirs'> = {
  legacy: 'keep-mine',
  react: 'use-merged',
  vue: 'take-theirs',
};

/** The second conflict (from the fault switch) is resolved another way. */
const SECOND_RESOLUTION: Record<App, 'keep-mine' | 'take-theirs'> = {
  legacy: 'take-theirs',
  react: 'keep-mine',
  vue: 'keep-mine',
};

let demo: RunningDemo;
let browser: Browser;
let site: string;

beforeAll(async () => {
  browser = await launchChromium();
  ensureBuilt();
  mkdirSync(SHOTS, { recursive: true });
  // Its own site folder, so a running `npm run demo` (demo/.build/site-8787) is left alone.
  site = mkdtempSync(join(tmpdir(), 'harborsync-demo-'));
  demo = await startDemo({ port: 0, outDir: site, sdk: 'if-missing' });
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

async function serverTodo(id: string): Promise<Todo | undefined> {
  const response = await fetch(`${demo.apiUrl}/todos/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`GET /todos/${id}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Todo;
}

async function ledgerOf(id: string): Promise<LedgerEntry[]> {
  return (await demo.admin.ledger('todos')).filter((entry) => entry.entityId === id);
}

/** What the ledger says happened to one todo, in order: "create alice", "update mallory {title}"… */
async function historyOf(id: string): Promise<string[]> {
  return (await ledgerOf(id)).map((entry) => {
    const body = entry.body as Record<string, unknown> | null;
    const fields = body && entry.op === 'update' ? ` ${JSON.stringify(body)}` : '';
    return `${entry.op} ${entry.user}${fields}`;
  });
}

/**
 * Console errors the demo must not produce. What the browser itself logs for the answers the test
 * provokes is allowed: a 412 when a change meets someone else's newer version (the conflict) and
 * the 422 of the fault switch's "reject next write".
 */
function watchConsole(page: Page, problems: string[]): void {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    if (/status of (412 \(Precondition Failed\)|422 \(Unprocessable (Entity|Content)\))/.test(message.text())) return;
    problems.push(`console.${message.type()}: ${message.text()} (${message.location().url})`);
  });
}

async function statusOf(page: Page): Promise<string | null> {
  return page.getByTestId('status').getAttribute('data-state');
}

function row(page: Page, title: string) {
  return page.getByTestId('todo').filter({ has: page.getByTestId('title').getByText(title, { exact: true }) });
}

async function rename(page: Page, from: string, to: string): Promise<void> {
  await row(page, from).getByTestId('edit').click();
  const input = page.getByTestId('edit-input');
  await input.fill(to);
  await input.press('Enter');
  await expect.poll(() => row(page, to).count()).toBe(1);
}

/** Keeps the client's events$ in the page (window.demo is each app's client), for a failure report. */
async function recordEvents(page: Page): Promise<void> {
  await page.waitForFunction(() => 'demo' in window);
  await page.evaluate(() => {
    const w = window as unknown as { demo: { client: { events$: { subscribe(f: (e: object) => void): void } } }; events?: string[] };
    w.events ??= [];
    w.demo.client.events$.subscribe((event) =>
      w.events!.push(JSON.stringify(event, (key, value) => (key === 'error' && value ? String(value.message) : value))),
    );
  });
}

async function eventsOf(page: Page): Promise<string> {
  const events = await page.evaluate(() => (window as unknown as { events?: string[] }).events ?? []).catch(() => []);
  const status = await page.getByTestId('sync-panel').textContent().catch(() => '');
  return `status: ${status}\nevents:\n${events.join('\n')}`;
}

/** The delta pulls: GET /api/todos?since=<cursor>. */
const PULLS = /\/api\/todos\?since=/;

/** Holds the page's pulls until `until` settles. */
async function holdPulls(page: Page, until: Promise<unknown>): Promise<void> {
  await page.route(PULLS, async (route) => {
    await until.catch(() => undefined);
    await route.continue().catch(() => undefined);
  });
}

async function openApp(context: BrowserContext, app: App, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  watchConsole(page, problems);
  await page.goto(`${demo.url}${app}/`);
  // The service worker has cached the pages: from here on a reload works offline.
  await page.waitForSelector('html[data-offline-ready]', { state: 'attached', timeout: 20_000 });
  await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
  await recordEvents(page);
  return page;
}

describe.each<App>(['legacy', 'react', 'vue'])('the %s app', (app) => {
  it('keeps an offline rename across a reload, sends it once, and resolves a conflict in the dialog', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      let page = await openApp(context, app, problems);

      // Add, toggle, filter, delete: the ordinary things, online.
      const title = `Water the plants (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).count()).toBe(1);
      const id = (await row(page, title).getAttribute('data-id'))!;
      expect(id).toMatch(/^t[0-9a-z]+$/);

      // The three apps share the server (not their IndexedDB): every title names its app.
      const dentist = `Book the dentist (${app})`;
      const plumber = `Call the plumber (${app})`;
      for (const other of [dentist, plumber]) {
        await page.getByTestId('new-title').fill(other);
        await page.getByTestId('add').click();
        await expect.poll(() => row(page, other).count()).toBe(1);
      }
      await row(page, dentist).getByTestId('toggle').check();
      await page.getByTestId('filter-done').click();
      await expect.poll(() => row(page, dentist).count()).toBe(1);
      await expect.poll(() => row(page, title).count()).toBe(0);
      await page.getByTestId('filter-all').click();
      const plumberId = (await row(page, plumber).getAttribute('data-id'))!;
      await row(page, plumber).getByTestId('delete').click();
      await expect.poll(() => row(page, plumber).count()).toBe(0);
      await expect.poll(() => statusOf(page)).toBe('synced');
      await expect.poll(() => historyOf(plumberId)).toEqual(['create alice', 'delete alice']);
      expect(await historyOf(id)).toEqual(['create alice']);

      // Offline: rename. The change waits on this device, marked as not synced.
      await context.setOffline(true);
      await expect.poll(() => statusOf(page)).toBe('offline');
      const renamed = `Water the plants twice (${app})`;
      await rename(page, title, renamed);
      await expect(row(page, renamed).getByTestId('pending').isVisible()).resolves.toBe(true);
      await expect.poll(() => page.getByTestId('pending-count').textContent()).toBe('1');

      // Reload while offline: the page comes from the service worker, the rename from IndexedDB.
      await page.reload();
      await recordEvents(page);
      await expect.poll(() => row(page, renamed).getByTestId('pending').count(), { timeout: 15_000 }).toBe(1);
      expect(await statusOf(page)).toBe('offline');
      expect(await historyOf(id)).toEqual(['create alice']);

      // Online again: the rename reaches the server, once.
      await context.setOffline(false);
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      await expect.poll(() => row(page, renamed).getByTestId('pending').count()).toBe(0);
      expect(await serverTodo(id)).toMatchObject({ title: renamed, done: false });
      await page.waitForTimeout(500); // a duplicate would have been sent by now
      expect(await historyOf(id)).toEqual(['create alice', `update alice ${JSON.stringify({ title: renamed })}`]);

      // The activity log tells the same story: saved on this device, then confirmed by the server.
      const activity = page.getByTestId('activity-panel');
      await expect.poll(() => activity.textContent()).toContain(`The server has the change to “${renamed}”`);

      await page.screenshot({ path: join(SHOTS, `${app}.png`), fullPage: true, animations: 'disabled' });

      // The failed list: the server rejects the next write with 422. The change is undone on
      // screen and kept in the list; discard drops it, retry sends it again.
      const dentistId = (await row(page, dentist).getAttribute('data-id'))!;
      const dentistToggle = row(page, dentist).getByTestId('toggle');
      for (const action of ['discard', 'retry'] as const) {
        await page.getByTestId('fault-reject').click();
        await expect.poll(async () => (await demo.admin.faults()).failStatus).toMatchObject({ status: 422, count: 1 });
        await dentistToggle.click();
        await expect.poll(() => page.getByTestId('failed-item').count()).toBe(1);
        await expect.poll(() => dentistToggle.isChecked()).toBe(true); // rolled back
        expect(await statusOf(page)).toBe('failed');
        if (action === 'discard') await page.screenshot({ path: join(SHOTS, `${app}-failed.png`), fullPage: true, animations: 'disabled' });
        await page.getByTestId('failed-item').getByTestId(action).click();
        await expect.poll(() => page.getByTestId('failed-item').count()).toBe(0);
      }
      await expect.poll(() => dentistToggle.isChecked()).toBe(false);
      await expect.poll(() => statusOf(page)).toBe('synced');
      expect(await serverTodo(dentistId)).toMatchObject({ done: false });
      expect(await historyOf(dentistId)).toEqual([
        'create alice',
        `update alice ${JSON.stringify({ done: true })}`,
        `update alice ${JSON.stringify({ done: false })}`,
      ]);

      // One-sided changes merge by themselves: we tick, Mallory renames, no dialog.
      const dentistRenamed = `Book the dentist for Tuesday (${app})`;
      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await dentistToggle.click();
      await expect.poll(() => row(page, dentist).getByTestId('pending').count()).toBe(1);
      expect((await demo.admin.edit({ resource: 'todos', id: dentistId, patch: { title: dentistRenamed } })).status).toBe(200);
      await page.getByTestId('pause').click(); // "Resume sync"
      await expect.poll(async () => await serverTodo(dentistId)).toMatchObject({ title: dentistRenamed, done: true });
      await expect.poll(() => statusOf(page)).toBe('synced');
      expect(await page.getByTestId('conflict-dialog').count()).toBe(0);
      await expect.poll(() => row(page, dentistRenamed).getByTestId('toggle').isChecked()).toBe(true);
      expect((await historyOf(dentistId)).slice(3)).toEqual([
        `update mallory ${JSON.stringify({ title: dentistRenamed })}`,
        `update alice ${JSON.stringify({ done: true })}`,
      ]);

      // A conflict: rename offline while another user renames the same todo on the server.
      await context.setOffline(true);
      await expect.poll(() => statusOf(page)).toBe('offline');
      const mine = `Water the plants, mine (${app})`;
      const theirs = `Water the plants, theirs (${app})`;
      await rename(page, renamed, mine);
      const edit = await demo.admin.edit({ resource: 'todos', id, patch: { title: theirs } });
      expect(edit.status).toBe(200);
      // Back online, the client sends the rename and pulls at the same time. Here the pulls wait
      // until the dialog is up; the test below lets the pull land first.
      const dialog = page.getByTestId('conflict-dialog');
      const dialogShown = dialog.waitFor({ state: 'visible', timeout: 15_000 });
      await holdPulls(page, dialogShown);
      await context.setOffline(false);

      await dialogShown;
      await page.unroute(PULLS);
      expect(await dialog.getAttribute('data-id')).toBe(id);
      expect(await dialog.getByTestId('base-title').textContent()).toBe(renamed);
      expect(await dialog.getByTestId('mine-title').textContent()).toBe(mine);
      expect(await dialog.getByTestId('theirs-title').textContent()).toBe(theirs);
      // `done` changed on neither side: no choice to make there.
      expect(await dialog.locator('tr[data-field="done"] button').count()).toBe(0);
      expect(await statusOf(page)).toBe('conflict'); // parked: nothing is sent until the user decides
      expect(await page.getByTestId('pending-count').textContent()).toBe('0');
      await page.screenshot({ path: join(SHOTS, `${app}-conflict.png`), fullPage: false, animations: 'disabled' });

      const choice = RESOLUTION[app];
      let expected = mine;
      if (choice === 'use-merged') {
        expected = `Water the plants, both (${app})`;
        await dialog.getByTestId('pick-title-theirs').click();
        expect(await dialog.getByTestId('merged-title').inputValue()).toBe(theirs);
        await dialog.getByTestId('merged-title').fill(expected);
      }
      if (choice === 'take-theirs') expected = theirs;
      await dialog.getByTestId(choice).click();
      await dialog.waitFor({ state: 'detached', timeout: 15_000 });

      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      await expect.poll(async () => (await serverTodo(id))?.title).toBe(expected);
      await expect.poll(() => row(page, expected).count()).toBe(1);
      expect(await row(page, expected).getByTestId('pending').count()).toBe(0);
      await page.waitForTimeout(500);
      const history = await historyOf(id);
      expect(history.slice(0, 3)).toEqual([
        'create alice',
        `update alice ${JSON.stringify({ title: renamed })}`,
        `update mallory ${JSON.stringify({ title: theirs })}`,
      ]);
      // Keeping mine or a merged value writes it once; taking theirs writes nothing more.
      expect(history.slice(3)).toEqual(choice === 'take-theirs' ? [] : [`update alice ${JSON.stringify({ title: expected })}`]);

      // The same conflict from the page alone, as the docs tell a visitor: pause sync, rename,
      // rename it again as Mallory with the fault switch, resume.
      const paused = `${expected}, paused`;
      const mallory = `Mallory's plants (${app})`;
      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await rename(page, expected, paused);
      await page.getByTestId('other-todo').selectOption(id);
      await page.getByTestId('other-title').fill(mallory);
      await page.getByTestId('other-edit').click();
      await expect.poll(async () => (await serverTodo(id))?.title).toBe(mallory);
      expect(await row(page, paused).getByTestId('pending').count()).toBe(1);
      await page.getByTestId('pause').click(); // "Resume sync"
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      expect(await dialog.getByTestId('base-title').textContent()).toBe(expected);
      expect(await dialog.getByTestId('mine-title').textContent()).toBe(paused);
      expect(await dialog.getByTestId('theirs-title').textContent()).toBe(mallory);
      const second = SECOND_RESOLUTION[app];
      await dialog.getByTestId(second).click();
      await dialog.waitFor({ state: 'detached', timeout: 15_000 });
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      const final = second === 'take-theirs' ? mallory : paused;
      await expect.poll(async () => (await serverTodo(id))?.title).toBe(final);
      await expect.poll(() => row(page, final).count()).toBe(1);
      expected = final;

      // A fresh load shows the same list (from the cache, revalidated against the server).
      await page.close();
      page = await openApp(context, app, problems);
      await expect.poll(() => row(page, expected).count()).toBe(1);
      expect(await row(page, dentistRenamed).getByTestId('toggle').isChecked()).toBe(true);

      expect(problems).toEqual([]);
    } catch (error) {
      // What the page looked like when it failed, next to the reviewer's screenshots.
      const open = context.pages().at(-1);
      await open?.screenshot({ path: join(SHOTS, `${app}-failure.png`), fullPage: true }).catch(() => undefined);
      if (open && error instanceof Error) error.message += `\n${await eventsOf(open)}`;
      throw error;
    } finally {
      await context.close();
    }
  });
});

describe('a pull that lands before the conflict, on the legacy app', () => {
  // The pull on reconnect rebases the pending rename on the other user's version; the conflict must
  // still compare with the version the rename was made on, so the dialog opens instead of the
  // rename silently overwriting theirs.
  it('opens the conflict dialog even when the reconnect pull lands before the 412', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, 'legacy', problems);
      const title = 'Race the pull (legacy)';
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).count()).toBe(1);
      const id = (await row(page, title).getAttribute('data-id'))!;
      await expect.poll(() => statusOf(page)).toBe('synced');
      await expect.poll(async () => (await serverTodo(id))?.title).toBe(title);

      await context.setOffline(true);
      await expect.poll(() => statusOf(page)).toBe('offline');
      await rename(page, title, 'Race the pull, mine');
      expect((await demo.admin.edit({ resource: 'todos', id, patch: { title: 'Race the pull, theirs' } })).status).toBe(200);
      // The rename waits until the reconnect pull has been answered (and given time to commit).
      const pulled = page.waitForResponse(PULLS, { timeout: 15_000 }).then(() => page.waitForTimeout(300));
      await page.route(`**/api/todos/${id}`, async (route) => {
        if (route.request().method() === 'PATCH') await pulled.catch(() => undefined);
        await route.continue().catch(() => undefined);
      });
      await context.setOffline(false);

      await expect.poll(() => page.getByTestId('pending-count').textContent(), { timeout: 15_000 }).toBe('0');
      await page.waitForTimeout(500);
      // Right: the rename waits in conflicts$, the dialog asks, the server keeps their title meanwhile.
      // With the bug: the server has 'Race the pull, mine' and no dialog ever opens.
      expect(await serverTodo(id)).toMatchObject({ title: 'Race the pull, theirs' });
      expect(await page.getByTestId('conflict-dialog').count()).toBe(1);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('"Decide later" on the %s app', (app) => {
  // The "Review conflicts" button brings back a dialog put off with "Decide later". When the
  // conflict changes (here: the other user renames it again), the dialog opens by itself with the
  // new version: the button must go, not stay beside the open dialog.
  it('hides the dialog behind "Review conflicts", and drops the button when the dialog reopens', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const title = `Decide later (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).count()).toBe(1);
      const id = (await row(page, title).getAttribute('data-id'))!;
      await expect.poll(() => statusOf(page)).toBe('synced');

      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await rename(page, title, `${title}, mine`);
      expect((await demo.admin.edit({ resource: 'todos', id, patch: { title: `${title}, theirs` } })).status).toBe(200);
      await page.getByTestId('pause').click(); // "Resume sync"
      const dialog = page.getByTestId('conflict-dialog');
      const review = page.getByTestId('review-conflicts');
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      expect(await review.isVisible()).toBe(false);

      await dialog.getByTestId('conflict-later').click();
      await dialog.waitFor({ state: 'detached' });
      expect(await review.isVisible()).toBe(true);
      await review.click();
      await dialog.waitFor({ state: 'visible' });
      expect(await review.isVisible()).toBe(false);
      await dialog.getByTestId('conflict-later').click();
      await dialog.waitFor({ state: 'detached' });

      expect((await demo.admin.edit({ resource: 'todos', id, patch: { title: `${title}, theirs again` } })).status).toBe(200);
      // A pull brings their new version (the page's own pull every few seconds may come first).
      await page.evaluate(() => (window as unknown as { demo: { client: { resource(name: string): { refresh(): Promise<void> } } } }).demo.client.resource('todos').refresh());
      await expect.poll(() => dialog.getByTestId('theirs-title').textContent().catch(() => null), { timeout: 15_000 }).toBe(`${title}, theirs again`);
      expect(await review.isVisible()).toBe(false);

      await dialog.getByTestId('take-theirs').click();
      await dialog.waitFor({ state: 'detached', timeout: 15_000 });
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      expect(await review.isVisible()).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('the legacy page before its client has said anything', () => {
  // The page's markup is on screen while harborsync.umd.min.js is still on its way: the pill must
  // not claim everything is saved before status$ has said so.
  it('does not show "synced" until status$ says it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      await page.route('**/harborsync.umd.min.js', async (route) => {
        await held;
        await route.continue().catch(() => undefined);
      });
      await page.goto(`${demo.url}legacy/`, { waitUntil: 'commit' });
      await page.getByTestId('status').waitFor({ state: 'attached' });
      expect(await statusOf(page)).toBe('loading');
      release();
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
    } finally {
      await context.close();
    }
  });
});

describe('a todo deleted offline, then the page reloaded, on the legacy app', () => {
  // After the reload the todo is gone from this device's list, and the page's memory of titles
  // with it: the activity log must still name the deletion by the todo's title, not its id.
  it('names the deletion by its title once it is sent', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, 'legacy', problems);
      const title = 'Deleted offline (legacy)';
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      // The row shows at once, marked "not synced" until the create's answer is stored. The status
      // says 'synced' until the create is counted, and a create already handed to the sender when
      // the network goes is no longer cancelled by the delete: both would wait, pending 2.
      await expect.poll(() => row(page, title).count()).toBe(1);
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      const id = (await row(page, title).getAttribute('data-id'))!;
      expect(await historyOf(id)).toEqual(['create alice']);

      await context.setOffline(true);
      await expect.poll(() => statusOf(page)).toBe('offline');
      await row(page, title).getByTestId('delete').click();
      await expect.poll(() => page.getByTestId('pending-count').textContent()).toBe('1');
      await page.reload();
      await expect.poll(() => page.getByTestId('pending-count').textContent(), { timeout: 15_000 }).toBe('1');

      await context.setOffline(false);
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      expect(await serverTodo(id)).toBeUndefined();
      const log = await page.locator('#activity').textContent();
      expect(log).toContain(`The server has the deletion of “${title}”`);
      expect(log).not.toContain(id);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('a change given up on after its retries, on the legacy app', () => {
  // After 10 attempts that met 503s the client parks the change in the failed list, still shown on
  // screen: the server never refused it. The list must say the client gave up, not only repeat the
  // last 503 as if it were the server's verdict. The page's clock is Playwright's, run forward.
  it('says in the failed list that it gave up after its attempts', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.clock.install();
    try {
      const page = await context.newPage();
      await page.goto(`${demo.url}legacy/`);
      await expect.poll(async () => (await page.clock.runFor(1000), statusOf(page)), { timeout: 15_000 }).toBe('synced');
      const title = 'Give up (legacy)';
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(async () => (await page.clock.runFor(1000), statusOf(page)), { timeout: 15_000 }).toBe('synced');

      await demo.admin.faults({ errorRate: 1, errorStatus: 503 });
      await row(page, title).getByTestId('toggle').click();
      await expect.poll(async () => (await page.clock.runFor(5000), page.getByTestId('failed-item').count()), { timeout: 30_000 }).toBe(1);
      expect(await row(page, title).getByTestId('toggle').isChecked()).toBe(true); // kept on screen
      expect(await page.getByTestId('failed-item').textContent()).toContain('Gave up after 10 attempts; the last answer was 503: injected fault: 503');
    } finally {
      await demo.admin.faults({ errorRate: null, errorStatus: null });
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('the %s app opened offline before it ever synced', (app) => {
  // Its IndexedDB is empty and nothing has come from the server yet: the list must not claim
  // there is nothing to do. Back online, the server's todos arrive.
  it('says the todos have not loaded yet, and shows them once online', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const title = `Waiting on the server (${app})`;
      const id = `toffline${app}`;
      expect((await demo.admin.edit({ resource: 'todos', create: { id, title, done: false } })).status).toBe(201);
      // Another app installs the service worker that serves this one's page offline.
      const first = await openApp(context, app === 'legacy' ? 'react' : 'legacy', problems);
      await context.setOffline(true);
      await first.goto(`${demo.url}${app}/`);
      await expect.poll(() => statusOf(first)).toBe('offline');
      const empty = first.getByTestId('empty');
      await expect.poll(() => empty.textContent()).toBe('Nothing loaded yet: the todos come from the server once it can be reached.');

      await context.setOffline(false);
      await expect.poll(() => row(first, title).count(), { timeout: 15_000 }).toBe(1);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('clicking another row while renaming, on the %s app', (app) => {
  // The press on the other row's control blurs the rename, which saves it and re-renders the list:
  // the control pressed must still get its click (the legacy page rebuilt every row, so it did not).
  it('saves the rename and still ticks, starts renaming, or deletes the other todo', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const first = `Click through, first (${app})`;
      const second = `Click through, second (${app})`;
      const third = `Click through, third (${app})`;
      for (const title of [first, second, third]) {
        await page.getByTestId('new-title').fill(title);
        await page.getByTestId('new-title').press('Enter');
        await expect.poll(() => row(page, title).count()).toBe(1);
      }
      const input = page.getByTestId('edit-input');

      await row(page, first).getByTestId('title').click();
      await input.fill(`${first}, renamed`);
      await row(page, second).getByTestId('toggle').click();
      await expect.poll(() => row(page, `${first}, renamed`).count()).toBe(1);
      await expect.poll(() => row(page, second).getByTestId('toggle').isChecked()).toBe(true);

      await row(page, `${first}, renamed`).getByTestId('title').click();
      await input.fill(`${first}, renamed again`);
      await row(page, second).getByTestId('edit').click();
      await expect.poll(() => row(page, `${first}, renamed again`).count()).toBe(1);
      await expect.poll(() => input.inputValue().catch(() => null)).toBe(second);
      await input.press('Escape');

      await row(page, third).getByTestId('title').click();
      await input.fill(`${third}, renamed`);
      await row(page, second).getByTestId('delete').click();
      await expect.poll(() => row(page, `${third}, renamed`).count()).toBe(1);
      await expect.poll(() => row(page, second).count()).toBe(0);
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('a click pressed while a pull re-renders the legacy page', () => {
  // The page pulls every few seconds, and each pull re-renders it. A button pressed as one lands
  // (mouse down, the pull, mouse up) must still get its click: Retry in the failed list, a filter.
  it('still retries the failed change and still switches the filter', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, 'legacy', problems);
      const title = 'Pressed across a pull (legacy)';
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      await page.getByTestId('fault-reject').click();
      await expect.poll(async () => (await demo.admin.faults()).failStatus).toMatchObject({ status: 422, count: 1 });
      await row(page, title).getByTestId('toggle').click();
      await expect.poll(() => page.getByTestId('failed-item').count()).toBe(1);

      /** Presses `target`, lets a pull re-render the page, releases. */
      const pressAcrossPull = async (target: ReturnType<Page['getByTestId']>) => {
        // At the top both are in view, clear of the sticky top bar (the list is long by now).
        await page.evaluate(() => window.scrollTo(0, 0));
        const box = (await target.boundingBox())!;
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await page.mouse.down();
        const pressed = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset['testid'] ?? document.activeElement?.tagName);
        expect(pressed).toBe(await target.getAttribute('data-testid'));
        await page.evaluate(
          () =>
            new Promise<void>((resolve) => {
              type Handle = { query$(q: object): { subscribe(f: () => void): { unsubscribe(): void } }; refresh(): Promise<void> };
              const todos = (window as unknown as { demo: { client: { resource(name: string): Handle } } }).demo.client.resource('todos');
              let seen = 0; // the first emission is the replay of the current state
              const subscription = todos.query$({ orderBy: 'id' }).subscribe(() => {
                if (++seen === 2) setTimeout(() => (subscription.unsubscribe(), resolve()));
              });
              void todos.refresh();
            }),
        );
        await page.mouse.up();
      };

      await pressAcrossPull(page.getByTestId('failed-item').getByTestId('retry'));
      await expect.poll(() => page.getByTestId('failed-item').count(), { timeout: 15_000 }).toBe(0);
      await expect.poll(() => row(page, title).getByTestId('toggle').isChecked()).toBe(true);

      await pressAcrossPull(page.getByTestId('filter-done'));
      await expect.poll(() => page.getByTestId('filter-done').getAttribute('aria-pressed')).toBe('true');
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('the other user\'s suggested title on the %s app', (app) => {
  // "Edit as another user" suggests "Mallory says: <title>" for the chosen todo. Renamed here, the
  // todo's new title shows in the picker: the suggestion must follow it, not keep the old title,
  // until the user types their own.
  it('follows the chosen todo\'s renames until the user types one', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const title = `Suggested (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).count()).toBe(1);
      const id = (await row(page, title).getAttribute('data-id'))!;
      const suggestion = page.getByTestId('other-title');
      await page.getByTestId('other-todo').selectOption(id);
      await expect.poll(() => suggestion.inputValue()).toBe(`Mallory says: ${title}`);

      await rename(page, title, `${title}, renamed`);
      await expect.poll(() => suggestion.inputValue()).toBe(`Mallory says: ${title}, renamed`);

      await suggestion.fill('My own words');
      await rename(page, `${title}, renamed`, `${title}, renamed again`);
      await expect.poll(() => page.getByTestId('other-todo').locator('option:checked').textContent()).toBe(`${title}, renamed again`);
      expect(await suggestion.inputValue()).toBe('My own words');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('another app\'s change while a change of ours waits, on the %s app', (app) => {
  // What one app sends the others pull a few seconds later (README), a change waiting to be sent
  // here (sync paused) included: a pull rebases it, and it still meets a conflict on its own base.
  it('shows the other app\'s new todo within a few seconds, and still sends ours', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const otherApp: App = app === 'legacy' ? 'react' : app === 'react' ? 'vue' : 'legacy';
      const other = await openApp(context, otherApp, problems);
      const title = `Waiting here (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      const id = (await row(page, title).getAttribute('data-id'))!;

      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await rename(page, title, `${title}, renamed`);
      await expect.poll(() => page.getByTestId('pending-count').textContent()).toBe('1');

      const sent = `Sent from ${otherApp} (for ${app})`;
      await other.getByTestId('new-title').fill(sent);
      await other.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(other, sent).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      await expect.poll(() => row(page, sent).count(), { timeout: 15_000 }).toBe(1);
      expect(await row(page, `${title}, renamed`).getByTestId('pending').count()).toBe(1);

      await page.getByTestId('pause').click(); // "Resume sync"
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      expect(await serverTodo(id)).toMatchObject({ title: `${title}, renamed` });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('"Edit as another user" while the fault switch fails the API, on the %s app', (app) => {
  // Mallory's rename goes through /admin, which the faults leave alone; the pull after it gets a
  // 503. The panel must say the rename happened, not show the pull's 503 as if the rename failed.
  it('says Mallory renamed the todo', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await openApp(context, app, []);
      const title = `Renamed through the faults (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      const id = (await row(page, title).getAttribute('data-id'))!;

      await demo.admin.faults({ errorRate: 1, errorStatus: 503 });
      await page.getByTestId('other-todo').selectOption(id);
      await page.getByTestId('other-title').fill(`${title}, by Mallory`);
      const answers: string[] = []; // in the order the page got them
      page.on('response', (response) => {
        if (response.url().endsWith('/admin/edit')) answers.push('edit');
        else if (response.url().includes('/api/todos') && response.request().method() === 'GET') answers.push(`pull ${response.status()}`);
      });
      await page.getByTestId('other-edit').click();
      await expect.poll(() => answers.slice(answers.indexOf('edit'))).toContain('pull 503');
      await page.waitForTimeout(300); // the page has taken in the 503 by now
      expect(await historyOf(id)).toEqual(['create alice', `update mallory ${JSON.stringify({ title: `${title}, by Mallory` })}`]);
      const hint = page.locator('.other-user .hint');
      expect(await hint.textContent()).toBe('Mallory renamed it on the server.');
      expect(await hint.getAttribute('class')).not.toContain('error');
    } finally {
      await demo.admin.faults({ errorRate: null, errorStatus: null });
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('ticking and renaming from the keyboard, on the %s app', (app) => {
  // A keyboard user keeps their place: the control they used keeps the focus when it is drawn
  // again (a row after the change and after the server's answer, the filters after a press), and a
  // rename ended with Enter or Escape gives the focus back to the row's rename button instead of
  // dropping it to the top of the page.
  it('keeps the focus on the control used', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const title = `Keyboard (${app})`;
      await page.getByTestId('new-title').focus();
      await page.keyboard.type(title);
      await page.keyboard.press('Enter');
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      const id = (await row(page, title).getAttribute('data-id'))!;
      const focused = () =>
        page.evaluate(() => {
          const element = document.activeElement as HTMLElement | null;
          return `${element?.closest('li')?.dataset['id'] ?? 'none'} ${element?.dataset['testid'] ?? element?.tagName}`;
        });

      await row(page, title).getByTestId('toggle').focus();
      await page.keyboard.press('Space');
      await expect.poll(() => row(page, title).getByTestId('toggle').isChecked()).toBe(true);
      expect(await focused()).toBe(`${id} toggle`);
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      expect(await focused()).toBe(`${id} toggle`);

      await row(page, title).getByTestId('edit').focus();
      await page.keyboard.press('Enter');
      await expect.poll(focused).toBe(`${id} edit-input`);
      await page.keyboard.type(`${title}, renamed`); // replaces the selected title
      await page.keyboard.press('Enter');
      await expect.poll(() => row(page, `${title}, renamed`).count()).toBe(1);
      await expect.poll(focused).toBe(`${id} edit`);
      await expect.poll(() => row(page, `${title}, renamed`).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      expect(await focused()).toBe(`${id} edit`);

      await page.keyboard.press('Enter');
      await expect.poll(focused).toBe(`${id} edit-input`);
      await page.keyboard.type('Not kept');
      await page.keyboard.press('Escape');
      await expect.poll(focused).toBe(`${id} edit`);
      expect(await row(page, `${title}, renamed`).count()).toBe(1);

      // The filters are buttons too.
      await page.getByTestId('filter-done').focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByTestId('filter-done').getAttribute('aria-pressed')).toBe('true');
      expect(await focused()).toBe('none filter-done');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('the conflict dialog from the keyboard, on the %s app', (app) => {
  // A modal dialog takes the focus when it opens (else Tab walks the page behind it), keeps it on
  // the choice pressed, and Escape puts it off like "Decide later".
  it('takes the focus, keeps it on a pick, and closes on Escape', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const title = `Dialog by keyboard (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      const id = (await row(page, title).getAttribute('data-id'))!;
      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await rename(page, title, `${title}, mine`);
      expect((await demo.admin.edit({ resource: 'todos', id, patch: { title: `${title}, theirs` } })).status).toBe(200);
      await page.getByTestId('pause').click(); // "Resume sync"

      const dialog = page.getByTestId('conflict-dialog');
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      const inDialog = () => page.evaluate(() => Boolean(document.activeElement?.closest('[data-testid="conflict-dialog"]')));
      await expect.poll(inDialog).toBe(true);

      const theirs = dialog.getByTestId('pick-title-theirs');
      await theirs.focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => theirs.getAttribute('aria-pressed')).toBe('true');
      expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset['testid'])).toBe('pick-title-theirs');

      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      await page.getByTestId('review-conflicts').click();
      await dialog.waitFor({ state: 'visible' });
      await expect.poll(inDialog).toBe(true);
      await dialog.getByTestId('take-theirs').click();
      await dialog.waitFor({ state: 'detached', timeout: 15_000 });
      await expect.poll(() => statusOf(page), { timeout: 15_000 }).toBe('synced');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.each<App>(['legacy', 'react', 'vue'])('the conflict dialog on a phone (375 px), on the %s app', (app) => {
  // The five-column table was wider than the dialog: "Theirs" and the Result column, with the picks
  // and the merged value, sat out of sight in a sideways scroll with nothing to say so.
  it('shows theirs and the result without scrolling sideways', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    try {
      const problems: string[] = [];
      const page = await openApp(context, app, problems);
      const title = `On a phone (${app})`;
      await page.getByTestId('new-title').fill(title);
      await page.getByTestId('new-title').press('Enter');
      await expect.poll(() => row(page, title).getByTestId('pending').count(), { timeout: 15_000 }).toBe(0);
      const id = (await row(page, title).getAttribute('data-id'))!;
      await page.getByTestId('pause').click();
      await expect.poll(() => statusOf(page)).toBe('paused');
      await rename(page, title, `${title}, mine`);
      expect((await demo.admin.edit({ resource: 'todos', id, patch: { title: `${title}, theirs` } })).status).toBe(200);
      await page.getByTestId('pause').click(); // "Resume sync"

      const dialog = page.getByTestId('conflict-dialog');
      await dialog.waitFor({ state: 'visible', timeout: 15_000 });
      for (const testid of ['mine-title', 'theirs-title', 'pick-title-theirs', 'merged-title', 'use-merged']) {
        const box = (await dialog.getByTestId(testid).boundingBox())!;
        expect({ testid, left: box.x >= 0, right: box.x + box.width <= 375 }).toEqual({ testid, left: true, right: true });
      }
      await dialog.getByTestId('take-theirs').tap();
      await dialog.waitFor({ state: 'detached', timeout: 15_000 });
      await page.screenshot({ path: join(SHOTS, `${app}-phone.png`), fullPage: true, animations: 'disabled' });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
