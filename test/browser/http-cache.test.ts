// A backend behind a CDN or a framework that marks its API's answers cacheable, in real Chromium:
// the browser's HTTP cache sits between the page (test/browser/http-cache/) and the API, which is
// on another origin. Whatever freshness the answers claim (max-age, or only Last-Modified, from
// which a browser computes one), a pull must reach the server: refresh() shows what the server
// holds, and a delete this page confirmed never comes back, neither at once nor after a reload.
// A proxy's own answer to a write (an error page the browser hides for want of CORS headers, a
// captive portal's page, a 503 asking to wait) is no success: the write goes again with its key.
// (Playwright's page.route() is not used: routing turns Chromium's HTTP cache off.)
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_PREFIX, OWN_TOKEN, ownBackend } from '../helpers/own-backend.js';
import { launchChromium, scriptTagSite } from './chromium.js';

const STEP = 10_000;
const pageDir = fileURLToPath(new URL('http-cache', import.meta.url));

let site: string;
let pages: Server;
let pagesOrigin: string;
let browser: Browser;

interface PageApp {
  refresh(): Promise<string[]>;
  create(todo: { id: string; title: string; done: boolean }): Promise<{ id: string; version: number }>;
  remove(id: string): Promise<true>;
  switchUser(token: string): Promise<void>;
}
declare const window: { app: PageApp };

beforeAll(async () => {
  browser = await launchChromium();
  site = scriptTagSite(pageDir, 'http-cache');
  pages = createServer((req, res) => {
    const file = new URL(req.url ?? '/', 'http://pages').pathname.slice(1) || 'index.html';
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8';
    let body: Buffer;
    try {
      body = readFileSync(join(site, file));
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'Content-Type': type }).end(body);
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagesOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
  if (site) rmSync(site, { recursive: true, force: true });
});

const DAY_AGO = new Date(Date.now() - 86_400_000).toUTCString();
const cacheable: Array<[string, Record<string, string>]> = [
  ['Cache-Control: max-age=60', { 'Cache-Control': 'max-age=60' }],
  ['only Last-Modified (heuristic freshness)', { 'Last-Modified': DAY_AGO }],
  ['private, max-age=60 with an ETag and Vary: Authorization', { 'Cache-Control': 'private, max-age=60', ETag: '"list"', Vary: 'Authorization, Origin' }],
];

describe('API answers the browser may cache', () => {
  for (const [headers, added] of cacheable) {
    for (const delta of [false, true]) {
      it(`${headers}, ${delta ? 'a delta feed' : 'a whole list'}: every pull reaches the server, and a confirmed delete stays deleted across a reload`, async () => {
        const preflights: string[] = [];
        const backend = await ownBackend({
          ids: 'client',
          intercept: (req, res) => {
            if (req.method === 'OPTIONS') preflights.push(String(req.headers['access-control-request-headers'] ?? ''));
            // Added to whatever the backend answers next: its own headers are merged with these.
            if (req.method === 'GET') for (const [name, value] of Object.entries(added)) res.setHeader(name, value);
            return false;
          },
        });
        const elsewhere = async (method: string, id: string, body: Record<string, unknown>, version?: number) => {
          const path = method === 'POST' ? 'todos' : `todos/${id}`;
          const response = await fetch(`${backend.origin}${OWN_PREFIX}/${path}?key=k-123`, {
            method,
            headers: {
              Authorization: `Bearer ${OWN_TOKEN}`,
              'Content-Type': 'application/json',
              'Idempotency-Key': `elsewhere-${method}-${id}-${Math.random()}`,
              ...(version === undefined ? {} : { 'If-Match': `"${version}"` }),
            },
            body: JSON.stringify(body),
          });
          expect(response.ok).toBe(true);
        };
        const context = await browser.newContext();
        const errors: string[] = [];
        const open = async (page: Page) => {
          await page.goto(`${pagesOrigin}/?api=${encodeURIComponent(backend.baseUrl)}&delta=${delta ? 1 : 0}`, { timeout: STEP });
          await page.waitForFunction(() => window.app !== undefined, undefined, { timeout: STEP });
        };
        const refresh = (page: Page) => page.evaluate(() => window.app.refresh());
        try {
          await elsewhere('POST', 'a', { id: 'a', title: 'first', done: false });
          const page = await context.newPage();
          page.on('pageerror', (error) => errors.push(error.message));
          await open(page);
          expect(await refresh(page)).toEqual(['a:first']);
          // Nothing new: the answer a cache could keep for this very request next time.
          expect(await refresh(page)).toEqual(['a:first']);

          await elsewhere('POST', 'b', { id: 'b', title: 'second', done: false });
          expect(await refresh(page)).toEqual(['a:first', 'b:second']);

          await page.evaluate(() => window.app.remove('a'));
          expect(await refresh(page)).toEqual(['b:second']);

          await elsewhere('PATCH', 'b', { title: 'renamed' }, 3);
          await page.reload();
          await page.waitForFunction(() => window.app !== undefined, undefined, { timeout: STEP });
          expect(await refresh(page)).toEqual(['b:renamed']);

          // The cache bypass adds no request header a CORS preflight would have to allow.
          expect(preflights.filter((asked) => /cache-control|pragma/i.test(asked))).toEqual([]);
          expect(errors).toEqual([]);
        } finally {
          await context.close();
          await backend.close();
        }
      });
    }
  }

  for (const delta of [false, true]) {
    it(`${delta ? 'a delta feed' : 'a whole list'} answered with max-age=60: after a logout, the next user on the browser never sees the last one's data`, async () => {
      const backend = await ownBackend({
        ids: 'client',
        intercept: (req, res) => {
          if (req.method !== 'GET') return false;
          res.setHeader('Cache-Control', 'max-age=60');
          if (req.headers.authorization !== 'Bearer bob') return false;
          // Bob has nothing yet.
          const empty = delta ? { items: [], deleted: [], cursor: 'c0' } : [];
          res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json' }).end(JSON.stringify(empty));
          return true;
        },
      });
      const context = await browser.newContext();
      try {
        await fetch(`${backend.origin}${OWN_PREFIX}/todos?key=k-123`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${OWN_TOKEN}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'seed-a' },
          body: JSON.stringify({ id: 'a', title: 'first', done: false }),
        });
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(`${pagesOrigin}/?api=${encodeURIComponent(backend.baseUrl)}&delta=${delta ? 1 : 0}`, { timeout: STEP });
        await page.waitForFunction(() => window.app !== undefined, undefined, { timeout: STEP });
        expect(await page.evaluate(() => window.app.refresh())).toEqual(['a:first']);
        await page.evaluate(() => window.app.switchUser('bob'));
        expect(await page.evaluate(() => window.app.refresh())).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
        await backend.close();
      }
    });
  }
});

