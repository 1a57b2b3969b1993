/**
 * Coming online (RELIABILITY #7, #8): it sends at once what waits after an attempt that got no
 * answer, once, without counting that attempt should it get none either; a wait the server asked
 * for is kept. Server answers come from a stub; the online source is flipped by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FailedMutation, SyncEvent } from '../../src/index.js';
import { todos, trackedDevices, until } from '../helpers/harness.js';
import { ManualClock, settle, upperHalfRandom } from '../helpers/manual-clock.js';
import { committed, getAllRaw, openRaw } from '../helpers/raw-idb.js';
import { IDBFactory } from 'fake-indexeddb';

const API = 'http://api.test/api';
const { open, make } = trackedDevices();
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close()));
});

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};
const emptyPull = () => new Response(JSON.stringify({ items: [], deleted: [], cursor: '0' }));
const isRead = (input: RequestInfo | URL, init?: RequestInit) => new Request(input, init).method === 'GET';
const retries = (events: SyncEvent[]) => events.filter((e): e is Extract<SyncEvent, { type: 'retrying' }> => e.type === 'retrying');

describe('coming online', () => {
  it('an online source that flaps while no request gets an answer sends once more, counts nothing, and parks nothing', async () => {
    let writes = 0;
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 3 },
      fetch: async (input, init) => {
        if (!isRead(input, init)) writes++;
        throw new TypeError('fetch failed');
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => retries(d.events).length === 1, 'the first retry');
    // Twelve flaps and no virtual time: the first sends at once, the rest find nothing to send.
    for (let i = 0; i < 12; i++) {
      d.online.next(false);
      d.online.next(true);
      await until(() => retries(d.events).length >= 2, 'the attempt coming online made');
      await settle(20);
    }
    expect(writes).toBe(2);
    expect(retries(d.events).map((e) => e.attempt)).toEqual([1, 1]);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    // The wait ends as it would have: that attempt counts, and coming online may send once again.
    await d.clock.advance(1000);
    await until(() => retries(d.events).length === 3, 'the counted attempt');
    d.online.next(false);
    d.online.next(true);
    await until(() => retries(d.events).length === 4, 'the attempt coming online made');
    expect(writes).toBe(4);
    expect(retries(d.events).map((e) => e.attempt)).toEqual([1, 1, 2, 2]);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
  });

  it('a change waiting in a row an older release stored (no word of its last answer) goes out at once', async () => {
    const indexedDB = new IDBFactory();
    const clock = new ManualClock();
    let writes = 0;
    const options = {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 30_000, maxDelayMs: 60_000 },
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        if (isRead(input, init)) return emptyPull();
        writes++;
        if (writes === 1) throw new TypeError('fetch failed');
        return new Response(JSON.stringify({ id: 'a', title: 'A', done: false, version: 1 }), { status: 201 });
      },
    };
    const first = make(API, options, indexedDB, clock);
    await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => retries(first.events).length === 1, 'the first retry');
    await first.client.close();
    // As an older release stored it: the row says nothing of its last answer.
    const db = await openRaw(indexedDB, 'harborsync:default');
    const [row] = await getAllRaw<Record<string, unknown>>(db, 'outbox');
    expect(row).toMatchObject({ attempts: 1, unanswered: true });
    const tx = db.transaction('outbox', 'readwrite');
    const { unanswered: _dropped, ...older } = row!;
    tx.objectStore('outbox').put(older);
    await committed(tx);
    db.close();
    const second = make(API, options, indexedDB, clock);
    second.online.next(false);
    await settle(20);
    second.online.next(true);
    await until(() => writes === 2, 'the change sent on coming online');
    expect(clock.now()).toBeLessThan(row!['nextAttemptAt'] as number);
  });

  it('a request that gets no answer because the device went offline while it was out is not an attempt; a second such miss in a row is', async () => {
    const out: Array<() => void> = [];
    let served = false;
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 2 },
      fetch: async (input, init) => {
        if (isRead(input, init)) return emptyPull();
        if (served) return new Response(JSON.stringify({ id: 'a', title: 'A', done: false, version: 1 }), { status: 201 });
        // Out until the test takes the network away.
        await new Promise<void>((resolve) => out.push(resolve));
        throw new TypeError('fetch failed');
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    for (let i = 1; i <= 2; i++) {
      await until(() => out.length === i, `request ${i} out`);
      d.online.next(false);
      out[i - 1]!();
      await until(() => retries(d.events).length === i, `its failure ${i}`);
      d.online.next(true);
    }
    // The first went out again at once, not counted; the second counts (a flapping source cannot
    // send once per flap) and waits like any retry.
    const [first, second] = retries(d.events);
    expect([first!.attempt, first!.delayMs]).toEqual([0, 0]);
    expect(second!.attempt).toBe(1);
    expect(second!.delayMs).toBeGreaterThan(0);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    served = true;
    await d.clock.advance(1000);
    await until(() => d.events.some((e) => e.type === 'succeeded'), 'the create confirmed');
  });

  it('a request lost to going offline after an attempt that failed online is not counted either: it does not park the change', async () => {
    const out: Array<() => void> = [];
    let writes = 0;
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 2 },
      fetch: async (input, init) => {
        if (isRead(input, init)) return emptyPull();
        writes++;
        // The server is unreachable though the device is online; the third request gets through.
        if (writes === 1) throw new TypeError('fetch failed');
        if (writes === 3) return new Response(JSON.stringify({ id: 'a', title: 'A', done: false, version: 1 }), { status: 201 });
        // Out until the test takes the network away.
        await new Promise<void>((resolve) => out.push(resolve));
        throw new TypeError('fetch failed');
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => retries(d.events).length === 1, 'the first, counted, failure');
    await d.clock.advance(1000);
    await until(() => out.length === 1, 'the second request out');
    d.online.next(false);
    out[0]!();
    await until(() => retries(d.events).length === 2 || d.events.some((e) => e.type === 'failed'), 'its failure');
    expect(retries(d.events).map((e) => e.attempt)).toEqual([1, 1]);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'succeeded'), 'the create sent at once on coming online');
    expect(writes).toBe(3);
  });

  it('retry() of a change parked by an answer given after a request lost to going offline starts afresh: the next such loss is not counted', async () => {
    const out: Array<() => void> = [];
    let writes = 0;
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 1 },
      fetch: async (input, init) => {
        if (isRead(input, init)) return emptyPull();
        writes++;
        if (writes === 2) return new Response(JSON.stringify({ error: 'busy' }), { status: 503 });
        if (writes === 4) return new Response(JSON.stringify({ id: 'a', title: 'A', done: false, version: 1 }), { status: 201 });
        // Out until the test takes the network away.
        await new Promise<void>((resolve) => out.push(resolve));
        throw new TypeError('fetch failed');
      },
    });
    const failures = () => d.events.filter((e) => e.type === 'retrying' || e.type === 'failed').length;
    const lostToOffline = async (i: number) => {
      await until(() => out.length === i, `request ${writes} out`);
      const before = failures();
      d.online.next(false);
      out[i - 1]!();
      await until(() => failures() > before, 'its failure');
      d.online.next(true);
    };
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await lostToOffline(1);
    // Sent again at once, answered 503: parked (maxAttempts 1). retry() sends it again.
    await until(() => latest<FailedMutation[]>(d.client.failed$).length === 1, 'the change parked');
    await latest<FailedMutation[]>(d.client.failed$)[0]!.retry();
    await lostToOffline(2);
    expect(retries(d.events).map((e) => e.attempt)).toEqual([0, 0]);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
    await until(() => d.events.some((e) => e.type === 'succeeded'), 'the create sent at once on coming online');
    expect(writes).toBe(4);
  });

  it('a source that flaps while each request is out (every answer lost to the flap) sends a few times, not once per flap', async () => {
    const out: Array<() => void> = [];
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, maxAttempts: 3 },
      fetch: async (input, init) => {
        if (isRead(input, init)) return emptyPull();
        await new Promise<void>((resolve) => out.push(resolve));
        throw new TypeError('fetch failed');
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    for (let flap = 0; flap < 20; flap++) {
      await settle(20);
      const sent = out.length;
      d.online.next(false);
      out[sent - 1]?.();
      out[sent - 1] = () => undefined;
      await settle(20);
      d.online.next(true);
    }
    await settle(20);
    expect(out.length).toBeLessThanOrEqual(3);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
  });

  it('a burst of online events, repeated and flapping, makes one attempt', async () => {
    let writes = 0;
    let answer: () => void = () => undefined;
    const d = make(API, {
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      fetch: async (input, init) => {
        const request = new Request(input, init);
        if (request.method === 'GET') return emptyPull();
        if (++writes === 1) throw new TypeError('fetch failed');
        const body = (await request.json()) as object;
        // Held until the burst is over.
        await new Promise<void>((resolve) => (answer = resolve));
        return new Response(JSON.stringify({ ...body, version: 1 }), { status: 201 });
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => retries(d.events).length === 1, 'the first retry');
    for (let i = 0; i < 10; i++) {
      d.online.next(false);
      d.online.next(true);
      d.online.next(true);
      await settle(2);
    }
    await until(() => writes === 2, 'the attempt coming online made');
    answer();
    await until(() => d.events.some((e) => e.type === 'succeeded'), 'the answer');
    await settle(10);
    expect(writes).toBe(2);
  });

  it.each([
    ['429 with Retry-After: 120', () => new Response('slow down', { status: 429, headers: { 'Retry-After': '120' } })],
    ['503 (backoff)', () => new Response('busy', { status: 503 })],
  ])('keeps the wait a server answer set: %s', async (_name, refusal) => {
    const d = make(API, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 120_000, maxDelayMs: 120_000 },
      fetch: async (input, init) => {
        if (isRead(input, init)) return emptyPull();
        return refusal();
      },
    });
    const sentAt = () => d.events.flatMap((e) => (e.type === 'sent' ? [e.at] : []));
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => retries(d.events).length === 1, 'the first retry');
    const waitMs = retries(d.events)[0]!.delayMs;
    expect(waitMs).toBeGreaterThanOrEqual(60_000);
    d.online.next(false);
    d.online.next(true);
    await settle(20);
    await d.clock.advance(waitMs - 1);
    expect(sentAt()).toHaveLength(1);
    await d.clock.advance(1);
    await until(() => sentAt().length === 2, 'the attempt at the stated time');
    expect(sentAt()[1]! - sentAt()[0]!).toBe(waitMs);
  });
});
