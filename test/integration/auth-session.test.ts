/**
 * Sessions as a front end lives them (DESIGN §2 401, RELIABILITY #52-#56): a token that expires
 * with requests out, a session that cannot be refreshed, a 401 seen by the tab that sends, a
 * logout (clear()) followed by another user on the same namespace, a 403 on one entity.
 */
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import { defineResource, type QueryState, type SyncStatus } from '../../src/index.js';
import { heldAnswers, heldListAnswers, referenceServer, todos, todoSchema, until, type Device, type Todo } from '../helpers/harness.js';
import { settle } from '../helpers/manual-clock.js';

const suite = referenceServer();
const { make } = suite;

const ledger = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger('todos');
const status = (d: Device) => {
  let value: SyncStatus | undefined;
  d.client.status$.subscribe((s) => (value = s)).unsubscribe();
  return value!;
};

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

  it("clear({ discardPending: true }) while a pull is out: the 401 answering it after the logout neither pauses the next user's session nor shows in their views", async () => {
    const held = heldListAnswers();
    let token = 'demo-alice';
    const d = make(suite.server.apiUrl, { fetch: held.fetch, auth: { getToken: () => token } });
    const h = d.client.resource(todos);
    const states: Array<QueryState<Todo>> = [];
    h.query$().subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success' && !states.at(-1)!.isFetching, 'the first pull');
    token = 'alice-revoked'; // the logout revokes it as the pull goes out
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
  });

  it("the same for an on-demand query's page out at the logout", async () => {
    const onDemandTodos = defineResource({ name: 'todos', schema: todoSchema, load: 'on-demand' });
    const held = heldListAnswers();
    let token = 'demo-alice';
    const d = make(suite.server.apiUrl, { resources: [onDemandTodos], fetch: held.fetch, auth: { getToken: () => token } });
    const h = d.client.resource(onDemandTodos);
    const states: Array<QueryState<Todo>> = [];
    h.query$({ orderBy: 'title', limit: 10 }).subscribe((s) => states.push(s));
    await until(() => states.at(-1)?.status === 'success' && !states.at(-1)!.isFetching, 'the first page');
    token = 'alice-revoked';
    const out = await held.heldRequest(() => h.refresh().catch(() => undefined), d.clock);
    await d.client.clear({ discardPending: true });
    token = 'demo-bob';
    await out.landed();
    await settle(20);
    expect(status(d)).toMatchObject({ paused: null, lastError: null });
    await h.create({ id: 'b', title: "bob's", done: false });
    await d.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['b', 'bob']]);
  });
});
