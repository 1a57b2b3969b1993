/**
 * The chaos engine: a seeded random walk over several devices, each a client on its own
 * fake-indexeddb IDBFactory, against the reference server, with faults at the network edge of
 * every device and on the server, device crashes, offline spells and clock jumps. After a heal it
 * checks, from the server's ledger (the oracle, not the SDK's own state):
 *
 * - duplicates: a marker (the unique `title` every create/update writes) applied more than once,
 *   or one (user, Idempotency-Key) applied more than once: must be 0;
 * - lost: a write whose promise resolved and that is neither applied, nor superseded by a later
 *   write of the same device on the same entity (coalescing, a conflict re-send that carried the
 *   newer view), nor resolved away by a conflict policy, nor left visible in conflicts$/failed$:
 *   must be 0;
 * - key misuse: any 422 (the server's answer to a key reused for a different request): must be 0;
 * - convergence: after heal every device's local view equals the server's list, nothing pending;
 *   with `onDemand`, every live query of every tab shows what the server answers for its filter,
 *   order and limit.
 *
 * The command list is a pure function of the seed and the state the devices show, so a seed
 * replays the same walk; interleavings of real IO (PGlite, sockets) between two commands may
 * still differ, which the engine narrows by waiting for quiet after every command.
 *
 * Used by test/chaos/chaos.test.ts (short, in `npm test`) and scripts/chaos.mjs (`npm run chaos`).
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { BehaviorSubject, type Subscription } from 'rxjs';
import { z } from 'zod';
import { createTestBackend, type LedgerEntry, type RunningServer } from '../../server/index.mjs';
import {
  createSyncClient,
  defineResource,
  type Conflict,
  type FailedMutation,
  type QueryState,
  type SyncClient,
  type SyncEvent,
  type SyncStatus,
  ValidationError,
} from '../../src/index.js';
import { ManualClock, seededRandom, settle } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';
import { openRaw } from '../helpers/raw-idb.js';

export const chaosTodo = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
type Todo = z.infer<typeof chaosTodo>;
/**
 * The walk's todos, followed through the delta feed or re-read whole on every pull; named by the
 * client, or by the server (creates then go out under temporary ids).
 */
export const chaosResource = ({ serverIds, fullPulls, onDemand = false }: { serverIds: boolean; fullPulls: boolean; onDemand?: boolean }) =>
  onDemand
    ? // Loaded per live query; a small cache, so that entities no query shows are evicted all the time.
      defineResource({ name: 'todos', schema: chaosTodo, ids: serverIds ? 'server' : 'client', load: 'on-demand', cacheLimit: CHAOS_CACHE_LIMIT })
    : defineResource({ name: 'todos', schema: chaosTodo, delta: !fullPulls, ids: serverIds ? 'server' : 'client' });

/** `--on-demand`: entities kept beyond what the live queries show and pending changes hold. */
export const CHAOS_CACHE_LIMIT = 4;
/** `--on-demand`: the walk creates no more once the server holds this many todos. */
const ON_DEMAND_MAX_TODOS = 24;

/** One on-demand live query a tab holds: `where: { done }`, an order, a limit of 3 to 10. */
interface QuerySpec {
  done: boolean;
  field: 'title' | 'id';
  desc: boolean;
  limit: number;
}

const describeQuery = (q: QuerySpec) => `done=${q.done} ${q.desc ? '-' : ''}${q.field} limit=${q.limit}`;

function randomQuery(rng: Rng): QuerySpec {
  return { done: rng.chance(0.5), field: rng.pick(['title', 'id'] as const), desc: rng.chance(0.25), limit: rng.int(3, 10) };
}

/** One user per device, so the ledger's `user` tells which device applied a write. */
export const CHAOS_TOKENS: Readonly<Record<string, string>> = Object.freeze({
  'chaos-d0': 'd0',
  'chaos-d1': 'd1',
  'chaos-d2': 'd2',
  'chaos-d3': 'd3',
  'chaos-d4': 'd4',
  'chaos-d5': 'd5',
  'demo-alice': 'alice',
});

