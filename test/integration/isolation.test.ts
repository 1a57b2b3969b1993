/**
 * Isolation and secrets (RELIABILITY.md §2 G, G8): one database per namespace, clear() removes
 * it, tokens never reach IndexedDB or events$, Authorization stays on baseUrl's origin, and a user
 * switch with pending changes never sends the first user's changes with the second user's token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LedgerEntry } from '../../server/index.mjs';
import { defineResource, PendingMutationsError, type QueryState, type SyncEvent } from '../../src/index.js';
import { heldListAnswers, referenceServer, todos, until, currentStatus as status } from '../helpers/harness.js';
import { openRaw } from '../helpers/raw-idb.js';

const suite = referenceServer();
const { make } = suite;

const ledger = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger('todos');

/** Every record of every store of every database of a factory, as one string. */
async function dumpAll(factory: IDBFactory): Promise<string> {
  const out: Record<string, Record<string, unknown[]>> = {};
  for (const { name } of await factory.databases()) {
    const db = await openRaw(factory, name!);
    out[name!] = {};
    for (const store of Array.from(db.objectStoreNames)) {
      out[name!]![store] = await new Promise<unknown[]>((resolve, reject) => {
        const rows: unknown[] = [];
        const request = db.transaction(store, 'readonly').objectStore(store).openCursor();
        request.onsuccess = () => {
          const cursor = request.result;
          if (!cursor) return resolve(rows);
          rows.push([cursor.key, cursor.value]);
          cursor.continue();
        };
        request.onerror = () => reject(request.error);
      });
    }
    db.close();
  }
  return JSON.stringify(out);
}

/** Events as text: messages, bodies and causes included. */
const eventText = (events: SyncEvent[]) =>
  JSON.stringify(events, (_, v: unknown) =>
    v instanceof Error ? { name: v.name, message: v.message, ...(v as object), cause: (v as { cause?: unknown }).cause } : v,
  );

