/**
 * README's "At a glance", held to what the code does: the defaults it lists, the calls that make
 * no request, which observables replay, and that a closed client refuses every call.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ClosedError, defineResource } from '../../src/index.js';
import { currentStatus, outcomeOf, referenceServer, todos, until } from '../helpers/harness.js';

const server = referenceServer();
const api = () => `${server.server.url}/api`;

describe('README: At a glance', () => {
  it("defineResource's defaults: key 'id', version 'version', path '/' + name, no delta, client ids, no references, load 'all', cacheLimit 50,000", () => {
    const def = defineResource({ name: 'todos', schema: z.object({ id: z.string(), version: z.number() }) });
    expect(def).toMatchObject({ key: 'id', version: 'version', path: '/todos', delta: false, ids: 'client', references: {}, load: 'all', cacheLimit: 50_000 });
  });

  it('get() and list() read the local view once: no request', async () => {
    const d = server.make(api());
    const h = d.client.resource(todos);
    await h.get('t1');
    await h.list({ where: { done: false } });
    expect(d.calls).toEqual([]);
  });

  it('every observable but events$ replays its latest value to a new subscriber', async () => {
    const d = server.make(api());
    const h = d.client.resource(todos);
    await h.create({ id: 't1', title: 'Milk', done: false });
    const first = <T>(o: { subscribe(f: (v: T) => void): { unsubscribe(): void } }) => {
      const got: T[] = [];
      o.subscribe((v) => got.push(v)).unsubscribe();
      return got;
    };
    // A query's state waits for the resource's load; once loaded, a new subscriber gets it at once.
    await h.list();
    expect(first(h.query$({}))).toHaveLength(1);
    expect(first(h.get$('t1'))).toHaveLength(1);
    expect(first(d.client.status$)).toHaveLength(1);
    expect(first(d.client.conflicts$)).toEqual([[]]);
    expect(first(d.client.failed$)).toEqual([[]]);
    expect(first(d.client.events$)).toEqual([]);
  });

  it('after close(), later calls throw or reject with ClosedError', async () => {
    const d = server.make(api());
    const h = d.client.resource(todos);
    await h.create({ id: 't1', title: 'Milk', done: false });
    await d.client.flush();
    await d.client.close();
    const calls: Array<() => unknown> = [
      () => h.get('t1'),
      () => h.list(),
      () => h.create({ id: 't2', title: 'Eggs', done: false }),
      () => h.update('t1', { done: true }),
      () => h.delete('t1'),
      () => h.refresh(),
      () => h.get$('t1'),
      () => h.query$({}),
      () => d.client.flush(),
      () => d.client.pause(),
      () => d.client.resume(),
      () => d.client.clear(),
      () => d.client.resource(todos),
    ];
    for (const [i, call] of calls.entries()) {
      let outcome: unknown;
      try {
        const result = call();
        outcome = result instanceof Promise ? await outcomeOf(result) : { value: result };
      } catch (error) {
        outcome = { error };
      }
      expect([i, outcome]).toEqual([i, { error: expect.any(ClosedError) }]);
    }
    expect(currentStatus(d)).toBeDefined();
  });

  it('failed$ lists its changes oldest first, not in the order they were parked', async () => {
    // 'a' meets a 503, then a 400 after its backoff; 'b', made after it, meets a 400 at once.
    let aAttempts = 0;
    const refusing: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method !== 'POST') return fetch(request);
      const { id } = (await request.clone().json()) as { id: string };
      if (id === 'a' && ++aAttempts === 1) return new Response(null, { status: 503 });
      return Response.json({ message: `refused ${id}` }, { status: 400 });
    };
    const d = server.make(api(), { fetch: refusing });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false });
    await h.create({ id: 'b', title: 'B', done: false });
    await until(() => currentStatus(d).failed === 1, 'b parked');
    await d.clock.advance(1_000);
    await until(() => currentStatus(d).failed === 2, 'a parked');
    let failed: string[] = [];
    d.client.failed$.subscribe((list) => (failed = list.map((f) => f.id))).unsubscribe();
    expect(failed).toEqual(['a', 'b']);
  });

  it("events$ tells each change of status$.paused: 'paused' with its reason, 'resumed' when nothing holds replay back", async () => {
    const d = server.make(api());
    await until(() => currentStatus(d).paused === null && currentStatus(d).online, 'the client started online');
    const told = () => d.events.flatMap((e) => (e.type === 'paused' ? [`paused ${e.reason}`] : e.type === 'resumed' ? ['resumed'] : []));
    d.online.next(false);
    d.online.next(false);
    d.client.pause();
    d.client.resume();
    d.online.next(true);
    expect(told()).toEqual(['paused offline', 'paused manual', 'paused offline', 'resumed']);
    expect(d.events.filter((e) => e.type === 'paused' || e.type === 'resumed').every((e) => e.at === d.clock.now())).toBe(true);
  });
});
