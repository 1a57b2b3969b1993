import { BehaviorSubject, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import {
  ClosedError,
  HttpError,
  PendingMutationsError,
  ValidationError,
  type FailedMutation,
  type QueryState,
  type SyncStatus,
} from '../../src/index.js';
import { expiringSession, heldAnswers, outcomeOf, referenceServer, todos, until, type Device, type Todo } from '../helpers/harness.js';
import { seededRandom, settle, upperHalfRandom } from '../helpers/manual-clock.js';
import { longestRetryDelayMs, RETRY_AFTER_CEILING_MS } from '../../src/outbox/backoff.js';
import type { OutboxEntry } from '../../src/outbox/entry.js';
import { getAllRaw, openRaw } from '../helpers/raw-idb.js';
import { handTimers } from '../helpers/hand-timers.js';
import { createRestTransport } from '../../src/transport/rest.js';

const suite = referenceServer();
const { make } = suite;

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};
const ledger = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger('todos');
const serverTodo = async (id: string) => {
  const response = await fetch(`${suite.server.apiUrl}/todos/${id}`, { headers: { Authorization: 'Bearer demo-alice' } });
  return response.status === 404 ? null : ((await response.json()) as Todo);
};

describe('optimistic writes', () => {
  it('shows a write in live queries before its promise resolves, pending until the server confirms', async () => {
    const d = make(suite.server.apiUrl);
    d.online.next(false);
    const h = d.client.resource(todos);
    const states: Array<QueryState<Todo>> = [];
    h.query$({ where: { done: false } }).subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success', 'the cache to load');
    const writing = h.create({ id: 't1', title: 'Milk', done: false });
    const shown = states.at(-1)!;
    expect(shown.data.map((t) => t.id)).toEqual(['t1']);
    expect(shown.pendingIds.has('t1')).toBe(true);
    const created = await writing;
    expect(created).toEqual({ id: 't1', title: 'Milk', done: false });
    d.online.next(true);
    await d.client.flush();
    const confirmed = states.at(-1)!;
    expect(confirmed.pendingIds.size).toBe(0);
    expect(confirmed.data[0]).toEqual({ id: 't1', title: 'Milk', done: false, version: 1 });
  });

  it('rejects invalid input with ValidationError naming the field, writing nothing', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await expect(h.create({ id: 't1', title: 42 as unknown as string, done: false })).rejects.toThrow(ValidationError);
    await expect(h.create({ id: 't1', title: 42 as unknown as string, done: false })).rejects.toThrow(/todos\/t1: field "title"/);
    expect(await h.list()).toEqual([]);
    await h.create({ id: 't1', title: 'ok', done: false });
    await expect(h.update('t1', { done: 'no' as unknown as boolean })).rejects.toThrow(/field "done"/);
    expect(await h.get('t1')).toMatchObject({ done: false });
    await expect(h.update('', { done: true })).rejects.toThrow(ValidationError);
    await expect(h.update('x'.repeat(1025), { done: true })).rejects.toThrow(ValidationError);
    await expect(h.update('missing', { done: true })).rejects.toThrow(/no entity/);
  });

  it('generates the key when absent', async () => {
    const d = make(suite.server.apiUrl);
    const created = await d.client.resource(todos).create({ title: 'no id', done: false });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('delivery', () => {
  it('delivers offline changes once, in order, when the network returns', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    d.online.next(false);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await h.update('a', { done: true });
    await h.delete('b');
    await h.create({ id: 'c', title: 'C', done: false });
    const status = await new Promise<SyncStatus>((resolve) => d.client.status$.subscribe(resolve).unsubscribe());
    expect(status).toMatchObject({ online: false, paused: 'offline', pending: 2 });
    d.online.next(true);
    await d.client.flush();
    const rows = await ledger();
    expect(rows.map((r) => `${r.op} ${r.entityId}`)).toEqual(['create a', 'create c']);
    expect(await serverTodo('a')).toMatchObject({ done: true, version: 1 });
    expect(await serverTodo('b')).toBeNull();
  });

  it("a change made while its entity's request is out goes before the changes to other entities made after it", async () => {
    const answers = heldAnswers((request) => request.method === 'POST');
    const d = make(suite.server.apiUrl, { fetch: answers.fetch });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    answers.hold();
    await h.create({ id: 'b', title: 'B', done: false });
    await until(async () => (await ledger()).length === 2, 'the create of b applied, its answer held');
    await h.update('b', { done: true });
    await h.delete('a');
    answers.release();
    await d.client.flush();
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`)).toEqual(['create a', 'create b', 'update b', 'delete a']);
  });

  it('drains many entities several at a time: each change applied once, each entity in order', async () => {
    const d = make(suite.server.apiUrl, { maxInFlight: 6 });
    const h = d.client.resource(todos);
    const ids = Array.from({ length: 30 }, (_, i) => `w${String(i).padStart(2, '0')}`);
    for (const id of ids) await h.create({ id, title: id, done: false });
    await d.client.flush();
    d.online.next(false);
    for (const id of ids) await h.update(id, { done: true });
    d.online.next(true);
    await d.client.flush();
    const rows = await ledger();
    expect(rows.filter((r) => r.op === 'update')).toHaveLength(30);
    expect(new Set(rows.map((r) => r.idempotencyKey)).size).toBe(rows.length);
    for (const id of ids) {
      expect(rows.filter((r) => r.entityId === id).map((r) => r.op)).toEqual(['create', 'update']);
      expect(await serverTodo(id)).toMatchObject({ done: true, version: 2 });
    }
    expect((await new Promise<SyncStatus>((resolve) => d.client.status$.subscribe(resolve).unsubscribe())).pending).toBe(0);
  });

  it('coalesces ten offline updates of one entity into one request', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    d.online.next(false);
    for (let i = 0; i < 10; i++) await h.update('a', { title: `A${i}` });
    d.online.next(true);
    await d.client.flush();
    const rows = await ledger();
    expect(rows.map((r) => r.op)).toEqual(['create', 'update']);
    expect(rows[1]!.body).toMatchObject({ title: 'A9' });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A9', done: false, version: 2 });
  });

  it("'enqueued' names the entry carrying each change; a delete that cancels an unsent create queues nothing and says nothing", async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    d.online.next(false);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.update('a', { title: 'A2' });
    await h.delete('a');
    const enqueued = d.events.flatMap((e) => (e.type === 'enqueued' ? [[e.op, e.seq]] : []));
    const seq = enqueued[0]![1];
    expect(enqueued).toEqual([
      ['create', seq],
      ['update', seq],
    ]);
    d.online.next(true);
    await d.client.flush();
    expect(await ledger()).toEqual([]);
  });

  it('retries a dropped request with the same key: applied once', async () => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 100, maxDelayMs: 1000 } });
    await suite.server.admin.faults({ dropBeforeApply: { count: 1 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await d.clock.advance(1000);
    await d.client.flush();
    expect((await ledger()).map((r) => r.op)).toEqual(['create']);
  });

  it('a connection refused before the request leaves: NetworkError, retried after a jittered backoff named in status$; the view is not rolled back, the stored change is the same but for its attempt (RELIABILITY #1)', async () => {
    let refused = false;
    const sent: string[] = [];
    const d = make(suite.server.apiUrl, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'GET' || !refused) {
          if (request.method !== 'GET') sent.push(`${request.headers.get('Idempotency-Key')} ${await request.clone().text()}`);
          return fetch(request);
        }
        // Port 1 on loopback: nothing listens, the connection is refused.
        const url = new URL(request.url);
        url.port = '1';
        return fetch(new Request(url, request));
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    refused = true;
    sent.length = 0;
    const states: Array<QueryState<Todo>> = [];
    h.query$().subscribe((state) => states.push(state));
    const rows = async () => {
      const db = await openRaw(d.indexedDB, 'harborsync:default');
      try {
        return await getAllRaw<OutboxEntry>(db, 'outbox');
      } finally {
        db.close();
      }
    };
    d.online.next(false);
    await h.update('a', { title: 'B' });
    const [stored] = await rows();
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await settle(20);
    const retrying = d.events.find((e) => e.type === 'retrying')!;
    expect(retrying).toMatchObject({ id: 'a', op: 'update', attempt: 1, error: { name: 'NetworkError' } });
    expect(latest(d.client.status$)).toMatchObject({ pending: 1, failed: 0, nextRetryAt: retrying.at + (retrying as { delayMs: number }).delayMs });
    expect(states.at(-1)?.data).toEqual([{ id: 'a', title: 'B', done: false, version: 1 }]);
    expect(d.events.some((e) => e.type === 'failed' || e.type === 'conflict' || e.type === 'rolledBack')).toBe(false);
    const [after] = await rows();
    expect(after).toMatchObject({ seq: stored!.seq, op: 'update', payload: stored!.payload, baseVersion: 1, key: stored!.key, rekeys: stored!.rekeys, attempts: 1, state: 'queued' });
    refused = false;
    await d.clock.advance(1000);
    await d.client.flush();
    expect(sent).toEqual([`${stored!.key} {"title":"B"}`]);
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 2 });
  });

  it('a request dropped before the server applied it is re-sent byte for byte: same key, body and If-Match; applied once (RELIABILITY #2)', async () => {
    const writes: string[] = [];
    const d = make(suite.server.apiUrl, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method !== 'GET') {
          const { method, headers } = request;
          writes.push(`${method} ${request.url} key=${headers.get('Idempotency-Key')} if-match=${headers.get('If-Match')} ${await request.clone().text()}`);
        }
        return fetch(request);
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    for (const write of [() => h.update('a', { title: 'A2', done: true }), () => h.delete('b')]) {
      writes.length = 0;
      const retries = () => d.events.filter((e) => e.type === 'retrying').length;
      const before = retries();
      await suite.server.admin.faults({ dropBeforeApply: { count: 1 } });
      await write();
      await until(() => retries() > before, 'a retry');
      await d.clock.advance(1000);
      await d.client.flush();
      expect(writes).toHaveLength(2);
      expect(writes[1]).toBe(writes[0]);
    }
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`)).toEqual(['create a', 'create b', 'update a', 'delete b']);
    expect(d.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A2', done: true, version: 2 });
    expect(await h.get('b')).toBeUndefined();
  });

  it('a response lost after the server applied the write is not applied twice', async () => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 100, maxDelayMs: 1000 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await d.client.resource(todos).update('a', { title: 'B' });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await d.clock.advance(1000);
    await d.client.flush();
    const rows = await ledger();
    expect(rows.map((r) => r.op)).toEqual(['create', 'update']);
    const sent = d.events.filter((e) => e.type === 'sent' && e.op === 'update');
    expect(sent).toHaveLength(2);
    expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 2 });
  });

  it('answers lost after the server applied a create, an update and a delete, their keys then forgotten by the server: the re-sends are taken as delivered, each applied once, no conflict (RELIABILITY #19)', async () => {
    const answers: string[] = [];
    const d = make(suite.server.apiUrl, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        const answer = await fetch(request);
        if (request.method !== 'GET') answers.push(`${request.method} ${new URL(request.url).pathname} ${answer.status}`);
        return answer;
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    answers.length = 0;
    await suite.server.admin.faults({ dropAfterApply: { count: 3 } });
    await h.create({ id: 'c', title: 'C', done: false });
    await h.update('a', { title: 'A2' });
    await h.delete('b');
    await until(() => d.events.filter((e) => e.type === 'retrying').length >= 3, 'three retries');
    // The server's retention ran out between the lost answers and the re-sends: no key is remembered.
    await (await suite.backend.db()).query('DELETE FROM idempotency_keys');
    await d.clock.advance(1000);
    await d.client.flush();
    // The three are sent side by side: the ledger's order among them is the server's.
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`).sort()).toEqual(['create a', 'create b', 'create c', 'delete b', 'update a']);
    // Each re-send met the state it had made, not a stored answer: the key was gone.
    expect(answers.sort()).toEqual(['DELETE /api/todos/b 404', 'PATCH /api/todos/a 412', 'POST /api/todos 409']);
    expect(d.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
    expect(latest(d.client.conflicts$)).toEqual([]);
    expect(latest(d.client.failed$)).toEqual([]);
    expect(latest(d.client.status$).pending).toBe(0);
    expect(await h.get('a')).toEqual(await serverTodo('a'));
    expect(await h.get('a')).toMatchObject({ title: 'A2', version: 2 });
    expect(await h.get('b')).toBeUndefined();
    expect(await serverTodo('b')).toBeNull();
    expect(await h.get('c')).toEqual({ id: 'c', title: 'C', done: false, version: 1 });
    expect(await serverTodo('c')).toEqual(await h.get('c'));
  });

  it('a change made while a write whose answer was lost waits for its retry goes after it, on the replayed answer: each applied once, no conflict (RELIABILITY #3, #29)', async () => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await h.update('a', { title: 'B' });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await h.update('a', { done: true });
    await h.delete('a');
    await d.clock.advance(1000);
    await d.client.flush();
    expect((await ledger()).map((r) => [r.op, r.versionBefore, r.versionAfter])).toEqual([['create', null, 1], ['update', 1, 2], ['delete', 2, 3]]);
    expect(d.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
    expect(await h.get('a')).toBeUndefined();
    expect(await serverTodo('a')).toBeNull();
  });

  it('a write the server applies after the client gave up waiting (timeoutMs): aborted, retried with its key, the stored answer taken as success; applied once, no conflict (RELIABILITY #4)', async () => {
    const patches: string[] = [];
    let appliedLate: Promise<Response> | null = null;
    const timers = handTimers();
    const transport = createRestTransport({
      baseUrl: suite.server.apiUrl,
      auth: { getToken: () => 'demo-alice' },
      timeoutMs: 30_000,
      setTimer: timers.setTimer,
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method !== 'PATCH') return fetch(request);
        patches.push(`${request.headers.get('Idempotency-Key')} ${request.headers.get('If-Match')} ${await request.clone().text()}`);
        if (appliedLate) return fetch(request);
        // The server works on, unaware the client stopped waiting: its answer never reaches the client.
        appliedLate = fetch(new Request(request.url, { method: 'PATCH', headers: request.headers, body: await request.clone().text() }));
        return new Promise<Response>((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }));
      },
    });
    const d = make(suite.server.apiUrl, { transport, random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await h.update('a', { title: 'B' });
    await until(() => appliedLate !== null, 'the update sent');
    expect((await appliedLate!).status).toBe(200);
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
    expect(d.events.some((e) => e.type === 'retrying')).toBe(false);
    timers.fire(); // timeoutMs passes
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the wait given up');
    expect(d.events.find((e) => e.type === 'retrying')).toMatchObject({ id: 'a', op: 'update', error: { name: 'NetworkError' } });
    await d.clock.advance(1000);
    await d.client.flush();
    expect(patches).toHaveLength(2);
    expect(patches[1]).toBe(patches[0]);
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
    expect(d.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 2 });
    expect(latest(d.client.status$).pending).toBe(0);
  });

  it('a 409 without an entity (the same key still in progress at the server) is retried with that key, not taken as a conflict (RELIABILITY #4)', async () => {
    const patches: { key: string | null; body: string }[] = [];
    const d = make(suite.server.apiUrl, {
      random: upperHalfRandom(),
      retry: { baseDelayMs: 1000, maxDelayMs: 1000 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method !== 'PATCH') return fetch(request);
        patches.push({ key: request.headers.get('Idempotency-Key'), body: await request.clone().text() });
        const answer = await fetch(request);
        if (patches.length > 1) return answer;
        return Response.json({ error: 'a request with this Idempotency-Key is still being processed' }, { status: 409 });
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await h.update('a', { title: 'B' });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await d.clock.advance(1000);
    await d.client.flush();
    expect(patches).toHaveLength(2);
    expect(patches[1]).toEqual(patches[0]);
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
    expect(d.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 2 });
  });

  it('backs off on 503 and honours 429 Retry-After', async () => {
    // Every backoff draws half its cap or more: a draw under 0.001 gave 0 ms, the re-send met the
    // second 503 at once, and the count of retries went past 2 before until() could see it.
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 8000 } });
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '30' } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    const retry = d.events.find((e) => e.type === 'retrying');
    expect(retry).toMatchObject({ delayMs: 30_000, attempt: 1 });
    const status = await new Promise<SyncStatus>((resolve) => d.client.status$.subscribe(resolve).unsubscribe());
    expect(status.nextRetryAt).toBe(d.clock.now() + 30_000);
    await d.clock.advance(29_000);
    expect(await ledger()).toHaveLength(0);
    await d.clock.advance(1_000);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
    await suite.server.admin.faults({ errorRate: { count: 2 }, errorStatus: 503 });
    await d.client.resource(todos).update('a', { done: true });
    await until(() => d.events.filter((e) => e.type === 'retrying').length === 2);
    await d.clock.advance(8000);
    await until(() => d.events.filter((e) => e.type === 'retrying').length === 3);
    await d.clock.advance(8000);
    await d.client.flush();
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
  });

  it('a 503 storm of ten minutes: each entity retries on the backoff schedule, one request at a time, then the queue drains in order with nothing done by hand (RELIABILITY #6, G4)', async () => {
    const STORM_MS = 10 * 60_000;
    // maxAttempts out of reach: this is about the schedule (the default 10 parks an entry within about 4 minutes).
    const retry = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 1000 };
    const attempts: Record<string, number[]> = {};
    const inFlight = new Map<string, number>();
    let overlapping = 0;
    const d = make(suite.server.apiUrl, {
      maxInFlight: 2,
      random: seededRandom(42),
      retry,
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'GET') return fetch(request);
        const entity = request.method === 'POST' ? (JSON.parse(await request.clone().text()) as Todo).id : new URL(request.url).pathname.split('/').at(-1)!;
        (attempts[entity] ??= []).push(d.clock.now());
        if (inFlight.get(entity)) overlapping++;
        inFlight.set(entity, (inFlight.get(entity) ?? 0) + 1);
        try {
          return await fetch(request);
        } finally {
          inFlight.set(entity, inFlight.get(entity)! - 1);
        }
      },
    });
    const writesOut = () => [...inFlight.values()].some((n) => n > 0);
    const h = d.client.resource(todos);
    await suite.server.admin.faults({ failStatus: { status: 503 } });
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await until(() => (attempts.a?.length ?? 0) > 0 && !writesOut(), "a's first attempt");
    await h.update('a', { done: true }); // queued behind a's create, which was sent: an entry of its own
    for (let elapsed = 0; elapsed < STORM_MS; elapsed += 1000) {
      await d.clock.advance(1000);
      await until(() => !writesOut(), 'the writes out answered');
    }
    expect(await ledger()).toEqual([]);
    // Every re-send waits its full-jitter draw, never more than base·2^(attempt-1) capped at
    // maxDelayMs, and goes out once that is due (within the 1 s steps of this clock).
    for (const id of ['a', 'b']) {
      const retries = d.events.flatMap((e) => (e.type === 'retrying' && e.id === id ? [e] : []));
      const sent = attempts[id]!;
      expect(retries.map((e) => e.attempt)).toEqual(sent.map((_, i) => i + 1));
      retries.slice(0, -1).forEach((e, i) => {
        expect(e.delayMs).toBeGreaterThanOrEqual(0);
        expect(e.delayMs).toBeLessThanOrEqual(Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (e.attempt - 1)));
        expect(sent[i + 1]! - e.at).toBeGreaterThanOrEqual(e.delayMs);
        expect(sent[i + 1]! - e.at).toBeLessThan(e.delayMs + 1000);
      });
      // G4 (b) bounds the mean over seeds by 2·D/maxDelay + log2(maxDelay/baseDelay) + 2 (about 28
      // here); one seed may draw a few more. A zero-delay loop would make hundreds.
      expect(sent.length).toBeGreaterThan(5);
      expect(sent.length).toBeLessThan(40);
    }
    expect(overlapping).toBe(0);
    expect(latest(d.client.failed$)).toEqual([]);
    expect(latest(d.client.status$)).toMatchObject({ pending: 3, failed: 0 });

    await suite.server.admin.faults({ failStatus: null });
    for (let waited = 0; waited <= retry.maxDelayMs && latest(d.client.status$).pending > 0; waited += 1000) {
      await d.clock.advance(1000);
      await until(() => !writesOut(), 'the writes out answered');
    }
    expect(latest(d.client.status$).pending).toBe(0);
    const rows = await ledger();
    expect(rows.filter((r) => r.entityId === 'a').map((r) => r.op)).toEqual(['create', 'update']);
    expect(rows.filter((r) => r.entityId === 'b').map((r) => r.op)).toEqual(['create']);
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0 });
    expect(await serverTodo('a')).toEqual(await h.get('a'));
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: true, version: 2 });
    expect(overlapping).toBe(0);
  });

  it.each([['0'], ['Sun, 06 Nov 1994 08:49:37 GMT']])('a 429 whose Retry-After (%s) is already due waits the backoff: no burst of re-sends', async (retryAfter) => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 8000 } });
    await suite.server.admin.faults({ rateLimit: { count: 3, retryAfter } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await settle(20);
    const retries = d.events.filter((e) => e.type === 'retrying');
    expect(retries).toHaveLength(1);
    expect((retries[0] as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(500);
    expect(await new Promise<FailedMutation[]>((resolve) => d.client.failed$.subscribe(resolve).unsubscribe())).toEqual([]);
  });

  it('a 429 whose Retry-After is a date is read against the answer\'s Date, not the device clock (years behind here): the change waits the two minutes asked (RELIABILITY #57)', async () => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    expect(Date.now() - d.clock.now()).toBeGreaterThan(24 * 3_600_000);
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: new Date(Date.now() + 120_000).toUTCString() } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    const { delayMs } = d.events.find((e) => e.type === 'retrying') as { delayMs: number };
    // Read against this device's clock it would be the 1 h ceiling; the answer comes some (real) time after the fault was set.
    expect(delayMs).toBeGreaterThan(60_000);
    expect(delayMs).toBeLessThanOrEqual(121_000);
    await d.clock.advance(delayMs);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });

  it('coming back online replays at once, ignoring the backoff', async () => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await suite.server.admin.faults({ offline: true });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'));
    await suite.server.admin.faults({ offline: false });
    d.online.next(false);
    d.online.next(true);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });

  it('401 refreshes the token once; still 401 pauses as unauthorized until resume()', async () => {
    let token = 'stale';
    let refreshes = 0;
    const d = make(suite.server.apiUrl, {
      auth: {
        getToken: () => token,
        refreshToken: () => {
          refreshes++;
          token = refreshes === 1 ? 'still-bad' : 'demo-alice';
          return token;
        },
      },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(async () => (await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).paused === 'unauthorized');
    expect(refreshes).toBe(1);
    expect(await ledger()).toHaveLength(0);
    d.client.resume();
    await d.client.flush();
    expect(refreshes).toBe(2);
    expect(await ledger()).toHaveLength(1);
  });

  it('a token that expires with several changes out: their 401s share one refresh, and each change is re-sent with its key and applied once (RELIABILITY #52)', async () => {
    const session = expiringSession();
    const sent = () => session.sent.filter((s) => s.method === 'POST');
    const d = make(suite.server.apiUrl, { maxInFlight: 4, ...session.options });
    const h = d.client.resource(todos);
    d.online.next(false);
    for (const id of ['a', 'b', 'c', 'd']) await h.create({ id, title: id.toUpperCase(), done: false });
    session.expire();
    d.online.next(true);
    await until(() => sent().filter((s) => s.status === 401).length === 4, 'four 401s');
    session.release();
    await d.client.flush();
    expect(session.refreshes()).toBe(1);
    const rows = await ledger();
    expect(rows.map((r) => r.entityId).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const row of rows) {
      const tries = sent().filter((s) => s.key === row.idempotencyKey);
      expect(tries.map((s) => s.status)).toEqual([401, 201]);
      expect(tries[1]!.body).toBe(tries[0]!.body);
    }
    expect(await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).toMatchObject({ paused: null, pending: 0 });
    expect(await new Promise<FailedMutation[]>((r) => d.client.failed$.subscribe(r).unsubscribe())).toEqual([]);
  });

  it("a 401 to one change while another entity's is out leaves status$ syncing until that one's answer lands", async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // b's answer waits at the gate; a's POST is refused, as under an expired session.
    const refusing: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method !== 'POST') return fetch(request);
      if ((await request.clone().text()).includes('"refused"')) return Response.json({ error: 'session expired' }, { status: 401 });
      const answer = await fetch(request);
      await gate;
      return answer;
    };
    const d = make(suite.server.apiUrl, { fetch: refusing, maxInFlight: 2 });
    const h = d.client.resource(todos);
    await h.create({ id: 'b', title: 'fine', done: false });
    await h.create({ id: 'a', title: 'refused', done: false });
    await until(async () => (await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).paused === 'unauthorized', 'the 401');
    await settle(20);
    const whileOut = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    release();
    expect(whileOut).toMatchObject({ paused: 'unauthorized', syncing: true });
    await until(async () => (await ledger()).length === 1, 'b to land');
    await until(async () => (await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).pending === 1, "b's answer stored");
    expect(await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).toMatchObject({ paused: 'unauthorized', syncing: false });
  });

  it('a pull still refused after the refresh pauses as unauthorized, like a write: status$ says so, queued writes wait for resume()', async () => {
    let token = 'expired';
    const d = make(suite.server.apiUrl, { auth: { getToken: () => token, refreshToken: () => token } });
    d.client.pause();
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    d.client.resume();
    d.online.next(false); // the write waits while the pull below meets the expired session
    await expect(d.client.resource(todos).refresh()).rejects.toMatchObject({ status: 401 });
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ paused: 'unauthorized', pending: 1 });
    expect(status.lastError).toBeInstanceOf(HttpError);
    d.online.next(true);
    await d.client.flush();
    expect(await ledger()).toEqual([]);
    token = 'demo-alice'; // signed in again
    d.client.resume();
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
    await expect(d.client.resource(todos).refresh()).resolves.toBeUndefined();
  });

  it('resume() after signing in again pulls what a refused read left in error: the list shows, with no other trigger', async () => {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 'a', title: 'On the server', done: false } });
    let token = 'expired';
    const d = make(suite.server.apiUrl, { auth: { getToken: () => token, refreshToken: () => token } });
    const states: Array<QueryState<Todo>> = [];
    d.client.resource(todos).query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'error', 'the first pull refused');
    expect(states.at(-1)!.error).toMatchObject({ status: 401 });
    expect(await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).toMatchObject({ paused: 'unauthorized' });

    token = 'demo-alice'; // signed in again
    d.client.resume();
    await until(() => states.at(-1)?.status === 'success', 'the list pulled again');
    expect(states.at(-1)).toMatchObject({ status: 'success', error: null, data: [expect.objectContaining({ id: 'a' })] });
  });

  it('the token refreshToken() returns is used for the retry and later writes, though getToken() still returns the expired one', async () => {
    let refreshes = 0;
    const d = make(suite.server.apiUrl, {
      auth: { getToken: () => 'expired', refreshToken: async () => (refreshes++, 'demo-alice') },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await d.client.resource(todos).create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    expect((await ledger()).map((r) => r.entityId)).toEqual(['a', 'b']);
    expect(refreshes).toBe(1);
    expect(await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).toMatchObject({ paused: null, pending: 0 });
  });

  it('a getToken() that throws pauses replay as unauthorized, naming it: nothing sent, parked or retried, resume() continues', async () => {
    let signedOut = true;
    const d = make(suite.server.apiUrl, {
      auth: {
        getToken: () => {
          if (signedOut) throw new Error('login required');
          return 'demo-alice';
        },
      },
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    for (let i = 0; i < 12; i++) {
      await d.clock.advance(20);
      await d.client.flush();
    }
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ paused: 'unauthorized', pending: 1, failed: 0 });
    expect(status.lastError).toMatchObject({ status: 401, cause: { message: 'login required' } });
    expect(status.lastError!.message).toMatch(/getToken\(\) failed: Error: login required/);
    expect(d.events.filter((e) => e.type === 'retrying' || e.type === 'failed' || e.type === 'error')).toEqual([]);
    expect(await ledger()).toEqual([]);
    signedOut = false;
    d.client.resume();
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });

  it('a refreshToken() that throws pauses replay as unauthorized, naming it: nothing parked, no retries, resume() continues', async () => {
    let refreshes = 0;
    let sessionOver = true;
    const d = make(suite.server.apiUrl, {
      auth: {
        getToken: () => (sessionOver ? 'expired' : 'demo-alice'),
        refreshToken: async () => {
          refreshes++;
          throw new Error('the refresh token expired');
        },
      },
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
    });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    for (let i = 0; i < 12; i++) {
      await d.clock.advance(20);
      await d.client.flush();
    }
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ paused: 'unauthorized', pending: 1, failed: 0 });
    expect(status.lastError).toBeInstanceOf(HttpError);
    expect(status.lastError).toMatchObject({ status: 401, cause: { message: 'the refresh token expired' } });
    expect(status.lastError!.message).toMatch(/refreshToken\(\) failed: Error: the refresh token expired/);
    expect(refreshes).toBe(1);
    expect(d.events.filter((e) => e.type === 'retrying' || e.type === 'failed' || e.type === 'error')).toEqual([]);
    sessionOver = false; // the user signed in again
    d.client.resume();
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });

  /** `a` created and confirmed, then its update to 'forbidden' refused with 422: rolled back, in failed$. */
  async function refusedUpdate(d: Device) {
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ failStatus: { status: 422, match: 'forbidden', count: 1 } });
    await h.update('a', { title: 'forbidden' });
    await d.client.flush();
    const failed: { value: FailedMutation[] } = { value: [] };
    d.client.failed$.subscribe((f) => (failed.value = f));
    return { h, failed };
  }

  it('a permanent 4xx moves the entry to failed$ and rolls the view back; retry() and discard() work', async () => {
    const keys: string[] = [];
    const d = make(suite.server.apiUrl, {
      fetch: (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'PATCH') keys.push(request.headers.get('Idempotency-Key') ?? '');
        return fetch(request);
      },
    });
    const { h, failed } = await refusedUpdate(d);
    expect(failed.value).toHaveLength(1);
    expect(failed.value[0]).toMatchObject({ resource: 'todos', id: 'a', op: 'update', error: { status: 422 } });
    expect(await h.get('a')).toMatchObject({ title: 'A' });
    await failed.value[0]!.retry();
    await d.client.flush();
    expect(failed.value).toHaveLength(0);
    expect(await h.get('a')).toMatchObject({ title: 'forbidden', version: 2 });
    // A server that stored the refusal under its key would answer the retry with it again: a new key.
    expect(keys).toEqual([keys[0], `${keys[0]}:1`]);
    await suite.server.admin.faults({ failStatus: { status: 400, count: 1 } });
    await h.update('a', { title: 'again' });
    await d.client.flush();
    await failed.value[0]!.discard();
    expect(failed.value).toHaveLength(0);
    expect(await h.get('a')).toMatchObject({ title: 'forbidden' });
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
  });

  it.each(['retry', 'discard'] as const)('a change made to an entity while its refused change waits in failed$ is held, not sent, until %s(); then it goes out on what that leaves (RELIABILITY #21)', async (choice) => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const { h, failed } = await refusedUpdate(d);
    await h.create({ id: 'b', title: 'B', done: false });
    await h.update('a', { done: true });
    for (let i = 0; i < 3; i++) {
      await d.client.flush();
      await d.clock.advance(1000);
    }
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`)).toEqual(['create a', 'create b']);
    expect(failed.value).toMatchObject([{ id: 'a', op: 'update', payload: { title: 'forbidden' }, error: { status: 422 } }]);
    expect(latest(d.client.status$)).toMatchObject({ pending: 1, failed: 1 });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: true, version: 1 });
    await failed.value[0]![choice]();
    await d.client.flush();
    const title = choice === 'retry' ? 'forbidden' : 'A';
    const updates = (await ledger()).filter((r) => r.op === 'update').map((r) => r.body);
    expect(updates).toEqual(choice === 'retry' ? [{ title: 'forbidden' }, { done: true }] : [{ done: true }]);
    expect(failed.value).toEqual([]);
    expect(latest(d.client.conflicts$)).toEqual([]);
    expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0 });
    expect(await h.get('a')).toEqual({ id: 'a', title, done: true, version: updates.length + 1 });
    expect(await serverTodo('a')).toEqual(await h.get('a'));
  });

  it('discard() of a refused change to an entity deleted on the server since leaves it gone: the next pull names the deletion again', async () => {
    const d = make(suite.server.apiUrl);
    const { h, failed } = await refusedUpdate(d);
    await suite.server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh();
    await failed.value[0]!.discard();
    await h.refresh();
    expect(await h.list()).toEqual([]);
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ pending: 0, failed: 0 });
  });

  it.each([403, 428])('a %i to one entity parks only it in failed$, rolled back, sent once; the other entities go on (RELIABILITY #18, #56)', async (status) => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ failStatus: { status, match: 'revoked' } });
    await h.update('a', { title: 'revoked' });
    await h.update('b', { title: 'fine' });
    for (let i = 0; i < 5; i++) {
      await d.client.flush();
      await d.clock.advance(1000);
    }
    const failed = await new Promise<FailedMutation[]>((r) => d.client.failed$.subscribe(r).unsubscribe());
    expect(failed).toMatchObject([{ resource: 'todos', id: 'a', op: 'update', error: { status } }]);
    expect(d.calls.filter((c) => c === 'PATCH /api/todos/a')).toHaveLength(1);
    expect(d.events.some((e) => e.type === 'retrying')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
    expect(await h.get('b')).toEqual({ id: 'b', title: 'fine', done: false, version: 2 });
    expect((await ledger()).map((r) => [r.op, r.entityId])).toEqual([['create', 'a'], ['create', 'b'], ['update', 'b']]);
  });

  it('parks an entry after maxAttempts retryable failures, holding back only its entity', async () => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 10, maxDelayMs: 10, maxAttempts: 3 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    await d.client.resource(todos).create({ id: 'p', title: 'poison', done: false });
    await d.client.resource(todos).create({ id: 'q', title: 'fine', done: false });
    for (let i = 0; i < 5; i++) {
      await d.client.flush();
      await d.clock.advance(10);
    }
    await d.client.flush();
    expect((await ledger()).map((r) => r.entityId)).toEqual(['q']);
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status.failed).toBe(1);
    expect(await d.client.resource(todos).get('p')).toMatchObject({ title: 'poison' });
  });

  it("an entry parked after maxAttempts answers of 503 shows the last answer's status and body in failed$, as a refused one does", async () => {
    const d = make(suite.server.apiUrl, { retry: { baseDelayMs: 10, maxDelayMs: 10, maxAttempts: 2 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    await d.client.resource(todos).create({ id: 'p', title: 'poison', done: false });
    let failed: FailedMutation[] = [];
    d.client.failed$.subscribe((f) => (failed = f));
    for (let i = 0; i < 3 && failed.length === 0; i++) {
      await d.client.flush();
      await d.clock.advance(10);
    }
    await until(() => failed.length === 1, 'the entry parked');
    expect(failed[0]!.error).toEqual({
      status: 503,
      message: expect.stringMatching(/^gave up after 2 attempts: .*503/),
      body: { error: 'injected fault: 503' },
    });
  });

  /**
   * `a`'s update 'Mine' is applied by the server and its answer lost; the retries that follow get
   * 503 until it is parked: the client cannot know that it was applied.
   */
  async function parkedAfterALostAnswer() {
    // Every backoff draws 5 ms or more: no re-send (which would meet no fault yet) before the clock moves.
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 10, maxDelayMs: 10, maxAttempts: 3 } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await h.update('a', { title: 'Mine' });
    await until(async () => (await ledger()).length === 2, 'the update applied');
    await suite.server.admin.faults({ failStatus: { status: 503, count: 2 } });
    for (let i = 0; i < 5; i++) {
      await d.client.flush();
      await d.clock.advance(10);
    }
    const failed: { value: FailedMutation[] } = { value: [] };
    d.client.failed$.subscribe((f) => (failed.value = f));
    expect(failed.value).toMatchObject([{ id: 'a', op: 'update' }]);
    return { d, h, failed };
  }

  it('retry() of an entry parked after retryable failures re-sends it with its key: a lost answer is replayed, never applied twice', async () => {
    const { d, h, failed } = await parkedAfterALostAnswer();
    // Meanwhile someone else changes the entity.
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'Theirs' } });

    await failed.value[0]!.retry();
    await d.client.flush();
    expect(failed.value).toEqual([]);
    expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.map((r) => r.body)).toEqual([{ title: 'Mine' }, { title: 'Theirs' }]);
    await h.refresh();
    expect(await h.get('a')).toMatchObject({ title: 'Theirs', version: 3 });
  });

  it('a deletion pulled while such a change is parked is named again by the next pull: the replayed answer does not bring the entity back', async () => {
    const { d, h, failed } = await parkedAfterALostAnswer();
    await suite.server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh();
    // The parked change keeps the entity shown until it meets the deletion.
    expect((await h.list()).map((t) => t.id)).toEqual(['a']);

    await failed.value[0]!.retry();
    await d.client.flush();
    expect(failed.value).toEqual([]);
    // The server replayed the update's first answer: an entity it has deleted since.
    expect((await ledger()).filter((r) => r.op === 'update')).toHaveLength(1);
    await h.refresh();
    expect(await h.list()).toEqual([]);
  });

  it('a cursor held for such a change does not stop the feed: the pages after the deletion are still read', async () => {
    const { h } = await parkedAfterALostAnswer();
    await suite.server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    // More changes than one delta page holds (500), all after the deletion.
    await suite.server.admin.seed('todos', 600);
    await h.refresh();
    expect(await h.list()).toHaveLength(601);
    await h.refresh();
    expect(await h.list()).toHaveLength(601);
  });

  it('a change made after retry() of a parked entry goes after it, not into it: the keyed payload stays as sent', async () => {
    const { d, h, failed } = await parkedAfterALostAnswer();

    d.online.next(false);
    await failed.value[0]!.retry();
    await h.update('a', { done: true });
    d.online.next(true);
    await d.client.flush();
    expect(failed.value).toEqual([]);
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.map((r) => r.body)).toEqual([{ title: 'Mine' }, { done: true }]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Mine', done: true, version: 3 });
  });

  it('a refused change is reported rolledBack once: discard() of it, already out of the view, reports no second rollback', async () => {
    const d = make(suite.server.apiUrl);
    const { h, failed } = await refusedUpdate(d);
    const rollbacks = () => d.events.filter((e) => e.type === 'rolledBack');
    expect(rollbacks()).toEqual([expect.objectContaining({ resource: 'todos', id: 'a' })]);
    const view = await h.get('a');
    await failed.value[0]!.discard();
    expect(failed.value).toEqual([]);
    expect(await h.get('a')).toEqual(view);
    expect(rollbacks()).toHaveLength(1);
  });

  it('retry() or discard() of a FailedMutation that was handled since leaves the change as it is now', async () => {
    const d = make(suite.server.apiUrl);
    const { failed } = await refusedUpdate(d);
    const stale = failed.value[0]!;
    const rollbacks = () => d.events.filter((e) => e.type === 'rolledBack').length;
    const before = rollbacks();
    d.online.next(false);
    await stale.retry();
    await stale.discard(); // handled already: the retried change stays queued
    await stale.retry();
    expect(rollbacks()).toBe(before);
    d.online.next(true);
    await d.client.flush();
    expect((await ledger()).map((r) => [r.op, r.body])).toEqual([
      ['create', { id: 'a', title: 'A', done: false }],
      ['update', { title: 'forbidden' }],
    ]);
  });
});

