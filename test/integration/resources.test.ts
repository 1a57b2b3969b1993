/**
 * Long-running resource use (RELIABILITY.md §2 I, G11): a big queue drains, and opening and
 * closing a client many times leaks nothing. Everything is counted through the injected seams:
 * the online observable's subscribers, the manual clock's pending timers, Web Locks held and
 * waiting, BroadcastChannel instances open, IndexedDB connections open, and Node's own timers.
 */
import { getEventListeners } from 'node:events';
import { Observable, BehaviorSubject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClosedError, createSyncClient, type SyncClient, type SyncStatus } from '../../src/index.js';
import { todos, until } from '../helpers/harness.js';
import { ManualClock, seededRandom, settle } from '../helpers/manual-clock.js';
import { BroadcastHub, CountingIDBFactory, FakeLocks } from '../helpers/tabs.js';

const API = 'http://api.test/api';

/** An in-memory server for the wire protocol's writes: fast enough for tens of thousands of calls. */
function memoryApi() {
  const rows = new Map<string, Record<string, unknown>>();
  let requests = 0;
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fetchImpl: typeof fetch = async (input, init) => {
    requests++;
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const id = decodeURIComponent(url.pathname.split('/')[3] ?? '');
    if (request.method === 'GET') return json({ items: [], deleted: [], cursor: '0' });
    if (request.method === 'POST') {
      const body = (await request.json()) as Record<string, unknown>;
      const row = { ...body, version: 1 };
      rows.set(String(body['id']), row);
      return json(row, 201);
    }
    const current = rows.get(id);
    if (!current) return json({ error: 'not found' }, 404);
    if (request.headers.get('If-Match') !== `"${String(current['version'])}"`) return json(current, 412);
    if (request.method === 'DELETE') {
      rows.delete(id);
      return new Response(null, { status: 204 });
    }
    const next = { ...current, ...((await request.json()) as object), id, version: (current['version'] as number) + 1 };
    rows.set(id, next);
    return json(next);
  };
  return { fetch: fetchImpl, rows, requests: () => requests };
}

/** An online source that counts its subscribers. */
function countingOnline(initial: boolean) {
  const subject = new BehaviorSubject(initial);
  let subscribers = 0;
  const online$ = new Observable<boolean>((subscriber) => {
    subscribers++;
    const inner = subject.subscribe(subscriber);
    return () => {
      subscribers--;
      inner.unsubscribe();
    };
  });
  return { online$, set: (v: boolean) => subject.next(v), subscribers: () => subscribers };
}

const nodeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const status = (client: SyncClient) => {
  let value: SyncStatus | undefined;
  client.status$.subscribe((s) => (value = s)).unsubscribe();
  return value!;
};

interface Seams {
  clock: ManualClock;
  locks: FakeLocks;
  hub: BroadcastHub;
  idb: CountingIDBFactory;
  online: ReturnType<typeof countingOnline>;
}

function seams(online = true): Seams {
  return { clock: new ManualClock(), locks: new FakeLocks(), hub: new BroadcastHub(), idb: new CountingIDBFactory(), online: countingOnline(online) };
}

function clientOn(s: Seams, fetchImpl: typeof fetch, seed = 1): SyncClient {
  return createSyncClient({
    baseUrl: API,
    resources: [todos],
    indexedDB: s.idb,
    fetch: fetchImpl,
    now: s.clock.now,
    setTimer: s.clock.setTimer,
    random: seededRandom(seed),
    online: s.online.online$,
    locks: s.locks,
    BroadcastChannel: s.hub.Channel,
  });
}

/** What must come back to its baseline. */
function counters(s: Seams) {
  return {
    onlineSubscribers: s.online.subscribers(),
    clockTimers: s.clock.pendingTimers,
    locksHeld: s.locks.held().length,
    locksWaiting: s.locks.waiting(),
    channelsOpen: s.hub.open(),
    connectionsOpen: s.idb.openConnections,
  };
}

