/**
 * Sessions as a front end lives them (DESIGN §2 401, RELIABILITY #52-#56): a token that expires
 * with requests out, a session that cannot be refreshed, a 401 seen by the tab that sends, a
 * logout (clear()) followed by another user on the same namespace, a 403 on one entity.
 */
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import { defineResource, HttpError, type FailedMutation, type Query, type QueryState } from '../../src/index.js';
import { expiringSession, heldAnswers, heldListAnswers, referenceServer, todos, todoSchema, until, type Todo, currentStatus as status } from '../helpers/harness.js';
import { IDBFactory } from 'fake-indexeddb';
import { ManualClock, seededRandom, settle } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const suite = referenceServer();
const { make } = suite;

const ledger = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger('todos');

describe('logout, then another user on the same namespace (RELIABILITY #54)', () => {
  it("clear() forgets the token refreshToken() handed over: the next user's requests never carry the first user's", async () => {
    // The access token lives only where refreshToken() hands it over (a refresh cookie's session):
    // getToken() has none to give, so the one refreshToken() returned is sent.
    let user = 'alice';
    const seen: Array<string | null> = [];
    const d = make(suite.server.apiUrl, {
      auth: { getToken: () => undefined, refreshToken: () => `demo-${user}` },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        seen.push(request.headers.get('Authorization'));
        return fetch(request);
      },
    });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: "alice's", done: false });
    await d.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['a', 'alice']]);

    await d.client.clear();
    user = 'bob'; // the refresh cookie is bob's now
    const fromLogout = seen.length;
    await h.create({ id: 'b', title: "bob's", done: false });
    await d.client.flush();
    await h.refresh();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([
      ['a', 'alice'],
      ['b', 'bob'],
    ]);
    expect(seen.slice(fromLogout)).not.toContain('Bearer demo-alice');
  });

  it("clear({ discardPending: true }) while a change is out: its 401 after the logout neither refreshes nor re-sends it with the next user's token", async () => {
    const held = heldAnswers();
    // The app's session: its refresh renews whoever is signed in now.
    let session = { user: 'alice', token: 'alice-expired' };
    let refreshes = 0;
    const sent: Array<{ method: string; path: string; authorization: string | null }> = [];
    const d = make(suite.server.apiUrl, {
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        sent.push({ method: request.method, path: new URL(request.url).pathname, authorization: request.headers.get('Authorization') });
        return held.fetch(request);
      },
      auth: {
        getToken: () => session.token,
        refreshToken: () => {
          refreshes++;
          return session.user === 'bob' ? 'demo-bob' : undefined;
        },
      },
    });
    const h = d.client.resource(todos);
    const out = await held.heldRequest(() => h.create({ id: 'a', title: "alice's", done: false }), d.clock);
    await d.client.clear({ discardPending: true });
    session = { user: 'bob', token: 'demo-bob' };
    const afterLogout = sent.length;
    await out.landed();
    await settle(20);
    expect(sent.slice(afterLogout).filter((r) => r.method === 'POST')).toEqual([]);
    expect(refreshes).toBe(0);
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([]);
    expect(status(d)).toMatchObject({ paused: null, pending: 0 });
    await h.create({ id: 'b', title: "bob's", done: false });
    await d.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['b', 'bob']]);
    expect(await h.list()).toEqual([expect.objectContaining({ id: 'b' })]);
  });

  /**
   * A read of `resource` (a pull, or an on-demand page) held until after the logout: the token is
   * revoked as it goes out, clear() runs, the next user signs in, and then its 401 lands.
   */
  async function logoutWhileReadOut(resource: typeof todos, query: Query<Todo> | undefined) {
    const held = heldListAnswers();
    let token = 'demo-alice';
    const d = make(suite.server.apiUrl, { resources: [resource], fetch: held.fetch, auth: { getToken: () => token } });
    const h = d.client.resource(resource);
    const states: Array<QueryState<Todo>> = [];
    h.query$(query).subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success' && !states.at(-1)!.isFetching, 'the first read');
    token = 'alice-revoked'; // the logout revokes it as the read goes out
    const out = await held.heldRequest(() => h.refresh().catch(() => undefined), d.clock);
    await d.client.clear({ discardPending: true });
    token = 'demo-bob';
    await out.landed();
    await settle(20);
    expect(status(d)).toMatchObject({ paused: null, lastError: null });
    expect(states.at(-1)).toMatchObject({ error: null });
    await h.create({ id: 'b', title: "bob's", done: false });
    await d.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['b', 'bob']]);
  }

  it("clear({ discardPending: true }) while a pull is out: the 401 answering it after the logout neither pauses the next user's session nor shows in their views", async () => {
    await logoutWhileReadOut(todos, undefined);
  });

  it("the same for an on-demand query's page out at the logout", async () => {
    await logoutWhileReadOut(defineResource({ name: 'todos', schema: todoSchema, load: 'on-demand' }), { orderBy: 'title', limit: 10 });
  });
});