describe('namespaces', () => {
  it('a namespace never sees another namespace of the same IndexedDB, in reads, queries or storage', async () => {
    const idb = new IDBFactory();
    const alice = make(suite.server.apiUrl, { namespace: 'alice', auth: { getToken: () => 'demo-alice' } }, idb);
    const bob = make(suite.server.apiUrl, { namespace: 'bob', auth: { getToken: () => 'demo-bob' } }, idb);
    alice.online.next(false);
    bob.online.next(false);
    const a = alice.client.resource(todos);
    const b = bob.client.resource(todos);
    const bobSees: string[][] = [];
    b.query$().subscribe((s) => bobSees.push(s.data.map((t) => t.id)));
    await a.create({ id: 'a1', title: 'alice private', done: false });
    await b.create({ id: 'b1', title: 'bob private', done: false });
    await a.update('a1', { done: true });
    expect((await a.list()).map((t) => t.id)).toEqual(['a1']);
    expect((await b.list()).map((t) => t.id)).toEqual(['b1']);
    expect(await b.get('a1')).toBeUndefined();
    expect(bobSees.flat()).not.toContain('a1');
    expect(status(bob).pending).toBe(1);
    expect((await idb.databases()).map((d) => d.name).sort()).toEqual(['harborsync:alice', 'harborsync:bob']);
    // A third client on alice's namespace sees alice's data (the namespace is the boundary).
    await alice.client.close();
    const again = make(suite.server.apiUrl, { namespace: 'alice' }, idb);
    again.online.next(false);
    expect((await again.client.resource(todos).list()).map((t) => t.id)).toEqual(['a1']);
  });

  it("clear() removes exactly its namespace's database, refusing while changes are pending", async () => {
    const idb = new IDBFactory();
    const alice = make(suite.server.apiUrl, { namespace: 'alice' }, idb);
    const bob = make(suite.server.apiUrl, { namespace: 'bob', auth: { getToken: () => 'demo-bob' } }, idb);
    alice.online.next(false);
    await alice.client.resource(todos).create({ id: 'a1', title: 'A', done: false });
    await bob.client.resource(todos).create({ id: 'b1', title: 'B', done: false });
    await bob.client.flush();
    await expect(alice.client.clear()).rejects.toBeInstanceOf(PendingMutationsError);
    expect((await idb.databases()).map((d) => d.name).sort()).toEqual(['harborsync:alice', 'harborsync:bob']);
    await alice.client.clear({ discardPending: true });
    expect((await idb.databases()).map((d) => d.name)).toEqual(['harborsync:bob']);
    expect(await dumpAll(idb)).not.toContain('a1');
    expect(await alice.client.resource(todos).list()).toEqual([]);
    expect((await bob.client.resource(todos).list()).map((t) => t.id)).toEqual(['b1']);
    await bob.client.clear();
    // alice's list() above read a database it knows deleted: that created none.
    expect((await idb.databases()).map((d) => d.name)).toEqual([]);
    expect(await dumpAll(idb)).not.toMatch(/a1|b1/);
  });
  it('clear() (logout), then flush() and close() as a page that leaves does: no database of the namespace remains', async () => {
    const alice = make(suite.server.apiUrl, { namespace: 'alice' });
    const shown = alice.client.resource(todos).query$().subscribe();
    await alice.client.resource(todos).create({ id: 'a1', title: 'A', done: false });
    await alice.client.flush();
    await alice.client.clear();
    await alice.client.flush();
    shown.unsubscribe();
    await alice.client.close();
    expect((await alice.indexedDB.databases()).map((d) => d.name)).toEqual([]);
  });

  it.each([
    ['a delta feed', todos],
    ['a whole list', defineResource({ name: 'todos', schema: todos.schema })],
  ])('a pull of %s requested before clear() (logout) and answered after it is not cached: the deleted data does not come back', async (_, resource) => {
    const writer = make(suite.server.apiUrl);
    await writer.client.resource(todos).create({ id: 'a1', title: 'private', done: false });
    await writer.client.flush();
    const answers = heldListAnswers();
    const d = make(suite.server.apiUrl, { fetch: answers.fetch, resources: [resource] });
    const pull = await answers.heldRequest(() => d.client.resource(resource).refresh(), d.clock);
    await d.client.clear();
    const events = d.events.length;
    await pull.landed();
    expect(await d.client.resource(resource).list()).toEqual([]);
    expect(await dumpAll(d.indexedDB)).not.toContain('private');
    expect(d.events.slice(events).filter((e) => e.type === 'pulled')).toEqual([]);
    expect(status(d).lastSyncedAt).toBeNull();
  });

  it("clear() (logout) leaves status$ saying never synced: the deleted data's sync time is no sync of the fresh database", async () => {
    const d = make(suite.server.apiUrl);
    await d.client.resource(todos).refresh();
    expect(status(d).lastSyncedAt).not.toBeNull();
    await d.client.clear();
    expect(status(d).lastSyncedAt).toBeNull();
  });

  it('a subscriber that comes after clear() while a pull requested before it is out gets a pull of its own: the one discarded does not answer for it', async () => {
    const writer = make(suite.server.apiUrl);
    await writer.client.resource(todos).create({ id: 'a1', title: 'after', done: false });
    await writer.client.flush();
    const answers = heldListAnswers();
    const d = make(suite.server.apiUrl, { fetch: answers.fetch });
    const pull = await answers.heldRequest(() => d.client.resource(todos).refresh(), d.clock);
    await d.client.clear();
    let state: QueryState<unknown> | undefined;
    const subscription = d.client.resource(todos).query$().subscribe((s) => (state = s));
    await pull.landed();
    await until(() => state !== undefined && !state.isFetching && state.lastSyncedAt !== null, 'a pull stored for the subscriber');
    subscription.unsubscribe();
    expect(state!.data).toMatchObject([{ id: 'a1', title: 'after' }]);
  });
});

