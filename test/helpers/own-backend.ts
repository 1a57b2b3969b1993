// A backend of an app team's own, in memory on node:http: it speaks DESIGN section 2's wire
// protocol but makes each choice the protocol leaves open otherwise than the reference server
// (numeric ids it assigns, string or number versions, extra fields, 200 where 201 or 204 may be,
// `{ current }` conflicts, bare-text errors, small delta pages, a path prefix and a required query
// key). `mistake` breaks one rule on purpose; `intercept` answers a request in its own way.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OwnBackendOptions {
  /** 'number': versions 1, 2, 3…; 'string': opaque strong tags like "r1-…" as JSON strings. */
  versions?: 'number' | 'string';
  /** Ids the server assigns (numbers), or the client's (strings or numbers). */
  ids?: 'server' | 'client';
  /** Items per delta page (hasMore while more follow). */
  pageSize?: number;
  /** The query every request must carry, as an API gateway's key. */
  apiKey?: string;
  /** Delta pages name deleted ids as text ("101" for 101), and leave `deleted` out when none. */
  deletedAsText?: boolean;
  /** A deleted entity's URL answers 410 Gone (one never there, 404). */
  goneIs410?: boolean;
  /** A create naming an id is refused with a 400 (the server names entities), as some frameworks refuse read-only fields. */
  refusesIds?: boolean;
  /** An id in a URL that is no number is a 400, as a backend with integer keys validates it. */
  numericIdsOnly?: boolean;
  /** Reads of one entity add a field (a name joined from another table) that write answers lack. */
  joinsOnRead?: boolean;
  /** One protocol rule broken. */
  mistake?: 'ignores-idempotency' | 'replays-but-applies' | 'no-version-bump' | 'stale-if-match-ok' | 'no-428' | 'patch-replaces' | 'cursor-stuck';
  /** Answers a request before the backend does; return true when it answered. */
  intercept?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean;
}

interface Stored {
  data: Record<string, unknown>;
  deleted: boolean;
  /** Position in the change feed. */
  seq: number;
}

export const OWN_TOKEN = 'T';
export const OWN_PREFIX = '/v2/tenant-7';