describe('status$ while a change backs off', () => {
  const statusOf = (d: Device) => new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
  const retryAt = (d: Device) => d.events.flatMap((e) => (e.type === 'retrying' ? [e.at + e.delayMs] : []));

  it("nextRetryAt names the retry's time, not when another entity's change is due after sendDelayMs", async () => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), sendDelayMs: 1000, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    await d.client.resource(todos).create({ id: 'p', title: 'poison', done: false });
    await d.clock.advance(1000);
    await until(() => retryAt(d).length === 1, 'the retry');
    await d.client.resource(todos).create({ id: 'q', title: 'fine', done: false });
    await settle(20);
    // q goes out in 1 s, without having failed; p is retried 30 s or more from now.
    expect((await statusOf(d)).nextRetryAt).toBe(retryAt(d)[0]);
  });

  it("nextRetryAt still names the retry while another entity's change is out", async () => {
    const held = heldAnswers();
    const d = make(suite.server.apiUrl, { fetch: held.fetch, random: upperHalfRandom(), retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    await d.client.resource(todos).create({ id: 'p', title: 'poison', done: false });
    await until(() => retryAt(d).length === 1, 'the retry');
    await settle(20);
    const [at] = retryAt(d);
    expect(await statusOf(d)).toMatchObject({ syncing: false, nextRetryAt: at });
    const q = await held.heldRequest(() => d.client.resource(todos).create({ id: 'q', title: 'fine', done: false }, { wait: 'server' }), d.clock);
    await settle(20);
    // q is out; p is still retried at its time.
    const whileOut = await statusOf(d);
    await q.landed();
    expect(whileOut).toMatchObject({ syncing: true, nextRetryAt: at });
    await settle(20);
    expect(await statusOf(d)).toMatchObject({ syncing: false, nextRetryAt: at });
  });

  it('nextRetryAt still names a retry queued behind sixteen changes going out ahead of it', async () => {
    const held = heldAnswers();
    const d = make(suite.server.apiUrl, { fetch: held.fetch, random: upperHalfRandom(), sendDelayMs: 1000, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    const h = d.client.resource(todos);
    const ahead = Array.from({ length: 16 }, (_, i) => `a${i}`);
    for (const id of ahead) await h.create({ id, title: 'fine', done: false });
    await h.create({ id: 'p', title: 'poison', done: false });
    // Changed again, the sixteen wait out sendDelayMs anew; p, queued after them, goes out and fails.
    await d.clock.advance(900);
    for (const id of ahead) await h.update(id, { done: true });
    await d.clock.advance(100);
    await until(() => retryAt(d).length === 1, 'the retry');
    const [at] = retryAt(d);
    held.hold();
    await d.clock.advance(900);
    await until(() => d.events.some((e) => e.type === 'sent' && e.id === 'a0'), 'the sixteen to go out');
    await settle(20);
    const whileOut = await statusOf(d);
    held.release();
    expect(whileOut).toMatchObject({ syncing: true, nextRetryAt: at });
  });

  it('pause() and going offline while a retry waits leave no nextRetryAt; resume() and coming online show it again', async () => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'poison' } });
    await d.client.resource(todos).create({ id: 'p', title: 'poison', done: false });
    await until(() => retryAt(d).length === 1, 'the retry');
    await settle(20);
    const [at] = retryAt(d);
    expect(await statusOf(d)).toMatchObject({ paused: null, nextRetryAt: at });
    d.client.pause();
    await settle(20);
    // Nothing is sent at that time while paused.
    expect(await statusOf(d)).toMatchObject({ paused: 'manual', nextRetryAt: null });
    d.client.resume();
    await settle(20);
    expect(await statusOf(d)).toMatchObject({ paused: null, nextRetryAt: at });
    d.online.next(false);
    await settle(20);
    expect(await statusOf(d)).toMatchObject({ paused: 'offline', nextRetryAt: null });
    d.online.next(true);
    await settle(20);
    // A 503 was an answer: its wait is kept on coming online.
    expect(await statusOf(d)).toMatchObject({ paused: null, nextRetryAt: at });
    expect(d.events.filter((e) => e.type === 'sent')).toHaveLength(1);
  });
});

