#!/usr/bin/env node
// `npm run bench`: harborsync against raw IndexedDB (the physical limit) and its peers (TanStack DB,
// RxDB, Dexie), in real Chromium. Every page is bundled from bench/pages/ with esbuild (harborsync
// from src/, so the current source is measured). Each repeat of each scenario runs in a browser on
// a fresh on-disk profile (a copy of one seeded once per invocation), each row in a new page on an
// origin of its own; rows rotate order between repeats; figures are medians over repeats, each also
// a ratio to its baseline measured in the same repeat. Writes bench/results.md and results.json.
//
//   npm run bench                                   full run (N = 10,000, 5 repeats)
//   npm run bench -- --smoke                        N = 500, 1 repeat, small counts (< 1 minute; npm test runs it)
//   npm run bench -- --only reaction,durable --peers tanstack --repeats 7 --n 20000
//   npm run bench -- --profile reaction             CPU profile of harborsync's timed part, top self time
//   npm run bench -- --profile drain:raw-seq,drain  the same of a named row (here the raw loop), then harborsync's
//   npm run bench -- --only durable --against HEAD  A/B: the working tree's src/ against HEAD's
//
// Flags: --n N (10000), --big N (reaction's large size, 100000), --repeats R (5), --only list,
// --peers list (tanstack,rxdb,dexie), --writes W (durable writes and drain updates, 1000),
// --profile list (profile harborsync in these scenarios, once each; scenario:row profiles that row,
//   its id as results.json names it), --out DIR (bench/), --verbose,
// --extras (reference rows beyond the issue's: raw durable writes with default durability, a raw
//   fetch pool with 8 requests in flight and harborsync with maxInFlight 8 beside it, the
//   sequential loop storing each answer as a drain must),
// --against REV (every harborsync row also built from REV's src/, e.g. HEAD~1: an A/B in one run),
// --src DIR (harborsync built from DIR instead of src/: try a change without touching the tree),
// --drain-server memory|reference (the drain's API: in memory, or server/index.mjs behind a proxy).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, hostname, loadavg } from 'node:os';
import { extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { startServer } from '../server/index.mjs';
import { createMemoryApi, createReferenceApi } from '../bench/drain-api.mjs';
import { helpWhenAsked } from './usage.mjs';

helpWhenAsked(import.meta.url);

const root = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-precise-memory-info', '--js-flags=--expose-gc',
];
const TOKEN = 'demo-alice';
const SCENARIOS = ['ingest', 'hydrate', 'reaction', 'durable', 'drain', 'memory', 'on-demand', 'takeover'];
const PEERS = ['tanstack', 'rxdb', 'dexie'];
/**
 * The takeover rows: Web Locks or the BroadcastChannel election, the leader closed or crashed.
 * Only closed ones have a target: a crashed page says nothing, so the election waits out its lease.
 */
const TAKEOVER_ROWS = [true, false].flatMap((locks) =>
  ['close', 'crash'].map((end) => ({
    id: `${locks ? 'locks' : 'channel'}${end === 'crash' ? '-crash' : ''}`,
    locks,
    end,
    name: `${locks ? 'Web Locks' : 'election'}, ${end === 'close' ? 'closed' : 'crashed'}`,
  })),
);
const SUBJECTS = ['harborsync', 'raw', 'dexie', 'rxdb', 'tanstack'];
/** harborsync built from `--against REV`'s src/, next to the working tree's. */
const BASE = 'harborsync-base';

// ---- flags --------------------------------------------------------------------------------------