export interface ChaosBackend {
  server: RunningServer;
  /** The server names new entities; the walk then creates under temporary ids. */
  serverIds: boolean;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The reference server on an in-memory PGlite, with one token per device. */
export async function startChaosBackend({ serverIds = false }: { serverIds?: boolean } = {}): Promise<ChaosBackend> {
  const backend = createTestBackend();
  const server = await backend.start({ tokens: { ...CHAOS_TOKENS }, serverIds });
  return { server, serverIds, reset: () => backend.reset(), close: () => backend.close() };
}

export interface ChaosOptions {
  seed: number;
  /** Devices (default 3, at most 6). */
  devices?: number;
  /** Commands of the random walk (default: 30 to 80, drawn from the seed). */
  commands?: number;
  /** Multiplies every fault probability (default 1; 0 runs without faults: "test the test"). */
  faultScale?: number;
  /** Use the server's fault switch too (default true). Edge faults are per device and seeded. */
  serverFaults?: boolean;
  /** Tabs per device at most (default 2): tabs share the device's IndexedDB, Web Locks and BroadcastChannel. */
  tabs?: number;
  /** Pulls re-read the whole list instead of following the delta feed (default false). */
  fullPulls?: boolean;
  /**
   * The resource is `load: 'on-demand'` with a cacheLimit of 4: each tab holds one to three live
   * queries (where done, order by title or id, limit 3 to 10) that the walk changes now and then,
   * and writes name what the tab's queries show or what it created. After heal, every live query
   * must show what the server answers for it (default false).
   */
  onDemand?: boolean;
  /** Progress lines (commands as they run) go here when set. */
  trace?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  ops: number;
  writes: number;
  faults: number;
  crashes: number;
  applied: number;
  duplicates: number;
  lost: number;
  keyMisuse: number;
  conflictsResolved: number;
  failedRetried: number;
  converged: boolean;
  healRounds: number;
  ms: number;
  /** Empty when the run passed. */
  problems: string[];
  /** The commands the walk ran, in order: print with the seed to reproduce. */
  path: string[];
  /** What the devices reported on events$ ("#write-order t+ms dDEVICE.INCARNATION type ..."). */
  events: string[];
  /** The server's ledger after heal, one line per applied write. */
  ledger: string[];
}

export function formatResult(r: ChaosResult): string {
  return (
    `seed=${r.seed} ops=${r.ops} writes=${r.writes} faults=${r.faults} crashes=${r.crashes} applied=${r.applied} ` +
    `duplicates=${r.duplicates} lost=${r.lost} keyMisuse=${r.keyMisuse} conflicts=${r.conflictsResolved} ` +
    `retried=${r.failedRetried} converged=${r.converged ? 'yes' : 'NO'} heal=${r.healRounds} ${(r.ms / 1000).toFixed(1)}s`
  );
}

export function describeFailure(r: ChaosResult): string {
  // The entities the problems name, to keep the event and ledger excerpts short.
  const entities = new Set([...r.problems.join(' ').matchAll(/\b((?:e\d+-\d)|(?:s\d))\b/g)].map((m) => m[1]!));
  const about = (line: string) => entities.size === 0 || [...entities].some((e) => line.includes(` ${e} `) || line.includes(`id=${e} `) || line.endsWith(`id=${e}`));
  return [
    `chaos run failed: seed=${r.seed}`,
    ...r.problems.map((p) => `  problem: ${p}`),
    `  ledger (entities named above):`,
    ...r.ledger.filter(about).map((l) => `    ${l}`),
    `  device events (entities named above):`,
    ...r.events.filter(about).map((l) => `    ${l}`),
    `  path (${r.path.length} commands):`,
    ...r.path.map((c, i) => `    ${String(i).padStart(3)} ${c}`),
    `  reproduce: npm run chaos -- --seed ${r.seed} --runs 1`,
  ].join('\n');
}

// ---- randomness ---------------------------------------------------------------------------

/** Mixes integers into a 32-bit seed (splitmix-like), so sub-seeds are independent. */
export function mix(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  float(): number {
    return this.next();
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries.at(-1)![0];
  }
}

// ---- devices ------------------------------------------------------------------------------

interface EdgeProfile {
  name: string;
  dropBefore: number;
  dropAfter: number;
  error5xx: number;
  rateLimit: number;
  /** A write delivered twice to the server at once (a proxy retry, two senders). */
  duplicate: number;
  latency: number;
  maxLatencyMs: number;
}

const CALM: EdgeProfile = { name: 'calm', dropBefore: 0, dropAfter: 0, error5xx: 0, rateLimit: 0, duplicate: 0, latency: 0, maxLatencyMs: 0 };
// RELIABILITY.md G1: drop before 0.1, apply-then-drop 0.1, 5xx 0.1, 429 + Retry-After 0.05, duplicate
// delivery 0.05, latency 0-3 s virtual.
const STANDARD: EdgeProfile = { name: 'standard', dropBefore: 0.1, dropAfter: 0.1, error5xx: 0.1, rateLimit: 0.05, duplicate: 0.05, latency: 0.3, maxLatencyMs: 3000 };
const STORM: EdgeProfile = { name: 'storm', dropBefore: 0.2, dropAfter: 0.2, error5xx: 0.2, rateLimit: 0.1, duplicate: 0.1, latency: 0.5, maxLatencyMs: 3000 };

type CrashMode = 'idle' | 'midWrite' | 'beforeSend' | 'afterApply';

/** One tab of a device: a client on the device's storage. A crashed tab is replaced by a new one. */
interface Incarnation {
  n: number;
  client: SyncClient;
  dead: boolean;
  subscriptions: Subscription[];
  status: SyncStatus | null;
  conflicts: Conflict[];
  failed: FailedMutation[];
  /** `onDemand`: the live queries the tab holds, each with its latest state. */
  queries: LiveQuery[];
  /** `onDemand`: ids this tab created (as create() returned them). */
  created: string[];
}

interface LiveQuery {
  spec: QuerySpec;
  subscription: Subscription;
  state: QueryState<Todo> | null;
  /** The last few lists it showed (`#write-order ids`), for a report when it diverges. */
  history: string[];
}

interface WriteRecord {
  order: number;
  dev: number;
  entity: string;
  kind: 'create' | 'update' | 'delete';
  marker: string | null;
  state: 'pending' | 'resolved' | 'rejected';
  error?: string;
}

interface Counters {
  injected: number;
  serverFaultAnswers: number;
  networkErrors: number;
  keyMisuse: number;
  crashes: number;
}

const RETRY = { baseDelayMs: 200, maxDelayMs: 4000 };

class ChaosDevice {
  readonly idb = new IDBFactory();
  readonly online = new BehaviorSubject(true);
  readonly token: string;
  readonly faultRng: Rng;
  profile: EdgeProfile = CALM;
  /** Open tabs, oldest first. */
  readonly tabs: Incarnation[] = [];
  readonly locks = new FakeLocks();
  readonly hub = new BroadcastHub();
  private incarnations = 0;
  /** Requests currently at the real server (not held by virtual latency). */
  inflight = 0;
  /** A crash waits for this device's next write request. */
  armed: Exclude<CrashMode, 'idle' | 'midWrite'> | null = null;
  readonly closing: Promise<void>[] = [];
  readonly resolutions: Array<{ order: number; entity: string; choice: string }> = [];
  /** Requests inside the edge, by number: where each one is (for a report when one hangs). */
  readonly stages = new Map<number, string>();
  private requests = 0;

  constructor(
    readonly index: number,
    private readonly run: ChaosRun,
  ) {
    this.token = `chaos-d${index}`;
    this.faultRng = new Rng(mix(run.seed, index, 0xfa));
    this.tabs.push(this.open());
  }

  /** A new tab on the device's storage. */
  open(): Incarnation {
    const n = this.incarnations++;
    const inc: Incarnation = {
      n,
      client: undefined as unknown as SyncClient,
      dead: false,
      subscriptions: [],
      status: null,
      conflicts: [],
      failed: [],
      queries: [],
      created: [],
    };
    inc.client = createSyncClient({
      baseUrl: this.run.server.apiUrl,
      resources: [this.run.resource],
      namespace: 'chaos',
      auth: { getToken: () => this.token },
      indexedDB: this.idb,
      now: this.run.clock.now,
      setTimer: this.run.clock.setTimer,
      // A new seed per incarnation: ids and idempotency keys never repeat across reopens.
      random: seededRandom(mix(this.run.seed, this.index, n + 1)),
      online: this.online,
      locks: this.locks,
      BroadcastChannel: this.hub.Channel,
      retry: RETRY,
      sendDelayMs: this.run.sendDelayMs,
      // Strict global order (the default) and windows of concurrent entities, by seed.
      maxInFlight: 1 + (mix(this.run.seed, this.index, n + 1, 7) % 4),
      fetch: this.edgeFetch(inc),
    });
    const c = inc.client;
    inc.subscriptions.push(
      c.status$.subscribe((s) => (inc.status = s)),
      c.conflicts$.subscribe((x) => (inc.conflicts = x)),
      c.failed$.subscribe((x) => (inc.failed = x)),
      c.events$.subscribe((e) => this.onEvent(n, e)),
    );
    if (this.run.options.onDemand) {
      // A page shows one to three lists; drawn per incarnation, so a reopen at a fault's moment
      // leaves the walk's own draws alone.
      const rng = new Rng(mix(this.run.seed, this.index, n, 0x0d));
      const count = rng.int(1, 3);
      for (let i = 0; i < count; i++) {
        const spec = randomQuery(rng);
        this.run.path.push(`  (d${this.index}.${n} watches ${describeQuery(spec)})`);
        this.watch(inc, spec);
      }
    } else {
      // A live query, as a UI would hold: it revalidates when the device comes back online.
      inc.subscriptions.push(c.resource(this.run.resource).query$({ orderBy: 'id' }).subscribe());
    }
    return inc;
  }