describe('a refused create with changes made on it while it was out', () => {
  /** `a` created; while its POST is out (answered 422), an update to it is queued, waiting for the server. */
  async function refusedCreateUpdatedMeanwhile() {
    const answers = heldAnswers();
    const d = make(suite.server.apiUrl, { fetch: answers.fetch });
    const h = d.client.resource(todos);
    await suite.server.admin.faults({ failStatus: { status: 422, match: 'refused', count: 1 } });
    d.online.next(false);
    await h.create({ id: 'a', title: 'refused', done: false });
    const { landed } = await answers.heldRequest(async () => {
      d.online.next(true);
      await d.client.flush();
    }, d.clock);
    const updated = h.update('a', { done: true }, { wait: 'server' });
    updated.catch(() => undefined);
    await landed();
    let failed: FailedMutation[] = [];
    d.client.failed$.subscribe((f) => (failed = f));
    expect(failed).toEqual([expect.objectContaining({ id: 'a', op: 'create', error: expect.objectContaining({ status: 422 }) })]);
    return { d, h, failed: () => failed, updated };
  }
  const statusOf = (d: Device) => new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());

  it('discard() takes them along: the entity is gone as if never created, nothing is left queued, their waits end with no entity', async () => {
    const { d, h, failed, updated } = await refusedCreateUpdatedMeanwhile();
    await failed()[0]!.discard();
    await d.client.flush();
    expect(failed()).toEqual([]);
    expect(await statusOf(d)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
    expect(await h.get('a')).toBeUndefined();
    await expect(updated).resolves.toBeUndefined();
    expect(await ledger()).toEqual([]);
  });

  it('retry() sends them after the create', async () => {
    const { d, h, failed, updated } = await refusedCreateUpdatedMeanwhile();
    await failed()[0]!.retry();
    await d.client.flush();
    const confirmed = { id: 'a', title: 'refused', done: true, version: 2 };
    await expect(updated).resolves.toEqual(confirmed);
    expect(await h.get('a')).toEqual(confirmed);
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
  });
});