export async function ownBackend(options: OwnBackendOptions = {}) {
  const { versions = 'number', ids = 'server', pageSize = 2, apiKey = 'k-123', deletedAsText = false, goneIs410 = false, refusesIds = false, numericIdsOnly = false, joinsOnRead = false, mistake, intercept } = options;
  const entities = new Map<string, Stored>();
  const answered = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  let seq = 0;
  let nextId = 100;
  const requests: Array<{ method: string; url: string; key: string | null; ifMatch: string | null; body: string }> = [];

  const versionAfter = (before: unknown): unknown => {
    if (mistake === 'no-version-bump' && before !== undefined) return before;
    if (versions === 'number') return typeof before === 'number' ? before + 7 : 3;
    return `r${++seq}-${Math.random().toString(36).slice(2, 6)}`;
  };
  const tagOf = (version: unknown) => (versions === 'string' ? `"${String(version)}"` : `"${String(version)}"`);
  /** A different field order and extra fields than the reference server's. */
  const shown = (data: Record<string, unknown>) => {
    const { version, id, ...rest } = data;
    return { _links: { self: `${OWN_PREFIX}/todos/${String(id)}` }, version, ...rest, id, updatedBy: 'own' };
  };
  const cors = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'Retry-After, Date, ETag',
    Vary: 'Origin',
  };
  const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    if (body === undefined) return void res.writeHead(status, { ...cors, ...headers }).end();
    if (typeof body === 'string') return void res.writeHead(status, { ...cors, 'Content-Type': 'text/plain', ...headers }).end(body);
    res.writeHead(status, { ...cors, 'Content-Type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://own');
      requests.push({
        method: req.method ?? 'GET',
        url: `${url.pathname}${url.search}`,
        key: (req.headers['idempotency-key'] as string | undefined) ?? null,
        ifMatch: (req.headers['if-match'] as string | undefined) ?? null,
        body,
      });
      if (intercept?.(req, res, body)) return;
      handle(req, res, url, body);
    });
  });

  function handle(req: IncomingMessage, res: ServerResponse, url: URL, body: string) {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      return send(res, 200, undefined, {
        'Access-Control-Allow-Methods': 'GET, POST, PATCH, DELETE',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Idempotency-Key, If-Match',
      });
    }
    if (url.searchParams.get('key') !== apiKey) return send(res, 403, 'missing api key');
    if (!url.pathname.startsWith(`${OWN_PREFIX}/todos`)) return send(res, 404, 'no such route');
    if (req.headers.authorization !== `Bearer ${OWN_TOKEN}`) return send(res, 401);
    const rest = url.pathname.slice(`${OWN_PREFIX}/todos`.length).replace(/^\//, '');
    const id = rest === '' ? undefined : decodeURIComponent(rest);
    if (numericIdsOnly && id !== undefined && !/^\d+$/.test(id)) return send(res, 400, { error: 'id must be a number' });
    if (method === 'GET') return read(res, url, id);
    const key = req.headers['idempotency-key'] as string | undefined;
    const fingerprint = `${method} ${url.pathname} ${body}`;
    if (key && mistake !== 'ignores-idempotency') {
      const first = answered.get(key);
      if (first && first.fingerprint !== fingerprint) return send(res, 422, 'idempotency key reused');
      if (first) {
        // Such a server answers from its record, but only after running the write again.
        if (mistake === 'replays-but-applies') write(method, id, body, req.headers['if-match'] as string | undefined);
        return send(res, first.status, first.body);
      }
    }
    const answer = write(method, id, body, req.headers['if-match'] as string | undefined);
    if (key && answer.status < 500) answered.set(key, { fingerprint, ...answer });
    send(res, answer.status, answer.body);
  }

  function read(res: ServerResponse, url: URL, id: string | undefined) {
    if (id !== undefined) {
      const stored = entities.get(id);
      return stored && !stored.deleted ? send(res, 200, { ...shown(stored.data), ...(joinsOnRead ? { ownerName: 'Ada' } : {}) }) : send(res, stored && goneIs410 ? 410 : 404);
    }
    const since = url.searchParams.get('since');
    if (since !== null) {
      const after = since === '' ? 0 : Number(since.replace(/^c/, ''));
      if (!Number.isInteger(after)) return send(res, 410, 'cursor unknown');
      const changes = [...entities.values()].filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq);
      const page = changes.slice(0, pageSize);
      const last = page.at(-1)?.seq ?? after;
      const deleted = page.filter((e) => e.deleted).map((e) => (deletedAsText ? String(e.data['id']) : e.data['id']));
      return send(res, 200, {
        // A feed stuck on its cursor says hasMore for ever.
        hasMore: mistake === 'cursor-stuck' || changes.length > page.length,
        cursor: mistake === 'cursor-stuck' ? `c${after}` : `c${last}`,
        ...(deletedAsText && deleted.length === 0 ? {} : { deleted }),
        items: page.filter((e) => !e.deleted).map((e) => shown(e.data)),
      });
    }
    const live = [...entities.values()].filter((e) => !e.deleted).map((e) => e.data);
    if (!url.searchParams.has('limit')) return send(res, 200, live.map(shown));
    // On-demand: filter[field]=value (as text), sort=a,-b (ids as the tie-breaker), limit, an offset cursor.
    const filters = [...url.searchParams].filter(([name]) => /^filter\[.+\]$/.test(name)).map(([name, value]) => [name.slice(7, -1), value] as const);
    const sort = (url.searchParams.get('sort') ?? '').split(',').filter(Boolean).map((field) => (field.startsWith('-') ? { field: field.slice(1), dir: -1 } : { field, dir: 1 }));
    const compare = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
    const rows = live
      .filter((data) => filters.every(([field, value]) => String(data[field]) === value))
      .sort((a, b) => {
        for (const { field, dir } of [...sort, { field: 'id', dir: 1 }]) {
          const order = compare(a[field], b[field]) * dir;
          if (order !== 0) return order;
        }
        return 0;
      });
    const offset = Number(url.searchParams.get('cursor') ?? '0');
    const limit = Number(url.searchParams.get('limit'));
    const page = rows.slice(offset, offset + limit);
    return send(res, 200, { cursor: offset + limit < rows.length ? String(offset + limit) : null, items: page.map(shown) });
  }

  function write(method: string, id: string | undefined, text: string, ifMatch: string | undefined): { status: number; body: unknown } {
    let input: Record<string, unknown> = {};
    if (method !== 'DELETE') {
      try {
        input = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return { status: 400, body: 'body is not JSON' };
      }
    }
    if (method === 'POST' && id === undefined) {
      if (refusesIds && 'id' in input) return { status: 400, body: { errors: [{ property: 'id', constraint: 'is read-only' }] } };
      const newId = ids === 'server' ? nextId++ : (input['id'] as string | number);
      const current = entities.get(String(newId));
      if (current && !current.deleted) return { status: 409, body: { current: shown(current.data) } };
      const { id: _ignored, version: _version, ...fields } = input;
      const data = { ...fields, id: newId, version: versionAfter(current?.data['version']) };
      entities.set(String(newId), { data, deleted: false, seq: ++seq });
      return { status: 200, body: shown(data) };
    }
    if (id === undefined || (method !== 'PATCH' && method !== 'DELETE')) return { status: 405, body: 'method not allowed' };
    const current = entities.get(id);
    if (!current || current.deleted) return { status: current && goneIs410 ? 410 : 404, body: undefined };
    if (ifMatch === undefined && mistake !== 'no-428') return { status: 428, body: 'If-Match required' };
    if (ifMatch !== undefined && ifMatch !== tagOf(current.data['version']) && mistake !== 'stale-if-match-ok') {
      return { status: 409, body: { current: shown(current.data), message: 'version mismatch' } };
    }
    if (method === 'DELETE') {
      entities.set(id, { data: current.data, deleted: true, seq: ++seq });
      return { status: 200, body: { ok: true } };
    }
    const { id: _ignored, version: _version, ...patch } = input;
    // PATCH carries the changed fields only; a server that takes it as the whole entity drops the rest.
    const kept = mistake === 'patch-replaces' ? { id: current.data['id'] } : current.data;
    const data = { ...kept, ...patch, version: versionAfter(current.data['version']) };
    entities.set(id, { data, deleted: false, seq: ++seq });
    return { status: 200, body: shown(data) };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    /** The base URL an app would configure: a path prefix, a trailing slash and the key. */
    baseUrl: `${origin}${OWN_PREFIX}/?key=${apiKey}`,
    origin,
    requests,
    entities,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
