// The API the drain (and the on-demand first page) talks to, served on the benchmark pages' own
// origins (same-origin: no CORS preflight per request). Two backends with the same two calls:
//
// - memory (default): DESIGN section 2's update path in memory — bearer token, Idempotency-Key
//   (a repeated key answers the first answer), If-Match against the version (412 with the current
//   entity), version bump, the entity with an ETag in the answer. About a tenth of a millisecond
//   per request, so the drain measures what the client adds per request, which is what the
//   "physical limit" baseline (a raw fetch loop) is for.
// - reference: server/index.mjs (PGlite) behind a pass-through proxy. Realistic server cost
//   (~20-30 ms per write on a 2-core machine), which hides client overhead and takes ~30 s per
//   1,000 requests. The on-demand first page always uses it: it answers the query dialect.
import { request as httpRequest } from 'node:http';

const json = (res, status, body, headers = {}) => {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(text);
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** @param {{ token: string }} options */
export function createMemoryApi({ token }) {
  let rows = new Map();
  let answers = new Map();
  let requests = 0;
  return {
    kind: 'memory',
    get requests() {
      return requests;
    },
    /** Empties the store and seeds `count` todos at version 1; returns their ids in order. */
    async reset(count) {
      rows = new Map();
      answers = new Map();
      requests = 0;
      for (let i = 1; i <= count; i++) {
        const id = String(i);
        rows.set(id, { id, title: `Todo ${String(i).padStart(6, '0')}`, done: false, version: 1 });
      }
      return [...rows.keys()];
    },
    /** Handles /api/todos and /api/todos/{id}; answers 404 to anything else under /api. */
    async handle(req, res, path) {
      requests++;
      if (req.headers.authorization !== `Bearer ${token}`) return json(res, 401, { error: 'unauthorized' });
      const m = /^\/api\/todos(?:\/([^/]+))?$/.exec(path);
      if (!m) return json(res, 404, { error: `no resource at ${path}` });
      const id = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
      if (req.method === 'GET' && id === undefined) return json(res, 200, [...rows.values()]);
      if (req.method === 'GET') return rows.has(id) ? json(res, 200, rows.get(id)) : json(res, 404, { error: 'not found' });
      if (req.method !== 'PATCH' || id === undefined) return json(res, 405, { error: `${req.method} not served by the drain API` });
      const key = req.headers['idempotency-key'];
      if (!key) return json(res, 400, { error: 'writes need an Idempotency-Key header' });
      const ifMatch = req.headers['if-match'];
      if (ifMatch === undefined) return json(res, 428, { error: 'updates need If-Match' });
      const text = await readBody(req);
      const seen = answers.get(key);
      if (seen) return seen.body === text ? json(res, seen.status, seen.answer, { 'Idempotent-Replayed': 'true' }) : json(res, 422, { error: 'key reused' });
      let patch;
      try {
        patch = JSON.parse(text);
      } catch {
        return json(res, 400, { error: 'body is not JSON' });
      }
      const row = rows.get(id);
      if (!row) return json(res, 404, { error: 'not found' });
      const expected = /^"(\d+)"$/.exec(ifMatch)?.[1];
      if (Number(expected) !== row.version) return json(res, 412, row, { ETag: `"${row.version}"` });
      const next = { ...row };
      for (const [field, value] of Object.entries(patch)) if (field !== 'id' && field !== 'version') next[field] = value;
      next.version = row.version + 1;
      rows.set(id, next);
      answers.set(key, { status: 200, answer: next, body: text });
      return json(res, 200, next, { ETag: `"${next.version}"` });
    },
  };
}

/** The reference server behind a proxy on the page's origin. */
export function createReferenceApi(server) {
  const target = new URL(server.url);
  let requests = 0;
  /** What the server holds: `count` seeded todos, untouched since (reads do not change it). */
  let seeded = { count: -1, clean: false, first: 0 };
  return {
    kind: 'reference',
    get requests() {
      return requests;
    },
    /** Reseeds `count` todos; with `reuse`, keeps the data when it is already that and untouched. */
    async reset(count, { reuse = false } = {}) {
      if (!(reuse && seeded.clean && seeded.count === count)) {
        await server.admin.reset();
        const { first } = await server.admin.seed('todos', count);
        seeded = { count, clean: true, first: Number(first) };
      }
      return Array.from({ length: count }, (_, i) => String(seeded.first + i));
    },
    handle(req, res) {
      requests++;
      if (req.method !== 'GET') seeded.clean = false;
      return new Promise((resolve) => {
        const headers = { ...req.headers, host: target.host };
        delete headers.origin;
        const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
        });
        upstream.on('error', (error) => {
          res.writeHead(502).end(String(error));
          resolve();
        });
        req.pipe(upstream);
      });
    },
  };
}