describe('the wall clock steps (RELIABILITY #57)', () => {
  const DAY = 24 * 3600 * 1000;
  const statusOf = (d: Device) => new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());

  it('offline for thirty days: nothing is discarded or parked for its age; back online, each change is applied once (RELIABILITY #58)', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    d.online.next(false);
    await h.update('a', { title: 'offline' });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.clock.advance(30 * DAY);
    d.online.next(true);
    await d.client.flush();
    expect((await ledger()).map((r) => [r.op, r.entityId, r.body])).toEqual([
      ['create', 'a', { id: 'a', title: 'A', done: false }],
      ['update', 'a', { title: 'offline' }],
      ['create', 'b', { id: 'b', title: 'B', done: false }],
    ]);
    const status = await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ pending: 0, failed: 0 });
  });

  it('a step back of two days while an entry backs off: it is re-sent within the longest backoff, never days later', async () => {
    // Backoffs of 500 ms or more: the re-send waits for the clock, and meets the step.
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    await suite.server.admin.faults({ offline: true });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await suite.server.admin.faults({ offline: false });
    d.clock.step(-2 * DAY);
    await d.clock.advance(1000); // the backoff's timer fires and finds a deadline two days ahead
    expect(d.clock.longestTimerMs).toBeLessThanOrEqual(longestRetryDelayMs({ baseDelayMs: 1000, maxDelayMs: 1000 }));
    const { nextRetryAt } = await statusOf(d);
    expect(nextRetryAt).not.toBeNull();
    expect(nextRetryAt! - d.clock.now()).toBeLessThanOrEqual(RETRY_AFTER_CEILING_MS);
    await d.clock.advance(RETRY_AFTER_CEILING_MS);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });

  it.each([
    ['a 503', { errorRate: { count: 1 } }],
    ['no answer', { offline: true }],
  ] as const)('a step back of two days while an entry backs off after %s: it is re-sent within the wait it was given, not the longest there is', async (_, fault) => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    await suite.server.admin.faults(fault);
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    await suite.server.admin.faults({ offline: false, errorRate: null });
    d.clock.step(-2 * DAY);
    await d.clock.advance(1000); // the backoff's timer fires and finds a deadline two days ahead
    const { nextRetryAt } = await statusOf(d);
    expect(nextRetryAt === null || nextRetryAt - d.clock.now() <= 1000).toBe(true);
    expect(d.clock.longestTimerMs).toBeLessThanOrEqual(1000);
    await d.clock.advance(1000);
    await until(async () => (await ledger()).length === 1, 'the create delivered');
  });

  it('a step back of two days while an entry waits for sendDelayMs: it is sent sendDelayMs later, not flushed by hand', async () => {
    const d = make(suite.server.apiUrl, { sendDelayMs: 300 });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    d.clock.step(-2 * DAY);
    await d.clock.advance(300);
    await d.clock.advance(300);
    await until(async () => (await ledger()).length === 1, 'the create delivered');
    expect(d.clock.longestTimerMs).toBeLessThanOrEqual(300);
  });

  it('changes made offline while the clock steps back, across a restart, go out in the order they were made, not by their timestamps or ids (RELIABILITY #57)', async () => {
    const online = new BehaviorSubject(false);
    const d = make(suite.server.apiUrl, { online });
    const h = d.client.resource(todos);
    // Made z, m, a: their timestamps run backwards, their ids sort the other way round.
    await h.create({ id: 'z', title: 'Z', done: false });
    d.clock.step(-2 * DAY);
    await h.create({ id: 'm', title: 'M', done: false });
    await d.client.close();
    const reopened = make(suite.server.apiUrl, { online }, d.indexedDB, d.clock);
    reopened.clock.step(-DAY);
    await reopened.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await reopened.client.resource(todos).update('z', { done: true });
    online.next(true);
    await reopened.client.flush();
    expect((await ledger()).map((r) => `${r.op} ${r.entityId}`)).toEqual(['create z', 'create m', 'create a']);
    expect(await serverTodo('z')).toMatchObject({ done: true, version: 1 });
    expect((await statusOf(reopened)).pending).toBe(0);
  });

  it('a step forward of 25 h does not park an entry after its second attempt (maxAgeMs counts time spent retrying)', async () => {
    // Every backoff draws 500 ms or more: a 0 ms one (a draw under 0.001) re-sent to the offline
    // server before the step, and the third attempt came before until() saw the second.
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    await suite.server.admin.faults({ offline: true });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    d.clock.step(25 * 3600 * 1000);
    await d.clock.advance(1000);
    await until(() => d.events.filter((e) => e.type === 'retrying').length === 2, 'the second retry');
    expect(d.events.some((e) => e.type === 'failed')).toBe(false);
    expect((await statusOf(d)).failed).toBe(0);
    await suite.server.admin.faults({ offline: false });
    await d.clock.advance(1000);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  });
});

