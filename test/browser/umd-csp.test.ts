// The script-tag build in real Chromium on a page served with `Content-Security-Policy:
// script-src 'self'`: the page (test/browser/umd-csp/) loads dist/harborsync.umd.min.js by
// <script src>, defines a resource with HarborSync.z, reads from the reference server and writes
// back. The policy must report nothing but the page's own inline canary, which proves it is in force.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../server/index.mjs';
import { launchChromium, scriptTagSite } from './chromium.js';

const POLICY = "script-src 'self'";
const TOKEN = 'demo-alice';

interface Todo {
  id: string;
  title: string;
  done: boolean;
  version: number;
}
type Outcome =
  | { read: Todo[]; created: Todo; completed: Todo; pending: number; online: boolean }
  | { error: string };

const pageDir = fileURLToPath(new URL('umd-csp', import.meta.url));

let site: string;
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;

async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${server.apiUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      'Content-Type': 'application/json',
      ...(method === 'GET' ? {} : { 'Idempotency-Key': `seed-${path}-${Date.now()}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function outcome(page: Page): Promise<Outcome> {
  const handle = await page.waitForFunction(() => (window as { outcome?: unknown }).outcome, undefined, { timeout: 30_000 });
  return (await handle.jsonValue()) as Outcome;
}

beforeAll(async () => {
  browser = await launchChromium();
  site = scriptTagSite(pageDir, 'umd-csp');
  server = await startServer({ port: 0, staticDir: site });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (site) rmSync(site, { recursive: true, force: true });
});

describe('the UMD build on a strict-CSP page', () => {
  it('loads by <script src>, reads from the server and writes back with no policy violation', async () => {
    await api('POST', '/todos', { id: 'seeded', title: 'A seeded todo', done: false });

    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Served by the reference server's static files; the policy is added to the document's answer.
    await page.route(`${server.url}`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': POLICY } });
    });
    await page.goto(server.url);

    const result = await outcome(page);
    if ('error' in result) throw new Error(`the page failed: ${result.error}`);
    expect(result.read.map((todo) => todo.title)).toEqual(['A seeded todo']);
    expect(result.created).toMatchObject({ title: 'Written by the page', done: false, version: expect.any(Number) });
    expect(result.completed).toMatchObject({ id: 'seeded', done: true });
    expect(result.pending).toBe(0);

    const stored = (await api('GET', '/todos')) as Todo[];
    expect(stored.map(({ id, title, done }) => ({ id, title, done })).sort((a, b) => a.title.localeCompare(b.title))).toEqual([
      { id: 'seeded', title: 'A seeded todo', done: true },
      { id: result.created.id, title: 'Written by the page', done: false },
    ]);
    await expect.poll(() => page.locator('#todos li').allTextContents()).toEqual([
      '[x] A seeded todo',
      '[ ] Written by the page',
    ]);

    const page$ = await page.evaluate(() => ({
      violations: (window as { cspViolations?: unknown[] }).cspViolations,
      inlineScriptRan: (window as { inlineScriptRan?: boolean }).inlineScriptRan ?? false,
    }));
    expect(page$.inlineScriptRan).toBe(false);
    expect(page$.violations).toEqual([{ directive: 'script-src-elem', blocked: 'inline', sample: '' }]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