  /** `onDemand`: the tab subscribes one more live query. */
  watch(inc: Incarnation, spec: QuerySpec): LiveQuery {
    const live: LiveQuery = { spec, subscription: undefined as unknown as Subscription, state: null, history: [] };
    live.subscription = inc.client
      .resource(this.run.resource)
      .query$({ where: { done: spec.done }, orderBy: [[spec.field, spec.desc ? 'desc' : 'asc']], limit: spec.limit })
      .subscribe((state) => {
        live.state = state;
        const line = `#${this.run.order} t+${this.run.clock.now() - this.run.clock0} ${state.data.map((t) => `${t.id}@${t.version}`).join(' ')}${state.isFetching ? ' (fetching)' : ''}`;
        if (live.history.at(-1)?.replace(/^#\d+ t\+\d+ /, '') !== line.replace(/^#\d+ t\+\d+ /, '')) live.history.push(line);
        if (live.history.length > 8) live.history.shift();
      });
    inc.queries.push(live);
    inc.subscriptions.push(live.subscription);
    return live;
  }

  /** `onDemand`: the tab drops one of its live queries. */
  unwatch(inc: Incarnation, live: LiveQuery): void {
    live.subscription.unsubscribe();
    inc.queries.splice(inc.queries.indexOf(live), 1);
    inc.subscriptions.splice(inc.subscriptions.indexOf(live.subscription), 1);
  }

  private onEvent(inc: number, e: SyncEvent): void {
    if (e.type !== 'leader' && e.type !== 'paused' && e.type !== 'resumed') {
      const { type, at, ...rest } = e as SyncEvent & Record<string, unknown>;
      const detail = Object.entries(rest)
        .map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join(' ');
      this.run.events.push(`#${this.run.order} t+${at - this.run.clock0} d${this.index}.${inc} ${type} ${detail}`);
    }
    if (e.type === 'idRemapped') this.run.rename(e.from, e.to);
    // 'local' against a deletion creates the entity again from the local view: its title, applied
    // before, is applied once more, by design.
    const title = e.type === 'resolved' && e.choice === 'local' ? e.overwritten['title'] : undefined;
    if (title && title.remote === undefined && typeof title.local === 'string') {
      this.run.recreated.set(title.local, (this.run.recreated.get(title.local) ?? 0) + 1);
    }
    if (e.type === 'resolved' && e.choice === 'remote') {
      this.resolutions.push({ order: this.run.order, entity: e.id, choice: e.choice });
    }
  }

  /** The tab a command acts on, drawn from the walk's generator. */
  pick(rng: Rng): Incarnation {
    return rng.pick(this.tabs);
  }

  /** The network between this device and the server: seeded faults, virtual latency, crash points. */
  private edgeFetch(inc: Incarnation): typeof fetch {
    const died = () => new TypeError('fetch failed: the device crashed');
    return async (input, init) => {
      if (inc.dead) throw died();
      const request = input instanceof Request ? input : new Request(input, init);
      const no = ++this.requests;
      const stage = (what: string) => this.stages.set(no, `${request.method} ${new URL(request.url).pathname} inc${inc.n}: ${what}`);
      stage('start');
      try {
        return await this.edgeRequest(inc, request, stage);
      } finally {
        this.stages.delete(no);
      }
    };
  }

  private async edgeRequest(inc: Incarnation, request: Request, stage: (what: string) => void): Promise<Response> {
    const run = this.run;
    const counters = run.counters;
    const died = () => new TypeError('fetch failed: the device crashed');
    const write = request.method !== 'GET';
    const p = this.profile;
    const roll = this.faultRng.float();
    const latency = this.faultRng.chance(p.latency) ? this.faultRng.int(0, p.maxLatencyMs) : 0;
    const latencyFirst = this.faultRng.chance(0.5);
    const hold = async () => {
      if (latency === 0) return;
      counters.injected++;
      stage(`held ${latency} ms`);
      await new Promise<void>((resolve) => run.clock.setTimer(resolve, latency));
      stage('released');
      if (inc.dead) throw died();
    };
    if (write && this.armed === 'beforeSend') {
      this.armed = null;
      run.crash(this, inc, 'beforeSend');
      throw died();
    }
    let edge = 0;
    if (roll < (edge += p.dropBefore)) {
      counters.injected++;
      throw new TypeError('fetch failed: injected drop before the server');
    }
    if (roll < (edge += p.error5xx)) {
      counters.injected++;
      const status = this.faultRng.pick([500, 502, 503, 504]);
      return new Response(JSON.stringify({ error: `injected ${status}` }), { status, headers: { 'content-type': 'application/json' } });
    }
    if (roll < (edge += p.rateLimit)) {
      counters.injected++;
      const retryAfter = this.faultRng.pick(['1', '2', '5']);
      return new Response(JSON.stringify({ error: 'injected 429' }), {
        status: 429,
        headers: { 'content-type': 'application/json', 'Retry-After': retryAfter },
      });
    }
    const dropAfter = write && roll < (edge += p.dropAfter);
    const twin = write && this.faultRng.chance(p.duplicate) ? request.clone() : null;
    if (twin) counters.injected++;
    if (latencyFirst) await hold();
    let response: Response;
    this.inflight++;
    stage('at the server');
    try {
      // A duplicate goes out with the original, at once; the original's answer is the one returned.
      const [answer, second] = await Promise.all([fetch(request), twin ? fetch(twin).catch((error: unknown) => error) : null]);
      if (second instanceof Response) {
        await second.arrayBuffer();
        if (second.status === 422) counters.keyMisuse++;
      }
      // Read whole at the server's side of the edge: a held answer is then bytes, not a socket.
      const body = await answer.arrayBuffer();
      response = new Response(answer.status === 204 ? null : body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
      stage(`answered ${response.status}`);
    } catch (error) {
      counters.networkErrors++;
      throw error;
    } finally {
      this.inflight--;
    }
    if (response.status === 422) counters.keyMisuse++;
    if (response.status === 429 || response.status >= 500) counters.serverFaultAnswers++;
    if (write && this.armed === 'afterApply') {
      this.armed = null;
      run.crash(this, inc, 'afterApply');
      throw died();
    }
    if (dropAfter) {
      counters.injected++;
      throw new TypeError('fetch failed: injected drop after the server answered');
    }
    if (!latencyFirst) await hold();
    if (inc.dead) throw died();
    return response;
  }

  /** Drops a tab without waiting (its fetches fail from now on), then reopens it on the same storage. */
  crashAndReopen(tab: Incarnation): Incarnation {
    const at = this.tabs.indexOf(tab);
    if (at < 0 || tab.dead) return tab;
    this.drop(tab);
    const next = this.open();
    this.tabs[at] = next;
    return next;
  }

  /** The page goes away: no more requests, no waiting for the close. */
  drop(tab: Incarnation): void {
    tab.dead = true;
    for (const s of tab.subscriptions) s.unsubscribe();
    this.closing.push(tab.client.close().catch(() => undefined));
  }
}

// ---- one run --------------------------------------------------------------------------------

const bounded = async <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/** The device's stored entity records, read with the raw API (what a reload would show). */
async function rawEntities(factory: IDBFactory, name: string): Promise<unknown[]> {
  const db = await openRaw(factory, name);
  try {
    return await new Promise<unknown[]>((resolve, reject) => {
      const request = db.transaction('entities', 'readonly').objectStore('entities').getAll();
      request.onsuccess = () => resolve(request.result.map((r: { id: string; base: unknown; view: unknown }) => ({ id: r.id, base: r.base, view: r.view })));
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

const canonical = (rows: readonly Record<string, unknown>[]) =>
  JSON.stringify(
    [...rows]
      .map((r) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]])))
      .sort((a, b) => String(a['id']).localeCompare(String(b['id']))),
  );

class ChaosRun {
  readonly clock = new ManualClock();
  readonly rng: Rng;
  readonly counters: Counters = { injected: 0, serverFaultAnswers: 0, networkErrors: 0, keyMisuse: 0, crashes: 0 };
  readonly writes: WriteRecord[] = [];
  readonly path: string[] = [];
  readonly devices: ChaosDevice[] = [];
  readonly sendDelayMs: number;
  readonly problems: string[] = [];
  /** What the devices reported on events$, for the failure report. */
  readonly events: string[] = [];
  readonly clock0 = this.clock.now();
  ledger: LedgerEntry[] = [];
  /** Ids the server renamed: as the devices reported them, and as the ledger's creates show them. */
  readonly renamed = new Map<string, string[]>();
  /** Titles a 'local' resolution wrote again by re-creating a deleted entity, and how often. */
  readonly recreated = new Map<string, number>();
  readonly resource: ReturnType<typeof chaosResource>;
  private readonly background: Promise<unknown>[] = [];
  private markers = 0;
  order = 0;
  conflictsResolved = 0;
  failedRetried = 0;
  healRounds = 0;

  constructor(
    readonly server: RunningServer,
    readonly seed: number,
    readonly options: Required<Omit<ChaosOptions, 'trace'>> & Pick<ChaosOptions, 'trace'>,
    readonly serverIds: boolean,
  ) {
    this.resource = chaosResource({ serverIds, fullPulls: options.fullPulls, onDemand: options.onDemand });
    this.rng = new Rng(mix(seed, 0x5eed));
    this.sendDelayMs = this.rng.pick([0, 0, 300]);
  }

  /** `from` also goes by `to` (each name once). */
  rename(from: string, to: string): void {
    const names = this.renamed.get(from) ?? [];
    if (!names.includes(to)) this.renamed.set(from, [...names, to]);
  }

  log(line: string): void {
    this.path.push(line);
    this.options.trace?.(line);
  }

  marker(prefix = 'm'): string {
    return `${prefix}${++this.markers}`;
  }

  profile(scale: number): EdgeProfile {
    const base = this.rng.weighted({ calm: 2, standard: 5, storm: 2 });
    const p = base === 'calm' ? CALM : base === 'standard' ? STANDARD : STORM;
    const s = (x: number) => Math.min(1, x * scale);
    return {
      ...p,
      dropBefore: s(p.dropBefore),
      dropAfter: s(p.dropAfter),
      error5xx: s(p.error5xx),
      rateLimit: s(p.rateLimit),
      duplicate: s(p.duplicate),
      latency: s(p.latency),
    };
  }

  /** Called from a device's network edge when an armed crash point is reached, and by the crash command. */
  crash(device: ChaosDevice, tab: Incarnation, mode: CrashMode): void {
    if (tab.dead) return;
    this.counters.crashes++;
    const next = device.crashAndReopen(tab);
    this.path.push(`  (d${device.index} tab ${tab.n} crashed ${mode}, reopened as tab ${next.n})`);
  }

  /** Lets real IO finish what the last command started: no request at the server for a while. */
  async quiet(): Promise<void> {
    let calm = 0;
    for (let i = 0; i < 400 && calm < 3; i++) {
      await settle(4);
      await new Promise((resolve) => setTimeout(resolve, 1));
      calm = this.devices.every((d) => d.inflight === 0) ? calm + 1 : 0;
    }
  }

  /**
   * Records a write and how it ended. A rejection is expected only when its tab died meanwhile
   * (a crash) or the entity vanished between the walk's read and the write (a ValidationError);
   * any other is a problem: the write path failed on its own.
   */
  track(device: ChaosDevice, tab: Incarnation, kind: WriteRecord['kind'], entity: string, marker: string | null, promise: Promise<unknown>): Promise<void> {
    const record: WriteRecord = { order: ++this.order, dev: device.index, entity, kind, marker, state: 'pending' };
    this.writes.push(record);
    return promise.then(
      (value) => {
        // A create under a temporary id: the id it got (the server's, once it answers, in `renamed`).
        if (kind === 'create' && typeof value === 'object' && value !== null && 'id' in value) record.entity = String(value.id);
        record.state = 'resolved';
      },
      (error: unknown) => {
        record.state = 'rejected';
        record.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (!tab.dead && !(error instanceof ValidationError)) {
          this.problems.push(`write rejected on a live tab: d${device.index}.${tab.n} ${kind} ${entity} (write #${record.order}): ${record.error}`);
        }
      },
    );
  }

  /** A new todo: under the walk's id, or none when the server names it. */
  newTodo(id: string, title: string): { id?: string; title: string; done: boolean } {
    return this.serverIds ? { title, done: false } : { id, title, done: false };
  }

  async liveIds(tab: Incarnation): Promise<string[]> {
    if (this.options.onDemand) return this.knownIds(tab);
    try {
      return (await bounded(tab.client.resource(this.resource).list(), 10_000, 'list()')).map((t) => t.id).sort();
    } catch {
      return [];
    }
  }

  /**
   * `onDemand`: what the tab can name: what its live queries show, and what it created and still
   * caches (an update or delete of an id it does not cache rejects with ValidationError, README).
   */
  async knownIds(tab: Incarnation): Promise<string[]> {
    const ids = new Set<string>();
    for (const q of tab.queries) for (const t of q.state?.data ?? []) ids.add(t.id);
    const h = tab.client.resource(this.resource);
    for (const id of tab.created) {
      if (ids.has(id)) continue;
      try {
        if (await bounded(h.get(id), 10_000, 'get()')) ids.add(id);
      } catch {
        // a renamed temporary id, or a closed tab: not known
      }
    }
    return [...ids].sort();
  }

  /**
   * The ids of the todos the server holds, from its ledger (the admin API, which the server's
   * fault switch leaves alone: the walk reads it while faults are on).
   */
  async serverHolds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const row of await this.server.admin.ledger('todos')) {
      if (row.entityId === null) continue;
      if (row.op === 'delete') ids.delete(row.entityId);
      else ids.add(row.entityId);
    }
    return [...ids].sort();
  }

  /** The server's todos (read as the demo user, outside every device's edge; only with faults off). */
  async serverTodos(query = ''): Promise<unknown> {
    const response = await fetch(`${this.server.apiUrl}/todos${query}`, { headers: { Authorization: 'Bearer demo-alice' } });
    if (!response.ok) throw new Error(`GET /todos${query}: ${response.status}`);
    return response.json();
  }

  // ---- commands ---------------------------------------------------------------------------

  async step(): Promise<void> {
    const d = this.rng.pick(this.devices);
    const tab = d.pick(this.rng);
    const h = tab.client.resource(this.resource);
    const kind = this.rng.weighted({
      create: 12,
      update: 34,
      burst: 6,
      delete: 6,
      refresh: 8,
      online: 6,
      advance: 12,
      flush: 4,
      crash: 4,
      tab: this.options.tabs > 1 ? 3 : 0,
      edge: 5,
      server: this.options.serverFaults ? 3 : 0,
      mallory: 4,
      query: this.options.onDemand ? 10 : 0,
    });
    const tag = d.tabs.length > 1 ? `d${d.index}.${tab.n}` : `d${d.index}`;
    switch (kind) {
      case 'create': {
        if (this.options.onDemand) {
          if ((await this.serverHolds()).length >= ON_DEMAND_MAX_TODOS) return this.step();
        } else {
          const ids = await this.liveIds(tab);
          if (ids.length >= 8) return this.step();
        }
        const title = this.marker();
        const id = `e${this.order + 1}-${d.index}`;
        this.log(`${tag} create ${this.serverIds ? '(server names it)' : id} title=${title}`);
        const write = h.create(this.newTodo(id, title));
        // Known to this tab from now on (under its temporary id until the server renames it).
        if (this.options.onDemand) void write.then((t) => tab.created.push(t.id), () => undefined);
        await this.track(d, tab, 'create', id, title, write);
        break;
      }
      case 'update':
      case 'burst': {
        const ids = await this.liveIds(tab);
        if (ids.length === 0) return this.step();
        const id = this.rng.pick(ids);
        const n = kind === 'burst' ? this.rng.int(2, 5) : 1;
        const pending: Promise<void>[] = [];
        for (let i = 0; i < n; i++) {
          const title = this.marker();
          const patch: Partial<Todo> = { title };
          if (this.rng.chance(0.3)) patch.done = this.rng.chance(0.5);
          this.log(`${tag} update ${id} title=${title}${patch.done === undefined ? '' : ` done=${patch.done}`}`);
          // A burst is typed faster than the commits: the writes overlap.
          const p = this.track(d, tab, 'update', id, title, h.update(id, patch));
          if (kind === 'burst') pending.push(p);
          else await p;
        }
        await Promise.all(pending);
        break;
      }
      case 'delete': {
        const ids = await this.liveIds(tab);
        if (ids.length === 0) return this.step();
        const id = this.rng.pick(ids);
        this.log(`${tag} delete ${id}`);
        await this.track(d, tab, 'delete', id, null, h.delete(id));
        break;
      }
      case 'refresh':
        this.log(`${tag} refresh`);
        this.background.push(h.refresh().catch(() => undefined));
        break;
      case 'online': {
        const next = !d.online.value;
        this.log(`d${d.index} ${next ? 'online' : 'offline'}`);
        d.online.next(next);
        break;
      }
      case 'advance': {
        const ms = this.rng.pick([0, 50, 300, 1000, 2500, 5000, 15_000]);
        this.log(`clock +${ms}ms`);
        await this.advance(ms);
        break;
      }
      case 'flush':
        this.log(`${tag} flush`);
        // Not awaited: a response held by virtual latency waits for the clock.
        this.background.push(tab.client.flush().catch(() => undefined));
        break;
      case 'crash': {
        const mode = this.rng.pick<CrashMode>(['idle', 'midWrite', 'beforeSend', 'afterApply', 'afterApply']);
        this.log(`${tag} crash ${mode}`);
        if (mode === 'beforeSend' || mode === 'afterApply') {
          // At the device's next write request (from whichever tab sends), whenever the walk gets there.
          d.armed = mode;
          for (const t of d.tabs) this.background.push(t.client.flush().catch(() => undefined));
        } else if (mode === 'midWrite') {
          const ids = await this.liveIds(tab);
          const title = this.marker();
          const id = ids[0] ?? `e${this.order + 1}-${d.index}`;
          const write = ids.length > 0 ? this.track(d, tab, 'update', id, title, h.update(id, { title })) : this.track(d, tab, 'create', id, title, h.create(this.newTodo(id, title)));
          this.path.push(`  (midWrite title=${title} on ${id})`);
          this.crash(d, tab, 'midWrite');
          await write;
        } else {
          this.crash(d, tab, 'idle');
        }
        break;
      }
      case 'tab': {
        if (d.tabs.length < this.options.tabs) {
          const opened = d.open();
          d.tabs.push(opened);
          this.log(`d${d.index} opens tab ${opened.n}`);
        } else {
          // A tab closed cleanly (the user closes it); another stays open.
          this.log(`${tag} closes`);
          d.tabs.splice(d.tabs.indexOf(tab), 1);
          for (const s of tab.subscriptions) s.unsubscribe();
          await bounded(tab.client.close(), 10_000, `close of ${tag}`);
        }
        break;
      }
      case 'edge': {
        d.profile = this.profile(this.options.faultScale);
        this.log(`${tag} network ${d.profile.name}`);
        break;
      }
      case 'server': {
        const scale = this.options.faultScale;
        if (this.rng.chance(0.35) || scale === 0) {
          this.log('server faults off');
          await this.server.admin.faults(OFF);
        } else {
          const faults = {
            errorRate: Math.min(1, 0.1 * scale),
            errorStatus: this.rng.pick([500, 502, 503, 504]),
            rateLimit: { rate: Math.min(1, 0.05 * scale), retryAfter: this.rng.pick(['1', '3']) },
            dropBeforeApply: Math.min(1, 0.05 * scale),
            dropAfterApply: Math.min(1, 0.05 * scale),
            latencyMs: this.rng.pick([0, 0, 5, 20]),
            seed: this.rng.int(1, 1_000_000),
          };
          this.log(`server faults ${JSON.stringify(faults)}`);
          await this.server.admin.faults(faults);
        }
        break;
      }
      case 'mallory': {
        // On demand, another user edits any todo, shown anywhere or not.
        const ids = this.options.onDemand ? await this.serverHolds() : await this.liveIds(tab);
        if (ids.length === 0) return this.step();
        const id = this.rng.pick(ids);
        if (this.rng.chance(0.2)) {
          this.log(`mallory delete ${id}`);
          await this.server.admin.edit({ resource: 'todos', id, delete: true });
        } else {
          const title = this.marker('x');
          this.log(`mallory update ${id} title=${title}`);
          await this.server.admin.edit({ resource: 'todos', id, patch: { title } });
        }
        break;
      }
      case 'query': {
        // The page shows another list: one more, one fewer, or one in place of another.
        const action = tab.queries.length === 1 ? this.rng.pick(['add', 'swap']) : tab.queries.length >= 3 ? this.rng.pick(['drop', 'swap']) : this.rng.pick(['add', 'drop', 'swap']);
        if (action !== 'add') {
          const gone = this.rng.pick(tab.queries);
          this.log(`${tag} unwatch ${describeQuery(gone.spec)}`);
          d.unwatch(tab, gone);
        }
        if (action !== 'drop') {
          const spec = randomQuery(this.rng);
          this.log(`${tag} watch ${describeQuery(spec)}`);
          d.watch(tab, spec);
        }
        break;
      }
    }
    await this.quiet();
  }

  /** The state of every device, for a report when something does not settle. */
  diagnose(): string {
    const parts = this.devices.flatMap((d) =>
      d.tabs.map(
        (t) =>
          `d${d.index}.${t.n} online=${d.online.value} inflight=${d.inflight} requests=${JSON.stringify([...d.stages.values()])} status=${JSON.stringify(t.status, (k, v) => (k === 'lastError' ? (v ? String(v.message ?? v) : v) : v))}`,
      ),
    );
    return `clock timers pending=${this.clock.pendingTimers}; ${parts.join('; ')}\n      last events:\n${this.events
      .slice(-12)
      .map((e) => `        ${e}`)
      .join('\n')}`;
  }

  /**
   * Virtual time in steps of at most a second, each with its turns of real work: IndexedDB (real
   * async here) never sees more than a second pass without a turn, as in a browser, where an open
   * with no answer for ten seconds is a fault the client gives up on.
   */
  async advance(ms: number): Promise<void> {
    let left = ms;
    do {
      const step = Math.min(left, 1000);
      await this.clock.advance(step);
      left -= step;
    } while (left > 0);
  }

  // ---- heal and check ------------------------------------------------------------------------

  async heal(): Promise<void> {
    await this.server.admin.faults(OFF);
    for (const d of this.devices) {
      d.profile = CALM;
      d.armed = null;
      d.online.next(true);
    }
    const maxRounds = 40;
    for (let round = 1; round <= maxRounds; round++) {
      this.healRounds = round;
      // Releases responses held by virtual latency and makes every backoff due.
      await this.advance(RETRY.maxDelayMs + 6000);
      await this.quiet();
      for (const d of this.devices) {
        for (const t of d.tabs) {
          await bounded(t.client.flush(), 30_000, `heal: flush() of d${d.index}.${t.n}`).catch((error: unknown) => {
            throw new Error(`${String(error)}; ${this.diagnose()}`);
          });
        }
      }
      let acted = false;
      for (const d of this.devices) {
        // Tabs share one outbox: each conflict and failure is handled once, from the first tab showing it.
        const handled = new Set<string>();
        for (const t of d.tabs) {
          // The fixed policy: the local side wins, so every user change is re-sent.
          for (const conflict of [...t.conflicts]) {
            if (handled.has(`c:${conflict.id}`)) continue;
            handled.add(`c:${conflict.id}`);
            await bounded(conflict.resolve('local'), 10_000, `heal: resolve() on d${d.index}.${t.n}`);
            this.conflictsResolved++;
            acted = true;
          }
          for (const failed of [...t.failed]) {
            if (handled.has(`f:${failed.id}`)) continue;
            handled.add(`f:${failed.id}`);
            await bounded(failed.retry(), 10_000, `heal: retry() on d${d.index}.${t.n}`);
            this.failedRetried++;
            acted = true;
          }
        }
      }
      const idle = this.devices.every((d) =>
        d.tabs.every((t) => {
          const s = t.status;
          return s !== null && s.pending === 0 && s.conflicts === 0 && s.failed === 0 && !s.syncing;
        }),
      );
      if (!acted && idle) break;
      if (round === maxRounds) this.problems.push(`heal did not reach idle in ${maxRounds} rounds`);
    }
    await Promise.all(this.background.splice(0).map((p) => bounded(p, 30_000, 'a background call').catch(() => undefined)));
    for (const d of this.devices) {
      for (const t of d.tabs) {
        await bounded(t.client.resource(this.resource).refresh(), 30_000, `heal: refresh() of d${d.index}.${t.n}`).catch((error: unknown) =>
          this.problems.push(`refresh of d${d.index}.${t.n} failed after heal: ${String(error)}`),
        );
      }
    }
  }

  async check(): Promise<{ applied: number; duplicates: number; lost: number; converged: boolean }> {
    const ledger: LedgerEntry[] = await this.server.admin.ledger('todos');
    this.ledger = ledger;
    const titleOf = (row: LedgerEntry) =>
      row.body !== null && typeof row.body === 'object' ? ((row.body as Record<string, unknown>)['title'] as string | undefined) : undefined;

    // Duplicates: a marker or a (user, key) applied more than once.
    const byMarker = new Map<string, LedgerEntry[]>();
    const byKey = new Map<string, number>();
    for (const row of ledger) {
      const title = titleOf(row);
      if (title !== undefined) byMarker.set(title, [...(byMarker.get(title) ?? []), row]);
      if (row.idempotencyKey) {
        const k = `${row.user}\n${row.idempotencyKey}`;
        byKey.set(k, (byKey.get(k) ?? 0) + 1);
      }
    }
    let duplicates = 0;
    for (const [marker, rows] of byMarker) {
      if (rows.length > 1 + (this.recreated.get(marker) ?? 0)) {
        duplicates++;
        this.problems.push(`duplicate: marker ${marker} applied ${rows.length} times (${rows.map((r) => `${r.op} ${r.entityId} by ${r.user}`).join(', ')})`);
      }
    }
    for (const [k, n] of byKey) {
      if (n > 1) {
        duplicates++;
        this.problems.push(`duplicate: key ${k.replace('\n', ' ')} applied ${n} times`);
      }
    }

    // The server's record of a create names the temporary id it was made under too: the marker
    // it carried was written under that id. A tab that re-keyed it and closed (crashed) before
    // reporting 'idRemapped' leaves no event of it.
    for (const row of ledger) {
      const title = row.op === 'create' ? titleOf(row) : undefined;
      if (title === undefined || row.entityId === null) continue;
      const write = this.writes.find((w) => w.marker === title && w.entity.startsWith('tmp:'));
      if (write) this.rename(write.entity, row.entityId);
    }

    // Lost: a resolved write neither applied, superseded, resolved away, nor visible. An entity
    // the server renamed goes by both names: a create's temporary id and the id it got, or a
    // deleted entity's id and the one it got when a conflict resolved 'local' created it again.
    const namesOf = (id: string): string[] => {
      const names = [id];
      for (let i = 0; i < names.length; i++) for (const to of this.renamed.get(names[i]!) ?? []) if (!names.includes(to)) names.push(to);
      return names;
    };
    const same = (a: string, b: string) => namesOf(a).some((name) => namesOf(b).includes(name));
    const deleted = new Set(ledger.filter((r) => r.op === 'delete').map((r) => r.entityId));
    const created = new Set(ledger.filter((r) => r.op === 'create').map((r) => r.entityId));
    const visible = new Set<string>();
    for (const d of this.devices) {
      for (const t of d.tabs) {
        for (const { id } of [...t.conflicts, ...t.failed]) for (const name of namesOf(id)) visible.add(`${d.index}:${name}`);
      }
    }
    const memo = new Map<WriteRecord, boolean>();
    const accounted = (w: WriteRecord): boolean => {
      const known = memo.get(w);
      if (known !== undefined) return known;
      memo.set(w, false);
      let ok = false;
      const names = namesOf(w.entity);
      if (w.marker !== null) ok = (byMarker.get(w.marker) ?? []).some((row) => row.entityId !== null && names.includes(row.entityId));
      else ok = names.some((name) => deleted.has(name)) || names.every((name) => !created.has(name));
      if (!ok) {
        ok = this.writes.some((later) => later.dev === w.dev && same(later.entity, w.entity) && later.order > w.order && later.state === 'resolved' && accounted(later));
      }
      if (!ok) ok = this.devices[w.dev]!.resolutions.some((r) => same(r.entity, w.entity) && r.order >= w.order);
      if (!ok) ok = names.some((name) => visible.has(`${w.dev}:${name}`));
      memo.set(w, ok);
      return ok;
    };
    let lost = 0;
    for (const w of this.writes) {
      if (w.state !== 'resolved' || accounted(w)) continue;
      lost++;
      this.problems.push(`lost: d${w.dev} ${w.kind} ${w.entity}${w.marker ? ` title=${w.marker}` : ''} (write #${w.order})`);
    }

    // Convergence: every device's view equals the server's list (on demand: every live query shows
    // what the server answers for it); nothing left anywhere. What the heal's last refreshes told
    // the other tabs is heard first (re-read from storage, not fetched).
    await this.quiet();
    const serverRows = (await this.serverTodos()) as Todo[];
    const expected = canonical(serverRows);
    let converged = true;
    for (const d of this.devices) {
      for (const t of d.tabs) {
        const s = t.status;
        if (this.options.onDemand) {
          if (!(await this.checkQueries(d, t))) converged = false;
        } else {
          const rows = (await t.client.resource(this.resource).list()) as unknown as Record<string, unknown>[];
          if (canonical(rows) !== expected) {
            converged = false;
            const stored = await rawEntities(d.idb, 'harborsync:chaos').catch((error: unknown) => `unreadable: ${String(error)}`);
            this.problems.push(
              `d${d.index}.${t.n} diverges from the server:\n      device ${canonical(rows)}\n      server ${expected}\n      stored ${JSON.stringify(stored)}`,
            );
          }
        }
        if (!s || s.pending || s.conflicts || s.failed) {
          converged = false;
          this.problems.push(`d${d.index}.${t.n} not idle after heal: ${JSON.stringify({ pending: s?.pending, conflicts: s?.conflicts, failed: s?.failed })}`);
        }
      }
    }
    if (this.counters.keyMisuse > 0) this.problems.push(`${this.counters.keyMisuse} answers 422: an idempotency key reused for a different request`);
    const applied = ledger.filter((r) => r.user !== 'mallory').length;
    return { applied, duplicates, lost, converged };
  }

  /**
   * `onDemand`: each live query of the tab shows exactly what the server answers for the same
   * filter, order and limit (rows and their content, in order; hasMore as the server's cursor
   * says), with nothing pending.
   */
  async checkQueries(d: ChaosDevice, t: Incarnation): Promise<boolean> {
    let ok = true;
    for (const q of t.queries) {
      const { spec } = q;
      const params = new URLSearchParams({ 'filter[done]': String(spec.done), sort: `${spec.desc ? '-' : ''}${spec.field},id`, limit: String(spec.limit) });
      const answer = (await this.serverTodos(`?${params}`)) as { items: Todo[]; cursor: string | null };
      const expected = JSON.stringify(answer.items.map((r) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k as keyof Todo]]))));
      const state = q.state;
      const shown = JSON.stringify((state?.data ?? []).map((r) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k as keyof Todo]]))));
      const what = `d${d.index}.${t.n} query ${describeQuery(spec)}`;
      if (!state) {
        ok = false;
        this.problems.push(`${what}: no state after heal`);
        continue;
      }
      if (shown !== expected) {
        ok = false;
        const stored = await rawEntities(d.idb, 'harborsync:chaos').catch((error: unknown) => `unreadable: ${String(error)}`);
        const cached = await t.client.resource(this.resource).list().catch(() => []);
        this.problems.push(
          `${what} diverges from the server:\n      shows  ${shown}\n      server ${expected}\n      cached ${canonical(cached as unknown as Record<string, unknown>[])}\n      stored ${JSON.stringify(stored)}\n      its last lists:\n${q.history.map((h) => `        ${h}`).join('\n')}`,
        );
      }
      if (state.pendingIds.size > 0) {
        ok = false;
        this.problems.push(`${what}: pending after heal: ${[...state.pendingIds].join(', ')}`);
      }
      if (state.status !== 'success' || state.error || state.isFetching) {
        ok = false;
        this.problems.push(`${what}: not settled after heal: status=${state.status} isFetching=${state.isFetching} error=${state.error?.message ?? null}`);
      }
      if (state.hasMore !== (answer.cursor !== null)) {
        ok = false;
        const cachedAll = (await t.client.resource(this.resource).list().catch(() => [])) as unknown as Todo[];
        const stored = await rawEntities(d.idb, 'harborsync:chaos').catch((error: unknown) => `unreadable: ${String(error)}`);
        this.problems.push(
          `${what}: hasMore=${state.hasMore}, the server ${answer.cursor === null ? 'has no more' : 'has more'}\n      shows  ${state.data.map((r) => `${r.id}@${r.version}`).join(' ')}\n      server ${answer.items.map((r) => `${r.id}@${r.version}`).join(' ')}\n      cached ${cachedAll.map((r) => `${r.id}@${r.version}:${r.done}`).join(' ')}\n      stored ${JSON.stringify(stored)}\n      its last lists:\n${q.history.map((h) => `        ${h}`).join('\n')}`,
        );
      }
    }
    return ok;
  }

  async close(): Promise<void> {
    for (const d of this.devices) {
      for (const t of d.tabs) {
        for (const s of t.subscriptions) s.unsubscribe();
        await bounded(t.client.close(), 10_000, `close of d${d.index}.${t.n}`).catch(() => undefined);
      }
      await Promise.all(d.closing.map((p) => bounded(p, 10_000, 'a crashed incarnation closing').catch(() => undefined)));
    }
  }
}