describe('maxAgeMs counts time spent retrying', () => {
  /** A create the server answers with 503s, retried once: maxAttempts out of reach, as the README advises for long outages; waits of 30 s at most. */
  async function failingCreate(maxAgeMs: number) {
    const retry = { baseDelayMs: 30_000, maxDelayMs: 30_000, maxAttempts: 1000, maxAgeMs };
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry });
    await suite.server.admin.faults({ errorRate: { count: 1000 }, errorStatus: 503 });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a first retry');
    return d;
  }

  it('a day offline after half an hour of 503s does not park the change: its next failure is its first in a day', async () => {
    const d = await failingCreate(24 * 3_600_000);
    for (let i = 0; i < 60; i++) await d.clock.advance(30_000);
    const retries = () => d.events.filter((e) => e.type === 'retrying').length;
    expect(retries()).toBeGreaterThan(25);
    expect(d.events.some((e) => e.type === 'failed')).toBe(false);
    d.online.next(false);
    await d.clock.advance(24 * 3_600_000);
    const before = retries();
    d.online.next(true);
    await until(() => retries() > before || d.events.some((e) => e.type === 'failed'), 'the attempt after the day offline');
    expect(d.events.some((e) => e.type === 'failed')).toBe(false);
    await suite.server.admin.faults({ errorRate: null });
    await d.clock.advance(30_000);
    await d.client.flush();
    expect(await ledger()).toHaveLength(1);
  }, 30_000);

  it('a change failing all along is parked once it has failed for maxAgeMs', async () => {
    const d = await failingCreate(10 * 60_000);
    for (let i = 0; i < 18; i++) await d.clock.advance(30_000);
    expect(d.events.some((e) => e.type === 'failed')).toBe(false);
    for (let i = 0; i < 4 && !d.events.some((e) => e.type === 'failed'); i++) await d.clock.advance(30_000);
    expect(d.events.some((e) => e.type === 'failed')).toBe(true);
    await suite.server.admin.faults({ errorRate: null });
  });
});