const clients: SyncClient[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('long-running', () => {
  it('10,000 mutations queued across 1,000 entities drain, with no counter growing', async () => {
    const api = memoryApi();
    const s = seams(false);
    const client = clientOn(s, api.fetch);
    clients.push(client);
    const h = client.resource(todos);
    // What a UI would hold through it all: a few live queries and the status.
    const subscriptions = [
      h.query$({ where: { done: false }, orderBy: 'title', limit: 20 }).subscribe(),
      h.query$({ where: (t) => t.title.endsWith('9') }).subscribe(),
      h.get$('e0').subscribe(),
      client.status$.subscribe(),
    ];
    await h.list();
    // The lock is granted in a task of its own; the baseline is the client leading.
    await until(() => s.locks.held().length === 1, 'the client to lead');
    await settle();
    const baseline = counters(s);
    expect(baseline).toMatchObject({ locksHeld: 1, locksWaiting: 0 });
    const timersBefore = nodeTimers();
    const heapBefore = process.memoryUsage().heapUsed;
    const peak = { ...baseline };
    const sample = () => {
      const now = counters(s);
      for (const key of Object.keys(now) as Array<keyof typeof now>) peak[key] = Math.max(peak[key], now[key]);
    };

    const ids = Array.from({ length: 1_000 }, (_, i) => `e${i}`);
    const round = async (write: (id: string, i: number) => Promise<unknown>) => {
      for (let i = 0; i < ids.length; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map((id, j) => write(id, i + j)));
        sample();
      }
    };
    // 1,000 creates and 9,000 updates while offline: each entity's unsent changes coalesce.
    await round((id) => h.create({ id, title: `${id}-0`, done: false }));
    for (let n = 1; n < 10; n++) await round((id) => h.update(id, { title: `${id}-${n}`, done: n % 2 === 0 }));
    expect(status(client)).toMatchObject({ pending: 1_000, online: false });
    s.online.set(true);
    const drained = client.flush();
    for (let i = 0; i < 50 && status(client).pending > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      sample();
    }
    await drained;
    expect(status(client).pending).toBe(0);
    expect(api.rows.size).toBe(1_000);
    expect(api.rows.get('e7')).toEqual({ id: 'e7', title: 'e7-9', done: false, version: 1 });

    expect(status(client)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
    // One round of 1,000 updates more, sent while the writes go on (the queue never blocks writes).
    const sending = client.flush();
    await round((id) => h.update(id, { title: `${id}-x` }));
    await sending;
    await client.flush();
    expect(status(client)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
    expect(api.rows.get('e999')).toMatchObject({ title: 'e999-x', version: 2 });
    expect((await h.list({ orderBy: 'id', limit: 1 }))[0]).toMatchObject({ id: 'e0', title: 'e0-x', version: 2 });
    expect(api.requests()).toBeLessThan(2_100); // one request per entity and round, plus pulls

    await settle();
    expect(counters(s)).toEqual(baseline);
    expect(peak.onlineSubscribers).toBe(baseline.onlineSubscribers);
    expect(peak.channelsOpen).toBe(baseline.channelsOpen);
    expect(peak.connectionsOpen).toBe(baseline.connectionsOpen);
    expect(peak.locksWaiting).toBe(0);
    expect(peak.clockTimers).toBeLessThanOrEqual(baseline.clockTimers + 1);
    expect(nodeTimers()).toBeLessThanOrEqual(timersBefore);
    const heapAfter = process.memoryUsage().heapUsed;
    console.log(
      `11,000 mutations on 1,000 entities drained with ${api.requests()} requests; counters ${JSON.stringify(counters(s))}; ` +
        `heap ${Math.round(heapBefore / 1e6)} MB -> ${Math.round(heapAfter / 1e6)} MB (not asserted)`,
    );

    for (const sub of subscriptions) sub.unsubscribe();
    await client.close();
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(counters(s)).toEqual({ onlineSubscribers: 0, clockTimers: 0, locksHeld: 0, locksWaiting: 0, channelsOpen: 0, connectionsOpen: 0 });
  }, 120_000);

  it('thousands of changes to as many entities drain with work per request, not per request times the queue: no pass re-sorts or re-reads the whole queue', async () => {
    const api = memoryApi();
    const s = seams(false);
    const client = clientOn(s, api.fetch);
    clients.push(client);
    const h = client.resource(todos);
    const count = 3_000;
    for (let i = 0; i < count; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => h.create({ id: `e${i + j}`, title: 't', done: false })));
    // The heads each pass of the replay reads, and every element sorted meanwhile: counted, not timed.
    const { outbox } = (client as unknown as { store: { outbox: { heads(): Iterable<unknown> } } }).store;
    const heads = outbox.heads.bind(outbox);
    let headsRead = 0;
    outbox.heads = () => {
      const all = heads();
      return {
        *[Symbol.iterator]() {
          for (const head of all) {
            headsRead++;
            yield head;
          }
        },
      };
    };
    let sorted = 0;
    const sort = Array.prototype.sort;
    vi.spyOn(Array.prototype, 'sort').mockImplementation(function (this: unknown[], compare) {
      sorted += this.length;
      return sort.call(this, compare);
    });
    s.online.set(true);
    await client.flush();
    vi.restoreAllMocks();
    expect(status(client)).toMatchObject({ pending: 0, failed: 0 });
    expect(api.rows.size).toBe(count);
    // Each pass sends a batch of about 16: reading or sorting the whole queue on each would be count² / 16.
    expect(headsRead).toBeLessThan(20 * count);
    expect(sorted).toBeLessThan(20 * count);
  }, 60_000);

  it('hundreds of changes the server refuses, or meets with conflicts: each parked one keeps its failed$ or conflicts$ item from one emission to the next (a commit costs no new object for the rest)', async () => {
    const count = 300;
    // Creates refused (400); updates of what the server holds met by its newer version (409).
    const api = memoryApi();
    const refusing: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method === 'POST' && new URL(request.url).pathname.endsWith('/todos') && (await request.clone().json()).title === 'refused') {
        return new Response(JSON.stringify({ error: 'refused' }), { status: 400, headers: { 'content-type': 'application/json' } });
      }
      if (request.method === 'PATCH') {
        const id = decodeURIComponent(new URL(request.url).pathname.split('/')[3]!);
        const theirs = { ...api.rows.get(id)!, title: 'theirs', version: 2 };
        return new Response(JSON.stringify(theirs), { status: 409, headers: { 'content-type': 'application/json' } });
      }
      return api.fetch(request);
    };
    const s = seams(false);
    const client = createSyncClient({
      baseUrl: API,
      resources: [todos],
      indexedDB: s.idb,
      fetch: refusing,
      now: s.clock.now,
      setTimer: s.clock.setTimer,
      random: seededRandom(1),
      online: s.online.online$,
      locks: s.locks,
      BroadcastChannel: s.hub.Channel,
      conflicts: 'manual',
    });
    clients.push(client);
    const h = client.resource(todos);
    s.online.set(true);
    await Promise.all(Array.from({ length: count }, (_, i) => h.create({ id: `c${i}`, title: 'mine', done: false })));
    await client.flush();
    s.online.set(false);
    const items = { failed: new Set<object>(), conflicts: new Set<object>() };
    let emissions = 0;
    client.failed$.subscribe((failed) => {
      emissions++;
      for (const item of failed) items.failed.add(item);
    });
    client.conflicts$.subscribe((conflicts) => {
      emissions++;
      for (const item of conflicts) items.conflicts.add(item);
    });
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => [h.create({ id: `r${i + j}`, title: 'refused', done: false }), h.update(`c${i + j}`, { title: 'mine again' })]).flat(),
      );
    }
    s.online.set(true);
    await client.flush();
    expect(status(client)).toMatchObject({ failed: count, conflicts: count });
    expect(emissions).toBeGreaterThan(count);
    expect(items.failed.size).toBe(count);
    expect(items.conflicts.size).toBe(count);
  }, 60_000);

  it('close() abandons the requests still out: their fetches are aborted, their timers gone, and the write goes out again under its key', async () => {
    const api = memoryApi();
    const s = seams(true);
    // The transport's deadlines run on real timers: those of the default timeoutMs (30 s) still set.
    const deadlines = new Set<unknown>();
    const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: () => void, ms?: number) => {
      const handle = realSetTimeout(() => {
        deadlines.delete(handle);
        callback();
      }, ms);
      if (ms === 30_000) deadlines.add(handle);
      return handle;
    }) as typeof setTimeout);
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation(((handle: ReturnType<typeof setTimeout>) => {
      deadlines.delete(handle);
      realClearTimeout(handle);
    }) as typeof clearTimeout);
    const out: Array<{ method: string; key: string | null; signal: AbortSignal }> = [];
    // A server that never answers: only an abort ends the fetch.
    const hanging: typeof fetch = (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      out.push({ method: request.method, key: request.headers.get('Idempotency-Key'), signal: request.signal });
      return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }));
    };
    const client = clientOn(s, hanging);
    const h = client.resource(todos);
    const view = h.query$({}).subscribe();
    await h.create({ id: 'kept', title: 'made before close', done: false });
    await until(() => out.some((r) => r.method === 'POST') && out.some((r) => r.method === 'GET'), 'the write and the pull to be out');
    expect(deadlines.size).toBe(out.length);
    view.unsubscribe();
    await client.close();
    await settle();
    expect(out.map((r) => r.signal.aborted)).toEqual(out.map(() => true));
    expect(deadlines.size).toBe(0);
    expect(counters(s)).toMatchObject({ clockTimers: 0, locksHeld: 0, channelsOpen: 0, connectionsOpen: 0 });

    // The abandoned write was neither counted as an attempt nor lost: the next client sends it under the same key.
    const next = clientOn(s, async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method === 'POST') out.push({ method: 'POST', key: request.headers.get('Idempotency-Key'), signal: request.signal });
      return api.fetch(request);
    });
    clients.push(next);
    await next.flush();
    const posts = out.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[1]!.key).toBe(posts[0]!.key);
    expect(api.rows.get('kept')).toMatchObject({ title: 'made before close', version: 1 });
    expect(status(next)).toMatchObject({ pending: 0, failed: 0 });
  });

  it("a dozen calls waiting at once listen once on the client's lifetime (no MaxListenersExceededWarning); close() rejects each with ClosedError", async () => {
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const s = seams(true);
    let out = 0;
    // A server that never answers: only an abort ends the fetch.
    const hanging: typeof fetch = (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      out++;
      return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }));
    };
    const client = clientOn(s, hanging);
    const { lifetime } = client as unknown as { lifetime: AbortSignal };
    const h = client.resource(todos);
    await h.list();
    // Past events.defaultMaxListeners (10), where Node warns of a leak.
    const calls = Array.from({ length: 12 }, () => h.refresh().then(() => 'answered', (error: unknown) => error));
    await until(() => out > 0, 'the pull to be out');
    await settle();
    expect(getEventListeners(lifetime, 'abort')).toHaveLength(1);
    await client.close();
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((outcome) => outcome instanceof ClosedError)).toHaveLength(calls.length);
    expect(getEventListeners(lifetime, 'abort')).toHaveLength(0);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('a client opened and closed over and over leaks no connection, channel, lock, timer or subscription', async () => {
    const api = memoryApi();
    const s = seams(true);
    const timersBefore = nodeTimers();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const cycles = 500;
    for (let cycle = 0; cycle < cycles; cycle++) {
      const client = clientOn(s, api.fetch, cycle + 1);
      const h = client.resource(todos);
      const query = h.query$({ orderBy: 'id' }).subscribe();
      const statusSub = client.status$.subscribe();
      const events = client.events$.subscribe();
      if (cycle % 10 === 0) {
        await h.create({ id: `c${cycle}`, title: 'x', done: false });
        await client.flush();
      } else {
        await h.list();
      }
      query.unsubscribe();
      statusSub.unsubscribe();
      events.unsubscribe();
      await client.close();
    }
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(counters(s)).toEqual({ onlineSubscribers: 0, clockTimers: 0, locksHeld: 0, locksWaiting: 0, channelsOpen: 0, connectionsOpen: 0 });
    expect(nodeTimers()).toBeLessThanOrEqual(timersBefore);
    expect(api.rows.size).toBe(Math.ceil(cycles / 10));
    const heapAfter = process.memoryUsage().heapUsed;
    console.log(
      `${cycles} open/close cycles in ${Math.round(performance.now() - started)} ms; counters back to zero; ` +
        `heap ${Math.round(heapBefore / 1e6)} MB -> ${Math.round(heapAfter / 1e6)} MB (not asserted)`,
    );
  }, 60_000);
});