const OFF = {
  offline: null,
  latencyMs: null,
  errorRate: null,
  errorStatus: null,
  rateLimit: null,
  dropBeforeApply: null,
  dropAfterApply: null,
  unauthorized: null,
  failStatus: null,
} as const;

/** One chaos run against a running chaos backend (reset first). Never throws for a finding: read `problems`. */
export async function runChaos(backend: ChaosBackend, options: ChaosOptions): Promise<ChaosResult> {
  const started = performance.now();
  await backend.reset();
  const seed = options.seed >>> 0;
  const devices = Math.min(6, Math.max(1, options.devices ?? 3));
  const pickCommands = new Rng(mix(seed, 0xc0));
  const run = new ChaosRun(backend.server, seed, {
    seed,
    devices,
    commands: options.commands ?? pickCommands.int(30, 80),
    faultScale: options.faultScale ?? 1,
    serverFaults: options.serverFaults ?? true,
    tabs: Math.max(1, options.tabs ?? 2),
    fullPulls: options.fullPulls ?? false,
    onDemand: options.onDemand ?? false,
    trace: options.trace,
  }, backend.serverIds);
  let result: { applied: number; duplicates: number; lost: number; converged: boolean } = { applied: 0, duplicates: 0, lost: 0, converged: false };
  try {
    for (let i = 0; i < devices; i++) run.devices.push(new ChaosDevice(i, run));
    for (const d of run.devices) {
      d.profile = run.profile(run.options.faultScale);
      // Some devices start with a second tab.
      if (run.options.tabs > 1 && run.rng.chance(0.4)) {
        const tab = d.open();
        d.tabs.push(tab);
        run.log(`d${d.index} opens tab ${tab.n}`);
      }
    }
    // A few shared entities to start from: created on d0, seen by everyone.
    const d0 = run.devices[0]!;
    for (let i = 0; i < 3; i++) {
      const title = run.marker();
      const id = `s${i}`;
      run.log(`d0 create ${id} title=${title}`);
      await run.track(d0, d0.tabs[0]!, 'create', id, title, d0.tabs[0]!.client.resource(run.resource).create(run.newTodo(id, title)));
    }
    for (const d of run.devices) {
      run.log(`d${d.index} refresh`);
      for (const t of d.tabs) void t.client.resource(run.resource).refresh().catch(() => undefined);
    }
    await run.quiet();
    for (let i = 0; i < run.options.commands; i++) await run.step();
    run.log('heal');
    await run.heal();
    result = await run.check();
  } catch (error) {
    run.problems.push(`the run threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await run.close();
  }
  return {
    seed,
    ops: run.path.filter((l) => !l.startsWith('  ')).length,
    writes: run.writes.length,
    faults: run.counters.injected + run.counters.serverFaultAnswers + run.counters.networkErrors + run.counters.crashes,
    crashes: run.counters.crashes,
    applied: result.applied,
    duplicates: result.duplicates,
    lost: result.lost,
    keyMisuse: run.counters.keyMisuse,
    conflictsResolved: run.conflictsResolved,
    failedRetried: run.failedRetried,
    converged: result.converged,
    healRounds: run.healRounds,
    ms: performance.now() - started,
    problems: run.problems,
    path: run.path,
    events: run.events,
    ledger: run.ledger.map(
      (row) => `${row.seq} ${row.op} ${row.entityId} by ${row.user} v${row.versionBefore}->${row.versionAfter} key=${row.idempotencyKey?.slice(0, 12)} ${JSON.stringify(row.body)}`,
    ),
  };
}

/** True when the run met every target: no duplicate, nothing lost, no key misuse, converged. */
export function passed(r: ChaosResult): boolean {
  return r.problems.length === 0 && r.duplicates === 0 && r.lost === 0 && r.keyMisuse === 0 && r.converged;
}