describe('timers that fire late, or not at all while the page is hidden (RELIABILITY #59)', () => {
  it.each([
    ['a backoff after a 503', { retry: { baseDelayMs: 1000, maxDelayMs: 1000 } }],
    ['sendDelayMs', { sendDelayMs: 300 }],
  ] as const)('a change whose wait (%s) ran out while no timer fired is sent when the page comes back to the foreground', async (what, options) => {
    const foreground = new Subject<void>();
    const d = make(suite.server.apiUrl, { ...options, random: upperHalfRandom(), foreground });
    if (what.includes('503')) await suite.server.admin.faults({ errorRate: { count: 1 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    if (what.includes('503')) await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    // Hidden: the wall clock runs on, the page's timers do not fire.
    d.clock.jump(10 * 60_000);
    await settle();
    expect(await ledger()).toHaveLength(0);
    foreground.next();
    await until(async () => (await ledger()).length === 1, 'the change sent on coming back');
  });

  it('a change backing off while offline, its wait run out with no timer fired, is sent on coming online', async () => {
    const d = make(suite.server.apiUrl, { random: upperHalfRandom(), retry: { baseDelayMs: 1000, maxDelayMs: 1000 } });
    await suite.server.admin.faults({ errorRate: { count: 1 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'a retry');
    d.online.next(false);
    d.clock.jump(10 * 60_000);
    d.online.next(true);
    await until(async () => (await ledger()).length === 1, 'the change sent on coming online');
  });
});

describe('crash safety and lifecycle', () => {
  it('an entry in flight when the page died is re-sent on the next start with the same key', async () => {
    const d = make(suite.server.apiUrl);
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(async () => (await ledger()).length === 1, 'the server applying the write');
    await d.client.close();
    const reopened = make(suite.server.apiUrl, {}, d.indexedDB, d.clock);
    await d.clock.advance(60_000);
    await reopened.client.flush();
    const rows = await ledger();
    expect(rows).toHaveLength(1);
    expect(await reopened.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
    const status = await new Promise<SyncStatus>((r) => reopened.client.status$.subscribe(r).unsubscribe());
    expect(status.pending).toBe(0);
  });

  it('a change made after a restart, to an entity whose request was out when the page died, goes after it with its own key: the resend carries the same key and body', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await h.update('a', { title: 'B' });
    await until(async () => (await ledger()).length === 2, 'the server applying the update');
    await d.client.close();
    const patches: { key: string | null; body: string }[] = [];
    const reopened = make(suite.server.apiUrl, {
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'PATCH') patches.push({ key: request.headers.get('Idempotency-Key'), body: await request.clone().text() });
        return fetch(request);
      },
    }, d.indexedDB, d.clock);
    reopened.online.next(false);
    await reopened.client.resource(todos).update('a', { title: 'C' });
    reopened.online.next(true);
    await d.clock.advance(60_000);
    await reopened.client.flush();
    const rows = await ledger();
    expect(rows.map((r) => [r.op, r.body])).toEqual([
      ['create', { id: 'a', title: 'A', done: false }],
      ['update', { title: 'B' }],
      ['update', { title: 'C' }],
    ]);
    expect(patches[0]).toEqual({ key: rows[1]!.idempotencyKey, body: JSON.stringify({ title: 'B' }) });
    expect(patches.at(-1)!.key).not.toBe(rows[1]!.idempotencyKey);
    expect(await reopened.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'C', done: false, version: 3 });
    expect(await serverTodo('a')).toMatchObject({ title: 'C', version: 3 });
  });

  it('an id created again after a restart, while its delete was out when the page died, goes after that delete: both applied once (RELIABILITY #26)', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    await h.delete('a');
    await until(async () => (await ledger()).length === 2, 'the server applying the delete');
    await d.client.close();
    const reopened = make(suite.server.apiUrl, {}, d.indexedDB, d.clock);
    reopened.online.next(false);
    await reopened.client.resource(todos).create({ id: 'a', title: 'again', done: true });
    reopened.online.next(true);
    await d.clock.advance(60_000);
    await reopened.client.flush();
    expect((await ledger()).map((r) => [r.op, r.body])).toEqual([
      ['create', { id: 'a', title: 'A', done: false }],
      ['delete', null],
      ['create', { id: 'a', title: 'again', done: true }],
    ]);
    expect(await reopened.client.resource(todos).get('a')).toMatchObject({ title: 'again', done: true });
    expect(await serverTodo('a')).toMatchObject({ title: 'again', done: true });
    const status = await new Promise<SyncStatus>((r) => reopened.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
  });

  it('close() during a slow request returns without waiting for it; the next client delivers it once', async () => {
    const d = make(suite.server.apiUrl);
    await suite.server.admin.faults({ latencyMs: 1500 });
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => d.events.some((e) => e.type === 'sent'), 'the request to leave');
    const closing = Date.now();
    await d.client.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    await suite.server.admin.faults({ latencyMs: 0 });
    const reopened = make(suite.server.apiUrl, {}, d.indexedDB, d.clock);
    await reopened.client.flush();
    await until(async () => (await ledger()).length === 1, 'the slow request to land');
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await ledger()).toHaveLength(1);
    expect(await reopened.client.resource(todos).get('a')).toMatchObject({ version: 1 });
  });

  it('a change made while the entity’s request is out goes after its answer, on the version it gave: no conflict, the sent body unchanged (RELIABILITY #29)', async () => {
    const ifMatch: (string | null)[] = [];
    const bodies: string[] = [];
    const held = heldAnswers((request) => request.method === 'PATCH');
    const d = make(suite.server.apiUrl, {
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (request.method === 'PATCH') {
          ifMatch.push(request.headers.get('If-Match'));
          bodies.push(await request.clone().text());
        }
        return held.fetch(request);
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    const first = await held.heldRequest(() => h.update('a', { title: 'B' }, { wait: 'server' }), d.clock);
    await h.update('a', { done: true });
    await first.landed();
    await d.client.flush();
    expect(ifMatch).toEqual(['"1"', '"2"']);
    expect(bodies).toEqual([JSON.stringify({ title: 'B' }), JSON.stringify({ done: true })]);
    expect((await ledger()).map((r) => [r.op, r.versionBefore, r.versionAfter])).toEqual([['create', null, 1], ['update', 1, 2], ['update', 2, 3]]);
    expect(d.events.some((e) => e.type === 'conflict')).toBe(false);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: true, version: 3 });
  });

  it('a pull of a newer version rebases pending changes on it', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    d.online.next(false);
    await h.update('a', { done: true });
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'theirs' } });
    await h.refresh();
    expect(await h.get('a')).toEqual({ id: 'a', title: 'theirs', done: true, version: 2 });
    d.online.next(true);
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'theirs', done: true });
  });

  it('clear() refuses with pending changes unless told to discard them', async () => {
    const d = make(suite.server.apiUrl);
    d.online.next(false);
    await d.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await expect(d.client.clear()).rejects.toBeInstanceOf(PendingMutationsError);
    await d.client.clear({ discardPending: true });
    expect(await d.indexedDB.databases()).toEqual([]);
    expect(await d.client.resource(todos).list()).toEqual([]);
  });

  it.each([
    ['whose promise has not resolved yet', true],
    // Nothing of todos is loaded yet: the write waits for that before it is shown and stored.
    ['still waiting for its resource to load', false],
  ])('clear() counts a write %s: it refuses, and the write is stored', async (_, loaded) => {
    const d = make(suite.server.apiUrl);
    d.online.next(false);
    const h = d.client.resource(todos);
    if (loaded) await h.list();
    const written = h.create({ id: 'a', title: 'A', done: false });
    await expect(d.client.clear()).rejects.toBeInstanceOf(PendingMutationsError);
    await written;
    await d.client.close();
    const again = make(suite.server.apiUrl, {}, d.indexedDB, d.clock);
    expect(await again.client.resource(todos).get('a')).toMatchObject({ id: 'a', title: 'A' });
  });

  it("clear({ discardPending: true }) (logout) while a change is out: the 401 answering it does not pause the next user's session", async () => {
    const held = heldAnswers();
    let token = 'revoked';
    const d = make(suite.server.apiUrl, { fetch: held.fetch, auth: { getToken: () => token } });
    const h = d.client.resource(todos);
    const out = await held.heldRequest(() => h.create({ id: 'a', title: 'A', done: false }), d.clock);
    await d.client.clear({ discardPending: true });
    token = 'demo-alice';
    await out.landed();
    await settle(20);
    expect(await new Promise<SyncStatus>((r) => d.client.status$.subscribe(r).unsubscribe())).toMatchObject({ paused: null, pending: 0 });
    await h.create({ id: 'b', title: 'B', done: false });
    await d.client.flush();
    expect((await ledger()).map((e) => e.entityId)).toEqual(['b']);
  });

  it('clear({ discardPending: true }) (logout) with an update made while it deletes the database: the update is refused, and neither the cleared entity nor the change comes back or is sent', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    d.online.next(false);
    // An autosave fires while clear() deletes the database (the entity still shown).
    let during: Promise<unknown> | null = null;
    const deleteDatabase = d.indexedDB.deleteDatabase.bind(d.indexedDB);
    d.indexedDB.deleteDatabase = (name: string) => {
      during ??= outcomeOf(h.update('a', { title: 'typed during logout' }, { wait: 'server' }), 'the update');
      return deleteDatabase(name);
    };
    await d.client.clear({ discardPending: true });
    const shown: string[][] = [];
    const watching = h.query$().subscribe((state) => shown.push(state.data.map((t) => t.title)));
    expect(await during).toEqual({ error: expect.any(ValidationError) });
    await settle(5);
    watching.unsubscribe();
    expect(shown.filter((titles) => titles.length > 0)).toEqual([]);
    expect(await h.list()).toEqual([]);
    const status = await new Promise<SyncStatus>((resolve) => d.client.status$.subscribe(resolve).unsubscribe());
    expect(status.pending).toBe(0);
    d.online.next(true);
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'A', version: 1 });
  });

  it('clear({ discardPending: true }) (logout) with deletes still queued: the deleted entities are no longer pending, in get$ and in the lists that showed them', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    for (let i = 0; i < 20; i++) await h.create({ id: `t${i}`, title: 'T', done: false });
    await d.client.flush();
    d.online.next(false);
    let list: QueryState<Todo> | undefined;
    const watching = h.query$().subscribe((state) => (list = state));
    for (let i = 0; i < 20; i++) await h.delete(`t${i}`);
    expect(latest(h.get$('t0'))).toMatchObject({ data: undefined, pending: true });
    expect(list!.pendingIds.size).toBe(20);
    await d.client.clear({ discardPending: true });
    expect(latest(d.client.status$).pending).toBe(0);
    expect(list!.pendingIds.size).toBe(0);
    watching.unsubscribe();
    for (let i = 0; i < 20; i++) expect(latest(h.get$(`t${i}`))).toMatchObject({ data: undefined, pending: false });
  });

  it('close() makes later calls reject with ClosedError', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await d.client.close();
    await expect(h.create({ title: 'x', done: false })).rejects.toBeInstanceOf(ClosedError);
    await expect(d.client.flush()).rejects.toBeInstanceOf(ClosedError);
  });

  it('wait: server resolves with the confirmed entity, or rejects with what it ended in', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    const confirmed = await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    expect(confirmed).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
    await suite.server.admin.faults({ failStatus: { status: 422, count: 1 } });
    await expect(h.update('a', { title: 'B' }, { wait: 'server' })).rejects.toBeInstanceOf(HttpError);
  });
});