describe('a token that expires mid-queue (RELIABILITY #52)', () => {
  it('several writes and a pull refused at once share one refresh; each request is retried once with its key and body, a change made meanwhile follows its entity in order, nothing is dropped', async () => {
    const session = expiringSession();
    const { sent } = session;
    const d = make(suite.server.apiUrl, { maxInFlight: 4, ...session.options });
    const h = d.client.resource(todos);
    for (const id of ['a', 'b', 'c']) await h.create({ id, title: id, done: false });
    await d.client.flush();
    d.online.next(false);
    for (const id of ['a', 'b', 'c']) await h.update(id, { title: `${id} 1` });
    session.expire();
    d.online.next(true);
    const pulled = h.refresh();
    await until(() => sent.filter((s) => s.status === 401).length === 4, 'three writes and a pull refused');
    // Made while its entity's first change is out: it waits behind it.
    const second = h.update('a', { title: 'a 2' }, { wait: 'server' });
    session.release();
    await pulled;
    await expect(second).resolves.toMatchObject({ title: 'a 2' });
    await d.client.flush();
    expect(session.refreshes()).toBe(1);
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.filter((r) => r.entityId === 'a').map((r) => [r.body, r.versionBefore])).toEqual([
      [{ title: 'a 1' }, 1],
      [{ title: 'a 2' }, 2],
    ]);
    expect(updates.map((r) => r.entityId).sort()).toEqual(['a', 'a', 'b', 'c']);
    for (const row of updates) {
      const tries = sent.filter((s) => s.key === row.idempotencyKey);
      expect(tries.map((s) => s.status)).toEqual(row.body && (row.body as { title: string }).title === 'a 2' ? [200] : [401, 200]);
      expect(new Set(tries.map((s) => s.body)).size).toBe(1);
    }
    expect(sent.filter((s) => s.method === 'GET').map((s) => s.status).slice(-2)).toEqual([401, 200]);
    expect(status(d)).toMatchObject({ paused: null, pending: 0, failed: 0 });
  });
});

describe('a session that cannot be refreshed', () => {
  it("pauses as 'unauthorized': the views keep their data and show the error, writes made meanwhile are shown, stored and held; a new token alone sends nothing, resume() sends them and clears the error", async () => {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 's', title: 'on the server', done: false } });
    let token = 'demo-alice';
    let refreshes = 0;
    const d = make(suite.server.apiUrl, {
      auth: {
        getToken: () => token,
        refreshToken: () => {
          refreshes++;
          throw new Error('the refresh token expired');
        },
      },
    });
    const h = d.client.resource(todos);
    const states: Array<QueryState<Todo>> = [];
    h.query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success' && !states.at(-1)!.isFetching, 'the first pull');

    token = 'expired';
    const written = h.update('s', { done: true }, { wait: 'server' });
    let settled = false;
    void written.then(() => (settled = true), () => (settled = true));
    await until(() => status(d).paused === 'unauthorized', 'replay paused');
    expect(status(d).lastError).toMatchObject({ status: 401, cause: { message: 'the refresh token expired' } });
    await expect(h.refresh()).rejects.toMatchObject({ status: 401 });
    const during = states.at(-1)!;
    // The cached data stays, and the error shows beside it (status 'error' is for nothing cached).
    expect(during).toMatchObject({ status: 'success', error: { status: 401 }, isFetching: false });
    expect(during.data).toEqual([expect.objectContaining({ id: 's', done: true })]);
    expect([...during.pendingIds]).toEqual(['s']);

    await h.create({ id: 'n', title: 'made meanwhile', done: false });
    expect(states.at(-1)!.data.map((t) => t.id).sort()).toEqual(['n', 's']);
    expect(status(d)).toMatchObject({ paused: 'unauthorized', pending: 2, failed: 0 });
    // Stored: a reload finds both changes queued.
    const again = d.reopen({ auth: { getToken: () => 'expired' } });
    again.online.next(false);
    expect((await again.client.resource(todos).list()).map((t) => t.id).sort()).toEqual(['n', 's']);
    await until(() => status(again).pending === 2, 'the reload to count the queue');
    await again.client.close();

    token = 'demo-alice'; // signed in again
    await d.client.flush();
    expect(await ledger()).toHaveLength(1); // the seed only: nothing sent before resume()
    expect(settled).toBe(false);
    d.client.resume();
    await expect(written).resolves.toMatchObject({ id: 's', done: true, version: 2 });
    await d.client.flush();
    expect((await ledger()).slice(1).map((r) => [r.op, r.entityId, r.user])).toEqual([
      ['update', 's', 'alice'],
      ['create', 'n', 'alice'],
    ]);
    await until(() => states.at(-1)?.status === 'success', 'the error cleared');
    expect(states.at(-1)).toMatchObject({ error: null, pendingIds: new Set() });
    expect(status(d)).toMatchObject({ paused: null, pending: 0 });
    expect(refreshes).toBe(2);
  });
});