describe('secrets', () => {
  it('tokens are never written to IndexedDB nor put on events$, through writes, pulls, conflicts, failures and a refresh', async () => {
    let token = 'stale-token-0123456789';
    const d = make(suite.server.apiUrl, {
      auth: { getToken: () => token, refreshToken: () => (token = 'demo-alice') },
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
    });
    const h = d.client.resource(todos);
    h.query$().subscribe();
    await h.create({ id: 'a', title: 'A', done: false }); // 401, refresh, retried with the new token
    await d.client.flush();
    await until(() => status(d).pending === 0, 'the create to go through');
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'theirs' } });
    await h.update('a', { title: 'mine' }); // a conflict
    await d.client.flush();
    await suite.server.admin.faults({ failStatus: { status: 400, count: 1 } });
    await h.create({ id: 'b', title: 'B', done: false }); // a permanent failure
    await d.client.flush();
    await suite.server.admin.faults({ unauthorized: true });
    await h.create({ id: 'c', title: 'C', done: false }); // unauthorized after the refresh
    await d.client.flush();
    await h.refresh().catch(() => undefined);
    await suite.server.admin.faults({ unauthorized: false });
    expect(status(d)).toMatchObject({ conflicts: 1, failed: 1 });
    const stored = await dumpAll(d.indexedDB);
    expect(stored).toContain('mine'); // the dump is real
    for (const secret of ['stale-token-0123456789', 'demo-alice', 'Bearer']) {
      expect(stored).not.toContain(secret);
      expect(eventText(d.events)).not.toContain(secret);
      expect(JSON.stringify(status(d), (_, v: unknown) => (v instanceof Error ? v.message : v))).not.toContain(secret);
    }
    expect(d.events.some((e) => e.type === 'conflict')).toBe(true);
    expect(d.events.some((e) => e.type === 'failed')).toBe(true);
  });
});

describe('Authorization stays on baseUrl\'s origin', () => {
  let other: Server;
  let otherUrl: string;
  const otherSaw: Array<{ method: string; url: string; authorization: string | null }> = [];
  let redirecting: Server;
  let redirectingUrl: string;

  beforeAll(async () => {
    other = createServer((req, res) => {
      otherSaw.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization ?? null });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [], deleted: [], cursor: '0' }));
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    // "localhost" is another origin than "127.0.0.1".
    otherUrl = `http://localhost:${(other.address() as AddressInfo).port}`;
    redirecting = createServer((req, res) => {
      res.writeHead(req.method === 'GET' ? 302 : 307, { Location: `${otherUrl}/steal${req.url}` });
      res.end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    redirectingUrl = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    await new Promise((resolve) => other.close(resolve));
    await new Promise((resolve) => redirecting.close(resolve));
  });
  beforeEach(() => {
    otherSaw.length = 0;
  });

  it('absolute URLs inside answers are data: nothing is requested from them', async () => {
    const links = defineResource({
      name: 'links',
      schema: z.object({ id: z.string(), href: z.string(), next: z.string().optional(), version: z.number().int() }),
    });
    const seen: Array<{ url: string; authorization: string | null }> = [];
    const stub: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      seen.push({ url: request.url, authorization: request.headers.get('Authorization') });
      if (request.method === 'GET') {
        return Response.json([{ id: 'l1', href: `${otherUrl}/steal`, next: `${otherUrl}/api/links?page=2`, version: 1 }], {
          headers: { Link: `<${otherUrl}/api/links?page=2>; rel="next"`, Location: `${otherUrl}/x` },
        });
      }
      return Response.json({ ...((await request.json()) as object), version: 1 }, { status: 201 });
    };
    const d = make('http://api.test/api', { fetch: stub, resources: [links] });
    const h = d.client.resource(links);
    await h.refresh();
    await h.create({ id: 'l2', href: `${otherUrl}/also` });
    await d.client.flush();
    expect(await h.get('l1')).toMatchObject({ href: `${otherUrl}/steal` });
    expect(seen.length).toBeGreaterThan(1);
    for (const request of seen) {
      expect(new URL(request.url).origin).toBe('http://api.test');
      expect(request.authorization).toBe('Bearer demo-alice');
    }
    expect(otherSaw).toEqual([]);
  });

  it('writes never follow a redirect (redirect: "error"): no body, no token reaches the other origin; the entry stays queued', async () => {
    const modes: Array<[string, RequestRedirect]> = [];
    const d = make(redirectingUrl, {
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
      fetch: async (input, init) => {
        const request = input instanceof Request ? input : new Request(input, init);
        modes.push([request.method, request.redirect]);
        return fetch(request);
      },
    });
    d.online.next(false);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'secret body', done: false });
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the redirected write to fail and be retried');
    expect(otherSaw.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(modes.filter(([method]) => method !== 'GET').every(([, mode]) => mode === 'error')).toBe(true);
    expect(modes.some(([method]) => method === 'POST')).toBe(true);
    expect(status(d).pending).toBe(1);
    expect(await h.get('a')).toMatchObject({ title: 'secret body' });
  });

  it('a read redirected to another origin arrives there without Authorization', async () => {
    const d = make(redirectingUrl);
    await d.client.resource(todos).refresh();
    expect(otherSaw.length).toBeGreaterThan(0);
    for (const request of otherSaw) expect(request.authorization).toBeNull();
  });
});

