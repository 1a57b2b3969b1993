/**
 * A pull the client made itself (a subscriber's load, coming online, the foreground) that failed
 * for a passing reason (no answer, 429, a 5xx) is made again after a backoff, a few times, while
 * something shows the resource (RELIABILITY #45). Against the reference server and its fault switch.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, type QueryState } from '../../src/index.js';
import { referenceServer, todos, until, type Device } from '../helpers/harness.js';

const orders = defineResource({
  name: 'orders',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
  load: 'on-demand',
});

const suite = referenceServer({ resources: [{ name: 'todos', delta: true }, { name: 'orders' }] });
const retry = { baseDelayMs: 1000, maxDelayMs: 60_000 };
const make = (overrides = {}) => suite.make(suite.server.apiUrl, { resources: [todos, orders], retry, ...overrides });
const reads = (d: Device, resource = 'todos') => d.calls.filter((c) => c.startsWith(`GET /api/${resource}`)).length;

/** Subscribes to the resource's query$, keeping its latest state. */
function watch(d: Device, resource: typeof todos | typeof orders = todos, query = {}) {
  const view = { state: undefined as QueryState<object> | undefined, unsubscribe: () => undefined as void };
  const subscription = d.client.resource(resource as typeof todos).query$(query).subscribe((state) => (view.state = state));
  view.unsubscribe = () => subscription.unsubscribe();
  return view;
}

/** Moves the clock on by `ms` in steps of a second, letting the request a timer made get its answer. */
async function advance(d: Device, ms: number): Promise<void> {
  for (let passed = 0; passed < ms; passed += 1000) {
    await d.clock.advance(Math.min(1000, ms - passed));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('a failed pull the client made itself', () => {
  it('answered 503 twice, then 200, shows the data with no other trigger, and the error goes', async () => {
    await suite.server.admin.seed('todos', 3);
    await suite.server.admin.faults({ errorRate: { count: 2 } });
    const d = make();
    const view = watch(d);
    await until(() => view.state?.status === 'error', 'the first load failed');
    expect(view.state!.error).toMatchObject({ name: 'HttpError', status: 503 });
    // The first retry waits at most baseDelayMs, the second twice that.
    await advance(d, 1000);
    await until(() => reads(d) === 2, 'the first retry');
    await advance(d, 2000);
    await until(() => view.state?.status === 'success', 'the second retry answered');
    expect(view.state!.data).toHaveLength(3);
    expect(view.state!.error).toBeNull();
    expect(reads(d)).toBe(3);
  });

  it('answered 429 with Retry-After waits that long', async () => {
    await suite.server.admin.seed('todos', 2);
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '30' } });
    const d = make();
    const view = watch(d);
    await until(() => view.state?.status === 'error', 'the first load failed');
    await advance(d, 29_000);
    expect(reads(d)).toBe(1);
    await advance(d, 1000);
    await until(() => view.state?.status === 'success', 'the retry after 30 s');
    expect(view.state!.data).toHaveLength(2);
    expect(reads(d)).toBe(2);
  });

  it('is retried 3 times, then no more; the view keeps showing the error', async () => {
    await suite.server.admin.faults({ errorRate: { count: 100 } });
    const d = make();
    const view = watch(d);
    await until(() => view.state?.status === 'error', 'the first load failed');
    await advance(d, 2 * 60_000);
    expect(reads(d)).toBe(4);
    expect(view.state!.status).toBe('error');
  });

  it('is not retried once nothing shows the resource, after close(), or while offline', async () => {
    await suite.server.admin.faults({ errorRate: { count: 100 } });
    const unwatched = make();
    const closed = make();
    const offline = make();
    const views = [unwatched, closed, offline].map((d) => watch(d));
    await until(() => views.every((view) => view.state?.status === 'error'), 'the first loads failed');
    views[0]!.unsubscribe();
    await closed.client.close();
    // The retry waiting is let go with the rest.
    expect(closed.clock.pendingTimers).toBe(0);
    offline.online.next(false);
    for (const d of [unwatched, closed, offline]) {
      await advance(d, 60_000);
      expect(reads(d)).toBe(1);
    }
  });

  it('is not retried once another pull succeeded; refresh() itself rejects with its error', async () => {
    await suite.server.admin.seed('todos', 1);
    await suite.server.admin.faults({ errorRate: { count: 2 } });
    const d = make();
    const view = watch(d);
    await until(() => view.state?.status === 'error', 'the first load failed');
    await expect(d.client.resource(todos).refresh()).rejects.toMatchObject({ name: 'HttpError', status: 503 });
    await d.client.resource(todos).refresh();
    expect(view.state!.status).toBe('success');
    await advance(d, 60_000);
    expect(reads(d)).toBe(3);
  });

  it('answered 400 is not retried', async () => {
    await suite.server.admin.faults({ errorStatus: 400, errorRate: { count: 100 } });
    const d = make();
    const view = watch(d);
    await until(() => view.state?.status === 'error', 'the first load failed');
    await advance(d, 60_000);
    expect(reads(d)).toBe(1);
  });

  it('a captive portal answering 200 with HTML: a SchemaError, the cache kept and nothing of it stored, no retry loop; the next trigger (back online) pulls again and the error goes (RELIABILITY #45)', async () => {
    await suite.server.admin.seed('todos', 2);
    let portal = false;
    const d = make({
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const request = input instanceof Request ? input : new Request(input, init);
        if (!portal) return fetch(request);
        return new Response('<html>Sign in to the Wi-Fi</html>', { status: 200, headers: { 'content-type': 'text/html' } });
      },
    });
    const view = watch(d);
    await until(() => view.state?.status === 'success' && view.state.data.length === 2, 'the first load');
    const cached = view.state!.data;
    portal = true;
    d.online.next(false);
    d.online.next(true);
    await until(() => view.state?.error != null, 'the pull behind the portal failed');
    expect(view.state!.error).toMatchObject({ name: 'SchemaError' });
    expect(view.state!.error!.message).toMatch(/not JSON/);
    expect(view.state!.data).toEqual(cached);
    const readsBehindThePortal = reads(d);
    await advance(d, 120_000);
    expect(reads(d)).toBe(readsBehindThePortal);
    expect(await d.client.resource(todos).list()).toEqual(cached);

    portal = false;
    await suite.server.admin.seed('todos', 1);
    d.online.next(false);
    d.online.next(true);
    await until(() => view.state?.data.length === 3 && view.state.error === null, 'the pull after the portal');
    expect(view.state!.status).toBe('success');
  });

  it("an on-demand query's page that failed once is fetched again", async () => {
    await suite.server.admin.seed('orders', 10);
    await suite.server.admin.faults({ errorRate: { count: 1 } });
    const d = make();
    const view = watch(d, orders, { limit: 5 });
    await until(() => view.state?.status === 'error', 'the first page failed');
    await advance(d, 1000);
    await until(() => view.state?.status === 'success', 'the page fetched again');
    expect(view.state!.data).toHaveLength(5);
    expect(view.state!.error).toBeNull();
    expect(reads(d, 'orders')).toBe(2);
  });
});