describe('a pause outlives clear() (README: What is not promised)', () => {
  it("a session that ended in a 401 stays paused as 'unauthorized' through a logout's clear(): the next user's writes wait for resume()", async () => {
    let token = 'expired';
    const d = make(suite.server.apiUrl, { auth: { getToken: () => token, refreshToken: () => undefined } });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: "alice's", done: false });
    await until(() => status(d).paused === 'unauthorized', 'replay paused');
    await d.client.clear({ discardPending: true });
    expect(status(d).paused).toBe('unauthorized');
    token = 'demo-bob';
    await h.create({ id: 'b', title: "bob's", done: false });
    await d.client.flush();
    expect(await ledger()).toEqual([]);
    d.client.resume();
    await d.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['b', 'bob']]);
  });
});

describe('two tabs, one session', () => {
  it("a 401 the leader cannot cure while the follower writes: the follower's status$ says unauthorized, its flush() does not hang, and resume() there sends its changes, its wait answered", async () => {
    const idb = new IDBFactory();
    const locks = new FakeLocks();
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    let token = 'demo-alice';
    const auth = {
      getToken: () => token,
      refreshToken: () => {
        throw new Error('signed out');
      },
    };
    const tab = (seed: number) => make(suite.server.apiUrl, { namespace: 'tabs', locks, BroadcastChannel: hub.Channel, random: seededRandom(100 + seed), auth }, idb, clock);
    const one = tab(1);
    const two = tab(2);
    await until(() => status(one).leader !== status(two).leader, 'one leader');
    const [leader, follower] = status(one).leader ? [one, two] : [two, one];
    const f = follower.client.resource(todos);

    token = 'expired';
    const first = f.create({ id: 'f1', title: 'first', done: false }, { wait: 'server' });
    let answered = false;
    void first.then(() => (answered = true), () => (answered = true));
    await until(() => status(leader).paused === 'unauthorized', 'the leader paused');
    await until(() => status(follower).paused === 'unauthorized', 'the follower told');
    await f.create({ id: 'f2', title: 'second', done: false });
    await until(() => status(follower).pending === 2 && status(leader).pending === 2, 'both changes queued, in both tabs');
    await follower.client.flush();
    expect(answered).toBe(false);
    expect(await ledger()).toEqual([]);

    token = 'demo-alice'; // signed in again, in the follower
    follower.client.resume();
    await expect(first).resolves.toMatchObject({ id: 'f1', version: 1 });
    await follower.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([
      ['f1', 'alice'],
      ['f2', 'alice'],
    ]);
    await until(() => status(follower).pending === 0, 'the follower to hear of both answers');
    expect([status(leader).paused, status(follower).paused]).toEqual([null, null]);
  });
});

describe('permission revoked for one entity (RELIABILITY #56)', () => {
  it('a 403 parks that change in failed$, rolled back, holding back only its entity: the others go on, the session stays unpaused, nothing is retried', async () => {
    const requests: string[] = [];
    const d = make(suite.server.apiUrl, {
      maxInFlight: 2,
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        const path = new URL(request.url).pathname;
        requests.push(`${request.method} ${path}`);
        if (request.method === 'PATCH' && path.endsWith('/todos/x')) return Response.json({ error: 'not yours any more' }, { status: 403 });
        return fetch(request);
      },
    });
    const h = d.client.resource(todos);
    for (const id of ['a', 'x', 'b']) await h.create({ id, title: id, done: false });
    await d.client.flush();
    d.online.next(false);
    await h.update('a', { title: 'a 1' });
    const refused = h.update('x', { title: 'x 1' }, { wait: 'server' });
    await h.update('b', { title: 'b 1' });
    const failedList: FailedMutation[][] = [];
    d.client.failed$.subscribe((f) => failedList.push(f));
    d.online.next(true);
    await expect(refused).rejects.toMatchObject({ status: 403 });
    await expect(refused).rejects.toBeInstanceOf(HttpError);
    await d.client.flush();
    // Made after the refusal: it waits behind the parked change.
    await h.update('x', { done: true });
    await h.update('a', { title: 'a 2' });
    for (let i = 0; i < 5; i++) {
      await d.clock.advance(20);
      await d.client.flush();
    }
    expect((await ledger()).filter((r) => r.op === 'update').map((r) => [r.entityId, (r.body as { title?: string }).title])).toEqual([
      ['a', 'a 1'],
      ['b', 'b 1'],
      ['a', 'a 2'],
    ]);
    expect(requests.filter((r) => r === 'PATCH /api/todos/x')).toHaveLength(1);
    const failed = failedList.at(-1)!;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ resource: 'todos', id: 'x', op: 'update', error: { status: 403, body: { error: 'not yours any more' } } });
    expect(await h.get('x')).toMatchObject({ title: 'x', done: true });
    expect(status(d)).toMatchObject({ paused: null, failed: 1, pending: 1 });
    // Discarded, it lets the entity's next change go: refused too, it is parked in its turn, once.
    await failed[0]!.discard();
    await d.client.flush();
    expect(status(d)).toMatchObject({ paused: null, failed: 1, pending: 0 });
    expect(failedList.at(-1)).toEqual([expect.objectContaining({ id: 'x', payload: { done: true }, error: expect.objectContaining({ status: 403 }) })]);
    expect(requests.filter((r) => r === 'PATCH /api/todos/x')).toHaveLength(2);
    expect(await h.get('x')).toMatchObject({ title: 'x', done: false });
  });
});