describe('user switch with pending changes', () => {
  it("B never sends A's entries; A's are sent with A's token once A is back", async () => {
    const idb = new IDBFactory();
    const alice = make(suite.server.apiUrl, { namespace: 'alice', auth: { getToken: () => 'demo-alice' } }, idb);
    alice.online.next(false);
    const a = alice.client.resource(todos);
    await a.create({ id: 'a1', title: 'alice 1', done: false });
    await a.create({ id: 'a2', title: 'alice 2', done: false });
    await a.update('a1', { done: true });
    await alice.client.close(); // logout without clear(): the changes stay in alice's database

    const bob = make(suite.server.apiUrl, { namespace: 'bob', auth: { getToken: () => 'demo-bob' } }, idb);
    const b = bob.client.resource(todos);
    await b.create({ id: 'b1', title: 'bob 1', done: false });
    await bob.client.flush();
    await b.refresh();
    expect(status(bob).pending).toBe(0);
    expect(bob.calls.filter((c) => !c.startsWith('GET'))).toEqual(['POST /api/todos']);
    let rows = await ledger();
    expect(rows.map((r) => [r.entityId, r.user])).toEqual([['b1', 'bob']]);
    expect((await b.list()).map((t) => t.id)).toEqual(['b1']);
    await bob.client.close();

    const back = make(suite.server.apiUrl, { namespace: 'alice', auth: { getToken: () => 'demo-alice' } }, idb);
    await back.client.flush();
    rows = await ledger();
    expect(rows.map((r) => [r.op, r.entityId, r.user])).toEqual([
      ['create', 'b1', 'bob'],
      ['create', 'a1', 'alice'],
      ['create', 'a2', 'alice'],
    ]);
    expect(rows[1]!.body).toMatchObject({ done: true });
  });
});

describe('a token of another user (RELIABILITY 53)', () => {
  /** The demo server's tokens are `demo-{user}`; this app's namespaces are `user-{user}`. */
  const namespaceOf = (token: string) => `user-${token.replace(/^demo-/, '')}`;

  it("with auth.namespaceOf, a refresh that signs in another user sends none of the queue: replay pauses, naming both, until the owner is back and resume()", async () => {
    let token = 'demo-alice';
    const alice = make(suite.server.apiUrl, {
      namespace: 'user-alice',
      // The refresh stores the new session where getToken() reads it: another tab signed in bob.
      auth: {
        getToken: () => token,
        refreshToken: () => {
          token = 'demo-bob';
          return undefined;
        },
        namespaceOf,
      },
    });
    const a = alice.client.resource(todos);
    await a.create({ id: 'a0', title: 'sent as alice', done: false });
    await alice.client.flush();
    await suite.server.admin.faults({ unauthorized: true });
    await a.create({ id: 'a1', title: 'alice 1', done: false });
    await until(() => status(alice).paused === 'unauthorized', 'replay paused');
    await suite.server.admin.faults({ unauthorized: false });
    expect(token).toBe('demo-bob');
    expect(status(alice).lastError?.message).toMatch(/the token is for namespace "user-bob", not this client's "user-alice"/);
    // Nothing goes out with bob's token: not the write, not a pull.
    await a.refresh().catch(() => undefined);
    alice.client.resume();
    await until(() => status(alice).paused === 'unauthorized', 'replay paused again');
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['a0', 'alice']]);
    expect(status(alice).pending).toBe(1);

    token = 'demo-alice';
    alice.client.resume();
    await alice.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([
      ['a0', 'alice'],
      ['a1', 'alice'],
    ]);
    expect(status(alice)).toMatchObject({ pending: 0, paused: null });
  });

  it('without auth.namespaceOf, the namespace owns the queue: the token given is used, as the README says', async () => {
    const bobsToken = make(suite.server.apiUrl, { namespace: 'user-alice', auth: { getToken: () => 'demo-bob' } });
    await bobsToken.client.resource(todos).create({ id: 'x', title: 'x', done: false });
    await bobsToken.client.flush();
    expect((await ledger()).map((r) => [r.entityId, r.user])).toEqual([['x', 'bob']]);
  });
});
