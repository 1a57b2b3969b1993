/**
 * A team's own REST backend (test/helpers/own-backend.ts): it follows DESIGN section 2 but makes
 * every choice the protocol leaves open otherwise than the reference server (numeric ids it
 * assigns, string or number versions, extra fields, fields in another order, 200 where 201 or 204
 * may be, `{ current }` conflicts, bare-text errors, pages of two, a path prefix and an API key in
 * baseUrl). The client must work with it as with the reference: nothing lost, nothing sent twice,
 * and a backend that misbehaves met with a typed error naming what was wrong, every change kept.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, type FailedMutation, type QueryState, type SyncClientOptions } from '../../src/index.js';
import { device, outcomeOf, until, type Device } from '../helpers/harness.js';
import { OWN_TOKEN, ownBackend, type OwnBackendOptions } from '../helpers/own-backend.js';

const id = z.union([z.string(), z.number()]);
const numberVersioned = defineResource({
  name: 'todos',
  schema: z.object({ id, title: z.string(), done: z.boolean(), version: z.number() }),
  ids: 'server',
  delta: true,
});
const stringVersioned = defineResource({
  name: 'todos',
  schema: z.object({ id, title: z.string(), done: z.boolean(), version: z.string() }),
  ids: 'server',
  delta: true,
});

const open: Device[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function setup(backendOptions: OwnBackendOptions = {}, clientOptions: Partial<SyncClientOptions> = {}) {
  const backend = await ownBackend(backendOptions);
  closers.push(backend.close);
  const resource = backendOptions.versions === 'string' ? stringVersioned : numberVersioned;
  const make = () => {
    const d = device(backend.baseUrl, { resources: [resource], auth: { getToken: () => OWN_TOKEN }, ...clientOptions });
    open.push(d);
    return d;
  };
  const d = make();
  return { backend, d, h: d.client.resource('todos'), make };
}

const latest = <T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): T => {
  let value: T | undefined;
  source.subscribe((v) => (value = v)).unsubscribe();
  return value as T;
};
const shown = (d: Device) => latest<QueryState<Record<string, unknown>>>(d.client.resource('todos').query$({ orderBy: 'id' })).data;
const writes = (backend: Awaited<ReturnType<typeof ownBackend>>) => backend.requests.filter((r) => r.method !== 'GET');

describe('a backend of its own, shaped otherwise than the reference server', () => {
  for (const versions of ['number', 'string'] as const) {
    it(`takes each write once, under the ids it assigns, with ${versions} versions, through a baseUrl with a path prefix, a trailing slash and an API key`, async () => {
      const { backend, d, h } = await setup({ versions });
      expect(await h.create({ title: 'Milk', done: false }, { wait: 'server' })).toMatchObject({ id: 100, title: 'Milk', done: false });
      expect(await h.update(100, { done: true }, { wait: 'server' })).toMatchObject({ id: 100, done: true });
      await h.update('100', { title: 'Oat milk' }, { wait: 'server' });
      await h.create({ title: 'Bread', done: false }, { wait: 'server' });
      await h.delete(101, { wait: 'server' });
      expect(writes(backend).map((r) => `${r.method} ${r.url}`)).toEqual([
        'POST /v2/tenant-7/todos?key=k-123',
        'PATCH /v2/tenant-7/todos/100?key=k-123',
        'PATCH /v2/tenant-7/todos/100?key=k-123',
        'POST /v2/tenant-7/todos?key=k-123',
        'DELETE /v2/tenant-7/todos/101?key=k-123',
      ]);
      expect(new Set(writes(backend).map((r) => r.key)).size).toBe(5);
      await h.refresh();
      // Extra fields (_links, updatedBy) are the schema's to keep or drop: zod's object drops them.
      expect(shown(d)).toEqual([{ id: 100, title: 'Oat milk', done: true, version: backend.entities.get('100')!.data['version'] }]);
      expect(latest(d.client.status$)).toMatchObject({ pending: 0, failed: 0, conflicts: 0, lastError: null });
    });
  }

  it("merges a change met by a 409 { current, message } after another device's, and sends it once against the version in it", async () => {
    const { backend, h, make } = await setup({ versions: 'string' });
    await h.create({ title: 'Milk', done: false }, { wait: 'server' });
    const other = make().client.resource('todos');
    await other.refresh();
    await other.update(100, { title: 'Oat milk' }, { wait: 'server' });
    const before = backend.entities.get('100')!.data['version'];
    expect(await h.update(100, { done: true }, { wait: 'server' })).toMatchObject({ id: 100, title: 'Oat milk', done: true });
    const patches = writes(backend).filter((r) => r.method === 'PATCH' && r.body === '{"done":true}');
    expect(patches.map((r) => r.ifMatch)).toEqual([expect.any(String), `"${String(before)}"`]);
    expect(patches[1]!.key).not.toBe(patches[0]!.key);
  });

  it('reads a delta feed in pages of two, deleted ids named as text, to the same state on another device', async () => {
    const { backend, d, h, make } = await setup({ deletedAsText: true, pageSize: 2 });
    for (const title of ['a', 'b', 'c', 'd', 'e']) await h.create({ title, done: false }, { wait: 'server' });
    await h.update(102, { done: true }, { wait: 'server' });
    await h.delete(101, { wait: 'server' });
    const other = make();
    await other.client.resource('todos').refresh();
    await h.refresh();
    expect(shown(other).map((t) => t['id'])).toEqual([100, 102, 103, 104]);
    expect(shown(other)).toEqual(shown(d));
    expect(backend.requests.filter((r) => r.url.includes('since=')).length).toBeGreaterThan(3);
  });

  it('reads a 410 Gone for an entity deleted meanwhile as a 404: a delete of it is done, an update of it a conflict with remote null', async () => {
    const { h, d, make } = await setup({ goneIs410: true });
    await h.create({ title: 'a', done: false }, { wait: 'server' });
    await h.create({ title: 'b', done: false }, { wait: 'server' });
    const other = make().client.resource('todos');
    await other.refresh();
    await other.delete(100, { wait: 'server' });
    await other.delete(101, { wait: 'server' });
    await h.delete(100, { wait: 'server' });
    const outcome = await outcomeOf(h.update(101, { done: true }, { wait: 'server' }));
    expect('error' in outcome && outcome.error).toMatchObject({ name: 'ConflictError' });
    expect(latest<Array<{ id: string; remote: unknown }>>(d.client.conflicts$)).toMatchObject([{ id: '101', remote: null }]);
    expect(latest<FailedMutation[]>(d.client.failed$)).toEqual([]);
  });

  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const encodings: Array<[string, Record<string, string>, (body: Buffer) => Buffer]> = [
    ['gzip', { 'Content-Encoding': 'gzip' }, (body) => gzipSync(body)],
    ['br', { 'Content-Encoding': 'br' }, (body) => brotliCompressSync(body)],
    ['deflate', { 'Content-Encoding': 'deflate' }, (body) => deflateSync(body)],
    ['after a UTF-8 BOM', {}, (body) => Buffer.concat([bom, body])],
  ];
  for (const [encoding, headers, encode] of encodings) {
    it(`reads a list answered ${encoding}, non-ASCII text and all`, async () => {
      const listed = defineResource({ name: 'todos', schema: numberVersioned.schema, ids: 'server' });
      const answer = encode(Buffer.from(JSON.stringify([{ id: 100, title: 'Crème brûlée ☕', done: false, version: 3 }])));
      const { d, h } = await setup(
        { intercept: (req, res) => req.method === 'GET' && (res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', ...headers }).end(answer), true) },
        { resources: [listed] },
      );
      await h.refresh();
      expect(shown(d)).toEqual([{ id: 100, title: 'Crème brûlée ☕', done: false, version: 3 }]);
    });
  }

  it('waits out a 503 HTML page whose Retry-After is an HTTP date, then sends the create once more with its key and body', async () => {
    let refusals = 0;
    const { backend, d, h } = await setup({
      intercept: (req, res) => {
        if (req.method !== 'POST' || refusals++ > 0) return false;
        const now = d.clock.now();
        res.writeHead(503, { 'Content-Type': 'text/html', 'Retry-After': new Date(now + 120_000).toUTCString(), Date: new Date(now).toUTCString() });
        res.end('<html><body><h1>503 Service Unavailable</h1></body></html>');
        return true;
      },
    });
    const saved = h.create({ title: 'Milk', done: false }, { wait: 'server' });
    await until(() => latest(d.client.status$).nextRetryAt !== null, 'the retry planned');
    expect(latest(d.client.status$).lastError).toMatchObject({ name: 'HttpError', status: 503, body: '<html><body><h1>503 Service Unavailable</h1></body></html>' });
    await d.clock.advance(119_000);
    expect(writes(backend)).toHaveLength(1);
    await d.clock.advance(1_000);
    expect(await saved).toMatchObject({ id: 100 });
    const [first, second] = writes(backend);
    expect(second).toMatchObject({ key: first!.key, body: first!.body });
  });
});

describe('a backend of its own that misbehaves: a typed error naming what was wrong, every change kept', () => {
  const listed = defineResource({ name: 'todos', schema: numberVersioned.schema, ids: 'server' });
  const answering = (status: number, body: string, type = 'application/json') => (res: ServerResponse) =>
    void res.writeHead(status, body === '' ? {} : { 'Content-Type': type }).end(body);
  const pulls: Array<[string, boolean, (res: ServerResponse) => void, RegExp]> = [
    ['a list that is no array', false, answering(200, '{"data":[]}'), /^SchemaError: todos: .*not an array/],
    ['a delta page that is no { items, deleted, cursor }', true, answering(200, '[]'), /^SchemaError: todos: the delta answer is not \{ items, deleted, cursor \}/],
    ['an HTML page with 200', true, answering(200, '<html>Sign in</html>', 'text/html'), /^SchemaError: todos: GET \/v2\/tenant-7\/todos answered 200 with a body that is not JSON/],
    ['an empty 200', true, answering(200, ''), /^SchemaError: todos: GET \/v2\/tenant-7\/todos answered 200 with an empty body/],
    ['a 204 No Content', false, answering(204, ''), /^SchemaError: todos: GET \/v2\/tenant-7\/todos answered 204 with an empty body/],
    ['a problem+json 503', true, answering(503, '{"type":"about:blank","title":"Service Unavailable","status":503}', 'application/problem+json'), /^HttpError: todos: GET \/v2\/tenant-7\/todos answered 503/],
    ['an HTML error page with 500', true, answering(500, '<html>Oops</html>', 'text/html'), /^HttpError: todos: GET \/v2\/tenant-7\/todos answered 500/],
  ];
  for (const [name, delta, answer, error] of pulls) {
    it(`${name} to a pull rejects refresh() naming it; the cache and a pending change stay`, async () => {
      let broken = false;
      const intercept = (req: IncomingMessage, res: ServerResponse) => broken && req.method === 'GET' && (answer(res), true);
      const { d, h } = await setup({ intercept }, { resources: [delta ? numberVersioned : listed] });
      await h.create({ title: 'Milk', done: false }, { wait: 'server' });
      await h.refresh();
      d.client.pause();
      await h.update(100, { done: true });
      broken = true;
      const outcome = await outcomeOf(h.refresh());
      expect('error' in outcome && String(outcome.error)).toMatch(error);
      expect(shown(d)).toEqual([{ id: 100, title: 'Milk', done: true, version: 3 }]);
      expect(latest(d.client.status$).pending).toBe(1);
      broken = false;
      d.client.resume();
      await d.client.flush();
      expect(shown(d)).toEqual([{ id: 100, title: 'Milk', done: true, version: 10 }]);
    });
  }

  it('a redirect on a write is not followed: a NetworkError that says so, the change kept and sent again with its key once the server answers', async () => {
    let redirecting = true;
    const { backend, d, h } = await setup({
      intercept: (req, res) => {
        if (!redirecting || req.method !== 'POST') return false;
        res.writeHead(307, { Location: `${backend.origin}/login` }).end();
        return true;
      },
    });
    const saved = h.create({ title: 'Milk', done: false }, { wait: 'server' });
    await until(() => latest(d.client.status$).nextRetryAt !== null, 'the retry planned');
    expect(latest(d.client.status$).lastError).toMatchObject({ name: 'NetworkError', message: expect.stringMatching(/^todos: POST \/v2\/tenant-7\/todos failed: .*redirect/) });
    expect(backend.requests.map((r) => r.url)).not.toContain('/login');
    expect(shown(d)).toEqual([expect.objectContaining({ title: 'Milk' })]);
    redirecting = false;
    await d.clock.advance(60_000);
    expect(await saved).toMatchObject({ id: 100, title: 'Milk' });
    const [first, second] = writes(backend);
    expect(second).toMatchObject({ key: first!.key, body: first!.body });
  });

  it('an answer to an update without its version: failed$ and the wait name the field, the change stays shown, and retry() goes through once the server is fixed', async () => {
    let broken = false;
    const { backend, d, h } = await setup({
      intercept: (req, res) => {
        if (!broken || req.method !== 'PATCH') return false;
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id":100,"title":"Milk","done":true}');
        return true;
      },
    });
    await h.create({ title: 'Milk', done: false }, { wait: 'server' });
    broken = true;
    const outcome = await outcomeOf(h.update(100, { done: true }, { wait: 'server' }));
    expect('error' in outcome && outcome.error).toMatchObject({ name: 'SchemaError', issues: expect.arrayContaining([expect.objectContaining({ field: 'version' })]) });
    expect(String((outcome as { error: Error }).error.message)).toMatch(/^todos\/100: .*field "version"/);
    const [failed] = latest<FailedMutation[]>(d.client.failed$);
    expect(failed!.error.message).toMatch(/field "version"/);
    expect(shown(d)).toEqual([expect.objectContaining({ id: 100, done: true })]);
    broken = false;
    await failed!.retry();
    await d.client.flush();
    expect(latest(d.client.failed$)).toEqual([]);
    expect(writes(backend).filter((r) => r.method === 'PATCH')).toHaveLength(2);
    expect(backend.entities.get('100')!.data).toMatchObject({ done: true });
  });
});
