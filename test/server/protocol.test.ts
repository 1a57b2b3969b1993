// The reference server's wire protocol (DESIGN section 2): versions,
// preconditions, idempotency (also across two instances and under
// concurrency), tombstones and the delta feed, auth, CORS, server ids and
// the ledger.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createTestBackend, type RunningServer } from '../../server/index.mjs';
import { api, freshKey } from './api.js';

const backend = createTestBackend();
let server: RunningServer;
let alice: ReturnType<typeof api>;

beforeAll(async () => {
  server = await backend.start({ resources: [{ name: 'todos', delta: true }, { name: 'notes' }] });
  alice = api(server.apiUrl);
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());

const RAW_AUTH = 'Host: 127.0.0.1\r\nAuthorization: Bearer demo-alice\r\n';

/** A raw TCP connection to the server, for requests fetch cannot make (bodies that never end, lying headers). */
function rawSocket() {
  const socket = connect(server.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let isClosed = false;
  const waiting = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    for (const wake of waiting) wake();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      isClosed = true;
      for (const wake of waiting) wake();
      resolve();
    }),
  );
  const text = () => Buffer.concat(chunks).toString('utf8');
  return {
    write: (data: string) => socket.write(data),
    destroy: () => socket.destroy(),
    drained: () => new Promise<void>((resolve) => socket.once('drain', () => resolve())),
    closed,
    isClosed: () => isClosed,
    text,
    /** Resolves with what arrived once it matches `pattern`; rejects if the connection closes first. */
    received: (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          if (pattern.test(text())) resolve(text());
          else if (isClosed) reject(new Error(`closed after ${JSON.stringify(text())}`));
          else return;
          waiting.delete(check);
        };
        waiting.add(check);
        check();
      }),
  };
}


