/**
 * Bugs the chaos suite found, each pinned by the smallest scenario that shows it.
 */
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import type { Conflict } from '../../src/index.js';
import { referenceServer, todos, until, type Device, type Todo, currentStatus as statusOf } from '../helpers/harness.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const suite = referenceServer();
const { make } = suite;

const serverTodo = async (id: string) => {
  const response = await fetch(`${suite.server.apiUrl}/todos/${id}`, { headers: { Authorization: 'Bearer demo-alice' } });
  return response.status === 404 ? null : ((await response.json()) as Todo);
};
const ledger = async () => (await suite.server.admin.ledger('todos')).filter((r: LedgerEntry) => r.user !== 'mallory');
const conflictsOf = (d: Device): Conflict[] => {
  let value: Conflict[] = [];
  d.client.conflicts$.subscribe((c) => (value = c)).unsubscribe();
  return value;
};

describe('chaos findings', () => {
  it('a pending update keeps its view after a pull learned the entity was deleted on the server (seed 1)', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await suite.server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    d.online.next(false);
    await h.update('a', { title: 'mine' });
    await h.refresh(); // the delta names 'a' as deleted; the pending update keeps the view
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    d.online.next(true);
    await d.client.flush(); // the update is frozen, sent, and meets the deletion (404)
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
    const [conflict] = conflictsOf(d);
    expect(conflict).toMatchObject({ id: 'a', remote: null, local: { title: 'mine' } });
    await conflict!.resolve('local'); // re-creates it
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'mine' });
    expect(await h.get('a')).toMatchObject({ title: 'mine' });
  });

  it("resolve('local') keeps the changes queued after the conflict was parked (seed 1)", async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await h.update('a', { title: 'mine' });
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'theirs' } });
    await d.client.flush();
    expect(conflictsOf(d)).toHaveLength(1);
    await h.update('a', { title: 'later', done: true }); // queued behind the parked conflict
    await conflictsOf(d)[0]!.resolve('local');
    await d.client.flush();
    expect(await serverTodo('a')).toMatchObject({ title: 'later', done: true });
    expect(await h.get('a')).toMatchObject({ title: 'later', done: true });
    expect(conflictsOf(d)).toEqual([]);
    // Nothing reached the server twice: create, then the one re-sent update.
    expect((await ledger()).map((r) => r.op)).toEqual(['create', 'update']);
  });

  it('a write whose fetch fails or answers without reading the request body is retried, not hung (chaos seed 6)', async () => {
    // ky 1.9 awaits the cancel of its cloned request body after every call; when fetch never read
    // the body (connection refused, a stub, an offline fetch) that promise never settled and the
    // replay loop stopped for good.
    const refused = make('http://127.0.0.1:9/api', { retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await refused.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => refused.events.some((e) => e.type === 'retrying'), 'a retry after connection refused', 200);

    const stub: typeof fetch = async () => new Response('{"error":"busy"}', { status: 503, headers: { 'content-type': 'application/json' } });
    const busy = make(suite.server.apiUrl, { fetch: stub, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    await busy.client.resource(todos).create({ id: 'b', title: 'B', done: false });
    await until(() => busy.events.some((e) => e.type === 'retrying'), 'a retry after a 503 that never read the body', 200);
  });

  /** A fetch that holds the answer to the next request of `method` (the server has applied it) until released. */
  function holdingFetch() {
    const gate = { method: '', release: null as null | (() => void) };
    const wrapped: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const response = await fetch(request);
      if (request.method === gate.method) {
        gate.method = '';
        await new Promise<void>((resolve) => (gate.release = resolve));
      }
      return response;
    };
    return { fetch: wrapped, gate };
  }

  it('an answer that arrives after a pull brought a newer version does not take the entity back (chaos seed 153)', async () => {
    const { fetch: held, gate } = holdingFetch();
    const d = make(suite.server.apiUrl, { fetch: held });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await d.client.flush();
    await h.refresh(); // the delta cursor now covers the create
    gate.method = 'PATCH';
    await h.update('a', { title: 'mine' }); // applied as version 2, its answer held
    await until(() => gate.release !== null, 'the update to reach the server');
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { done: true } }); // version 3
    await h.refresh(); // brings version 3 while the update's answer is still out
    gate.release!();
    await d.client.flush();
    await h.refresh();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 3 });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'mine', done: true, version: 3 });
  });

  it('a deletion pulled while a create\'s answer is still out is applied once that answer is in (chaos seed 153)', async () => {
    const { fetch: held, gate } = holdingFetch();
    const d = make(suite.server.apiUrl, { fetch: held });
    const h = d.client.resource(todos);
    await h.refresh();
    gate.method = 'POST';
    await h.create({ id: 'a', title: 'A', done: false }); // applied as version 1, its answer held
    await until(() => gate.release !== null, 'the create to reach the server');
    await suite.server.admin.edit({ resource: 'todos', id: 'a', delete: true });
    await h.refresh(); // names 'a' deleted while the create is pending: the view stays for now
    gate.release!();
    await d.client.flush();
    await h.refresh();
    expect(await serverTodo('a')).toBeNull();
    expect(await h.get('a')).toBeUndefined();
  });

  it("a tab that has not heard of another tab's settled entry does not fold it back into what a pull stores (chaos seed 25, tabs)", async () => {
    const hub = new BroadcastHub();
    const locks = new FakeLocks();
    const leader = make(suite.server.apiUrl, { locks, BroadcastChannel: hub.Channel });
    await until(() => locks.held().length === 1, 'the first tab to lead');
    const follower = make(suite.server.apiUrl, { locks, BroadcastChannel: hub.Channel }, leader.indexedDB, leader.clock);
    leader.online.next(false);
    follower.online.next(false);
    await follower.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => statusOf(leader).pending === 1, 'the leader to hear of the write');
    hub.drop = () => true; // the follower hears nothing more: its copy of the queue goes stale
    leader.online.next(true);
    await leader.client.flush();
    expect(await serverTodo('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
    follower.online.next(true);
    await follower.client.resource(todos).refresh(); // brings version 1 while it still thinks the create is queued
    hub.drop = () => false;
    // What is stored (what any tab, or the next page load, reads) is the confirmed entity.
    const reopened = make(suite.server.apiUrl, {}, leader.indexedDB, leader.clock);
    reopened.online.next(false);
    expect(await reopened.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'A', done: false, version: 1 });
  });
});