describe('a page that dies at each point of a write’s delivery (RELIABILITY G5, #25, #26, #27)', () => {
  type Point = 'before the request leaves' | 'after the server applied it, answer lost' | 'with the answer in, before it is stored';
  const points: Point[] = ['before the request leaves', 'after the server applied it, answer lost', 'with the answer in, before it is stored'];
  const writes = {
    create: (d: Device) => d.client.resource(todos).create({ id: 'b', title: 'B', done: false }),
    update: (d: Device) => d.client.resource(todos).update('a', { title: 'A2' }),
    delete: (d: Device) => d.client.resource(todos).delete('a'),
  };
  const cases = points.flatMap((point) => (['create', 'update', 'delete'] as const).map((op) => [op, point] as const));

  it.each(cases)('%s, dying %s: the next start delivers it once, with its key and body', async (op, point) => {
    const first = make(suite.server.apiUrl);
    await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await first.client.flush();
    await first.client.close();
    let dead = false;
    let died = () => undefined as void;
    const death = new Promise<void>((resolve) => (died = resolve));
    let closing: Promise<void> | undefined;
    const sent: { key: string | null; body: string }[] = [];
    const dying = make(
      suite.server.apiUrl,
      {
        fetch: async (input, init) => {
          const request = input instanceof Request ? input : new Request(input, init);
          if (dead) throw new TypeError('fetch failed: the page is gone');
          if (request.method === 'GET') return fetch(request);
          sent.push({ key: request.headers.get('Idempotency-Key'), body: await request.clone().text() });
          if (point === 'before the request leaves') {
            dead = true;
            died();
            throw new TypeError('fetch failed: the page is gone');
          }
          const answer = await fetch(request);
          const body = await answer.arrayBuffer();
          dead = true;
          died();
          if (point === 'after the server applied it, answer lost') throw new TypeError('fetch failed: the page is gone');
          // The page goes while the answer is handed over: closed before it can store it.
          closing = dying.client.close();
          return new Response(answer.status === 204 ? null : body, { status: answer.status, headers: answer.headers });
        },
      },
      first.indexedDB,
      first.clock,
    );
    await writes[op](dying);
    await death;
    await (closing ?? dying.client.close());
    const again: { key: string | null; body: string }[] = [];
    const reopened = make(
      suite.server.apiUrl,
      {
        fetch: async (input, init) => {
          const request = input instanceof Request ? input : new Request(input, init);
          if (request.method !== 'GET') again.push({ key: request.headers.get('Idempotency-Key'), body: await request.clone().text() });
          return fetch(request);
        },
      },
      first.indexedDB,
      first.clock,
    );
    await reopened.clock.advance(60_000);
    await reopened.client.flush();
    const rows = (await ledger()).filter((r) => r.op === op && r.entityId === (op === 'create' ? 'b' : 'a'));
    expect(rows).toHaveLength(1);
    expect(sent).toHaveLength(1);
    expect(rows[0]!.idempotencyKey).toBe(sent[0]!.key);
    expect(again.every((r) => r.key === sent[0]!.key && r.body === sent[0]!.body)).toBe(true);
    const h = reopened.client.resource(todos);
    const view = await h.list({ orderBy: 'id' });
    expect(view).toEqual(
      op === 'create'
        ? [{ id: 'a', title: 'A', done: false, version: 1 }, { id: 'b', title: 'B', done: false, version: 1 }]
        : op === 'update'
          ? [{ id: 'a', title: 'A2', done: false, version: 2 }]
          : [],
    );
    const status = await new Promise<SyncStatus>((r) => reopened.client.status$.subscribe(r).unsubscribe());
    expect(status).toMatchObject({ pending: 0, failed: 0 });
    expect(reopened.events.some((e) => e.type === 'conflict' || e.type === 'failed')).toBe(false);
  });
});