function parseFlags(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2);
    if (['smoke', 'verbose', 'extras'].includes(name)) flags[name] = true;
    else flags[name] = inline ?? argv[++i];
  }
  const list = (value, all, what) => {
    if (value === undefined) return all;
    const items = String(value).split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) if (!all.includes(item)) throw new Error(`--${what}: unknown "${item}" (one of ${all.join(', ')})`);
    return items;
  };
  const int = (value, fallback, what) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} must be a positive integer, got ${value}`);
    return n;
  };
  // `scenario` (harborsync's row) or `scenario:row`; the row is checked against the plan when profiled.
  const profiled = (value) =>
    value === undefined
      ? []
      : String(value).split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
          const [scenario, row = null] = item.split(':', 2);
          list(scenario, ['ingest', 'hydrate', 'reaction', 'durable', 'drain'], 'profile');
          return { scenario, row };
        });
  const smoke = !!flags.smoke;
  if (flags['drain-server'] !== undefined && !['memory', 'reference'].includes(flags['drain-server'])) {
    throw new Error(`--drain-server: memory or reference, got ${flags['drain-server']}`);
  }
  const known = ['src', 'against', 'drain-server', 'smoke', 'verbose', 'extras', 'n', 'big', 'repeats', 'only', 'peers', 'writes', 'profile', 'out'];
  for (const name of Object.keys(flags)) if (!known.includes(name)) throw new Error(`unknown flag --${name}`);
  const n = int(flags.n, smoke ? 500 : 10_000, 'n');
  return {
    smoke,
    verbose: !!flags.verbose,
    n,
    big: int(flags.big, smoke ? 2_000 : 100_000, 'big'),
    repeats: int(flags.repeats, smoke ? 1 : 5, 'repeats'),
    writes: int(flags.writes, smoke ? 50 : 1_000, 'writes'),
    only: list(flags.only, SCENARIOS, 'only'),
    peers: list(flags.peers, PEERS, 'peers'),
    profile: profiled(flags.profile),
    extras: !!flags.extras,
    drainServer: flags['drain-server'] ?? 'memory',
    against: flags.against,
    src: flags.src === undefined ? null : resolve(flags.src),
    out: flags.out ?? join(root, 'bench'),
  };
}

// ---- what runs ----------------------------------------------------------------------------------

/**
 * A variant is one row: a subject's page, the scenario function it calls, its parameters.
 * `reload`: open the origin's databases once (`warm`), reload the page, then call `fn`.
 * `slot`: the origin it runs on; `seed`: what the template profile stores there first (each run
 * starts from a copy); `api`: the drain API is reset to this many todos before the call, and a
 * function `params` receives their ids.
 */
function plan(opts) {
  const { n, big, writes, peers } = opts;
  /** A variant that starts from N todos already stored by its library (seeded once, in the template). */
  const seeded = (subject, size, copy = '') => ({ slot: `${subject}${copy}@${size}`, seed: { subject, params: { n: size } } });
  const has = (peer) => peers.includes(peer);
  const scenarios = [];
  const wanted = (name) => opts.only.includes(name);

  if (wanted('ingest')) {
    scenarios.push({
      name: 'ingest',
      title: `ingest: a list answer of ${fmtInt(n)} written to the cache`,
      variants: [
        { id: 'raw+valid', subject: 'raw', fn: 'ingest', params: { n, validate: true }, baseline: true, label: 'raw idb + zod validation (baseline)' },
        { id: 'raw', subject: 'raw', fn: 'ingest', params: { n, validate: false }, label: 'raw idb, no validation' },
        { id: 'harborsync', subject: 'harborsync', fn: 'ingest', params: { n }, label: 'harborsync (validates)' },
        has('dexie') && { id: 'dexie', subject: 'dexie', fn: 'ingest', params: { n }, label: 'Dexie bulkPut (no validation)' },
        has('rxdb') && { id: 'rxdb', subject: 'rxdb', fn: 'ingest', params: { n }, label: 'RxDB bulkInsert' },
      ].filter(Boolean),
      metrics: [{ key: 'ms', label: 'ms' }],
    });
  }

  if (wanted('hydrate') || wanted('memory')) {
    scenarios.push({
      name: 'hydrate',
      title: `hydrate: after a reload, start → first complete list of ${fmtInt(n)}`,
      variants: [
        { id: 'raw', subject: 'raw', fn: 'hydrate', params: { n }, ...seeded('raw', n), reload: true, baseline: true, label: 'raw idb getAll (baseline)' },
        { id: 'harborsync', subject: 'harborsync', fn: 'hydrate', params: { n }, ...seeded('harborsync', n), reload: true, label: 'harborsync query$()' },
        has('dexie') && { id: 'dexie', subject: 'dexie', fn: 'hydrate', params: { n }, ...seeded('dexie', n), reload: true, label: 'Dexie toArray' },
        has('rxdb') && { id: 'rxdb', subject: 'rxdb', fn: 'hydrate', params: { n }, ...seeded('rxdb', n), reload: true, label: 'RxDB find().exec()' },
      ].filter(Boolean),
      metrics: [
        wanted('hydrate') && { key: 'ms', label: 'ms' },
        wanted('memory') && { key: 'heap', label: 'heap MB', scale: 1 / 2 ** 20, section: 'memory' },
      ].filter(Boolean),
    });
  }

  if (wanted('reaction')) {
    const reaction = { single: opts.smoke ? 50 : 200, burst: 100 };
    const sizes = big > n ? [n, big] : [n];
    const variants = [];
    for (const size of sizes) {
      const isBig = size !== n;
      const p = { n: size, ...reaction };
      const tag = `@${fmtShort(size)}`;
      if (has('tanstack')) variants.push({ id: `tanstack${tag}`, subject: 'tanstack', fn: 'reaction', params: p, baseline: true, group: tag, label: `TanStack DB live query, N=${fmtInt(size)} (baseline)` });
      variants.push({ id: `harborsync${tag}`, subject: 'harborsync', fn: 'reaction', params: p, ...seeded('harborsync', size), group: tag, label: `harborsync query$, N=${fmtInt(size)}`, baseline: !has('tanstack') });
      if (!isBig && has('rxdb')) variants.push({ id: `rxdb${tag}`, subject: 'rxdb', fn: 'reaction', params: p, ...seeded('rxdb', size), group: tag, label: `RxDB query.$, N=${fmtInt(size)}` });
      if (!isBig && has('dexie')) variants.push({ id: `dexie${tag}`, subject: 'dexie', fn: 'reaction', params: p, ...seeded('dexie', size), group: tag, label: `Dexie liveQuery, N=${fmtInt(size)}` });
    }
    scenarios.push({
      name: 'reaction',
      title: `reaction: live query (done = false, by title, limit 50); ${reaction.single} sequential updates, then a burst of ${reaction.burst}`,
      variants,
      metrics: [
        { key: 'median', label: 'median ms' },
        { key: 'p95', label: 'p95 ms' },
        { key: 'burst', label: `burst of ${reaction.burst} ms` },
      ],
    });
  }

  if (wanted('durable')) {
    const p = { n, count: writes };
    scenarios.push({
      name: 'durable',
      title: `durable writes: ${fmtInt(writes)} sequential awaited updates (entity + outbox entry)`,
      variants: [
        { id: 'raw', subject: 'raw', fn: 'durable', params: p, ...seeded('raw', n), baseline: true, label: 'raw idb put + outbox add, one strict tx (baseline)' },
        opts.extras && { id: 'raw-default', subject: 'raw', fn: 'durable', params: { ...p, durability: 'default' }, ...seeded('raw', n, 'b'), label: 'raw idb, the same with default durability (reference)' },
        { id: 'harborsync', subject: 'harborsync', fn: 'durable', params: p, ...seeded('harborsync', n), label: 'harborsync update()' },
        has('dexie') && { id: 'dexie', subject: 'dexie', fn: 'durable', params: p, ...seeded('dexie', n), label: 'Dexie rw transaction: update + outbox add' },
        has('rxdb') && { id: 'rxdb', subject: 'rxdb', fn: 'durable', params: p, ...seeded('rxdb', n), label: 'RxDB incrementalPatch' },
        has('tanstack') && { id: 'tanstack', subject: 'tanstack', fn: 'durable', params: p, label: 'TanStack DB + offline-transactions (outbox stored)' },
      ].filter(Boolean),
      metrics: [{ key: 'ms', label: 'ms' }],
    });
  }

  if (wanted('drain')) {
    const ten = 10;
    const updatesFor = (ids) => Array.from({ length: writes }, (_, i) => ({ id: ids[i % ids.length], title: `drained ${i}`, version: 1 }));
    // The raw loop sends what the server must end with: one request per entity, its last title.
    const lastPerEntity = (ids) => [...new Map(updatesFor(ids).map((u) => [u.id, u])).values()];
    // harborsync's updates are queued offline once, in the template; each run starts from a copy.
    // A slot (origin, so database) per row: each row drains its own copy of the queue.
    const queued = (entities, maxInFlight) => ({
      slot: `harborsync-drain@${entities}x${maxInFlight}`,
      seed: { subject: 'harborsync', fn: 'drainSeed', api: entities, apiKind: opts.drainServer, params: (ids) => ({ namespace: 'drain', updates: updatesFor(ids) }) },
      api: entities,
      apiKind: opts.drainServer,
      params: () => ({ namespace: 'drain', expected: Math.min(writes, entities), maxInFlight }),
    });
    scenarios.push({
      name: 'drain',
      title: `drain: ${fmtInt(writes)} queued updates delivered to a local server (${opts.drainServer === 'memory' ? 'in-memory API' : 'the reference server, PGlite'}) once online`,
      variants: [
        { id: 'raw-seq', subject: 'raw', fn: 'drain', api: writes, apiKind: opts.drainServer, params: (ids) => ({ window: 1, updates: lastPerEntity(ids) }), baseline: true, label: 'raw fetch loop, sequential (baseline)' },
        { id: 'harborsync-seq', subject: 'harborsync', fn: 'drain', ...queued(writes, 1), label: `harborsync, ${fmtInt(writes)} distinct entities, maxInFlight 1 (one at a time)` },
        { id: 'harborsync', subject: 'harborsync', fn: 'drain', ...queued(writes, 4), label: `harborsync, ${fmtInt(writes)} distinct entities, maxInFlight 4` },
        opts.extras && { id: 'raw-seq-settle', subject: 'raw', fn: 'drain', api: writes, apiKind: opts.drainServer, params: (ids) => ({ window: 1, settle: true, updates: lastPerEntity(ids) }), label: 'raw fetch loop, sequential, each answer stored with its outbox entry deleted (reference)' },
        opts.extras && { id: 'raw-window8', subject: 'raw', fn: 'drain', api: writes, apiKind: opts.drainServer, params: (ids) => ({ window: 8, updates: lastPerEntity(ids) }), label: 'raw fetch pool, 8 in flight (reference)' },
        opts.extras && { id: 'harborsync-window8', subject: 'harborsync', fn: 'drain', ...queued(writes, 8), label: `harborsync, ${fmtInt(writes)} distinct entities, maxInFlight 8 (reference)` },
        { id: 'harborsync-coalesce', subject: 'harborsync', fn: 'drain', ...queued(ten, 4), label: `harborsync, ${fmtInt(writes)} updates to ${ten} entities` },
      ].filter(Boolean),
      metrics: [
        { key: 'ms', label: 'ms' },
        { key: 'requests', label: 'requests', noRatio: true },
      ],
    });
  }
  if (wanted('on-demand')) {
    const firstPage = (extra) => ({ api: n, apiKind: 'reference', params: extra });
    scenarios.push({
      name: 'on-demand',
      title: `on-demand first page: live query (done = false, by title, limit 50) on an empty cache, ${fmtInt(n)} todos on the reference server`,
      variants: [
        { id: 'raw', subject: 'raw', fn: 'firstPage', ...firstPage({ store: true }), baseline: true, label: 'raw: GET the page, validate, store in one tx (baseline)' },
        { id: 'raw-net', subject: 'raw', fn: 'firstPage', ...firstPage({ store: false }), label: 'raw: GET the page only (reference)' },
        { id: 'harborsync', subject: 'harborsync', fn: 'firstPage', ...firstPage({ load: 'on-demand' }), label: "harborsync load: 'on-demand'" },
        { id: 'harborsync-all', subject: 'harborsync', fn: 'firstPage', ...firstPage({ load: 'all' }), label: `harborsync load: 'all' (pulls all ${fmtInt(n)} first)` },
      ],
      metrics: [{ key: 'ms', label: 'ms' }],
    });
  }
  if (wanted('takeover')) {
    // RELIABILITY G9: how long a queue waits for another tab to send it when its leader closes.
    // At least 20 trials per row over the repeats.
    const trials = opts.smoke ? 1 : Math.ceil(20 / opts.repeats);
    scenarios.push({
      name: 'takeover',
      title: `takeover: two pages of one origin, the leading one closed (\`page.close()\`, as a user closes a tab) or crashed (CDP \`Page.crash\`); ${trials} trial${trials > 1 ? 's' : ''} per row and repeat, timed from then to \`status$.leader\` in the other page`,
      variants: TAKEOVER_ROWS.map(({ id, locks, end }) => ({
        id,
        subject: 'harborsync',
        fn: 'tabOpen',
        tabs: { trials, locks, end },
        label: `harborsync, ${locks ? 'Web Locks' : 'election (no Web Locks)'}, leader ${end === 'close' ? 'closed' : 'crashed'}`,
      })),
      metrics: [
        { key: 'median', label: 'median ms', noRatio: true },
        { key: 'p95', label: 'p95 ms', noRatio: true },
      ],
    });
  }
  if (opts.against) {
    // Every harborsync row gets a twin built from that revision, on its own origin and seed.
    for (const scenario of scenarios) {
      scenario.variants = scenario.variants.flatMap((v) => {
        if (v.subject !== 'harborsync') return [v];
        const twin = { ...v, id: `${v.id}~base`, subject: BASE, baseline: false, label: `${v.label} @ ${opts.against}` };
        if (v.slot) twin.slot = `${v.slot}~base`;
        if (v.seed) twin.seed = { ...v.seed, subject: BASE };
        return [v, twin];
      });
    }
  }
  return scenarios;
}