describe('entities and versions', () => {
  it('creates with version 1, bumps on every write and serves the ETag', async () => {
    const created = await alice.create('todos', { id: 't1', title: 'milk', done: false, version: 7 });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: 't1', title: 'milk', done: false, version: 1 });
    expect(created.headers.get('etag')).toBe('"1"');

    const updated = await alice.update('todos', 't1', 1, { done: true });
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual({ id: 't1', title: 'milk', done: true, version: 2 });

    const one = await alice.get('/todos/t1');
    expect(one.body).toEqual(updated.body);
    expect(one.headers.get('etag')).toBe('"2"');
    expect((await alice.get('/todos')).body).toEqual([updated.body]);
  });

  it('ignores id and version inside a patch', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const updated = await alice.update('todos', 't1', 1, { id: 'other', version: 99, title: 'b' });
    expect(updated.body).toEqual({ id: 't1', title: 'b', version: 2 });
    expect((await alice.get('/todos/other')).status).toBe(404);
  });

  it('answers 409 with the current entity when the id exists', async () => {
    await alice.create('todos', { id: 't1', title: 'first' });
    const again = await alice.create('todos', { id: 't1', title: 'second' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ id: 't1', title: 'first', version: 1 });
  });

  it('answers 412 with the current entity for a stale If-Match, and for a weak one', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    await alice.update('todos', 't1', 1, { title: 'b' });
    const stale = await alice.update('todos', 't1', 1, { title: 'c' });
    expect(stale.status).toBe(412);
    expect(stale.body).toEqual({ id: 't1', title: 'b', version: 2 });
    const weak = await alice.call('PATCH', '/todos/t1', {
      body: { title: 'c' },
      headers: { 'Idempotency-Key': freshKey(), 'If-Match': 'W/"2"' },
    });
    expect(weak.status).toBe(412);
    const staleDelete = await alice.remove('todos', 't1', 1);
    expect(staleDelete.status).toBe(412);
    expect(staleDelete.body.version).toBe(2);
  });

  it('answers 412 to an If-Match that is not the exact text of the ETag, leading zeros included, changing nothing', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    await alice.update('todos', 't1', 1, { title: 'b' });
    const write = (method: string, ifMatch: string, body?: unknown) =>
      alice.call(method, '/todos/t1', { body, headers: { 'Idempotency-Key': freshKey(), 'If-Match': ifMatch } });
    // Entity-tags compare character by character (RFC 9110): "02" is not the "2" the server sent.
    for (const ifMatch of ['"02"', '02', '"2.0"', '"+2"', '"0x2"']) {
      const patched = await write('PATCH', ifMatch, { title: 'c' });
      expect([ifMatch, patched.status, patched.body]).toEqual([ifMatch, 412, { id: 't1', title: 'b', version: 2 }]);
      expect([ifMatch, (await write('DELETE', ifMatch)).status]).toEqual([ifMatch, 412]);
    }
    const current = await alice.call('GET', '/todos/t1');
    expect([current.body, current.headers.get('etag')]).toEqual([{ id: 't1', title: 'b', version: 2 }, '"2"']);
  });

  it("reads If-Match as HTTP does: '*' matches any current entity, a list any of its versions", async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const write = (method: string, ifMatch: string, body?: unknown) =>
      alice.call(method, '/todos/t1', { body, headers: { 'Idempotency-Key': freshKey(), 'If-Match': ifMatch } });
    expect((await write('PATCH', '*', { title: 'b' })).body).toEqual({ id: 't1', title: 'b', version: 2 });
    expect((await write('PATCH', '"1", "2"', { title: 'c' })).body).toEqual({ id: 't1', title: 'c', version: 3 });
    expect((await write('PATCH', '"1", W/"3"', { title: 'd' })).status).toBe(412);
    expect((await write('DELETE', '*')).status).toBe(204);
    expect((await write('PATCH', '*', { title: 'e' })).status).toBe(404);
  });

  it('requires If-Match (428) and an Idempotency-Key (400) on writes, applying nothing', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const noPrecondition = await alice.call('PATCH', '/todos/t1', {
      body: { title: 'b' },
      headers: { 'Idempotency-Key': freshKey() },
    });
    expect(noPrecondition.status).toBe(428);
    const noKey = await alice.call('POST', '/todos', { body: { id: 't2', title: 'b' } });
    expect(noKey.status).toBe(400);
    expect((await backend.ledger()).map((entry) => entry.entityId)).toEqual(['t1']);
  });

  it('rejects a body that is not a JSON object, and a create without an id', async () => {
    const headers = { 'Idempotency-Key': freshKey(), 'Content-Type': 'application/json' };
    expect((await alice.call('POST', '/todos', { body: [1], headers })).status).toBe(400);
    expect((await alice.create('todos', { title: 'no id' })).status).toBe(400);
    const raw = await fetch(`${server.apiUrl}/todos`, {
      method: 'POST',
      headers: { ...headers, Authorization: 'Bearer demo-alice' },
      body: '{"id":',
    });
    expect(raw.status).toBe(400);
  });

  it('refuses a create or update whose body is not declared JSON with 415 naming the type, applying nothing', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const write = (method: string, path: string, type: string, headers: Record<string, string> = {}) =>
      alice.call(method, path, { body: { id: 't2', title: 'b' }, headers: { 'Idempotency-Key': freshKey(), 'Content-Type': type, ...headers } });
    for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', '', 'application/json; charset=iso-8859-1', 'application/jsonp']) {
      for (const reply of [await write('POST', '/todos', type), await write('PATCH', '/todos/t1', type, { 'If-Match': '"1"' })]) {
        expect(reply.status).toBe(415);
        expect(reply.body).toEqual({ error: `the request body must be declared as Content-Type: application/json, not ${JSON.stringify(type)}` });
      }
    }
    expect((await backend.ledger()).map((entry) => entry.entityId)).toEqual(['t1']);
    // The media type is case-insensitive, and UTF-8 may be said.
    expect((await write('POST', '/todos', 'Application/JSON')).status).toBe(201);
    expect((await write('PATCH', '/todos/t1', 'application/json; charset=utf-8', { 'If-Match': '"1"' })).status).toBe(200);
    expect((await write('PATCH', '/todos/t2', 'application/json;charset="UTF-8"', { 'If-Match': '"1"' })).status).toBe(200);
  });

  it('refuses a compressed body with 415 naming the Content-Encoding, instead of reading it as text', async () => {
    const reply = await fetch(`${server.apiUrl}/todos`, {
      method: 'POST',
      headers: {
        Authorization: 'Bearer demo-alice',
        'Content-Type': 'application/json',
        'Content-Encoding': 'gzip',
        'Idempotency-Key': freshKey(),
      },
      body: gzipSync('{"id":"t1","title":"a"}'),
    });
    expect(reply.status).toBe(415);
    expect(await reply.json()).toEqual({ error: 'Content-Encoding "gzip" is not supported: send the body uncompressed' });
    expect(await backend.ledger()).toEqual([]);
  });

  it('refuses U+0000 (Postgres cannot store it) with 400, not a 500 the client would retry', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    expect((await alice.create('todos', { id: 't2', title: 'a\u0000b' })).status).toBe(400);
    expect((await alice.create('todos', { id: 't\u00003', title: 'c' })).status).toBe(400);
    expect((await alice.create('todos', { id: 't4', ['odd\u0000key']: 1 })).status).toBe(400);
    expect((await alice.update('todos', 't1', 1, { title: 'a\u0000' })).status).toBe(400);
    expect((await alice.update('todos', 't\u00001', 1, { title: 'b' })).status).toBe(400);
    expect((await alice.get('/todos/t%00')).status).toBe(400);
    expect((await alice.get('/todos?filter[title]=%00')).status).toBe(400);
    expect((await backend.ledger()).map((entry) => entry.entityId)).toEqual(['t1']);
  });

  it('refuses an unpaired surrogate (jsonb cannot store it) with 400 naming it, keeping paired ones', async () => {
    const cut = '👍'.slice(0, 1);
    await alice.create('todos', { id: 't1', title: 'a' });
    for (const reply of [
      await alice.create('todos', { id: 't2', title: `ok ${cut}` }),
      await alice.create('todos', { id: `t${cut}`, title: 'c' }),
      await alice.create('todos', { id: 't4', [`odd${cut}`]: 1 }),
      await alice.update('todos', 't1', 1, { title: cut }),
    ]) {
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatch(/unpaired UTF-16 surrogate/);
    }
    expect((await alice.create('todos', { id: 't5', title: '👍' })).body).toEqual({ id: 't5', title: '👍', version: 1 });
    expect((await backend.ledger()).map((entry) => entry.entityId)).toEqual(['t1', 't5']);
  });

  it('refuses a number beyond the range of a double with 400 naming it, instead of storing null', async () => {
    const reply = await fetch(`${server.apiUrl}/todos`, {
      method: 'POST',
      headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': freshKey() },
      body: '{"id":"t1","estimate":1e400}',
    });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toEqual({ error: 'a number beyond the range of a double cannot be stored' });
    expect(await backend.ledger()).toEqual([]);
  });

  it('refuses an id over 1,024 characters or an Idempotency-Key too long to index with 400 naming it, keeping every id DESIGN allows', async () => {
    const noise = (length: number) => randomBytes(length).toString('base64url').slice(0, length);
    const cjk = Array.from({ length: 1024 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');
    for (const id of [noise(1025), `${cjk}a`]) {
      const reply = await alice.create('todos', { id, title: 'a' });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe("a created entity's id must be at most 1024 characters");
    }
    const longKey = await alice.create('todos', { id: 't1', title: 'a' }, noise(4000));
    expect(longKey.status).toBe(400);
    expect(longKey.body.error).toMatch(/Idempotency-Key longer than 255/);
    // DESIGN's longest ids, in characters and in bytes (3,072 in UTF-8, more than a btree entry holds), are kept.
    expect((await alice.create('todos', { id: noise(1024), title: 'b' }, noise(255))).status).toBe(201);
    expect((await alice.create('todos', { id: cjk, title: 'c' })).body).toEqual({ id: cjk, title: 'c', version: 1 });
    expect((await alice.get(`/todos/${encodeURIComponent(cjk)}`)).body).toEqual({ id: cjk, title: 'c', version: 1 });
    expect((await alice.update('todos', cjk, 1, { title: 'd' })).body).toEqual({ id: cjk, title: 'd', version: 2 });
    expect(await alice.create('todos', { id: cjk, title: 'again' })).toMatchObject({ status: 409, body: { title: 'd' } });
    expect((await alice.remove('todos', cjk, 2)).status).toBe(204);
    expect((await alice.get('/todos?since=')).body.deleted).toEqual([cjk]);
    expect(await backend.ledger()).toHaveLength(4);
  });

  it('keeps numeric ids (DESIGN: ids are strings or finite numbers) as numbers, and refuses other id types naming them', async () => {
    const created = await alice.create('todos', { id: 7, title: 'a' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: 7, title: 'a', version: 1 });
    expect((await alice.get('/todos/7')).body).toEqual(created.body);
    expect((await alice.update('todos', '7', 1, { title: 'b' })).body).toEqual({ id: 7, title: 'b', version: 2 });
    // 7 and '7' are one id, as the SDK holds them: the second create meets the first.
    expect(await alice.create('todos', { id: '7', title: 'c' })).toMatchObject({ status: 409, body: { id: 7, version: 2 } });
    await alice.create('todos', { id: 10, title: 'd' });
    await alice.create('todos', { id: 9.5, title: 'e' });
    const page = await alice.get('/todos?sort=id&limit=2');
    expect(page.body.items.map((todo: { id: number }) => todo.id)).toEqual([7, 9.5]);
    const rest = await alice.get(`/todos?sort=id&limit=2&cursor=${page.body.cursor}`);
    expect(rest.body).toEqual({ items: [{ id: 10, title: 'd', version: 1 }], cursor: null });
    expect((await alice.remove('todos', '7', 2)).status).toBe(204);
    expect((await alice.get('/todos?since=')).body.deleted).toEqual([7]);
    for (const id of [true, null, {}, [], '']) {
      const reply = await alice.create('todos', { id, title: 'x' });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('a created entity needs an id: a non-empty string or a finite number');
    }
  });

  it('refuses a body that is not UTF-8 with 400 naming it, instead of storing U+FFFD for what was sent', async () => {
    const latin1 = Buffer.from('{"id":"t1","title":"caf\u00e9"}', 'latin1');
    const reply = await fetch(`${server.apiUrl}/todos`, {
      method: 'POST',
      headers: { Authorization: 'Bearer demo-alice', 'Content-Type': 'application/json', 'Idempotency-Key': freshKey() },
      body: latin1,
    });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toEqual({ error: 'the request body is not valid UTF-8' });
    expect((await alice.create('todos', { id: 't1', title: 'caf\u00e9' })).body.title).toBe('caf\u00e9');
    expect(await backend.ledger()).toHaveLength(1);
  });

  it('answers 413 to a body over 1 MiB without cutting the upload short, so the answer arrives and the connection lives on', async () => {
    const body = JSON.stringify({ id: 't1', title: 'x'.repeat(2 * 1024 * 1024) });
    const socket = connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.on('close', resolve));
    const auth = 'Host: 127.0.0.1\r\nAuthorization: Bearer demo-alice\r\n';
    socket.write(
      `POST /api/todos HTTP/1.1\r\n${auth}Idempotency-Key: ${freshKey()}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // Pipelined behind it: answered only if the server read the big body to its end.
    socket.write(`GET /api/todos HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`);
    await closed;
    const answers = Buffer.concat(chunks).toString('utf8');
    expect(answers).toMatch(/^HTTP\/1\.1 413 /);
    expect(answers).toContain('request body larger than 1048576 bytes');
    expect(answers).toContain('HTTP/1.1 200 OK');
    expect(await backend.ledger()).toEqual([]);
  });

  it('answers 413 as soon as a chunked body passes 1 MiB, before the upload ends, and the connection lives on', async () => {
    const socket = rawSocket();
    socket.write(`POST /api/todos HTTP/1.1\r\n${RAW_AUTH}Idempotency-Key: ${freshKey()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 17; i += 1) socket.write(`${(chunk.length).toString(16)}\r\n${chunk}\r\n`);
    // The upload is still open: only an answer given while reading can arrive.
    expect(await socket.received(/\{"error":[^}]*\}/)).toMatch(/^HTTP\/1\.1 413 [^]*request body larger than 1048576 bytes/);
    socket.write(`${(chunk.length).toString(16)}\r\n${chunk}\r\n0\r\n\r\nGET /api/todos HTTP/1.1\r\n${RAW_AUTH}Connection: close\r\n\r\n`);
    await socket.closed;
    expect(socket.text()).toContain('HTTP/1.1 200 OK');
    expect(await backend.ledger()).toEqual([]);
  });

  it('answers 413 at once to a Content-Length over 1 MiB, whatever the body that follows', async () => {
    const socket = rawSocket();
    socket.write(
      `POST /api/todos HTTP/1.1\r\n${RAW_AUTH}Idempotency-Key: ${freshKey()}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${5 * 1024 * 1024}\r\n\r\n{"id":"t1","title":"a"}`,
    );
    expect(await socket.received(/\{"error":[^}]*\}/)).toMatch(/^HTTP\/1\.1 413 [^]*request body larger than 1048576 bytes/);
    socket.destroy();
    expect(await backend.ledger()).toEqual([]);
  });

  it('stops reading an upload that goes on long after its 413, closing the connection', async () => {
    const socket = rawSocket();
    socket.write(`POST /api/todos HTTP/1.1\r\n${RAW_AUTH}Idempotency-Key: ${freshKey()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `${(1024 * 1024).toString(16)}\r\n${'x'.repeat(1024 * 1024)}\r\n`;
    let sent = 0;
    // Far more than the server drops after a 413; a server that reads on would take it all.
    while (sent < 64 && !socket.isClosed()) {
      sent += 1;
      if (!socket.write(chunk)) await Promise.race([socket.drained(), socket.closed]);
    }
    await socket.closed;
    expect(sent).toBeLessThan(64);
    expect(socket.text()).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('deletes with a tombstone: 204, then 404 for GET, PATCH and DELETE', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    expect((await alice.remove('todos', 't1', 1)).status).toBe(204);
    expect((await alice.get('/todos/t1')).status).toBe(404);
    expect((await alice.update('todos', 't1', 2, { title: 'b' })).status).toBe(404);
    expect((await alice.remove('todos', 't1', 2)).status).toBe(404);
    expect((await alice.get('/todos')).body).toEqual([]);
  });

  it('re-creates a deleted id continuing its version line', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    await alice.remove('todos', 't1', 1);
    const again = await alice.create('todos', { id: 't1', title: 'again' });
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ id: 't1', title: 'again', version: 3 });
  });

  it('keeps an id holding a slash or dots in one path segment', async () => {
    await alice.create('todos', { id: '../admin/reset', title: 'odd' });
    const one = await alice.get(`/todos/${encodeURIComponent('../admin/reset')}`);
    expect(one.body).toEqual({ id: '../admin/reset', title: 'odd', version: 1 });
  });

  it("refuses the ids '.' and '..' that no URL can address (a later DELETE would reach /api/), keeping '...'", async () => {
    for (const id of ['.', '..']) {
      const reply = await alice.create('todos', { id, title: 'dots' });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe(`the id "${id}" cannot be addressed in a URL path`);
    }
    await alice.create('todos', { id: '...', title: 'dots' });
    expect((await alice.remove('todos', '...', 1)).status).toBe(204);
    expect((await backend.ledger()).map((entry) => [entry.op, entry.entityId])).toEqual([
      ['create', '...'],
      ['delete', '...'],
    ]);
  });

  it('answers HEAD where GET answers, with the same status and headers and no body', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    for (const path of ['/todos', '/todos/t1', '/todos/missing', '/todos?since=', '/todos?sort=title&limit=1']) {
      const [get, head] = [await alice.call('GET', path), await alice.call('HEAD', path)];
      expect(head.status).toBe(get.status);
      // fetch asks for Connection: close after a HEAD (undici's guard against servers sending a body anyway).
      const sameHeaders = (reply: typeof get) => [...reply.headers].filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));
      expect(sameHeaders(head)).toEqual(sameHeaders(get));
      expect(head.text).toBe('');
    }
    expect((await alice.call('HEAD', '/todos', { token: null })).status).toBe(401);
  });

  it('answers 404 for unknown resources and 405 for unsupported methods', async () => {
    expect((await alice.get('/nothing')).status).toBe(404);
    expect((await alice.get('/todos/a/b')).status).toBe(404);
    const put = await alice.call('PUT', '/todos/t1', { body: {} });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, PATCH, DELETE');
  });
});

describe('idempotency', () => {
  it('replays the first answer byte for byte and applies once', async () => {
    const key = freshKey();
    const first = await alice.create('todos', { title: 'once', id: 't1', done: false }, key);
    const again = await alice.create('todos', { done: false, id: 't1', title: 'once' }, key);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(await backend.ledger()).toHaveLength(1);
  });

  it('replays a refusal as the first answer too', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    await alice.update('todos', 't1', 1, { title: 'b' });
    const key = freshKey();
    const stale = await alice.update('todos', 't1', 1, { title: 'c' }, key);
    await alice.update('todos', 't1', 2, { title: 'd' });
    const replay = await alice.update('todos', 't1', 1, { title: 'c' }, key);
    expect(replay.status).toBe(412);
    expect(replay.text).toBe(stale.text);
  });

  it('answers 422 to a key reused for another request, applying nothing', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const key = freshKey();
    await alice.update('todos', 't1', 1, { title: 'b' }, key);
    const otherBody = await alice.update('todos', 't1', 2, { title: 'c' }, key);
    const otherPath = await alice.create('todos', { id: 't2', title: 'c' }, key);
    expect(otherBody.status).toBe(422);
    expect(otherPath.status).toBe(422);
    expect((await alice.get('/todos/t1')).body).toEqual({ id: 't1', title: 'b', version: 2 });
    expect((await alice.get('/todos/t2')).status).toBe(404);
    expect((await backend.ledger()).map((entry) => entry.op)).toEqual(['create', 'update']);
  });

  it('scopes keys per user', async () => {
    const key = freshKey();
    const bob = api(server.apiUrl, 'demo-bob');
    expect((await alice.create('todos', { id: 't1', title: 'a' }, key)).status).toBe(201);
    expect((await bob.create('todos', { id: 't2', title: 'b' }, key)).status).toBe(201);
    expect((await backend.ledger()).map((entry) => [entry.user, entry.entityId])).toEqual([
      ['alice', 't1'],
      ['bob', 't2'],
    ]);
  });

  it('applies concurrent requests with one key once, answering all alike', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    const key = freshKey();
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => alice.update('todos', 't1', 1, { title: 'together' }, key)),
    );
    expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(200));
    expect(new Set(replies.map((reply) => reply.text)).size).toBe(1);
    expect((await backend.ledger()).filter((entry) => entry.op === 'update')).toHaveLength(1);
  });

  it('answers a retry on a second instance from the record of the first (shared database)', async () => {
    const other = await backend.start({ resources: [{ name: 'todos', delta: true }] });
    try {
      await alice.create('todos', { id: 't1', title: 'a' });
      await server.admin.faults({ dropAfterApply: { count: 1 } });
      const key = freshKey();
      await expect(alice.update('todos', 't1', 1, { title: 'lost answer' }, key)).rejects.toThrow();
      expect((await backend.ledger()).map((entry) => entry.op)).toEqual(['create', 'update']);

      const retry = await api(other.apiUrl).update('todos', 't1', 1, { title: 'lost answer' }, key);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual({ id: 't1', title: 'lost answer', version: 2 });
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect((await backend.ledger()).map((entry) => entry.op)).toEqual(['create', 'update']);
    } finally {
      await other.close();
    }
  });
});

describe('delta feed', () => {
  it('pages changes with a cursor, reporting deletes as tombstones', async () => {
    for (const id of ['a', 'b', 'c']) await alice.create('todos', { id, title: id });
    await alice.update('todos', 'a', 1, { title: 'a2' });
    await alice.remove('todos', 'b', 1);

    const first = await alice.get('/todos?since=&limit=2');
    expect(first.body).toEqual({
      items: [{ id: 'c', title: 'c', version: 1 }, { id: 'a', title: 'a2', version: 2 }],
      deleted: [],
      cursor: expect.any(String),
      hasMore: true,
    });
    const second = await alice.get(`/todos?since=${first.body.cursor}&limit=2`);
    expect(second.body).toEqual({ items: [], deleted: ['b'], cursor: expect.any(String), hasMore: false });
    const idle = await alice.get(`/todos?since=${second.body.cursor}`);
    expect(idle.body).toEqual({ items: [], deleted: [], cursor: second.body.cursor, hasMore: false });

    await alice.update('todos', 'c', 1, { title: 'c2' });
    const next = await alice.get(`/todos?since=${second.body.cursor}`);
    expect(next.body.items).toEqual([{ id: 'c', title: 'c2', version: 2 }]);
  });

  it('starts from the beginning without a cursor value', async () => {
    await alice.create('todos', { id: 'a', title: 'a' });
    expect((await alice.get('/todos?since=')).body.items).toHaveLength(1);
  });

  it('answers 400 to a malformed cursor or limit, 410 to a cursor it never issued', async () => {
    expect((await alice.get('/todos?since=abc')).status).toBe(400);
    expect((await alice.get('/todos?since=&limit=0')).status).toBe(400);
    expect((await alice.get('/todos?since=42')).status).toBe(410);
  });

  it('is off for a resource configured without delta', async () => {
    expect((await alice.get('/notes?since=')).status).toBe(400);
    expect((await alice.get('/notes')).body).toEqual([]);
  });
});

describe('auth and CORS', () => {
  it('answers 401 without a token or with an unknown one, with CORS headers', async () => {
    for (const token of [null, 'demo-mallory']) {
      const reply = await alice.call('GET', '/todos', { token });
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: expect.any(String) });
      expect(reply.headers.get('access-control-allow-origin')).toBe('*');
    }
  });

  it('answers a request Node cannot parse (headers over 16 KiB, say) with CORS headers and a JSON error, not a bare status a browser hides', async () => {
    const socket = rawSocket();
    socket.write(`GET /api/todos?filter[title]=${'x'.repeat(20 * 1024)} HTTP/1.1\r\n${RAW_AUTH}\r\n`);
    await socket.closed;
    const answer = socket.text();
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain('\r\nAccess-Control-Allow-Origin: *\r\n');
    expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toBe('{"error":"request headers larger than 16384 bytes"}');

    const garbled = rawSocket();
    garbled.write('NOT HTTP\r\n\r\n');
    await garbled.closed;
    expect(garbled.text()).toMatch(/^HTTP\/1\.1 400 [^]*\r\nAccess-Control-Allow-Origin: \*\r\n[^]*\{"error":"malformed HTTP request"\}$/);
  });

  it('accepts a configured tokens map', async () => {
    const custom = await backend.start({ tokens: { secret: 'carol' } });
    try {
      const carol = api(custom.apiUrl, 'secret');
      await carol.create('todos', { id: 't1', title: 'x' });
      expect((await api(custom.apiUrl).get('/todos')).status).toBe(401);
      expect((await backend.ledger())[0]?.user).toBe('carol');
    } finally {
      await custom.close();
    }
  });

  it('answers preflights on any path', async () => {
    const reply = await fetch(`${server.url}anything/at/all`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PATCH' },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers.get('access-control-allow-origin')).toBe('*');
    expect(reply.headers.get('access-control-allow-methods')).toBe('GET,POST,PATCH,DELETE,OPTIONS');
    expect(reply.headers.get('access-control-allow-headers')).toBe(
      'Authorization, Content-Type, Idempotency-Key, If-Match',
    );
    expect(reply.headers.get('access-control-expose-headers')).toContain('Retry-After, Date, ETag');
  });
});

describe('server ids', () => {
  it("assigns '1', '2', ... ignoring client ids, and a replay keeps the first id", async () => {
    const assigning = await backend.start({ serverIds: true });
    try {
      const client = api(assigning.apiUrl);
      const key = freshKey();
      const first = await client.create('todos', { id: 'client-id', title: 'a' }, key);
      const second = await client.create('todos', { title: 'b' });
      const replay = await client.create('todos', { id: 'client-id', title: 'a' }, key);
      expect(first.body).toEqual({ id: '1', title: 'a', version: 1 });
      expect(second.body).toEqual({ id: '2', title: 'b', version: 1 });
      expect(replay.body).toEqual(first.body);
      expect((await client.get('/todos')).body.map((todo: { id: string }) => todo.id)).toEqual(['1', '2']);
    } finally {
      await assigning.close();
    }
  });
});

describe('ledger and admin edits', () => {
  it('records every applied write with key, versions, body and user', async () => {
    const key = freshKey();
    await alice.create('todos', { id: 't1', title: 'a' }, key);
    await alice.update('todos', 't1', 1, { title: 'b' });
    await alice.remove('todos', 't1', 2);
    await alice.create('notes', { id: 'n1', text: 'x' });
    const ledger = await server.admin.ledger('todos');
    expect(ledger.map(({ seq, at, idempotencyKey, ...rest }) => rest)).toEqual([
      { resource: 'todos', entityId: 't1', op: 'create', versionBefore: null, versionAfter: 1, body: { id: 't1', title: 'a' }, user: 'alice' },
      { resource: 'todos', entityId: 't1', op: 'update', versionBefore: 1, versionAfter: 2, body: { title: 'b' }, user: 'alice' },
      { resource: 'todos', entityId: 't1', op: 'delete', versionBefore: 2, versionAfter: 3, body: null, user: 'alice' },
    ]);
    expect(ledger[0]?.idempotencyKey).toBe(key);
    expect((await server.admin.ledger()).map((entry) => entry.resource)).toEqual(['todos', 'todos', 'todos', 'notes']);
  });

  it("edits as 'mallory': the version moves, the ledger says who, a stale client gets 412", async () => {
    await alice.create('todos', { id: 't1', title: 'a', done: false });
    const edit = await server.admin.edit({ resource: 'todos', id: 't1', patch: { done: true } });
    expect(edit).toEqual({ status: 200, body: { id: 't1', title: 'a', done: true, version: 2 } });
    const stale = await alice.update('todos', 't1', 1, { title: 'b' });
    expect(stale.status).toBe(412);
    expect(stale.body.done).toBe(true);

    expect((await server.admin.edit({ resource: 'todos', create: { id: 't2', title: 'theirs' } })).status).toBe(201);
    expect((await server.admin.edit({ resource: 'todos', id: 't2', delete: true })).status).toBe(204);
    expect((await server.admin.edit({ resource: 'todos', id: 'missing', patch: {} })).status).toBe(404);
    const ledger = await backend.ledger();
    expect(ledger.map((entry) => [entry.user, entry.op, entry.entityId])).toEqual([
      ['alice', 'create', 't1'],
      ['mallory', 'update', 't1'],
      ['mallory', 'create', 't2'],
      ['mallory', 'delete', 't2'],
    ]);
    expect(ledger.every((entry) => entry.user !== 'mallory' || entry.idempotencyKey === null)).toBe(true);
  });

  it('creates, edits and deletes a numeric id as the API does, and refuses the ids the API refuses', async () => {
    expect(await server.admin.edit({ resource: 'todos', create: { id: 7, title: 'theirs' } })).toEqual({ status: 201, body: { id: 7, title: 'theirs', version: 1 } });
    expect((await alice.get('/todos/7')).body).toEqual({ id: 7, title: 'theirs', version: 1 });
    expect(await server.admin.edit({ resource: 'todos', id: 7, patch: { title: 'again' } })).toEqual({ status: 200, body: { id: 7, title: 'again', version: 2 } });
    expect((await server.admin.edit({ resource: 'todos', id: 7, delete: true })).status).toBe(204);
    for (const id of [true, null, '', '.', 'x'.repeat(1025)]) {
      const reply = await server.admin.edit({ resource: 'todos', create: { id, title: 'x' } });
      expect([id, reply.status]).toEqual([id, 400]);
    }
    expect((await alice.get('/todos')).body).toEqual([]);
  });

  it('rejects malformed admin requests', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}admin/${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.status);
    expect(await post('edit', { resource: 'nothing', id: 'x', patch: {} })).toBe(404);
    expect(await post('edit', { resource: 'todos', id: 'x' })).toBe(400);
    expect(await post('seed', { resource: 'todos', count: 0 })).toBe(400);
    expect(await post('nothing', {})).toBe(404);
  });

  it('reset empties the tables and restarts the sequences', async () => {
    await alice.create('todos', { id: 't1', title: 'a' });
    await server.admin.reset();
    expect((await alice.get('/todos')).body).toEqual([]);
    expect(await backend.ledger()).toEqual([]);
    await alice.create('todos', { id: 't2', title: 'b' });
    expect((await alice.get('/todos?since=')).body.cursor).toBe('1');
    expect((await backend.ledger())[0]?.seq).toBe(1);
  });
});

describe('around the API', () => {
  it('refuses admin calls from pages of other origins', async () => {
    const fromSite = await fetch(`${server.url}admin/reset`, { method: 'POST', headers: { Origin: 'https://evil.example' } });
    expect(fromSite.status).toBe(403);
    const sameOrigin = await fetch(`${server.url}admin/faults`, { headers: { Origin: server.url.slice(0, -1) } });
    expect(sameOrigin.status).toBe(200);
  });

  it('refuses admin calls from a page whose name was rebound to 127.0.0.1 (DNS rebinding)', async () => {
    // fetch() does not let a caller set Host.
    const statusFor = (method: string, path: string, host: string) =>
      new Promise<number | undefined>((resolve, reject) => {
        const headers = { Host: `${host}:${server.port}`, Origin: `http://${host}:${server.port}` };
        request(`${server.url}admin/${path}`, { method, headers })
          .on('response', (res) => resolve(res.resume().statusCode))
          .on('error', reject)
          .end();
      });
    expect(await statusFor('POST', 'reset', 'evil.example')).toBe(403);
    for (const host of ['localhost', '127.0.0.1', '[::1]']) expect(await statusFor('GET', 'faults', host)).toBe(200);
  });

  it('serves static files from staticDir, never outside it', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'harborsync-static-'));
    const site = await backend.start({ staticDir: folder });
    try {
      await writeFile(join(folder, 'index.html'), '<h1>demo</h1>');
      await writeFile(join(folder, 'app.js'), 'export {};');
      const index = await fetch(site.url);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await index.text()).toBe('<h1>demo</h1>');
      expect((await fetch(`${site.url}app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect((await fetch(`${site.url}missing.js`)).status).toBe(404);
      expect((await fetch(`${site.url}%2E%2E%2Fetc%2Fpasswd`)).status).toBe(404);
      expect((await api(site.apiUrl).get('/todos')).status).toBe(200);
    } finally {
      await site.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
