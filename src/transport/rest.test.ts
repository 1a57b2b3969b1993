import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { HttpError, NetworkError } from '../errors.js';
import { defineResource } from '../resource.js';
import { createRestTransport, defaultSearchParams, UnreadableAnswerError } from './rest.js';
import { handTimers, stalledBody } from '../../test/helpers/hand-timers.js';

const schema = z.object({ id: z.string(), version: z.number() });
const todos = defineResource({ name: 'todos', schema });

function fakeFetch(answer: (request: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    requests.push(request.clone());
    // Like a real fetch, consume the body: ky streams it and waits for it to be read.
    await request.arrayBuffer();
    return answer(request);
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

describe('REST transport', () => {
  it('speaks the wire protocol: paths, If-Match, Idempotency-Key, no redirects on writes', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { id: 'a b', version: 2 }));
    const transport = createRestTransport({ baseUrl: 'https://api.test/v1/', fetch, auth: { getToken: () => 'T' }, timeoutMs: 1000 });
    await transport.update(todos, 'a b', { done: true }, 1, 'k1');
    await transport.remove(todos, 'a b', 2, 'k2');
    await transport.create(todos, { id: 'c' }, 'k3');
    await transport.delta(todos, null);
    const [update, remove, create, delta] = requests;
    expect(update!.method).toBe('PATCH');
    expect(update!.url).toBe('https://api.test/v1/todos/a%20b');
    expect(update!.headers.get('If-Match')).toBe('"1"');
    expect(update!.headers.get('Idempotency-Key')).toBe('k1');
    expect(update!.headers.get('Authorization')).toBe('Bearer T');
    expect(update!.redirect).toBe('error');
    expect(await update!.json()).toEqual({ done: true });
    expect(remove!.method).toBe('DELETE');
    expect(remove!.headers.get('If-Match')).toBe('"2"');
    expect(create!.method).toBe('POST');
    expect(create!.url).toBe('https://api.test/v1/todos');
    expect(delta!.url).toBe('https://api.test/v1/todos?since=');
  });

  it("asks every request, on the app's own fetch too, to bypass the HTTP cache: a pull never gets a copy it kept", async () => {
    const { fetch, requests } = fakeFetch((r) => (r.method === 'DELETE' ? new Response(null, { status: 204 }) : json(200, r.method === 'GET' && !r.url.includes('/t1') ? [] : { id: 't1', version: 2 })));
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    await transport.list(todos);
    await transport.delta(todos, 'c1');
    await transport.one(todos, 't1');
    await transport.query(todos, { where: {}, orderBy: [], limit: 5, cursor: null });
    await transport.create(todos, { id: 't1' }, 'k1');
    await transport.update(todos, 't1', { done: true }, 1, 'k2');
    await transport.remove(todos, 't1', 2, 'k3');
    expect(requests.map((r) => `${r.method} ${r.cache}`)).toEqual([
      'GET no-store', 'GET no-store', 'GET no-store', 'GET no-store', 'POST no-store', 'PATCH no-store', 'DELETE no-store',
    ]);
  });

  it("keeps a query in baseUrl (an API key, an api-version) on every request, under baseUrl's path", async () => {
    const { fetch, requests } = fakeFetch((r) => (r.method === 'POST' ? json(201, { id: 'c', version: 1 }) : json(200, { items: [], cursor: null })));
    for (const baseUrl of ['https://api.test/v1?api-version=2024-01-01#docs', 'https://api.test/v1/?api-version=2024-01-01']) {
      const transport = createRestTransport({ baseUrl, fetch, auth: undefined, timeoutMs: 1000 });
      await transport.create(todos, { id: 'c' }, 'k');
      await transport.one(todos, 'a b');
      await transport.delta(todos, 'c1');
      await transport.query(todos, { where: {}, orderBy: [], limit: 5, cursor: null });
    }
    const expected = [
      'https://api.test/v1/todos?api-version=2024-01-01',
      'https://api.test/v1/todos/a%20b?api-version=2024-01-01',
      'https://api.test/v1/todos?api-version=2024-01-01&since=c1',
      'https://api.test/v1/todos?api-version=2024-01-01&limit=5',
    ];
    expect(requests.map((r) => r.url)).toEqual([...expected, ...expected]);
  });

  it("sends baseUrl's query as written on every request, pulls and pages too: a signed one (%20, ~, a bare key) still matches its signature", async () => {
    const { fetch, requests } = fakeFetch((r) => (r.method === 'POST' ? json(201, { id: 'c', version: 1 }) : json(200, { items: [], cursor: null })));
    const transport = createRestTransport({ baseUrl: 'https://api.test/v1?sig=a%20b~c&flag', fetch, auth: undefined, timeoutMs: 1000 });
    await transport.create(todos, { id: 'c' }, 'k');
    await transport.list(todos);
    await transport.delta(todos, 'c 1');
    await transport.query(todos, { where: { done: true }, orderBy: [], limit: 5, cursor: null });
    expect(requests.map((r) => r.url)).toEqual([
      'https://api.test/v1/todos?sig=a%20b~c&flag',
      'https://api.test/v1/todos?sig=a%20b~c&flag',
      'https://api.test/v1/todos?sig=a%20b~c&flag&since=c+1',
      'https://api.test/v1/todos?sig=a%20b~c&flag&filter%5Bdone%5D=true&limit=5',
    ]);
  });

  it("names the entities of a resource at baseUrl itself (path '/') {base}/{id}, with one slash", async () => {
    const { fetch, requests } = fakeFetch((r) => (r.method === 'DELETE' ? new Response(null, { status: 204 }) : json(200, { id: 'a', version: 2 })));
    const root = defineResource({ name: 'todos', schema, path: '/' });
    const transport = createRestTransport({ baseUrl: 'https://api.test/v1/todos', fetch, auth: undefined, timeoutMs: 1000 });
    await transport.update(root, 'a', { done: true }, 1, 'k1');
    await transport.remove(root, 'a', 2, 'k2');
    await transport.one(root, 'a');
    expect(requests.map((r) => r.url)).toEqual(['https://api.test/v1/todos/a', 'https://api.test/v1/todos/a', 'https://api.test/v1/todos/a']);
  });

  it("never writes baseUrl's query (it may hold an API key) into an error, which events$ shows and failed$ stores", async () => {
    const timers = handTimers();
    const silent = ((input: RequestInfo | URL) =>
      new Promise<Response>((_, reject) => (input as Request).signal.addEventListener('abort', () => reject((input as Request).signal.reason)))) as typeof fetch;
    const transport = createRestTransport({ baseUrl: 'https://api.test/v1?code=s3cret', fetch: silent, auth: undefined, timeoutMs: 5000, setTimer: timers.setTimer });
    const outcome = transport.update(todos, 't1', { done: true }, 1, 'k').catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    timers.fire();
    const error = (await outcome) as NetworkError;
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.message).toMatch(/PATCH \/v1\/todos\/t1 failed.*timed out/);
    expect(error.message).not.toContain('s3cret');
  });

  it('refreshes the token once on 401 and retries once, sharing one refresh between requests', async () => {
    let token = 'old';
    let refreshes = 0;
    const { fetch, requests } = fakeFetch((r) => (r.headers.get('Authorization') === 'Bearer new' ? json(200, []) : json(401, { error: 'no' })));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: { getToken: () => token, refreshToken: async () => ((refreshes++, (token = 'new'))) },
      timeoutMs: 1000,
    });
    await Promise.all([transport.list(todos), transport.list(todos)]);
    expect(refreshes).toBe(1);
    expect(requests).toHaveLength(4);
    token = 'revoked';
    const stubborn = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: { getToken: () => 'bad', refreshToken: () => 'bad' }, timeoutMs: 1000 });
    await expect(stubborn.list(todos)).rejects.toMatchObject({ status: 401 });
  });

  it('a getToken() that returns null, undefined or an empty string (signed out) sends the request without Authorization', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, []));
    for (const token of [null, undefined, '', Promise.resolve(null)]) {
      const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: { getToken: () => token }, timeoutMs: 1000 });
      await expect(transport.list(todos)).resolves.toEqual([]);
    }
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual([null, null, null, null]);
  });

  it('with auth.namespaceOf, sends only tokens of its namespace: another, or a hook that throws, is a 401 with nothing sent', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, []));
    const transport = (namespaceOf: (token: string) => string) =>
      createRestTransport({ baseUrl: 'https://api.test', namespace: 'user-a', fetch, auth: { getToken: () => 'token-b', namespaceOf }, timeoutMs: 1000 });
    await expect(transport(() => 'user-b').list(todos)).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('the token is for namespace "user-b", not this client\'s "user-a"'),
    });
    await expect(
      transport(() => {
        throw new Error('not a JWT');
      }).list(todos),
    ).rejects.toMatchObject({ status: 401, message: expect.stringContaining('auth.namespaceOf() failed: Error: not a JWT') });
    expect(requests).toHaveLength(0);
    await transport(() => 'user-a').list(todos);
    expect(requests).toHaveLength(1);
  });

  it("retries with the token refreshToken() returns, and keeps sending it while getToken() returns the refused one", async () => {
    let stored = 'expired';
    let refreshes = 0;
    const { fetch, requests } = fakeFetch((r) => (['Bearer fresh', 'Bearer newer'].includes(r.headers.get('Authorization')!) ? json(200, []) : json(401, {})));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: { getToken: () => stored, refreshToken: async () => (refreshes++, 'fresh') },
      timeoutMs: 1000,
    });
    await expect(transport.list(todos)).resolves.toEqual([]);
    await expect(transport.list(todos)).resolves.toEqual([]);
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer expired', 'Bearer fresh', 'Bearer fresh']);
    expect(refreshes).toBe(1);
    stored = 'newer'; // the app signed in again: getToken() wins
    await transport.list(todos);
    expect(requests.at(-1)!.headers.get('Authorization')).toBe('Bearer newer');
  });

  it('a refreshed token refused in turn is replaced by the next refresh, getToken() still returning the first', async () => {
    let valid = 'fresh';
    const tokens = ['fresh', 'fresher'];
    const { fetch, requests } = fakeFetch((r) => (r.headers.get('Authorization') === `Bearer ${valid}` ? json(200, []) : json(401, {})));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: { getToken: () => 'expired', refreshToken: () => tokens.shift() },
      timeoutMs: 1000,
    });
    await transport.list(todos);
    valid = 'fresher'; // 'fresh' expired too
    await transport.list(todos);
    await transport.list(todos);
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer expired', 'Bearer fresh', 'Bearer fresh', 'Bearer fresher', 'Bearer fresher']);
  });

  it('a request refused with a token refreshed since is retried with the new one, without a second refresh', async () => {
    let token = 'old';
    let refreshes = 0;
    const answers: Array<() => void> = [];
    const { fetch, requests } = fakeFetch(async (r) => {
      if (r.headers.get('Authorization') === 'Bearer new') return json(200, []);
      await new Promise<void>((resolve) => answers.push(resolve)); // held until the test lets it answer
      return json(401, {});
    });
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: { getToken: () => token, refreshToken: () => (refreshes++, (token = 'new')) },
      timeoutMs: 60_000,
    });
    const first = transport.list(todos);
    const second = transport.list(todos);
    for (let i = 0; i < 100 && answers.length < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    answers.shift()!();
    await first; // refreshed, retried as 'new'
    answers.shift()!();
    await second; // refused as 'old' after that refresh ended
    expect(refreshes).toBe(1);
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer old', 'Bearer old', 'Bearer new', 'Bearer new']);
  });

  it('a refreshToken() that throws rejects every refused request with a 401 HttpError naming it, after one call', async () => {
    let refreshes = 0;
    const cause = new Error('the refresh token expired');
    const { fetch, requests } = fakeFetch(() => json(401, { error: 'expired' }));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: {
        getToken: () => 'expired',
        refreshToken: async () => {
          refreshes++;
          throw cause;
        },
      },
      timeoutMs: 1000,
    });
    const errors = await Promise.all([transport.create(todos, { id: 'a' }, 'k1'), transport.list(todos)].map((p) => p.catch((e: unknown) => e)));
    expect(refreshes).toBe(1);
    for (const error of errors) {
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 401, cause, resource: 'todos' });
      expect((error as Error).message).toMatch(/refreshToken\(\) failed: Error: the refresh token expired/);
    }
    expect(requests).toHaveLength(2); // not retried
  });

  it('a getToken() that never answers fails its request after timeoutMs as a NetworkError naming it: nothing sent', async () => {
    const timers = handTimers();
    const { fetch, requests } = fakeFetch(() => json(200, []));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: { getToken: () => new Promise<string>(() => undefined) },
      timeoutMs: 1000,
      setTimer: timers.setTimer,
    });
    const outcome = transport.list(todos).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers.pending()).toBe(1);
    timers.fire();
    const error = await outcome;
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as Error).message).toMatch(/getToken\(\) did not answer within 1000 ms/);
    expect(requests).toHaveLength(0);
    expect(timers.pending()).toBe(0);
  });

  it('a refreshToken() that never answers fails the refused requests as NetworkErrors; the next 401 refreshes afresh', async () => {
    const timers = handTimers();
    let refreshes = 0;
    let hang = true;
    let token = 'expired';
    const { fetch, requests } = fakeFetch((r) => (r.headers.get('Authorization') === 'Bearer fresh' ? json(200, []) : json(401, { error: 'expired' })));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: {
        getToken: () => token,
        refreshToken: () => {
          refreshes++;
          if (hang) return new Promise<undefined>(() => undefined);
          token = 'fresh';
          return undefined;
        },
      },
      timeoutMs: 1000,
      setTimer: timers.setTimer,
    });
    const outcomes = [transport.list(todos), transport.delta(todos, 'c1')].map((p) => p.catch((e: unknown) => e));
    // Both refused, both waiting on the one refresh, each within its own deadline.
    for (let i = 0; i < 20 && !(refreshes === 1 && timers.pending() === 2); i++) await new Promise((resolve) => setImmediate(resolve));
    expect(refreshes).toBe(1);
    expect(timers.pending()).toBe(2);
    timers.fire();
    for (const error of await Promise.all(outcomes)) {
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as Error).message).toMatch(/refreshToken\(\) did not answer within 1000 ms/);
    }
    hang = false;
    await expect(transport.list(todos)).resolves.toEqual([]);
    expect(refreshes).toBe(2);
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer expired', 'Bearer expired', 'Bearer expired', 'Bearer fresh']);
  });

  it('a refreshToken() that timed out and answers later does not replace the token a later refresh gave', async () => {
    const timers = handTimers();
    let refreshes = 0;
    let late!: (token: string) => void;
    const { fetch, requests } = fakeFetch((r) => (r.headers.get('Authorization') === 'Bearer fresh2' ? json(200, []) : json(401, { error: 'expired' })));
    const transport = createRestTransport({
      baseUrl: 'https://api.test',
      fetch,
      auth: {
        getToken: () => 'expired',
        refreshToken: () => {
          refreshes++;
          if (refreshes === 1) return new Promise<string>((resolve) => (late = resolve));
          return 'fresh2';
        },
      },
      timeoutMs: 1000,
      setTimer: timers.setTimer,
    });
    const first = transport.list(todos).catch((e: unknown) => e);
    for (let i = 0; i < 20 && !(refreshes === 1 && timers.pending() === 1); i++) await new Promise((resolve) => setImmediate(resolve));
    timers.fire();
    expect(await first).toBeInstanceOf(NetworkError);
    await expect(transport.list(todos)).resolves.toEqual([]);
    expect(refreshes).toBe(2);
    late('fresh1'); // the abandoned refresh answers at last
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    const sent = requests.length;
    await expect(transport.list(todos)).resolves.toEqual([]);
    expect(requests.slice(sent).map((r) => r.headers.get('Authorization'))).toEqual(['Bearer fresh2']);
    expect(refreshes).toBe(2);
  });

  it('reports statuses as HttpError with body and Retry-After, and unreadable 2xx bodies apart', async () => {
    const { fetch } = fakeFetch((r) =>
      r.method === 'POST' ? new Response('<html>portal</html>', { status: 200 }) : json(429, { error: 'slow' }, { 'Retry-After': '7' }),
    );
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    const error = await transport.list(todos).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 429, body: { error: 'slow' }, retryAfter: '7', resource: 'todos' });
    await expect(transport.create(todos, { id: 'x' }, 'k')).rejects.toBeInstanceOf(UnreadableAnswerError);
  });

  it("names a create's entity in its errors, as an update's and a delete's: failed$ and a { wait: 'server' } show which one", async () => {
    const refusing = fakeFetch(() => json(422, { error: 'title too long' }));
    const refused = createRestTransport({ baseUrl: 'https://api.test', fetch: refusing.fetch, auth: undefined, timeoutMs: 1000 });
    const error = await refused.create(todos, { id: 'x' }, 'k').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'HttpError', status: 422, resource: 'todos', id: 'x' });
    expect((error as Error).message).toMatch(/^todos\/x: POST \/todos answered 422/);
    const numbered = defineResource({ name: 'items', schema: z.object({ id: z.number(), version: z.number() }) });
    await expect(refused.create(numbered, { id: 7 }, 'k')).rejects.toMatchObject({ resource: 'items', id: '7' });
    const { fetch } = fakeFetch(() => {
      throw new TypeError('fetch failed');
    });
    const unreachable = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    await expect(unreachable.create(todos, { id: 'x' }, 'k')).rejects.toMatchObject({ name: 'NetworkError', resource: 'todos', id: 'x' });
  });

  it('turns a failed connection into a NetworkError naming the request', async () => {
    const { fetch } = fakeFetch(() => {
      throw new TypeError('fetch failed');
    });
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    await expect(transport.one(todos, 't1')).rejects.toThrow(NetworkError);
    await expect(transport.one(todos, 't1')).rejects.toThrow(/GET \/todos\/t1 failed/);
  });

  it('gives up on a request with no answer after timeoutMs, as a NetworkError that says so', async () => {
    const silent = ((_input: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))) as typeof fetch;
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch: silent, auth: undefined, timeoutMs: 10 });
    await expect(transport.update(todos, 't1', { done: true }, 1, 'k')).rejects.toThrow(/PATCH \/todos\/t1 failed.*timed out/);
  });

  it('settles when fetch answers without reading the body, and with a Response from another implementation', async () => {
    const unread = (async () => json(200, { id: 't1', version: 2 })) as typeof fetch;
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch: unread, auth: undefined, timeoutMs: 1000 });
    await expect(transport.update(todos, 't1', { done: true }, 1, 'k')).resolves.toEqual({ id: 't1', version: 2 });
    const foreign = (async () => ({
      status: 412,
      statusText: 'Precondition Failed',
      headers: new Headers({ 'Content-Type': 'application/json' }),
      text: async () => JSON.stringify({ id: 't1', version: 3 }),
    })) as unknown as typeof fetch;
    const polyfilled = createRestTransport({ baseUrl: 'https://api.test', fetch: foreign, auth: undefined, timeoutMs: 1000 });
    await expect(polyfilled.update(todos, 't1', { done: true }, 1, 'k')).rejects.toMatchObject({ status: 412, body: { id: 't1', version: 3 } });
    // A 204 of another implementation has a text() too: a Response of this realm refuses any body for it.
    const foreign204 = (async () => ({ status: 204, statusText: 'No Content', headers: new Headers(), text: async () => '' })) as unknown as typeof fetch;
    const deleting = createRestTransport({ baseUrl: 'https://api.test', fetch: foreign204, auth: undefined, timeoutMs: 1000 });
    await expect(deleting.remove(todos, 't1', 3, 'k')).resolves.toBeNull();
  });

  it('passes the caller’s abort to fetch', async () => {
    const controller = new AbortController();
    const silent = ((input: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_, reject) => {
        const signal = init?.signal ?? (input as Request).signal;
        signal.addEventListener('abort', () => reject(signal.reason));
        controller.abort(new DOMException('left the page', 'AbortError'));
      })) as typeof fetch;
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch: silent, auth: undefined, timeoutMs: 1000 });
    await expect(transport.query(todos, { where: {}, orderBy: [], limit: 5, cursor: null }, controller.signal)).rejects.toThrow(/left the page/);
  });

  it('sends numbers of the default dialect as decimals, never in exponent form', () => {
    const where = { big: 1e21, small: -1.5e-7, plain: 0.25 };
    expect([...defaultSearchParams({ where, orderBy: [], limit: 1, cursor: null })].slice(0, 3)).toEqual([
      ['filter[big]', '1000000000000000000000'],
      ['filter[small]', '-0.00000015'],
      ['filter[plain]', '0.25'],
    ]);
  });

  it('refuses a sort field the default dialect cannot send: one with a comma, or a leading minus', () => {
    const send = (field: string, direction: 'asc' | 'desc') => () =>
      defaultSearchParams({ where: {}, orderBy: [[field, direction], ['id', 'asc']], limit: 1, cursor: null });
    // sort=a,b would name two fields, sort=-total a descending 'total'.
    expect(send('a,b', 'asc')).toThrow(TypeError);
    expect(send('a,b', 'desc')).toThrow(/"a,b"/);
    expect(send('-total', 'asc')).toThrow(/"-total"/);
    expect(send('-total', 'desc')).toThrow(/"-total"/);
    expect(send('a-b', 'desc')().get('sort')).toBe('-a-b,id');
  });

  it('sends the default on-demand dialect, or the resource own one', async () => {
    expect(defaultSearchParams({ where: { done: false, n: 2 }, orderBy: [['title', 'asc'], ['id', 'desc']], limit: 50, cursor: 'c' }).toString()).toBe(
      'filter%5Bdone%5D=false&filter%5Bn%5D=2&sort=title%2C-id&limit=50&cursor=c',
    );
    const custom = defineResource({
      name: 'orders',
      schema,
      load: 'on-demand',
      toSearchParams: (q) => new URLSearchParams({ q: JSON.stringify(q.where), take: String(q.limit) }),
    });
    const { fetch, requests } = fakeFetch(() => json(200, { items: [], cursor: null }));
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    await transport.query(custom, { where: { done: true }, orderBy: [], limit: 5, cursor: null });
    expect(requests[0]!.url).toBe('https://api.test/orders?q=%7B%22done%22%3Atrue%7D&take=5');
  });

  it('gives up on an answer whose body stalls after the headers, write or pull, within timeoutMs', async () => {
    const timers = handTimers();
    const { fetch } = fakeFetch((r) => stalledBody(r.method === 'POST' ? 201 : 200, '{"id":"t1","ver'));
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 5000, setTimer: timers.setTimer });
    for (const call of [() => transport.create(todos, { id: 't1' }, 'k'), () => transport.delta(todos, 'c1')]) {
      const outcome = call().catch((e: unknown) => e);
      // Let the headers arrive and the body start: the exchange now waits on the body alone.
      await new Promise((resolve) => setImmediate(resolve));
      expect(timers.pending()).toBe(1);
      timers.fire();
      const error = await outcome;
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as Error).message).toMatch(/^(todos\/t1: POST|todos: GET) \/todos failed: the answer \((201|200)\) did not end within 5000 ms$/);
    }
  });

  it('turns an answer whose body is cut off after the headers, write or pull, into a NetworkError that says so: a write is re-sent with its key', async () => {
    const cut = (status: number) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"id":"t1","ver'));
            controller.error(new TypeError('network connection lost'));
          },
        }),
        { status, headers: { 'Content-Type': 'application/json' } },
      );
    const { fetch } = fakeFetch((r) => cut(r.method === 'POST' ? 201 : 200));
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 5000 });
    for (const call of [() => transport.create(todos, { id: 't1' }, 'k'), () => transport.delta(todos, 'c1')]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as Error).message).toMatch(/^(todos\/t1: POST|todos: GET) \/todos failed: the answer was cut off$/);
    }
  });

  it('leaves no timer and no listener on the caller’s signal behind, however the exchange ends', async () => {
    const timers = handTimers();
    const signal = new AbortController().signal;
    // The caller's signal outlives its requests (a page's): each request's listener must go.
    const listeners = new Set<unknown>();
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: 'abort', listener: EventListener, opts?: AddEventListenerOptions) => {
      listeners.add(listener);
      add(type, listener, opts);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: 'abort', listener: EventListener) => {
      listeners.delete(listener);
      remove(type, listener);
    }) as typeof signal.removeEventListener;
    const answers = [
      () => json(200, { items: [], cursor: null }),
      () => json(503, { error: 'busy' }),
      () => new Response('{"items":', { status: 200 }),
      () => {
        throw new TypeError('fetch failed');
      },
    ];
    let next = 0;
    const { fetch } = fakeFetch(() => answers[next++]!());
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 5000, setTimer: timers.setTimer });
    for (let i = 0; i < answers.length; i++) {
      await transport.query(todos, { where: {}, orderBy: [], limit: 5, cursor: null }, signal).catch(() => undefined);
      expect([timers.pending(), listeners.size]).toEqual([0, 0]);
    }
    expect(next).toBe(answers.length);
  });

  it('listens once on the caller’s signal however many requests are in flight (no MaxListenersExceededWarning), and aborts them all by it', async () => {
    const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const controller = new AbortController();
      // Past events.defaultMaxListeners (10), where Node warns of a leak.
      const count = 12;
      let sent = 0;
      let allSent = () => {};
      const inFlight = new Promise<void>((resolve) => (allSent = resolve));
      const silent = ((input: RequestInfo | URL, init?: RequestInit) =>
        new Promise<Response>((_, reject) => {
          const signal = init?.signal ?? (input as Request).signal;
          signal.addEventListener('abort', () => reject(signal.reason));
          if (++sent === count) allSent();
        })) as typeof fetch;
      const transport = createRestTransport({ baseUrl: 'https://api.test', fetch: silent, auth: { getToken: () => 'T' }, timeoutMs: 1000, setTimer: handTimers().setTimer });
      const requests = Array.from({ length: count }, (_, i) => transport.one(todos, `t${i}`, controller.signal).then(() => 'answered', (error: unknown) => error));
      await inFlight;
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort(new DOMException('closed', 'AbortError'));
      expect((await Promise.all(requests)).map((outcome) => (outcome as Error).message)).toEqual(Array(count).fill('closed'));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(warnings).not.toHaveBeenCalled();
    } finally {
      warnings.mockRestore();
    }
  });

  it('refuses an answer past maxAnswerBytes while reading it, never reading on: a 2xx as unreadable, another status as HttpError', async () => {
    let pulled = 0;
    // An endless body: only a reader that stops can finish with it.
    const endless = (status: number, headers: Record<string, string> = {}) =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled += 1000;
            controller.enqueue(new Uint8Array(1000).fill(0x20));
          },
        }),
        { status, headers },
      );
    const answers = [() => endless(200), () => endless(503), () => endless(201, { 'Content-Length': '10001' })];
    let next = 0;
    const { fetch } = fakeFetch(() => answers[next++]!());
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000, maxAnswerBytes: 10_000 });

    const list = await transport.list(todos).catch((e: unknown) => e);
    expect(list).toBeInstanceOf(UnreadableAnswerError);
    expect((list as Error).message).toBe(
      'todos: GET /todos answered 200, but its body passed the limit of 10000 bytes (maxAnswerBytes) and was not read',
    );
    // The stream may have queued a chunk or two ahead of the reader; never much more.
    expect(pulled).toBeLessThanOrEqual(13_000);

    pulled = 0;
    const status = await transport.list(todos).catch((e: unknown) => e);
    expect(status).toBeInstanceOf(HttpError);
    expect(status).toMatchObject({ status: 503, body: null });
    expect((status as Error).message).toMatch(/answered 503 \(its body passed the limit of 10000 bytes/);
    expect(pulled).toBeLessThanOrEqual(13_000);

    // A declared length past the limit: refused before a byte is read beyond what the stream queued on its own.
    pulled = 0;
    await expect(transport.create(todos, { id: 'x' }, 'k')).rejects.toBeInstanceOf(UnreadableAnswerError);
    expect(pulled).toBeLessThanOrEqual(1000);
  });

  it('takes 32 MiB as maxAnswerBytes by default (README, At a glance)', async () => {
    const declared = (bytes: number) => new Response(new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(new TextEncoder().encode('[]')) }), { status: 200, headers: { 'Content-Length': String(bytes) } });
    const { fetch } = fakeFetch(() => declared(32 * 1024 * 1024 + 1));
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000 });
    await expect(transport.list(todos)).rejects.toThrow('todos: GET /todos answered 200, but its body passed the limit of 33554432 bytes (maxAnswerBytes) and was not read');
  });

  it('reads an answer of exactly maxAnswerBytes, split anywhere in a multi-byte character', async () => {
    const text = JSON.stringify({ id: 'é€😀', version: 1 });
    const bytes = new TextEncoder().encode(text);
    const { fetch } = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
              controller.close();
            },
          }),
          { status: 200 },
        ),
    );
    const transport = createRestTransport({ baseUrl: 'https://api.test', fetch, auth: undefined, timeoutMs: 1000, maxAnswerBytes: bytes.length });
    await expect(transport.one(todos, 'x')).resolves.toEqual({ id: 'é€😀', version: 1 });
  });
});