// ---- building the pages -------------------------------------------------------------------------

async function buildPages(site, subjects, against, src) {
  mkdirSync(site, { recursive: true });
  const options = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: site,
    // Not minified: the CPU profiles then name harborsync's functions and modules.
    minify: false,
    sourcemap: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  };
  /** Bundles harborsync.ts with `../../src/index.js` taken from `dir` instead. */
  const from = (dir) => ({
    name: 'src-from',
    setup(b) {
      b.onResolve({ filter: /\/src\/index\.js$/ }, (args) =>
        args.importer.endsWith(join('bench', 'pages', 'harborsync.ts')) ? { path: join(dir, 'index.ts') } : undefined,
      );
    },
  });
  const pages = subjects.filter((s) => s !== BASE && !(src && s === 'harborsync'));
  await build({ ...options, entryPoints: Object.fromEntries(pages.map((s) => [s, join(root, 'bench', 'pages', `${s}.ts`)])) });
  if (src && subjects.includes('harborsync')) {
    await build({ ...options, entryPoints: { harborsync: join(root, 'bench', 'pages', 'harborsync.ts') }, plugins: [from(src)] });
  }
  if (subjects.includes(BASE)) {
    // The same page over another revision's src/ (git archive), for an A/B in one run.
    const dir = join(site, '..', `src-${against.replace(/\W/g, '_')}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git archive ${JSON.stringify(against)} src | tar -x -C ${JSON.stringify(dir)}`], { cwd: root });
    await build({ ...options, entryPoints: { [BASE]: join(root, 'bench', 'pages', 'harborsync.ts') }, plugins: [from(join(dir, 'src'))] });
  }
  for (const s of subjects) {
    writeFileSync(join(site, `${s}.html`), `<!doctype html><meta charset="utf-8"><title>${s}</title><script type="module" src="/${s}.js"></script>\n`);
  }
}