describe('{ wait: server } on a change that leaves the queue without an answer of its own', () => {
  it('a create cancelled by a delete before it was sent resolves with undefined, as the delete does; nothing is sent', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    d.online.next(false);
    const created = h.create({ id: 'x', title: 'X', done: false }, { wait: 'server' });
    await until(() => d.events.some((e) => e.type === 'enqueued'), 'the create to be queued');
    await expect(h.delete('x', { wait: 'server' })).resolves.toBeUndefined();
    expect(await outcomeOf(created)).toEqual({ value: undefined });
    d.online.next(true);
    await d.client.flush();
    expect(await ledger()).toEqual([]);
  });

  it('a change coalesced into an earlier unsent one settles with that one: one answer for both waits', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    d.online.next(false);
    const first = h.update('a', { title: 'B' }, { wait: 'server' });
    const second = h.update('a', { done: true }, { wait: 'server' });
    d.online.next(true);
    const confirmed = { id: 'a', title: 'B', done: true, version: 2 };
    expect(await outcomeOf(first)).toEqual({ value: confirmed });
    expect(await outcomeOf(second)).toEqual({ value: confirmed });
  });

  it('clear({ discardPending: true }) rejects the waits of the changes it discarded with PendingMutationsError', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    d.online.next(false);
    const created = h.create({ id: 'x', title: 'X', done: false }, { wait: 'server' });
    await until(() => d.events.some((e) => e.type === 'enqueued'), 'the create to be queued');
    const settled = outcomeOf(created);
    await d.client.clear({ discardPending: true });
    const { error } = (await settled) as { error: unknown };
    expect(error).toBeInstanceOf(PendingMutationsError);
    expect(error).toMatchObject({ resource: 'todos', id: 'x', discarded: 'cleared', message: expect.stringMatching(/^todos\/x: .*discarded by clear/) });
    // The fresh database numbers its entries anew: a new change's wait gets its own answer.
    d.online.next(true);
    await expect(h.create({ id: 'y', title: 'Y', done: false }, { wait: 'server' })).resolves.toMatchObject({ id: 'y', version: 1 });
  });

  it('a database made after clear() numbers its changes above those of the one deleted: no answer or message about an old change can name a new one', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    d.online.next(false);
    await h.create({ id: 'x', title: 'X', done: false });
    await h.create({ id: 'y', title: 'Y', done: false });
    const seqs = () => d.events.flatMap((e) => (e.type === 'enqueued' ? [e.seq] : []));
    const before = Math.max(...seqs());
    await d.client.clear({ discardPending: true });
    await h.create({ id: 'x', title: 'X again', done: false });
    expect(seqs()).toHaveLength(3);
    expect(seqs()[2]).toBeGreaterThan(before);
  });

  it('clear({ discardPending: true }) discards a write still committing as a pending one: its wait rejects, never resolves as if sent', async () => {
    const d = make(suite.server.apiUrl);
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.list();
    const created = outcomeOf(h.create({ id: 'x', title: 'X', done: false }, { wait: 'server' }));
    await d.client.clear({ discardPending: true });
    const { error } = (await created) as { error: unknown };
    expect(error).toBeInstanceOf(PendingMutationsError);
    expect(error).toMatchObject({ id: 'x', discarded: 'cleared' });
    expect(await h.list()).toEqual([]);
  });
});

describe('{ wait: server } with a signal', () => {
  it('aborting one of two waits on one change rejects only that wait with AbortError; the other resolves, and the change is sent', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    d.online.next(false);
    const controller = new AbortController();
    const first = outcomeOf(h.update('a', { title: 'B' }, { wait: 'server', signal: controller.signal }));
    const second = outcomeOf(h.update('a', { done: true }, { wait: 'server' }));
    await until(() => d.events.filter((e) => e.type === 'enqueued').length === 3, 'both updates to be waiting');
    controller.abort();
    const { error } = (await first) as { error: unknown };
    expect(error).toBeInstanceOf(DOMException);
    expect(error).toMatchObject({ name: 'AbortError' });
    d.online.next(true);
    expect(await second).toEqual({ value: { id: 'a', title: 'B', done: true, version: 2 } });
  });
});

describe('{ wait: server } on an update that changes nothing', () => {
  it('waits for the pending change that holds its values (one still committing too); with nothing pending it resolves at once', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    const confirmed = await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    await expect(h.update('a', { done: false }, { wait: 'server' })).resolves.toEqual(confirmed);
    d.online.next(false);
    const first = h.update('a', { done: true });
    const same = h.update('a', { done: true }, { wait: 'server' });
    let answered = false;
    same.then(
      () => (answered = true),
      () => (answered = true),
    );
    await first;
    await settle(10);
    expect(answered).toBe(false);
    d.online.next(true);
    expect(await outcomeOf(same)).toEqual({ value: { id: 'a', title: 'A', done: true, version: 2 } });
  });

  it("waiting on a change parked in failed$, it ends with the server's entity when that change is discarded", async () => {
    const d = make(suite.server.apiUrl, { retry: { maxAttempts: 1 } });
    const h = d.client.resource(todos);
    const confirmed = await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    await suite.server.admin.faults({ failStatus: { status: 503, count: 1 } });
    await expect(h.update('a', { done: true }, { wait: 'server' })).rejects.toBeInstanceOf(HttpError);
    const same = outcomeOf(h.update('a', { done: true }, { wait: 'server' }));
    let failed: FailedMutation[] = [];
    d.client.failed$.subscribe((f) => (failed = f)).unsubscribe();
    await failed[0]!.discard();
    expect(await same).toEqual({ value: confirmed });
  });
});