describe("a proxy's own answer to a write", () => {
  const answers: Array<[string, (res: ServerResponse) => void, number]> = [
    ['a 502 HTML page without CORS headers (the browser hides it: no answer)', (res) => void res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html>Bad gateway</html>'), 0],
    ["a captive portal's 200 HTML page", (res) => void res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'text/html' }).end('<html>Sign in to the Wi-Fi</html>'), 0],
    [
      'a 503 whose Retry-After of 2 s is exposed',
      (res) =>
        void res
          .writeHead(503, { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Retry-After', 'Retry-After': '2', 'Content-Type': 'text/html' })
          .end('<html>Service unavailable</html>'),
      2_000,
    ],
  ];
  for (const [name, answer, waitMs] of answers) {
    it(`${name}: the create is sent again with its key and body${waitMs ? ', not before it asked' : ''}, and applied once`, async () => {
      const posts: Array<{ at: number; key: string; body: string }> = [];
      const backend = await ownBackend({
        ids: 'client',
        intercept: (req, res, body) => {
          if (req.method !== 'POST') return false;
          posts.push({ at: Date.now(), key: String(req.headers['idempotency-key']), body });
          if (posts.length > 1) return false;
          answer(res);
          return true;
        },
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(`${pagesOrigin}/?api=${encodeURIComponent(backend.baseUrl)}&delta=0`, { timeout: STEP });
        await page.waitForFunction(() => window.app !== undefined, undefined, { timeout: STEP });
        const saved = await page.evaluate(() => window.app.create({ id: 'm', title: 'Milk', done: false }));
        expect(saved).toMatchObject({ id: 'm', version: 3 });
        expect(posts).toHaveLength(2);
        expect(posts[1]).toMatchObject({ key: posts[0]!.key, body: posts[0]!.body });
        expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(waitMs);
        expect([...backend.entities.keys()]).toEqual(['m']);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
        await backend.close();
      }
    });
  }
});