// ---- serving the pages ----------------------------------------------------------------------------

/**
 * Every variant gets its own origin ("slot"): a loopback address of its own (127.0.0.10, .11, …),
 * so its storage is its own and it runs in its own renderer process (each address is a site).
 * `--smoke` (which `npm test` runs) keeps to 127.0.0.1, a port per slot: still an origin, so
 * storage, of its own, though slots may then share a renderer process, which only timings feel.
 * These origins are cross-origin isolated (COOP + COEP): performance.now() then has 5 µs
 * resolution instead of 100 µs, which the sub-millisecond reaction figures need. They also serve
 * the drain's API under /api (bench/drain-api.mjs), so its requests are same-origin (no preflights).
 */
function createSlots(site, api, oneHost) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  const servers = new Map();
  const handler = (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/api/') && api()) {
      Promise.resolve(api().handle(req, res, path)).catch((error) => res.writeHead(500).end(String(error)));
      return;
    }
    const name = path.replace(/^\/+/, '');
    const file = join(site, name);
    if (name === 'favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': types[extname(name)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    res.end(readFileSync(file));
  };
  return {
    /** The origin of a slot, started on first use; the same for the whole invocation. */
    async url(slot) {
      let entry = servers.get(slot);
      if (!entry) {
        const host = oneHost ? '127.0.0.1' : `127.0.0.${10 + servers.size}`;
        const server = createServer(handler);
        entry = new Promise((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, () => resolve({ server, url: `http://${host}:${server.address().port}/` }));
        });
        servers.set(slot, entry);
      }
      return (await entry).url;
    },
    async close() {
      for (const entry of servers.values()) {
        const { server } = await entry;
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  };
}

// ---- running ------------------------------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function call(page, fn, params) {
  await page.waitForFunction(() => globalThis.__bench, undefined, { timeout: 30_000 });
  return withTimeout(page.evaluate(([f, p]) => globalThis.__bench.run(f, p), [fn, params]), 300_000, fn);
}

function launch(dir) {
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 60_000 });
}

/** Parameters of a call: drain calls get a freshly seeded API and its ids first. */
async function paramsOf(ctx, origin, spec, api, kind) {
  if (api === undefined) return { ...(typeof spec === 'function' ? spec([]) : spec) };
  ctx.active = ctx.apis[kind];
  if (!ctx.active) throw new Error(`no ${kind} API in this run`);
  // Drain runs write: they reseed every time. The on-demand reads reuse untouched data.
  const ids = await ctx.active.reset(api, { reuse: kind === 'reference' && !ctx.writesTo(kind) });
  return { ...(typeof spec === 'function' ? spec(ids) : spec), apiUrl: `${origin}api`, token: TOKEN };
}

