import { Subject } from 'rxjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { closeDevices, device, until, type Device } from '../helpers/harness.js';
import { settle } from '../helpers/manual-clock.js';

const taskSchema = z.object({ id: z.string(), title: z.string(), tag: z.string(), version: z.number().int() });
type Task = z.infer<typeof taskSchema>;

const backend = createTestBackend();
const open: Device[] = [];
afterEach(() => closeDevices(open));
afterAll(() => backend.close());

/** The tag of task i: a search typed 'a', 'ab', 'abc' names a third of them each. */
const tagOf = (i: number) => ['a', 'ab', 'abc'][i % 3]!;

/** An on-demand resource `name` on a server of its own holding `count` tasks titled T00, T01...; a device over it. */
async function seeded(name: string, count: number, options: { fetch?: typeof fetch; cacheLimit?: number; foreground?: Subject<void> } = {}) {
  const tasks = defineResource({ name, schema: taskSchema, load: 'on-demand', ...(options.cacheLimit !== undefined ? { cacheLimit: options.cacheLimit } : {}) });
  const api = await backend.start({ resources: [{ name }] });
  for (let i = 0; i < count; i++) {
    const reply = await fetch(`${api.apiUrl}/${name}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': `${name}-${i}` },
      body: JSON.stringify({ id: `t${String(i).padStart(2, '0')}`, title: `T${String(i).padStart(2, '0')}`, tag: tagOf(i) }),
    });
    expect(reply.status).toBe(201);
  }
  const make = () => {
    const d = device(api.apiUrl, { resources: [tasks], ...(options.fetch ? { fetch: options.fetch } : {}), ...(options.foreground ? { foreground: options.foreground } : {}) });
    open.push(d);
    return d;
  };
  return { tasks, api, d: make(), make };
}

function watch(d: Device, tasks: ReturnType<typeof defineResource>, query: object) {
  const states: Array<QueryState<Task>> = [];
  const sub = d.client.resource(tasks).query$(query as never).subscribe((s) => states.push(s as QueryState<Task>));
  return { states, last: () => states.at(-1)!, stop: () => sub.unsubscribe() };
}

const ids = (state: QueryState<Task>) => state.data.map((t) => t.id);
const pagesOf = (d: Device, name: string) => d.calls.filter((c) => c.startsWith(`GET /api/${name}?`));

/** A fetch holding the answers of requests whose URL contains a part the test names, until released. */
function heldRequests() {
  const held: Array<{ url: string; open: () => void; answered: boolean }> = [];
  const parts = new Set<string>();
  const failing = new Set<string>();
  const wrapped = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = decodeURIComponent(request.url);
    const part = [...parts].find((p) => url.includes(p));
    if (part === undefined) return fetch(request);
    const entry = { url, open: () => undefined as void, answered: false };
    const gate = new Promise<void>((resolve) => (entry.open = resolve));
    held.push(entry);
    const answer = await fetch(request);
    const body = await answer.text();
    entry.answered = true;
    await gate;
    if ([...failing].some((p) => url.includes(p))) return new Response('down', { status: 503 });
    return new Response(body, { status: answer.status, headers: answer.headers });
  }) as typeof fetch;
  return {
    fetch: wrapped,
    hold: (part: string) => void parts.add(part),
    /** The held answers to requests containing `part` are 503 when released. */
    fail: (part: string) => void failing.add(part),
    answered: (part: string) => held.filter((e) => e.url.includes(part) && e.answered).length,
    release: (part: string) => {
      parts.delete(part);
      for (const entry of held.filter((e) => e.url.includes(part))) entry.open();
    },
  };
}

describe('a: a search typed quickly', () => {
  it('queries replaced in a row: one request per distinct query, the identical one shared, the final state right', async () => {
    const answers = heldRequests();
    const { tasks, d } = await seeded('typing', 30, { fetch: answers.fetch });
    answers.hold('tag]=');
    for (const tag of ['a', 'ab', 'abc']) {
      const q = watch(d, tasks, { where: { tag }, orderBy: 'title', limit: 4 });
      await until(() => answers.answered(`tag]=${tag}&`) === 1, `the ${tag} page requested`);
      q.stop();
    }
    const q = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    await settle();
    expect(pagesOf(d, 'typing')).toHaveLength(3);
    answers.release('tag]=');
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'the final page');
    expect(ids(q.last())).toEqual(['t01', 't04', 't07', 't10']);
    expect(q.last()).toMatchObject({ status: 'success', error: null, hasMore: true });
    expect(q.states.every((s) => s.data.every((t) => t.tag === 'ab'))).toBe(true);
  });

  it("a replaced query's request failing after the shown query's page came is no error of the shown query (it showed that 503, with its own page loaded, until another page was fetched)", async () => {
    const answers = heldRequests();
    const { tasks, d } = await seeded('typo', 30, { fetch: answers.fetch });
    answers.hold('tag]=a&');
    answers.fail('tag]=a&');
    const first = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => answers.answered('tag]=a&') === 1, 'the a page requested');
    first.stop();
    const q = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    await until(() => q.last().data.length === 4, 'the ab page');
    answers.release('tag]=a&');
    await until(() => !q.last().isFetching, 'the a request over');
    await d.clock.advance(120_000);
    expect(q.states.every((s) => s.error === null)).toBe(true);
    expect(q.last()).toMatchObject({ status: 'success', error: null });
    expect(ids(q.last())).toEqual(['t01', 't04', 't07', 't10']);
  });

  it("a replaced query's request still out once the shown query's page came does not keep the shown query fetching (it said isFetching until that request ended)", async () => {
    const answers = heldRequests();
    const { tasks, d } = await seeded('slow', 30, { fetch: answers.fetch });
    answers.hold('tag]=a&');
    const first = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => answers.answered('tag]=a&') === 1, 'the a page requested');
    first.stop();
    const q = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    await until(() => q.last().data.length === 4, 'the ab page');
    await settle();
    expect(q.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    answers.release('tag]=a&');
    await settle();
    expect(q.last()).toMatchObject({ isFetching: false, error: null });
  });

  it("a replaced query's page coming after the shown query's request failed leaves that failure shown (it cleared the error: an empty success, not fetching, until the retry)", async () => {
    const answers = heldRequests();
    const { tasks, d } = await seeded('flaky', 30, { fetch: answers.fetch });
    answers.hold('tag]=a&');
    answers.hold('tag]=ab&');
    answers.fail('tag]=ab&');
    const first = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => answers.answered('tag]=a&') === 1, 'the a page requested');
    first.stop();
    const q = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    await until(() => answers.answered('tag]=ab&') === 1, 'the ab page requested');
    answers.release('tag]=ab&');
    await until(() => q.last().error !== null, 'the ab failure shown');
    answers.release('tag]=a&');
    await until(() => d.events.some((e) => e.type === 'pulled'), 'the a page committed');
    await settle();
    expect(q.last()).toMatchObject({ data: [], isFetching: false });
    expect(q.last().error).toMatchObject({ status: 503 });
  });

  it("queries replaced while the cache is still loading ask the server for the one still watched only (each asked for its page once the cache was loaded: 4 requests for 1 shown)", async () => {
    const { tasks, d, make } = await seeded('early', 30);
    const typed = ['a', 'ab', 'abc', 'abcd', 'ab'];
    // Typed before IndexedDB answers: the cache is not loaded yet.
    let q = watch(d, tasks, { where: { tag: typed[0] }, orderBy: 'title', limit: 4 });
    for (const tag of typed.slice(1)) {
      const next = watch(d, tasks, { where: { tag }, orderBy: 'title', limit: 4 });
      q.stop();
      q = next;
    }
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'the page shown');
    await settle();
    expect(pagesOf(d, 'early')).toEqual(['GET /api/early?filter%5Btag%5D=ab&sort=title%2Cid&limit=4']);
    expect(ids(q.last())).toEqual(['t01', 't04', 't07', 't10']);
    // None watched once the cache is loaded: nothing says it is fetching.
    const states: boolean[] = [];
    const other = make();
    const gone = watch(other, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    gone.stop();
    other.client.resource(tasks).get$('t00').subscribe((s) => states.push(s.isFetching));
    await until(() => states.length > 1, 'the other cache loaded');
    await settle();
    expect(states.at(-1)).toBe(false);
    expect(pagesOf(other, 'early')).toEqual([]);
  });
});

describe('b: local writes across a loaded query', () => {
  it('create, update of the filter and sort field, delete: online and offline', async () => {
    const { tasks, d } = await seeded('writes', 30);
    const q = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'the page');
    const h = d.client.resource(tasks);
    await h.create({ id: 'n1', title: 'T01a', tag: 'ab' } as never);
    expect(ids(q.last())).toEqual(['t01', 'n1', 't04', 't07']);
    await h.update('t04', { title: 'T99' } as never);
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'refill');
    expect(ids(q.last())).toEqual(['t01', 'n1', 't07', 't10']);
    d.online.next(false);
    await h.update('t01', { tag: 'a' } as never);
    await h.delete('n1');
    await settle();
    // Offline, the cache's own match beyond the page (renamed T99) fills in: nothing tells the gap.
    expect(ids(q.last())).toEqual(['t07', 't10', 't04']);
    expect(q.last()).toMatchObject({ status: 'success', isFetching: false, hasMore: true });
    // An entity never loaded cannot be changed here: the write says so, and nothing is queued.
    await expect(h.update('t28', { tag: 'ab' } as never)).rejects.toThrow(/no entity/);
    d.online.next(true);
    await d.client.flush();
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'refill online');
    expect(ids(q.last())).toEqual(['t07', 't10', 't13', 't16']);
    expect(q.last().pendingIds.size).toBe(0);
  });
});

describe('c: cacheLimit while queries are watched', () => {
  it('keeps what a live query shows and what a pending change holds; an evicted entity shown again is fetched', async () => {
    const { tasks, d } = await seeded('evict', 30, { cacheLimit: 1 });
    const h = d.client.resource(tasks);
    const shown = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 3 });
    await until(() => shown.last().data.length === 3 && !shown.last().isFetching, 'a page');
    const other = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 3 });
    await until(() => other.last().data.length === 3 && !other.last().isFetching, 'ab page');
    d.client.pause();
    await h.update('t01', { title: 'T01 edited' } as never);
    other.stop();
    const third = watch(d, tasks, { where: { tag: 'abc' }, orderBy: 'title', limit: 3 });
    await until(() => third.last().data.length === 3 && !third.last().isFetching, 'abc page');
    await settle();
    // Beyond what is shown, t01 (pending), t04 and t07: one of the last two is kept.
    expect(ids(shown.last())).toEqual(['t00', 't03', 't06']);
    expect(ids(third.last())).toEqual(['t02', 't05', 't08']);
    expect(await h.get('t01')).toMatchObject({ title: 'T01 edited' });
    expect(await h.get('t04')).toBeUndefined();
    const asked = pagesOf(d, 'evict').length;
    const again = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 3 });
    await until(() => again.last().data.length === 3 && !again.last().isFetching && pagesOf(d, 'evict').length > asked, 'ab page again');
    expect(ids(again.last())).toEqual(['t01', 't04', 't07']);
    expect(again.last().data[0]).toMatchObject({ title: 'T01 edited' });
    d.client.resume();
    await d.client.flush();
  });
});

describe('d: offline with a partial cache', () => {
  it('a query never loaded vs one loaded before, then back online', async () => {
    const { tasks, d } = await seeded('offline', 30);
    const loaded = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => loaded.last().data.length === 4 && !loaded.last().isFetching, 'a page');
    loaded.stop();
    d.online.next(false);
    const never = watch(d, tasks, { where: { tag: 'ab' }, orderBy: 'title', limit: 4 });
    const again = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await settle();
    // Loaded before: its rows, and the server has more. Never loaded: nothing is fetched meanwhile.
    expect(again.states.map((s) => ({ ids: ids(s), status: s.status, isFetching: s.isFetching, hasMore: s.hasMore }))).toEqual([
      { ids: ['t00', 't03', 't06', 't09'], status: 'success', isFetching: false, hasMore: true },
    ]);
    expect(never.states.every((s) => !s.isFetching && s.data.length === 0)).toBe(true);
    expect(pagesOf(d, 'offline')).toHaveLength(1);
    d.online.next(true);
    await until(() => never.last().data.length === 4 && !never.last().isFetching, 'ab page online');
    expect(ids(never.last())).toEqual(['t01', 't04', 't07', 't10']);
  });
});

describe('e: another device changes what a page shows', () => {
  it('refresh(), staleTimeMs, foreground and online', async () => {
    const foreground = new Subject<void>();
    const { tasks, d, api } = await seeded('remote', 30, { foreground });
    const q = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => q.last().data.length === 4 && !q.last().isFetching, 'a page');
    await api.admin.edit({ resource: 'remote', id: 't00', delete: true });
    await d.client.resource(tasks).refresh();
    expect(ids(q.last())).toEqual(['t03', 't06', 't09', 't12']);
    await api.admin.edit({ resource: 'remote', id: 't03', patch: { tag: 'ab' } });
    await d.clock.advance(31_000);
    foreground.next();
    await until(() => ids(q.last())[0] === 't06' && !q.last().isFetching, 'foreground refetch');
    await api.admin.edit({ resource: 'remote', id: 't06', patch: { title: 'T99' } });
    d.online.next(false);
    await settle();
    d.online.next(true);
    await until(() => ids(q.last())[0] === 't09' && !q.last().isFetching, 'online refetch');
    expect(ids(q.last())).toEqual(['t09', 't12', 't15', 't18']);
    await api.admin.edit({ resource: 'remote', id: 't09', delete: true });
    q.stop();
    await d.clock.advance(31_000);
    const later = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 4 });
    await until(() => !later.last().isFetching && ids(later.last())[0] === 't12', 'stale refetch');
    expect(later.states.some((s) => ids(s).includes('t09') && !s.isFetching)).toBe(false);
  });

  it("refresh() while the online source says offline asks the server, as a whole resource's does (it resolved at once, having asked nothing, the deleted row still shown)", async () => {
    const { tasks, d, api } = await seeded('asked', 12);
    const q = watch(d, tasks, { where: { tag: 'a' }, orderBy: 'title', limit: 2 });
    await until(() => q.last().data.length === 2 && !q.last().isFetching, 'a page');
    await api.admin.edit({ resource: 'asked', id: 't00', delete: true });
    d.online.next(false);
    await d.client.resource(tasks).refresh();
    expect(ids(q.last())).toEqual(['t03', 't06']);
    expect(pagesOf(d, 'asked')).toHaveLength(2);
  });
});
