// The conformance kit passes against the reference server, and catches
// deliberately broken servers: the reference server behind a proxy that
// breaks one rule of the protocol ("test the tests").
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { runConformance } from '../../server/conformance/checks.mjs';
import { createTestBackend, type RunningServer } from '../../server/index.mjs';
import { OWN_TOKEN, ownBackend, type OwnBackendOptions } from '../helpers/own-backend.js';

const CLI = fileURLToPath(new URL('../../server/conformance/cli.mjs', import.meta.url));
const run = promisify(execFile);

interface Exchange {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}
interface Breakage {
  request?: (request: Exchange) => void | Promise<void>;
  response?: (answer: Answer, request: Exchange) => void;
}

/** A proxy in front of the reference server that lets `breakage` rewrite requests and answers. */
async function brokenProxy(target: RunningServer, breakage: Breakage) {
  const proxy = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const request: Exchange = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: plainHeaders(req.headers),
        body: Buffer.concat(chunks).toString('utf8'),
      };
      await breakage.request?.(request);
      const upstream = await fetch(new URL(request.path, target.url), {
        method: request.method,
        headers: request.headers,
        body: request.body === '' ? undefined : request.body,
      });
      const answer: Answer = {
        status: upstream.status,
        headers: Object.fromEntries(upstream.headers),
        body: await upstream.text(),
      };
      breakage.response?.(answer, request);
      delete answer.headers['content-length'];
      delete answer.headers['content-encoding'];
      res.writeHead(answer.status, answer.headers).end(answer.body);
    })().catch((error: unknown) => {
      res.writeHead(502).end(String(error));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/api`,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        proxy.closeAllConnections();
      }),
  };
}

function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || ['host', 'connection', 'content-length'].includes(name)) continue;
    result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

/** Rewrites a JSON answer body. */
function editJson(answer: Answer, edit: (body: any) => void) {
  if (!answer.body) return;
  const body = JSON.parse(answer.body);
  edit(body);
  answer.body = JSON.stringify(body);
}

const backend = createTestBackend();
let server: RunningServer;

beforeAll(async () => {
  server = await backend.start();
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());

const failing = async (apiUrl: string) =>
  (await runConformance({ apiUrl, token: 'demo-alice' })).filter((result) => !result.ok).map((result) => result.name);

describe('against the reference server', () => {
  it('passes every check, and again on the same data, leaving none of the entities it created', async () => {
    const list = async () => (await fetch(`${server.apiUrl}/todos`, { headers: { Authorization: 'Bearer demo-alice' } })).json();
    const before = await list();
    const results = await runConformance({ apiUrl: server.apiUrl, token: 'demo-alice' });
    expect(results.length).toBeGreaterThanOrEqual(14);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(await failing(server.apiUrl)).toEqual([]);
    expect(await list()).toEqual(before);
  });

  it('passes with server-assigned ids', async () => {
    const assigning = await backend.start({ serverIds: true });
    try {
      expect(await failing(assigning.apiUrl)).toEqual([]);
    } finally {
      await assigning.close();
    }
  });

  it('passes with server-assigned ids that are numbers (DESIGN: ids are strings or numbers)', async () => {
    const assigning = await backend.start({ serverIds: true });
    // The same server, its ids served as JSON numbers, as a backend with integer keys serves them.
    const numeric = (id: unknown) => (typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id);
    const renumber = (entity: any) => {
      if (entity && typeof entity === 'object' && 'id' in entity) entity.id = numeric(entity.id);
    };
    const proxy = await brokenProxy(assigning, {
      response: (answer) => {
        if (!(answer.headers['content-type'] ?? '').includes('json')) return;
        editJson(answer, (body) => {
          for (const entity of Array.isArray(body) ? body : [body, body.current, ...(body.items ?? [])]) renumber(entity);
          if (Array.isArray(body.deleted)) body.deleted = body.deleted.map(numeric);
        });
      },
    });
    try {
      expect(await failing(proxy.apiUrl)).toEqual([]);
    } finally {
      await proxy.close();
      await assigning.close();
    }
  });

  it('passes a delta feed that answers in one page, ignoring limit and without hasMore (DESIGN: both optional)', async () => {
    const unpaged = await brokenProxy(server, {
      request: (request) => {
        if (request.path.includes('since=')) request.path = request.path.replace(/&limit=\d+/, '');
      },
      response: (answer, request) => {
        if (request.path.includes('since=')) editJson(answer, (body) => delete body.hasMore);
      },
    });
    try {
      expect(await failing(unpaged.apiUrl)).toEqual([]);
    } finally {
      await unpaged.close();
    }
  });
});

describe('catches broken servers', () => {
  const cases: Array<{ name: string; breakage: Breakage; caught: string[]; only?: boolean }> = [
    {
      name: 'a server that ignores idempotency keys',
      breakage: {
        request: (request) => {
          if (request.headers['idempotency-key']) request.headers['idempotency-key'] = randomUUID();
        },
      },
      caught: [
        'create replay returns the first answer',
        'idempotent replay returns the first answer and applies nothing',
        'key reused with a different body → 422',
        'delete replay returns the first answer and applies nothing',
      ],
      only: true,
    },
    {
      name: 'a server that ignores idempotency keys on DELETE',
      breakage: {
        request: (request) => {
          if (request.method === 'DELETE' && request.headers['idempotency-key']) request.headers['idempotency-key'] = randomUUID();
        },
      },
      caught: ['delete replay returns the first answer and applies nothing'],
      only: true,
    },
    {
      name: 'a server that applies a replayed DELETE again, to an entity re-created at its id, answering as the first time',
      breakage: (() => {
        const seen = new Set<string>();
        return {
          request: (request: Exchange) => {
            const key = request.headers['idempotency-key'];
            if (request.method !== 'DELETE' || !key) return;
            if (!seen.has(key)) return void seen.add(key);
            // As a server without keys whose re-created entities start again at version 1 would.
            request.headers['idempotency-key'] = randomUUID();
            request.headers['if-match'] = '*';
          },
        };
      })(),
      caught: ['delete replay returns the first answer and applies nothing'],
      only: true,
    },
    {
      name: 'a server that does not bump versions on update',
      breakage: {
        response: (answer, request) => {
          if (request.method === 'PATCH' && answer.status === 200) editJson(answer, (body) => (body.version -= 1));
        },
      },
      caught: ['versions bump on update'],
    },
    {
      name: 'a server that does not require If-Match',
      breakage: {
        request: async (request) => {
          if (request.method !== 'PATCH' || request.headers['if-match']) return;
          const current = await fetch(new URL(request.path, server.url), {
            headers: { authorization: request.headers.authorization ?? '' },
          });
          request.headers['if-match'] = `"${((await current.json()) as { version: number }).version}"`;
        },
      },
      caught: ['PATCH without If-Match → 428'],
      only: true,
    },
    {
      name: 'a server that deletes whatever the If-Match',
      breakage: (() => {
        const seen = new Set<string>();
        return {
          request: async (request: Exchange) => {
            const key = request.headers['idempotency-key'];
            if (request.method !== 'DELETE') return;
            // Such a server still answers a replayed key as the first time: the request goes through unchanged.
            if (key && seen.has(key)) return;
            if (key) seen.add(key);
            const current = await fetch(new URL(request.path, server.url), {
              headers: { authorization: request.headers.authorization ?? '' },
            });
            if (current.ok) request.headers['if-match'] = `"${((await current.json()) as { version: number }).version}"`;
          },
        };
      })(),
      caught: ['DELETE checks If-Match'],
      only: true,
    },
    {
      name: 'a server that answers a stale DELETE without the entity',
      breakage: {
        response: (answer, request) => {
          if (request.method === 'DELETE' && answer.status === 412) {
            answer.status = 409;
            answer.body = JSON.stringify({ error: 'version mismatch' });
          }
        },
      },
      caught: ['DELETE checks If-Match'],
      only: true,
    },
    {
      name: 'a server that answers a taken id without the entity',
      breakage: {
        response: (answer, request) => {
          if (request.method === 'POST' && answer.status === 409) answer.body = JSON.stringify({ error: 'id taken' });
        },
      },
      caught: ['create with a taken id → 409 with the current entity'],
      only: true,
    },
    {
      name: 'a server that forgets tombstones',
      breakage: {
        response: (answer, request) => {
          if (request.path.includes('since=')) editJson(answer, (body) => (body.deleted = []));
        },
      },
      caught: ['delta pages with tombstones and a cursor'],
      only: true,
    },
    {
      name: 'a server without CORS headers',
      breakage: {
        response: (answer) => {
          for (const name of Object.keys(answer.headers)) {
            if (name.startsWith('access-control-')) delete answer.headers[name];
          }
        },
      },
      caught: ['CORS preflight allows the four headers', 'CORS headers on answers, errors included', 'CORS answers expose the headers the client reads'],
      only: true,
    },
    {
      name: 'a server that exposes no headers cross-origin',
      breakage: {
        response: (answer) => {
          delete answer.headers['access-control-expose-headers'];
        },
      },
      caught: ['CORS answers expose the headers the client reads'],
      only: true,
    },
    {
      name: 'a server whose preflight does not allow DELETE',
      breakage: {
        response: (answer, request) => {
          if (request.method === 'OPTIONS') answer.headers['access-control-allow-methods'] = 'GET,POST,PATCH,OPTIONS';
        },
      },
      caught: ['CORS preflight allows the four headers'],
      only: true,
    },
    {
      name: 'a server with CORS on preflights only',
      breakage: {
        response: (answer, request) => {
          if (request.method !== 'OPTIONS') delete answer.headers['access-control-allow-origin'];
        },
      },
      caught: ['CORS headers on answers, errors included'],
      only: true,
    },
    {
      name: 'a CDN in front that keeps GET answers, as a max-age lets it',
      breakage: (() => {
        const kept = new Map<string, Answer>();
        return {
          response: (answer: Answer, request: Exchange) => {
            if (request.method !== 'GET' || answer.status !== 200) return;
            const copy = kept.get(request.path);
            if (!copy) return void kept.set(request.path, { ...answer, headers: { ...answer.headers } });
            Object.assign(answer, copy, { headers: { ...copy.headers, 'cache-control': 'max-age=60', age: '3' } });
          },
        };
      })(),
      caught: ['a read after a write shows it', 'create replay returns the first answer'],
    },
    {
      name: 'a server that answers without auth',
      breakage: {
        request: (request) => {
          request.headers.authorization = 'Bearer demo-alice';
        },
      },
      caught: ['401 without token'],
      only: true,
    },
  ];

  for (const { name, breakage, caught, only } of cases) {
    it(name, async () => {
      const proxy = await brokenProxy(server, breakage);
      try {
        const failed = await failing(proxy.apiUrl);
        if (only) expect(failed).toEqual(caught);
        else expect(failed).toEqual(expect.arrayContaining(caught));
      } finally {
        await proxy.close();
      }
    });
  }
});

describe("a backend of a team's own, shaped otherwise than the reference server", () => {
  const failingOwn = async (options: OwnBackendOptions, apiUrl?: (own: { baseUrl: string; origin: string }) => string, serverIds?: boolean) => {
    const own = await ownBackend(options);
    try {
      const results = await runConformance({ apiUrl: apiUrl?.(own) ?? own.baseUrl, token: OWN_TOKEN, serverIds });
      return results.filter((result) => !result.ok).map((result) => result.name);
    } finally {
      await own.close();
    }
  };

  it("passes every check with its address's path prefix and query (an API key), with or without a trailing slash", async () => {
    expect(await failingOwn({})).toEqual([]);
    expect(await failingOwn({ ids: 'client' }, (own) => `${own.origin}/v2/tenant-7?key=k-123`)).toEqual([]);
  });

  it('passes every check with versions that are strings (opaque revisions, as the client takes them), and still catches one that does not change', async () => {
    expect(await failingOwn({ versions: 'string' })).toEqual([]);
    expect(await failingOwn({ versions: 'string', mistake: 'no-version-bump' })).toEqual([
      'versions bump on update',
      'stale If-Match → 409/412 with the current entity',
      'DELETE checks If-Match',
    ]);
  });

  it('passes a delta feed that names deleted numeric ids as text and leaves deleted out of pages without any, as the client reads them', async () => {
    expect(await failingOwn({ deletedAsText: true })).toEqual([]);
  });

  it("passes a backend answering 410 Gone for a deleted entity's URL, which the client reads as a 404", async () => {
    expect(await failingOwn({ goneIs410: true })).toEqual([]);
    expect(await failingOwn({ goneIs410: true, ids: 'client' })).toEqual([]);
  });

  it('passes a backend that names entities itself and refuses a create naming an id, with serverIds (--server-ids): creates then carry none, as the client sends them', async () => {
    expect(await failingOwn({ refusesIds: true }, undefined, true)).toEqual([]);
    expect(await failingOwn({ mistake: 'ignores-idempotency' }, undefined, true)).toContain('create replay returns the first answer');
  });

  it('passes a backend whose reads of one entity add a field its write answers lack (a joined name)', async () => {
    expect(await failingOwn({ joinsOnRead: true, ids: 'client' })).toEqual([]);
  });

  it('passes a backend with integer keys that answers 400 to an id in a URL that is no number (the client sends it none)', async () => {
    expect(await failingOwn({ refusesIds: true, numericIdsOnly: true }, undefined, true)).toEqual([]);
  });

  it('stops at a delta cursor named twice with hasMore, as the client does, failing with it after a few requests, not thousands', async () => {
    const own = await ownBackend({ mistake: 'cursor-stuck' });
    try {
      const failed = (await runConformance({ apiUrl: own.baseUrl, token: OWN_TOKEN })).filter((result) => !result.ok);
      expect(failed).toMatchObject([{ name: 'delta pages with tombstones and a cursor', actual: expect.stringMatching(/hasMore, but cursor "c0" was named before/) }]);
      expect(own.requests.filter((request) => request.url.includes('since=')).length).toBeLessThan(10);
    } finally {
      await own.close();
    }
  });

  const mistakes: Array<{ mistake: NonNullable<OwnBackendOptions['mistake']>; caught: string[] }> = [
    {
      mistake: 'ignores-idempotency',
      caught: [
        'create replay returns the first answer',
        'idempotent replay returns the first answer and applies nothing',
        'key reused with a different body → 422',
        'delete replay returns the first answer and applies nothing',
      ],
    },
    // Answers a replayed key from its record, but runs the write again first: a second entity.
    { mistake: 'replays-but-applies', caught: ['create replay returns the first answer'] },
    { mistake: 'patch-replaces', caught: ['PATCH changes only the fields it sends'] },
    { mistake: 'no-version-bump', caught: ['versions bump on update', 'stale If-Match → 409/412 with the current entity', 'DELETE checks If-Match'] },
    { mistake: 'stale-if-match-ok', caught: ['stale If-Match → 409/412 with the current entity', 'DELETE checks If-Match'] },
    { mistake: 'no-428', caught: ['PATCH without If-Match → 428', 'DELETE checks If-Match'] },
  ];
  for (const { mistake, caught } of mistakes) {
    it(`fails exactly the checks a backend that breaks one rule breaks: ${mistake}`, async () => {
      expect(await failingOwn({ mistake })).toEqual(caught);
    });
  }
});

describe('the exposed headers check', () => {
  it('names each header a cross-origin answer does not expose', async () => {
    const proxy = await brokenProxy(server, {
      response: (answer) => {
        answer.headers['access-control-expose-headers'] = 'ETag, Date';
      },
    });
    try {
      const results = await runConformance({ apiUrl: proxy.apiUrl, token: 'demo-alice' });
      expect(results.find((result) => result.name === 'CORS answers expose the headers the client reads')).toEqual({
        name: 'CORS answers expose the headers the client reads',
        ok: false,
        expected: 'Access-Control-Expose-Headers listing Retry-After and Date (or *) on a 4xx (a 404 for an id never created) to a cross-origin request',
        actual: '404, not exposed: Retry-After',
      });
    } finally {
      await proxy.close();
    }
  });

  it('passes a wildcard, which covers every header of a request without credentials', async () => {
    const proxy = await brokenProxy(server, {
      response: (answer) => {
        answer.headers['access-control-expose-headers'] = '*';
      },
    });
    try {
      expect(await failing(proxy.apiUrl)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('the command line', () => {
  it('prints PASS lines and a summary, exiting 0', async () => {
    const { stdout } = await run(process.execPath, [CLI, server.apiUrl, '--token', 'demo-bob']);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, -1).every((line) => line.startsWith('PASS '))).toBe(true);
    expect(lines.at(-1)).toBe(`${lines.length - 1} passed, 0 failed`);
  });

  it('prints FAIL with expected and actual, exiting 1', async () => {
    const failure = await run(process.execPath, [CLI, server.apiUrl, '--token', 'nobody']).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(failure).toMatchObject({ code: 1 });
    const { stdout } = failure as { stdout: string };
    expect(stdout).toMatch(/^FAIL list is an array: expected 200 with a JSON array, got 401 /m);
    expect(stdout).toMatch(/^PASS 401 without token$/m);
    expect(stdout).toMatch(/^\d+ passed, \d+ failed$/m);
  });

  it('sends creates without an id with --server-ids, passing a backend that refuses one', async () => {
    const own = await ownBackend({ refusesIds: true });
    try {
      const { stdout } = await run(process.execPath, [CLI, own.baseUrl, '--token', OWN_TOKEN, '--server-ids']);
      expect(stdout.trim().split('\n').at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    } finally {
      await own.close();
    }
  });

  it('exits 2 on bad arguments', async () => {
    await expect(run(process.execPath, [CLI, 'not a url'])).rejects.toMatchObject({ code: 2 });
  });

  it('prints the usage for --help, exiting 0', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help']);
    expect(stdout).toMatch(/^usage: npm run conformance -- <api url>/);
  });

  it('says once that nothing answers at the address, exiting 1', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const failure = await run(process.execPath, [CLI, `http://127.0.0.1:${port}/api`]).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1, stdout: '' });
    expect((failure as { stderr: string }).stderr.trim()).toBe(`Cannot reach http://127.0.0.1:${port}/api: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});
