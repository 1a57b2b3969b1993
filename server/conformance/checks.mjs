// Conformance checks: does a backend speak DESIGN section 2's wire protocol
// the way harborsync's default REST transport needs? Every check uses fresh
// random ids and keys, so the kit can run against any server, repeatedly,
// next to real data, and deletes what it created at the end. Each check stands
// alone: one failure does not hide the others.

const TIMEOUT_MS = 15_000;
const MAX_PAGES = 5_000;
// Response headers the default REST transport reads, beyond the CORS-safelisted ones.
const CLIENT_READS = ['Retry-After', 'Date'];

/**
 * @typedef {{ name: string, ok: boolean, expected: string, actual: string }} CheckResult
 * @typedef {{ status: number, headers: Headers, body: any }} Reply
 * @typedef {{ body?: unknown, headers?: Record<string, string>, auth?: boolean }} CallOptions
 */

/**
 * @param {{ apiUrl: string, resource?: string, token: string, serverIds?: boolean, fetch?: typeof fetch }} options
 *   `serverIds`: creates carry no id, as the client's with `ids: 'server'` (a server may refuse one)
 * @returns {Promise<CheckResult[]>}
 */
export async function runConformance({ apiUrl, resource = 'todos', token, serverIds = false, fetch = globalThis.fetch }) {
  // A query in the API's address (an API key, an api-version) goes with every request, as the
  // client sends it, after the path rather than ending it.
  const api = new URL(apiUrl);
  const apiQuery = api.search.slice(1);
  api.search = '';
  api.hash = '';
  const collection = `${api.href.replace(/\/+$/, '')}/${encodeURIComponent(resource)}`;
  /** @param {string} url */
  const withApiQuery = (url) => (apiQuery === '' ? url : url.includes('?') ? url.replace('?', `?${apiQuery}&`) : `${url}?${apiQuery}`);
  const run = `conformance-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  let counter = 0;
  const unique = () => `${run}-${++counter}`;

  /**
   * @param {string} method
   * @param {string} url
   * @param {CallOptions} [options]
   * @returns {Promise<Reply>}
   */
  const call = async (method, url, { body, headers = {}, auth = true } = {}) => {
    const response = await fetch(withApiQuery(url), {
      method,
      headers: {
        ...(auth ? { Authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: parseJson(text) };
  };
  /** @param {string | number} id */
  const item = (id) => `${collection}/${encodeURIComponent(id)}`;
  /** Ids of the entities the checks created, deleted at the end. @type {Set<string | number>} */
  const createdIds = new Set();
  /** @param {Record<string, unknown>} fields @param {string} [key] */
  const create = async (fields, key = unique()) => {
    const { id: _id, ...named } = fields;
    const reply = await call('POST', collection, { body: serverIds ? named : fields, headers: { 'Idempotency-Key': key } });
    if (reply.status < 300 && isEntity(reply.body)) createdIds.add(reply.body.id);
    return reply;
  };
  /** Creates a todo and returns it; throws when the server refuses, since the check cannot go on. */
  const created = async () => {
    const reply = await create({ id: unique(), title: 'conformance', done: false });
    if (!isEntity(reply.body) || reply.status >= 300) throw new Error(`setup create answered ${describe(reply)}`);
    return reply.body;
  };
  /** @param {{ id: string | number, version: number | string }} entity @param {Record<string, unknown>} patch @param {string} [key] */
  const update = (entity, patch, key = unique()) =>
    call('PATCH', item(entity.id), { body: patch, headers: { 'Idempotency-Key': key, 'If-Match': ifMatch(entity.version) } });
  /** @param {{ id: string | number, version: number | string }} entity */
  const remove = (entity) =>
    call('DELETE', item(entity.id), { headers: { 'Idempotency-Key': unique(), 'If-Match': ifMatch(entity.version) } });

  /** @type {Array<{ name: string, expected: string, check: () => Promise<{ ok: boolean, actual: string }> }>} */
  const checks = [
    {
      name: 'list is an array',
      expected: '200 with a JSON array',
      check: async () => {
        const reply = await call('GET', collection);
        return { ok: reply.status === 200 && Array.isArray(reply.body), actual: describe(reply) };
      },
    },
    {
      name: '401 without token',
      expected: '401',
      check: async () => {
        const reply = await call('GET', collection, { auth: false });
        return { ok: reply.status === 401, actual: String(reply.status) };
      },
    },
    {
      name: 'CORS preflight allows the four headers',
      expected: 'a 2xx preflight allowing the origin, PATCH and DELETE (each asked for in turn) and Authorization, Content-Type, Idempotency-Key, If-Match',
      check: async () => {
        // POST is CORS-safelisted; PATCH and DELETE must be allowed, or a browser refuses to send them.
        /** @type {Array<{ ok: boolean, actual: string }>} */
        const answers = [];
        for (const method of ['PATCH', 'DELETE']) {
          const reply = await call('OPTIONS', item(unique()), {
            auth: false,
            headers: {
              Origin: 'https://app.example',
              'Access-Control-Request-Method': method,
              'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key,if-match',
            },
          });
          const allowed = (reply.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
          const methods = (reply.headers.get('access-control-allow-methods') ?? '').toUpperCase().split(/\s*,\s*/);
          const origin = reply.headers.get('access-control-allow-origin');
          // A wildcard never covers Authorization (Fetch standard).
          const headersOk = ['authorization', 'content-type', 'idempotency-key', 'if-match'].every(
            (name) => allowed.includes(name) || (allowed.includes('*') && name !== 'authorization'),
          );
          const ok =
            reply.status >= 200 &&
            reply.status < 300 &&
            (origin === '*' || origin === 'https://app.example') &&
            (methods.includes(method) || methods.includes('*')) &&
            headersOk;
          answers.push({ ok, actual: `${method}: ${reply.status}, origin ${origin}, methods ${methods.join(',')}, headers ${allowed.join(',')}` });
        }
        return { ok: answers.every((answer) => answer.ok), actual: answers.map((answer) => answer.actual).join('; ') };
      },
    },
    {
      name: 'CORS headers on answers, errors included',
      expected: 'Access-Control-Allow-Origin (* or the origin) on a 200 and on a 4xx (a 404 for an id never created) to a cross-origin request',
      check: async () => {
        const origin = 'https://app.example';
        const listed = await call('GET', collection, { headers: { Origin: origin } });
        const missing = await call('GET', item(unique()), { headers: { Origin: origin } });
        // Without it a browser hides the answer: a 200 becomes a network error, and so does a 404 or 5xx.
        const allows = (/** @type {Reply} */ reply) => ['*', origin].includes(reply.headers.get('access-control-allow-origin') ?? '');
        return {
          ok: listed.status === 200 && allows(listed) && isClientError(missing.status) && allows(missing),
          actual: [listed, missing].map((reply) => `${reply.status} origin ${reply.headers.get('access-control-allow-origin')}`).join('; '),
        };
      },
    },
    {
      name: 'CORS answers expose the headers the client reads',
      expected: `Access-Control-Expose-Headers listing ${CLIENT_READS.join(' and ')} (or *) on a 4xx (a 404 for an id never created) to a cross-origin request`,
      check: async () => {
        // The client reads them only from error answers (how long a 429 or 503 asks it to wait):
        // a browser hides any header not exposed, and the wait is then ignored or misjudged.
        const reply = await call('GET', item(unique()), { headers: { Origin: 'https://app.example' } });
        const exposed = (reply.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
        const hidden = CLIENT_READS.filter((name) => !exposed.includes(name.toLowerCase()) && !exposed.includes('*'));
        return {
          ok: isClientError(reply.status) && hidden.length === 0,
          actual: hidden.length === 0 ? `${reply.status}, all exposed` : `${reply.status}, not exposed: ${hidden.join(', ')}`,
        };
      },
    },
    {
      name: 'create returns 201 with version',
      expected: '201 (or 200) with the entity, its id and a version (an integer, or a string that is no weak entity-tag)',
      check: async () => {
        const reply = await create({ id: unique(), title: 'created', done: false });
        const ok = (reply.status === 201 || reply.status === 200) && isEntity(reply.body) && reply.body.title === 'created';
        return { ok, actual: describe(reply) };
      },
    },
    {
      name: 'create with a taken id → 409 with the current entity',
      expected: '409 (or 412) whose body (or body.current) is the entity already there, left unchanged; servers that assign ids pass',
      check: async () => {
        const entity = await created();
        const again = await create({ id: entity.id, title: 'taken', done: true });
        if (again.status < 300 && isEntity(again.body) && again.body.id !== entity.id) {
          return { ok: true, actual: `${describe(again)}: the server assigns ids` };
        }
        // The SDK reads a 409 without an entity as "still processing" and retries it: a create
        // re-sent after its key expired would then never settle.
        const current = isEntity(again.body?.current) ? again.body.current : again.body;
        const after = await call('GET', item(entity.id));
        const ok = (again.status === 409 || again.status === 412) && sameEntity(current, entity) && sameEntity(after.body, entity);
        return { ok, actual: `${describe(again)}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'get returns the created entity',
      expected: '200 with the same id, fields and version',
      check: async () => {
        const entity = await created();
        const reply = await call('GET', item(entity.id));
        return { ok: reply.status === 200 && sameEntity(reply.body, entity), actual: describe(reply) };
      },
    },
    {
      name: 'a read after a write shows it',
      expected: 'a GET of an entity, and of the list, asked again after a change, shows it: no cache between the client and the server (a CDN, a proxy) answers for the server',
      check: async () => {
        // The client bypasses the browser's cache, but not a shared one: such a copy shows the
        // user stale data after a refresh(), and can bring back an entity deleted a minute ago.
        const entity = await created();
        await call('GET', item(entity.id));
        await call('GET', collection);
        const edit = await update(entity, { title: 'read again' });
        const added = await created();
        const one = await call('GET', item(entity.id));
        const listed = await call('GET', collection);
        const listedIds = Array.isArray(listed.body) ? listed.body.map((/** @type {any} */ e) => e?.id) : [];
        const problems = [
          edit.status === 200 ? '' : `the update answered ${describe(edit)}`,
          one.body?.version === edit.body?.version ? '' : `GET of the entity after its update: ${describe(one)}${cacheHeaders(one)}`,
          listedIds.includes(added.id) ? '' : `GET of the list without the entity created since: ${listed.status}${cacheHeaders(listed)}`,
        ].filter(Boolean);
        return { ok: problems.length === 0, actual: problems.join('; ') || 'as expected' };
      },
    },
    {
      name: 'versions bump on update',
      expected: '200 with the change and a newer version (a higher number, or another string), which a GET then shows',
      check: async () => {
        const entity = await created();
        const reply = await update(entity, { title: 'updated' });
        const after = await call('GET', item(entity.id));
        const ok =
          reply.status === 200 &&
          isEntity(reply.body) &&
          isNewer(reply.body.version, entity.version) &&
          reply.body.title === 'updated' &&
          after.body?.version === reply.body.version;
        return { ok, actual: `${describe(reply)}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'PATCH changes only the fields it sends',
      expected: '200 with the field sent changed and the others kept, which a GET then shows',
      check: async () => {
        // The client sends changed fields only: a server that takes the body for the whole entity
        // (as a PUT) drops every field the user did not touch.
        const entity = await created();
        const reply = await update(entity, { done: true });
        const after = await call('GET', item(entity.id));
        const ok =
          reply.status === 200 &&
          [reply.body, after.body].every((body) => body?.done === true && body?.title === entity.title);
        return { ok, actual: `${describe(reply)}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'PATCH without If-Match → 428',
      expected: '428 and the entity unchanged',
      check: async () => {
        const entity = await created();
        const reply = await call('PATCH', item(entity.id), {
          body: { title: 'unconditional' },
          headers: { 'Idempotency-Key': unique() },
        });
        const after = await call('GET', item(entity.id));
        return {
          ok: reply.status === 428 && after.body?.version === entity.version,
          actual: `${reply.status}; then GET ${describe(after)}`,
        };
      },
    },
    {
      name: 'stale If-Match → 409/412 with the current entity',
      expected: '409 or 412 whose body (or body.current) is the entity at its current version',
      check: async () => {
        const entity = await created();
        const first = await update(entity, { title: 'first' });
        const stale = await update(entity, { title: 'second' });
        const current = isEntity(stale.body?.current) ? stale.body.current : stale.body;
        const ok =
          (stale.status === 409 || stale.status === 412) &&
          isEntity(current) &&
          current.version === first.body?.version &&
          current.title === 'first';
        return { ok, actual: describe(stale) };
      },
    },
    {
      name: 'create replay returns the first answer',
      expected: 'the same status and body again, and no second entity',
      check: async () => {
        const key = unique();
        const fields = { id: unique(), title: `replayed create ${unique()}`, done: false };
        const first = await create(fields, key);
        const again = await create(fields, key);
        // A server that answers from its record yet runs the create again makes a second entity
        // (under an id of its own): the answer alone does not show it, the list does.
        const listed = await call('GET', collection);
        const copies = Array.isArray(listed.body) ? listed.body.filter((/** @type {any} */ entity) => entity?.title === fields.title) : [];
        for (const copy of copies) if (isEntity(copy)) createdIds.add(copy.id);
        return {
          ok: first.status < 300 && again.status === first.status && sameJson(again.body, first.body) && copies.length === 1,
          actual: `first ${describe(first)}; replay ${describe(again)}; then ${copies.length} entities with its title in GET ${listed.status}`,
        };
      },
    },
    {
      name: 'idempotent replay returns the first answer and applies nothing',
      expected: 'the same status and body again, and the version of the first answer',
      check: async () => {
        const entity = await created();
        const key = unique();
        const first = await update(entity, { title: 'once' }, key);
        const again = await update(entity, { title: 'once' }, key);
        const after = await call('GET', item(entity.id));
        const ok =
          first.status === 200 &&
          again.status === first.status &&
          sameJson(again.body, first.body) &&
          after.body?.version === first.body?.version;
        return { ok, actual: `first ${describe(first)}; replay ${describe(again)}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'key reused with a different body → 422',
      expected: '422 and the first change only',
      check: async () => {
        const entity = await created();
        const key = unique();
        const first = await update(entity, { title: 'first body' }, key);
        const reused = await update(entity, { title: 'other body' }, key);
        const after = await call('GET', item(entity.id));
        const ok = reused.status === 422 && after.body?.title === 'first body' && after.body?.version === first.body?.version;
        return { ok, actual: `${describe(reused)}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'delete → 204/200, then GET → 404',
      expected: '204 or 200, then 404 (or 410)',
      check: async () => {
        const entity = await created();
        const reply = await remove(entity);
        const after = await call('GET', item(entity.id));
        return {
          ok: (reply.status === 204 || reply.status === 200) && isGone(after.status),
          actual: `${reply.status}, then ${after.status}`,
        };
      },
    },
    {
      name: 'delete replay returns the first answer and applies nothing',
      expected: 'the same status and body again, leaving alone an entity re-created at that id in between',
      check: async () => {
        const entity = await created();
        const headers = { 'Idempotency-Key': unique(), 'If-Match': ifMatch(entity.version) };
        const first = await call('DELETE', item(entity.id), { headers });
        // A replay that reaches the server after the id was taken again must not delete the newcomer.
        const again = await create({ id: entity.id, title: 're-created', done: false });
        const recreated = again.status < 300 && isEntity(again.body) && again.body.id === entity.id;
        const replay = await call('DELETE', item(entity.id), { headers });
        const after = await call('GET', item(entity.id));
        const ok =
          (first.status === 204 || first.status === 200) &&
          replay.status === first.status &&
          sameJson(replay.body, first.body) &&
          (recreated ? after.status === 200 : isGone(after.status));
        return {
          ok,
          actual: `first ${describe(first)}; re-create ${describe(again)}; replay ${describe(replay)}; then GET ${describe(after)}`,
        };
      },
    },
    {
      name: 'DELETE checks If-Match',
      expected: '409 or 412 with the current entity for a stale If-Match, 428 without one, and the entity kept at its current version',
      check: async () => {
        const entity = await created();
        const edit = await update(entity, { title: 'newer' });
        const stale = await remove(entity);
        // The SDK's resolver needs the current entity; a 409 without it reads as "still processing" and is retried.
        const current = isEntity(stale.body?.current) ? stale.body.current : stale.body;
        const unconditional = await call('DELETE', item(entity.id), { headers: { 'Idempotency-Key': unique() } });
        const after = await call('GET', item(entity.id));
        const ok =
          (stale.status === 409 || stale.status === 412) &&
          isEntity(current) &&
          current.version === edit.body?.version &&
          unconditional.status === 428 &&
          after.status === 200 &&
          after.body?.version === edit.body?.version;
        return { ok, actual: `stale ${describe(stale)}, without If-Match ${unconditional.status}; then GET ${describe(after)}` };
      },
    },
    {
      name: 'update after delete → 404',
      expected: '404 (or 410)',
      check: async () => {
        const entity = await created();
        await remove(entity);
        const reply = await update(entity, { title: 'too late' });
        return { ok: isGone(reply.status), actual: describe(reply) };
      },
    },
    {
      name: 'delta pages with tombstones and a cursor',
      // DESIGN section 2 leaves the page size to the server (hasMore is optional, and the SDK sends
      // no limit): limit=2 invites paging, which is then followed, but is not required.
      expected: 'string cursors, and pages followed while hasMore, ending with the live entities and the deleted id',
      check: async () => {
        const start = await walkDelta(call, collection, '', 500);
        const [kept, edited, deleted] = [await created(), await created(), await created()];
        const edit = await update(edited, { title: 'edited' });
        await remove(deleted);
        const walk = await walkDelta(call, collection, start.cursor, 2);
        const problems = [
          ...walk.problems,
          walk.state.has(String(kept.id)) ? '' : `${kept.id} missing`,
          walk.state.get(String(edited.id))?.version === edit.body?.version ? '' : `${edited.id} not at its edited version`,
          walk.state.has(String(deleted.id)) ? `${deleted.id} still live` : '',
          walk.deleted.has(String(deleted.id)) ? '' : `${deleted.id} not in deleted`,
        ].filter(Boolean);
        return { ok: problems.length === 0, actual: problems.join('; ') || 'as expected' };
      },
    },
    {
      name: 'on-demand query: filter, sort, limit and cursor',
      expected: 'filter[title]=… answers only matching rows in sort order (ids by code point), `limit` at a time, the next page by cursor, then cursor null',
      check: async () => {
        const marker = `q-${unique()}`;
        const made = [];
        // 'a' after 'B' by code point, as harborsync orders ids; a collation such as en-US puts it before.
        for (const [i, suffix] of ['a', 'x', 'B'].entries()) made.push(await create({ id: `${marker}-${suffix}`, title: marker, done: i === 1 }));
        if (made.some((reply) => reply.status >= 300)) return { ok: false, actual: `setup: ${made.map(describe).join('; ')}` };
        const query = `${collection}?filter%5Btitle%5D=${encodeURIComponent(marker)}&filter%5Bdone%5D=false&sort=-id&limit=1`;
        const first = await call('GET', query);
        const second = await call('GET', `${query}&cursor=${encodeURIComponent(String(first.body?.cursor))}`);
        const ids = [...(first.body?.items ?? []), ...(second.body?.items ?? [])].map((/** @type {any} */ e) => e.id);
        // Servers that assign ids ignore ours: expect the open rows' real ids, descending.
        const open = [made[0], made[2]].map((reply) => /** @type {any} */ (reply.body).id).sort(compareIds).reverse();
        const problems = [
          first.status === 200 && Array.isArray(first.body?.items) ? '' : `first page: ${describe(first)}`,
          typeof first.body?.cursor === 'string' ? '' : `first cursor ${JSON.stringify(first.body?.cursor)} is not a string`,
          sameJson(ids, open) ? '' : `rows ${JSON.stringify(ids)}, expected ${JSON.stringify(open)}`,
        ].filter(Boolean);
        if (problems.length === 0 && second.body?.cursor !== null) {
          const third = await call('GET', `${query}&cursor=${encodeURIComponent(String(second.body?.cursor))}`);
          if (third.body?.items?.length !== 0 || third.body?.cursor !== null) problems.push(`after the last row: ${describe(third)}`);
        }
        return { ok: problems.length === 0, actual: problems.join('; ') || 'as expected' };
      },
    },
  ];

  /** @type {CheckResult[]} */
  const results = [];
  for (const { name, expected, check } of checks) {
    try {
      const { ok, actual } = await check();
      results.push({ name, ok, expected, actual });
    } catch (error) {
      results.push({ name, ok: false, expected, actual: `error: ${error instanceof Error ? error.message : error}` });
    }
  }
  // Best effort: what a failing server does not delete stays (the ids start with the run's name).
  for (const id of createdIds) {
    const current = await call('GET', item(id)).catch(() => null);
    if (current && isEntity(current.body)) await remove(current.body).catch(() => undefined);
  }
  return results;
}

/**
 * Follows a delta feed from `since` until hasMore is false (bounded), applying
 * each page in order. Ids are compared as text and a page may leave `deleted`
 * out, as the client reads a feed.
 * @param {(method: string, url: string) => Promise<Reply>} call
 * @param {string} collection
 * @param {string} since
 * @param {number} limit
 */
async function walkDelta(call, collection, since, limit) {
  /** @type {Map<string, any>} */
  const state = new Map();
  const deleted = new Set();
  /** @type {string[]} */
  const problems = [];
  let cursor = since;
  let pages = 0;
  // The client stops at a cursor named twice (hasMore would ask it forever); so does the walk.
  const named = new Set([cursor]);
  while (pages < MAX_PAGES) {
    const reply = await call('GET', `${collection}?since=${encodeURIComponent(cursor)}&limit=${limit}`);
    pages += 1;
    const page = reply.body;
    const gone = page?.deleted ?? [];
    if (reply.status !== 200 || !Array.isArray(page?.items) || !Array.isArray(gone)) {
      problems.push(`page ${pages}: ${describe(reply)}`);
      break;
    }
    if (typeof page.cursor !== 'string') problems.push(`page ${pages}: cursor ${JSON.stringify(page.cursor)} is not a string`);
    for (const entity of page.items) {
      state.set(String(entity.id), entity);
      deleted.delete(String(entity.id));
    }
    for (const id of gone) {
      state.delete(String(id));
      deleted.add(String(id));
    }
    cursor = String(page.cursor);
    if (page.hasMore !== true) break;
    if (named.has(cursor)) {
      problems.push(`page ${pages}: hasMore, but cursor ${JSON.stringify(cursor)} was named before`);
      break;
    }
    named.add(cursor);
  }
  if (pages === MAX_PAGES) problems.push(`still hasMore after ${MAX_PAGES} pages`);
  return { state, deleted, cursor, problems };
}

/**
 * An entity: an id (DESIGN: a string or a number, as a backend with integer keys serves it) and a
 * version: an integer, or a string (an opaque revision, an entity-tag) as the client takes it too;
 * a weak entity-tag never matches If-Match, so the client refuses it.
 * @param {unknown} value @returns {value is { id: string | number, version: number | string } & Record<string, unknown>}
 */
function isEntity(value) {
  const entity = /** @type {{ id?: unknown, version?: unknown } | null} */ (value);
  const id = entity?.id;
  const version = entity?.version;
  const versioned = Number.isInteger(version) || (typeof version === 'string' && version !== '' && !/^W\/"[\x21\x23-\x7e]*"$/.test(version));
  return (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) && versioned;
}

/**
 * An error answer about the request, as a backend gives an id it never made: a 404, or a 400
 * where it takes numbers alone as ids (the client sends such a backend none but its own).
 * @param {number} status
 */
function isClientError(status) {
  return status >= 400 && status < 500;
}

/**
 * "Deleted on the server": the client reads a 410 on an entity's URL as it reads a 404.
 * @param {number} status
 */
function isGone(status) {
  return status === 404 || status === 410;
}

/**
 * Numbers are ordered; any other version that differs counts as newer, as the client orders them.
 * @param {unknown} after @param {unknown} before
 */
function isNewer(after, before) {
  return typeof after === 'number' && typeof before === 'number' ? after > before : after !== before;
}

/**
 * The If-Match the client sends for a version: a strong entity-tag as it is, anything else quoted,
 * its characters an entity-tag cannot hold percent-encoded (UTF-8), '%' and '\\' too.
 * @param {number | string} version
 */
function ifMatch(version) {
  const text = String(version);
  if (/^"[\x21\x23-\x7e]*"$/.test(text)) return text;
  let quoted = '';
  for (const char of text) {
    quoted += /^[\x21\x23\x24\x26-\x5b\x5d-\x7e]$/.test(char)
      ? char
      : [...new TextEncoder().encode(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return `"${quoted}"`;
}

/**
 * Ids in the order harborsync sorts them: numbers by value, strings by code point (the ids these
 * checks make are ASCII, where UTF-16 code units order alike).
 * @param {string | number} a @param {string | number} b
 */
function compareIds(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** @param {string} text */
function parseJson(text) {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The same entity by the fields the kit writes (id, title, done, version): fields a backend adds
 * of its own (links, a joined name) may differ between its answers, as the client does not mind.
 * @param {unknown} a @param {unknown} b
 */
function sameEntity(a, b) {
  const fields = (/** @type {any} */ value) => ({ id: value?.id, title: value?.title, done: value?.done, version: value?.version });
  return isEntity(a) && sameJson(fields(a), fields(b));
}

/** Deep equality of JSON values, whatever the key order. @param {unknown} a @param {unknown} b */
function sameJson(a, b) {
  return canonical(a) === canonical(b);
}

/** @param {unknown} value @returns {string} */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(/** @type {any} */ (value)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/**
 * The headers by which a cache says it kept an answer, when there are any.
 * @param {Reply} reply
 */
function cacheHeaders(reply) {
  const shown = ['Cache-Control', 'Age', 'Expires', 'Last-Modified']
    .map((name) => [name, reply.headers.get(name)])
    .filter(([, value]) => value !== null)
    .map(([name, value]) => `${name}: ${value}`);
  return shown.length === 0 ? '' : ` (${shown.join(', ')})`;
}

/** @param {Reply} reply */
function describe(reply) {
  const body = reply.body === undefined ? '' : ` ${JSON.stringify(reply.body)}`;
  return `${reply.status}${body.length > 200 ? `${body.slice(0, 200)}…` : body}`;
}