/** Seeds every slot the scenarios start from, once, into one profile that each run then copies. */
async function makeTemplate(ctx, scenarios) {
  const seeds = new Map();
  for (const scenario of scenarios) for (const v of scenario.variants) if (v.seed) seeds.set(v.slot, v.seed);
  if (seeds.size === 0) return null;
  const dir = mkdtempSync(join(ctx.tmp, 'template-'));
  const t0 = Date.now();
  const context = ctx.shared ?? (await launch(dir));
  try {
    for (const [slot, { subject, fn = 'seed', params, api, apiKind }] of seeds) {
      const page = await context.newPage();
      try {
        const origin = await ctx.slots.url(slot);
        await page.goto(`${origin}${subject}.html`);
        await call(page, fn, await paramsOf(ctx, origin, params, api, apiKind));
      } finally {
        await page.close();
      }
    }
  } finally {
    if (!ctx.shared) await context.close();
  }
  console.log(`  seeded ${[...seeds.keys()].join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return dir;
}

/**
 * One repeat of one scenario: a browser on a fresh copy of the seeded profile (or an empty one),
 * each variant in a new page on its own origin, in the given order.
 */
async function runScenario(ctx, scenario, order, run, profile = false) {
  if (ctx.shared) return runVariants(ctx, ctx.shared, scenario, order, run, profile);
  const dir = mkdtempSync(join(ctx.tmp, 'profile-'));
  if (ctx.template && scenario.variants.some((v) => v.seed)) cpSync(ctx.template, dir, { recursive: true });
  const launched = Date.now();
  const context = await launch(dir);
  if (ctx.verbose) console.log(`  [${scenario.name} run ${run}] browser up in ${Date.now() - launched} ms`);
  try {
    return await runVariants(ctx, context, scenario, order, run, profile);
  } finally {
    await context.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runVariants(ctx, context, scenario, order, run, profile) {
  const results = {};
  for (const variant of order) {
    try {
      const t0 = Date.now();
      results[variant.id] = await runVariant(ctx, context, variant, `${run}-${variant.id}`, profile);
      if (ctx.verbose) console.log(`  [${scenario.name} run ${run}] ${variant.id}: ${Date.now() - t0} ms wall`);
    } catch (error) {
      results[variant.id] = { error: error.message.split('\n')[0] };
      console.error(`  ${scenario.name}/${variant.id} (run ${run}): ${error.message}`);
    }
  }
  return results;
}

async function runVariant(ctx, context, variant, run, profile) {
  if (variant.tabs) return takeoverTrials(ctx, context, variant, run);
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || ctx.verbose) logs.push(`[${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  let profiled = null;
  if (profile) {
    // The page calls this around its timed part (bench/pages/common.ts `mark`).
    const cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await page.exposeFunction('__profileHook', async (what) => {
      if (what === 'start') await cdp.send('Profiler.start');
      else profiled = (await cdp.send('Profiler.stop')).profile;
    });
  }
  try {
    const origin = await ctx.slots.url(variant.slot ?? `${variant.fn}:${variant.id}`);
    await page.goto(`${origin}${variant.subject}.html`);
    if (!(await page.evaluate(() => globalThis.crossOriginIsolated))) throw new Error('the page is not cross-origin isolated');
    if (variant.reload) {
      await call(page, 'warm', {});
      await page.reload();
    }
    const params = await paramsOf(ctx, origin, variant.params, variant.api, variant.apiKind);
    const result = await call(page, variant.fn, params);
    if (profile) result.profile = profiled;
    if (ctx.verbose && logs.length) console.log(logs.join('\n'));
    return result;
  } catch (error) {
    if (logs.length) console.error(logs.slice(-20).join('\n'));
    throw error;
  } finally {
    await page.close().catch(() => undefined);
  }
}

/**
 * The takeover trials: in each, a leading page and a following one on a namespace of their own;
 * the leader's page is closed as a user closes a tab, and the follower reports when it leads.
 * Both clocks are the machine's wall clock (`Date.now()`).
 */
async function takeoverTrials(ctx, context, variant, run) {
  const { trials, locks, end } = variant.tabs;
  const origin = await ctx.slots.url(`takeover:${variant.id}`);
  const samples = [];
  for (let k = 0; k < trials; k++) {
    const namespace = `takeover-${run}-${k}`;
    const leader = await context.newPage();
    const follower = await context.newPage();
    try {
      await leader.goto(`${origin}${variant.subject}.html`);
      await call(leader, variant.fn, { namespace, locks, lead: true });
      await follower.goto(`${origin}${variant.subject}.html`);
      if ((await call(follower, variant.fn, { namespace, locks, lead: false })).leader) throw new Error('takeover: the second page leads beside the first');
      const cdp = end === 'crash' ? await context.newCDPSession(leader) : null;
      const closedAt = Date.now();
      if (cdp) {
        // Page.crash never answers (its page is gone): the page's crash event says it happened.
        const crashed = leader.waitForEvent('crash');
        void cdp.send('Page.crash').catch(() => undefined);
        await crashed;
      } else await leader.close();
      const handle = await follower.waitForFunction(() => globalThis.__leaderAt, undefined, { timeout: 30_000 });
      const ms = (await handle.jsonValue()) - closedAt;
      if (ms < 0) throw new Error(`takeover: the second page led ${-ms} ms before the first went`);
      samples.push(ms);
    } finally {
      await leader.close().catch(() => undefined);
      await follower.close().catch(() => undefined);
    }
  }
  return { takeover: samples };
}

// ---- statistics ---------------------------------------------------------------------------------

function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Per-run metrics: reaction runs reduce their 200 samples to a median and a p95 first. */
function metricsOf(result) {
  if (Array.isArray(result.single)) return { median: median(result.single), p95: percentile(result.single, 95), burst: result.burst };
  if (Array.isArray(result.takeover)) return { median: median(result.takeover), p95: percentile(result.takeover, 95), samples: result.takeover };
  return result;
}

// ---- formatting ---------------------------------------------------------------------------------

function fmtInt(n) {
  return n.toLocaleString('en-US');
}
function fmtShort(n) {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}
function fmtNum(x) {
  if (x === null || x === undefined) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
const fmtRatio = (r) => (r === null || r === undefined ? '—' : `${r.toFixed(2)}×`);

// ---- targets ------------------------------------------------------------------------------------

function targets(summary, opts, runs) {
  const get = (scenario, id, key) => summary[scenario]?.[id]?.median?.[key] ?? null;
  const ratio = (scenario, a, b, key) => (summary[scenario] ? paired(runs[scenario], a, b, key) : null);
  const spread = (scenario, a, b, key) => fmtPaired(runs[scenario], a, b, key);
  const out = [];
  const add = (name, target, value, met, note = '') => out.push({ name, target, value, met, note });
  if (summary.ingest) {
    const r = ratio('ingest', 'harborsync', 'raw+valid', 'ms');
    add('ingest', '≤ 1.2× raw with validation', spread('ingest', 'harborsync', 'raw+valid', 'ms'), r !== null && r <= 1.2);
  }
  if (summary.hydrate && opts.only.includes('hydrate')) {
    const r = ratio('hydrate', 'harborsync', 'raw', 'ms');
    add('hydrate', '≤ 1.2× raw getAll', spread('hydrate', 'harborsync', 'raw', 'ms'), r !== null && r <= 1.2);
  }
  if (summary.hydrate && opts.only.includes('memory')) {
    const r = ratio('hydrate', 'harborsync', 'raw', 'heap');
    add('memory', '≤ 2× raw heap holding the same N', spread('hydrate', 'harborsync', 'raw', 'heap'), r !== null && r <= 2);
  }
  if (summary.reaction) {
    const n = `@${fmtShort(opts.n)}`;
    const big = `@${fmtShort(opts.big)}`;
    const hasBig = opts.big > opts.n;
    const hasTan = opts.peers.includes('tanstack');
    if (hasBig && hasTan) {
      const hm = get('reaction', `harborsync${big}`, 'median');
      const tm = get('reaction', `tanstack${big}`, 'median');
      add('reaction median', `below TanStack DB at N=${fmtInt(opts.big)}`, `${fmtNum(hm)} vs ${fmtNum(tm)} ms`, hm !== null && tm !== null && hm < tm);
      const hp = get('reaction', `harborsync${big}`, 'p95');
      const tp = get('reaction', `tanstack${big}`, 'p95');
      add('reaction p95', `below TanStack DB at N=${fmtInt(opts.big)}`, `${fmtNum(hp)} vs ${fmtNum(tp)} ms`, hp !== null && tp !== null && hp < tp);
    }
    if (hasBig) {
      const r = ratio('reaction', `harborsync${big}`, `harborsync${n}`, 'median');
      add('reaction scaling', `median at ${fmtShort(opts.big)} ≤ 1.5× at ${fmtShort(opts.n)}`, spread('reaction', `harborsync${big}`, `harborsync${n}`, 'median'), r !== null && r <= 1.5);
    }
    if (hasTan) {
      for (const tag of hasBig ? [n, big] : [n]) {
        const hb = get('reaction', `harborsync${tag}`, 'burst');
        const tb = get('reaction', `tanstack${tag}`, 'burst');
        add(`reaction burst ${tag.slice(1)}`, 'last emission sooner than TanStack DB', `${fmtNum(hb)} vs ${fmtNum(tb)} ms`, hb !== null && tb !== null && hb < tb);
      }
    }
  }
  if (summary.durable) {
    const r = ratio('durable', 'harborsync', 'raw', 'ms');
    add('durable writes', '≤ 1.3× raw', spread('durable', 'harborsync', 'raw', 'ms'), r !== null && r <= 1.3);
  }
  if (summary.drain) {
    const seq = ratio('drain', 'harborsync-seq', 'raw-seq', 'ms');
    add('drain', '≤ 1.2× raw sequential loop (maxInFlight 1)', spread('drain', 'harborsync-seq', 'raw-seq', 'ms'), seq !== null && seq <= 1.2);
    const r = ratio('drain', 'harborsync', 'raw-seq', 'ms');
    add('drain, concurrent', 'faster than the sequential loop (< 1.0×; maxInFlight 4)', spread('drain', 'harborsync', 'raw-seq', 'ms'), r !== null && r < 1);
    const q = get('drain', 'harborsync-coalesce', 'requests');
    add('drain, coalescing', `${fmtInt(opts.writes)} updates to 10 entities: ≤ 10 requests`, q === null ? '—' : `${q} requests`, q !== null && q <= 10);
  }
  if (summary.takeover) {
    // The p95 over every trial of every repeat, not a median of per-repeat p95s.
    const all = (id) => (runs.takeover?.[id] ?? []).flatMap((x) => x?.samples ?? []);
    for (const { id, end, name } of TAKEOVER_ROWS) {
      const judged = end === 'close';
      const xs = all(id);
      const p95 = xs.length ? percentile(xs, 95) : null;
      const value = p95 === null ? '—' : `p95 ${fmtNum(p95)} ms over ${xs.length} trials`;
      add(`takeover, ${name}`, judged ? 'p95 < 1,000 ms (RELIABILITY G9)' : 'reported (no target)', value, judged ? p95 !== null && p95 < 1000 : null);
    }
  }
  if (summary['on-demand']) {
    const r = ratio('on-demand', 'harborsync', 'raw', 'ms');
    const all = ratio('on-demand', 'harborsync-all', 'raw', 'ms');
    add('on-demand first page', 'no target in the issue; ratio to raw GET + validate + store', `${fmtRatio(r)} (load 'all': ${fmtRatio(all)})`, null);
  }
  return out;
}

/** Repeat r: the rows rotated by r, every other repeat reversed, so each takes every position. */
function orderOf(variants, r) {
  const n = variants.length;
  const rotated = variants.map((_, i) => variants[(i + r) % n]);
  return r % 2 === 0 ? rotated : rotated.reverse();
}

/** The variant's baseline: the row marked so in its group (reaction groups rows by N). */
function baselineOf(scenario, variant) {
  return scenario.variants.find((v) => v.baseline && (v.group ?? '') === (variant.group ?? '')) ?? null;
}

/**
 * a / b, taken within each repeat (the two ran in the same browser, minutes apart at most) and
 * then the median over repeats: robust to the machine's load moving between repeats.
 */
function paired(runs, a, b, key) {
  return median(pairedRatios(runs, a, b, key));
}

/** The ratio a / b in each repeat where both ran. */
function pairedRatios(runs, a, b, key) {
  const xs = runs?.[a] ?? [];
  const ys = runs?.[b] ?? [];
  return xs.map((x, i) => ratio(x?.[key] ?? null, ys[i]?.[key] ?? null)).filter((q) => q !== null);
}

/** The median ratio and, over several repeats, their spread: how far this machine's noise moves it. */
function fmtPaired(runs, a, b, key) {
  const ratios = pairedRatios(runs, a, b, key);
  const r = median(ratios);
  if (ratios.length < 2) return fmtRatio(r);
  return `${fmtRatio(r)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

function ratio(a, b) {
  return a === null || b === null || b === 0 ? null : a / b;
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const opts = parseFlags(process.argv.slice(2));
  const loadAtStart = loadavg().map((x) => +x.toFixed(2));
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH)`);
  const scenarios = plan(opts);
  const started = Date.now();
  const tmp = join(root, 'bench', 'tmp');
  mkdirSync(tmp, { recursive: true });
  const site = mkdtempSync(join(tmp, 'site-'));
  const subjects = [...SUBJECTS, BASE].filter((s) => scenarios.some((sc) => sc.variants.some((v) => v.subject === s)) || (s === 'harborsync' && opts.profile.length));
  await buildPages(site, subjects.length ? subjects : ['harborsync'], opts.against, opts.src);
  // The reference server (PGlite) is only started when a scenario talks to it.
  const kinds = new Set(scenarios.flatMap((sc) => sc.variants.map((v) => v.apiKind)).filter(Boolean));
  if (opts.profile.some((p) => p.scenario === 'drain')) kinds.add(opts.drainServer);
  const server = kinds.has('reference') ? await startServer({ port: 0 }) : null;
  const apis = {
    memory: kinds.has('memory') ? createMemoryApi({ token: TOKEN }) : null,
    reference: server ? createReferenceApi(server) : null,
  };
  const ctx = { apis, active: null, tmp, writes: opts.writes, verbose: opts.verbose, template: null };
  // The drain writes; the on-demand first page only reads and may reuse seeded data.
  ctx.writesTo = (kind) => ctx.currentScenario === 'drain' && kind === opts.drainServer;
  const slots = createSlots(site, () => ctx.active, opts.smoke);
  ctx.slots = slots;
  const chromiumVersion = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  console.log(`harborsync bench · ${chromiumVersion} · nproc ${nproc()} · N=${fmtInt(opts.n)} · repeats ${opts.repeats}`);

  const raw = {};
  const summary = {};
  try {
    if (opts.profile.length) {
      await profileRuns(ctx, opts, site);
      return;
    }
    // --smoke checks that everything runs, fast: one browser for all of it, seeded in place.
    if (opts.smoke) ctx.shared = await launch((ctx.sharedDir = mkdtempSync(join(tmp, 'profile-'))));
    ctx.template = await makeTemplate(ctx, scenarios);
    for (const scenario of scenarios) {
      const t0 = Date.now();
      ctx.currentScenario = scenario.name;
      raw[scenario.name] = {};
      for (let r = 0; r < opts.repeats; r++) {
        const results = await runScenario(ctx, scenario, orderOf(scenario.variants, r), r + 1);
        for (const variant of scenario.variants) {
          const result = results[variant.id]?.error ? results[variant.id] : metricsOf(results[variant.id]);
          (raw[scenario.name][variant.id] ??= []).push(result);
          if (opts.verbose) console.log(`  ${scenario.name}/${variant.id} #${r + 1}: ${JSON.stringify(result)}`);
        }
      }
      summary[scenario.name] = {};
      for (const variant of scenario.variants) {
        const runs = raw[scenario.name][variant.id] ?? [];
        const med = {};
        for (const { key } of scenario.metrics) med[key] = median(runs.map((x) => x[key]));
        const base = baselineOf(scenario, variant);
        const rel = {};
        for (const { key } of scenario.metrics) rel[key] = base ? paired(raw[scenario.name], variant.id, base.id, key) : null;
        summary[scenario.name][variant.id] = { median: med, ratio: rel, runs: runs.length, errors: runs.filter((x) => x.error).length, durability: runs.find((x) => x.durability)?.durability };
      }
      console.log(`  ${scenario.name}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    await ctx.shared?.close();
    if (ctx.sharedDir) rmSync(ctx.sharedDir, { recursive: true, force: true });
    await slots.close();
    await server?.close();
    if (ctx.template) rmSync(ctx.template, { recursive: true, force: true });
    rmSync(site, { recursive: true, force: true });
  }

  const meta = {
    date: new Date().toISOString(),
    // Other work on a shared machine shows here; the ratios are taken within one run for that reason.
    loadAverage: { start: loadAtStart, end: loadavg().map((x) => +x.toFixed(2)) },
    machine: { nproc: nproc(), cpu: cpus()[0]?.model ?? 'unknown', host: hostname(), chromium: chromiumVersion, node: process.version },
    options: { n: opts.n, big: opts.big, repeats: opts.repeats, writes: opts.writes, only: opts.only, peers: opts.peers, smoke: opts.smoke },
    durationSeconds: Math.round((Date.now() - started) / 1000),
    commit: gitHead(),
  };
  const rows = tableRows(scenarios, summary);
  const goals = targets(summary, opts, raw);
  const text = renderText(meta, rows, goals);
  console.log(`\n${text}`);
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(join(opts.out, 'results.md'), renderMarkdown(meta, scenarios, rows, goals));
  writeFileSync(join(opts.out, 'results.json'), `${JSON.stringify({ ...meta, summary, targets: goals, runs: raw }, null, 2)}\n`);
  console.log(`\nwrote ${relative(root, join(opts.out, 'results.md'))} and results.json in ${meta.durationSeconds} s`);
}

function nproc() {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return cpus().length;
  }
}

function gitHead() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function tableRows(scenarios, summary) {
  const rows = [];
  for (const scenario of scenarios) {
    const s = summary[scenario.name];
    if (!s) continue;
    for (const metric of scenario.metrics) {
      const section = metric.section ?? scenario.name;
      for (const variant of scenario.variants) {
        const base = baselineOf(scenario, variant);
        const value = s[variant.id]?.median[metric.key] ?? null;
        const scale = metric.scale ?? 1;
        rows.push({
          section,
          subject: variant.label,
          metric: metric.label,
          value: value === null ? null : value * scale,
          ratio: metric.noRatio ? null : (s[variant.id]?.ratio[metric.key] ?? null),
          baseline: variant.id === base?.id,
          errors: s[variant.id]?.errors ?? 0,
          durability: scenario.name === 'durable' ? s[variant.id]?.durability : undefined,
        });
      }
    }
  }
  return rows;
}

function renderText(meta, rows, goals) {
  const lines = [];
  const w = [12, 58, 16, 10, 8];
  const pad = (s, n) => String(s).padEnd(n);
  lines.push([pad('scenario', w[0]), pad('subject', w[1]), pad('metric', w[2]), pad('median', w[3]), 'ratio'].join(' '));
  lines.push('-'.repeat(w.reduce((a, b) => a + b + 1, 0)));
  for (const r of rows) {
    const subject = r.subject + (r.durability ? ` [${r.durability}]` : '') + (r.errors ? ` (${r.errors} failed)` : '');
    lines.push([pad(r.section, w[0]), pad(subject, w[1]), pad(r.metric, w[2]), pad(fmtNum(r.value), w[3]), fmtRatio(r.ratio)].join(' '));
  }
  lines.push('');
  lines.push('targets:');
  for (const g of goals) lines.push(`  ${g.met === null ? '·' : g.met ? '✓' : '✗'} ${pad(g.name, 24)} ${pad(g.target, 48)} ${g.value}`);
  lines.push(`\n${meta.date} · ${meta.machine.chromium} · nproc ${meta.machine.nproc} · ${meta.machine.cpu} · load average ${meta.loadAverage.start[0]} → ${meta.loadAverage.end[0]}`);
  return lines.join('\n');
}

function renderMarkdown(meta, scenarios, rows, goals) {
  const o = meta.options;
  const out = [];
  out.push('# harborsync benchmarks');
  out.push('');
  out.push(`Measured ${meta.date.slice(0, 16).replace('T', ' ')} UTC on ${meta.machine.cpu}, \`nproc\` = ${meta.machine.nproc}, ${meta.machine.chromium} (headless; each repeat of each scenario in a browser on a fresh copy of one seeded on-disk profile, each row in a new page on an origin of its own), Node ${meta.machine.node}, commit ${meta.commit ?? '?'}.`);
  out.push(`The machine is shared: 1-minute load average ${meta.loadAverage.start[0]} at the start, ${meta.loadAverage.end[0]} at the end (2 cores), so absolute times drift; compare ratios.`);
  out.push(`N = ${fmtInt(o.n)}${o.only.includes('reaction') && o.big > o.n ? ` (reaction also at ${fmtInt(o.big)})` : ''}, ${o.repeats} repeat${o.repeats > 1 ? 's' : ''} per row, rows rotating order between repeats; ${fmtInt(o.writes)} writes for durable writes and drain. Run took ${meta.durationSeconds} s.`);
  out.push('Every figure is the median over repeats. The ratio is to the row in bold (the baseline of its section, or of its N): taken within each repeat, where both ran in the same browser minutes apart, then the median over repeats (robust to the machine\'s load moving between repeats). Reproduce with `npm run bench` (flags in scripts/bench.mjs).');
  out.push('');
  out.push('## Targets (issue 11)');
  out.push('');
  out.push('Measured: the median ratio over repeats, and in brackets the lowest and highest of the repeats: how far this machine\'s noise moves it.');
  out.push('');
  out.push('| | target | measured | met |');
  out.push('| --- | --- | --- | --- |');
  for (const g of goals) out.push(`| ${g.name} | ${g.target} | ${g.value} | ${g.met === null ? '—' : g.met ? 'yes' : '**no**'} |`);
  out.push('');
  out.push('## Results');
  out.push('');
  out.push('| scenario | subject | metric | median | ratio |');
  out.push('| --- | --- | --- | ---: | ---: |');
  for (const r of rows) {
    const subject = (r.baseline ? `**${r.subject}**` : r.subject) + (r.durability ? ` [durability: ${r.durability}]` : '') + (r.errors ? ` (${r.errors} runs failed)` : '');
    out.push(`| ${r.section} | ${subject} | ${r.metric} | ${fmtNum(r.value)} | ${fmtRatio(r.ratio)} |`);
  }
  out.push('');
  const notes = join(root, 'bench', 'notes.md');
  if (existsSync(notes)) {
    out.push(readFileSync(notes, 'utf8').trim());
    out.push('');
  }
  out.push('## Method');
  out.push('');
  for (const scenario of scenarios) out.push(`- ${scenario.title}.`);
  out.push(...METHOD_NOTES);
  out.push('');
  return out.join('\n');
}

const METHOD_NOTES = [
  '- Subjects: harborsync bundled from `src/` with esbuild (current source), raw IndexedDB with no library (the physical limit: same stores, same work, `durability: \'strict\'` as harborsync uses), and the pinned peers used as their docs show (bench/pages/*.ts).',
  '- ingest: harborsync through a transport whose list answer is already in memory (no network), so the figure is validation of each item + one transaction + the mirror; the database is opened before timing for every subject.',
  '- hydrate: the origin holds N todos stored by its library (seeded once per invocation, copied per repeat); the page opens its databases once, is reloaded, and is timed from the library\'s first call (createSyncClient, `new Dexie`, createRxDatabase, indexedDB.open) to the first complete list. memory: used JS heap after a forced GC, after hydrate, minus before, with the list and the library instance kept alive.',
  '- reaction: each update moves a not-done todo to the top of the query, timed from the call to the emission showing it (TanStack DB: its `subscribeChanges` callback carrying the change); each write is awaited before the next one, untimed. The burst issues 100 updates back to back and stops at the emission showing the last.',
  '- durable writes: harborsync and the raw baseline use strict durability; the durability column shows what each peer\'s transactions ran with. TanStack DB: each offline transaction is awaited until its outbox entry is stored (its `commit()` settles only when the server has it).',
  '- takeover: each trial opens two pages of one origin on a namespace of its own (no network: the client is offline); the first leads, the second follows (checked), then the first is closed (`page.close()`) or crashed (CDP `Page.crash`), and the second records `Date.now()` when `status$.leader` turns true; the figure is that minus the runner\'s `Date.now()` just before the close. With Web Locks the lock passes when the page goes; without them a closing page resigns on `pagehide` and the others claim (250 ms), while a crashed one says nothing and is taken for gone once its lease runs out (4 s after its last heartbeat, which comes every second). Headless pages are visible: a follower in a hidden tab, whose timers Chromium aligns to a second, may take longer by election.',
  '- drain: the API is bench/drain-api.mjs on the page\'s own origin: by default DESIGN section 2\'s update path in memory (no database behind it, so the figure is what the client adds per request); `--drain-server reference` proxies to server/index.mjs (PGlite, ~20-30 ms a write here). harborsync\'s updates are queued offline once (in the seeded profile, through the `online` seam); each run goes online and is timed to `pending = 0`; the raw loop sends the same PATCH requests (bearer, If-Match, Idempotency-Key, JSON body) with fetch and reads each answer.',
];

async function profileRuns(ctx, opts, site) {
  const source = readFileSync(join(site, 'harborsync.js'), 'utf8').split('\n');
  // esbuild marks each module with a `// path` comment: map bundle lines back to src files.
  const marks = [];
  source.forEach((line, i) => {
    const m = /^\/\/ (\S+\.(?:ts|js|mjs))$/.exec(line);
    if (m) marks.push([i, m[1]]);
  });
  const moduleOf = (line) => {
    let found = '?';
    for (const [at, path] of marks) {
      if (at > line) break;
      found = path;
    }
    return found;
  };
  const byScenario = {};
  // The same variants as the measured runs: harborsync's (reaction at the large N), or the row named.
  const all = plan({ ...opts, only: [...new Set(opts.profile.map((p) => p.scenario))], extras: true });
  const picked = [];
  for (const { scenario: name, row } of opts.profile) {
    const scenario = all.find((sc) => sc.name === name);
    const variant = scenario?.variants.find((v) =>
      row === null ? v.subject === 'harborsync' && (name !== 'reaction' || v.params.n === Math.max(opts.n, opts.big)) : v.id === row,
    );
    if (!variant) throw new Error(`--profile: no row "${row}" in ${name} (one of ${scenario?.variants.map((v) => v.id).join(', ')})`);
    picked.push({ name, file: row === null ? `harborsync-${name}` : `${name}-${row}`, scenario: { ...scenario, variants: [variant] }, variant });
  }
  ctx.template = await makeTemplate(ctx, picked.map((p) => p.scenario));
  for (const { name, file: fileName, scenario, variant } of picked) {
    const n = variant.params.n ?? opts.writes;
    const result = (await runScenario(ctx, scenario, [variant], 'profile', true))[variant.id];
    if (!result || result.error) continue;
    const { profile } = result;
    delete result.profile;
    const file = join(ctx.tmp, `${fileName}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const total = profile.endTime - profile.startTime;
    const interval = total / Math.max(1, profile.samples.length);
    const self = new Map();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const module = url.endsWith('/harborsync.js') ? moduleOf(lineNumber) : url ? url.replace(/^.*\//, '') : '(native)';
      const key = `${functionName || '(anonymous)'} · ${module}${url.endsWith('/harborsync.js') ? `:${lineNumber + 1}` : ''}`;
      self.set(key, (self.get(key) ?? 0) + node.hitCount * interval);
    }
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
    console.log(`\nprofile: ${variant.label} (N=${fmtInt(n)}) — ${JSON.stringify(metricsOf(result))}`);
    const idle = self.get('(idle) · (native)') ?? 0;
    console.log(`  ${relative(root, file)} · ${(total / 1000).toFixed(0)} ms sampled, main thread busy ${((total - idle) / 1000).toFixed(0)} ms`);
    for (const [key, us] of top) console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
    byScenario[fileName] = top.map(([key, us]) => ({ fn: key, selfMs: +(us / 1000).toFixed(2) }));
  }
  writeFileSync(join(ctx.tmp, 'profiles.json'), JSON.stringify(byScenario, null, 2));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
