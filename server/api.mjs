// The /api handlers: DESIGN section 2's wire protocol for each configured
// resource, behind bearer-token auth and the fault switch.

import { setTimeout as sleep } from 'node:timers/promises';

import { HttpError } from './http-error.mjs';
import { drop, objectBody, send } from './http.mjs';
import { fingerprint, once } from './idempotency.mjs';
import { isQuery, parseQuery, runQuery } from './query.mjs';
import { findEntity, listEntities, lockResource, readDelta } from './store.mjs';
import { checkCreatedId, createEntity, deleteEntity, updateEntity } from './writes.mjs';

const DEFAULT_DELTA_LIMIT = 500;
const MAX_DELTA_LIMIT = 5000;
// A Postgres btree row holds at most 2704 bytes: a longer key would fail its index
// with a 500, which the client takes for passing trouble and retries.
const MAX_KEY_LENGTH = 255;
// Bodies are read as UTF-8 JSON: one declared otherwise (a form, text, another charset) was not meant for this API.
const JSON_BODY = /^application\/json\s*(;\s*charset\s*=\s*("?)utf-8\2\s*)?$/i;

/**
 * @typedef {{ name: string, delta?: boolean }} ResourceOption
 * @typedef {import('./http.mjs').RequestContext} RequestContext
 * @typedef {object} ApiOptions
 * @property {import('./db.mjs').Database} db
 * @property {ReturnType<typeof import('./faults.mjs').createFaults>} faults
 * @property {ResourceOption[]} resources
 * @property {boolean} serverIds
 * @property {Record<string, string>} tokens bearer token → user
 */

/**
 * @param {ApiOptions} options
 * @returns {import('./http.mjs').Handler}
 */
export function createApi({ db, faults, resources, serverIds, tokens }) {
  const byName = new Map(resources.map((resource) => [resource.name, resource]));

  /** @param {RequestContext} context @param {ResourceOption} resource */
  const readCollection = async (context, resource) => {
    const { query } = context;
    if (query.has('since')) {
      if (!resource.delta) throw new HttpError(400, `${resource.name} has no delta feed`);
      const since = query.get('since') || '0';
      if (!/^\d{1,18}$/.test(since)) throw new HttpError(400, `invalid cursor ${since}`);
      const delta = await readDelta(db, resource.name, since, deltaLimit(query.get('limit')));
      // A cursor beyond every change was not issued by this database (it was
      // reset): 410 tells the client to refetch the whole list.
      if (!delta) throw new HttpError(410, `cursor ${since} is no longer valid: refetch the list`);
      return delta;
    }
    if (isQuery(query)) return runQuery(db, resource.name, parseQuery(query));
    return listEntities(db, resource.name);
  };

  /**
   * @param {RequestContext} context
   * @param {ResourceOption} resource
   * @param {string | undefined} id
   * @param {string} user
   */
  const write = async (context, resource, id, user) => {
    const { method, req } = context;
    const key = header(req, 'idempotency-key');
    if (!key) throw new HttpError(400, 'writes need an Idempotency-Key header');
    if (key.length > MAX_KEY_LENGTH) throw new HttpError(400, `Idempotency-Key longer than ${MAX_KEY_LENGTH} characters`);
    const ifMatch = header(req, 'if-match');
    if (method !== 'POST' && ifMatch === undefined) throw new HttpError(428, 'updates and deletes need If-Match');
    const type = header(req, 'content-type') ?? '';
    if (method !== 'DELETE' && !JSON_BODY.test(type)) {
      throw new HttpError(415, `the request body must be declared as Content-Type: application/json, not ${JSON.stringify(type)}`);
    }
    const input = method === 'DELETE' ? null : objectBody(context);
    if (method === 'POST' && !serverIds) checkCreatedId(input?.id);
    const matches = preconditionOf(ifMatch);
    const writeContext = { resource: resource.name, user, idempotencyKey: key, serverIds };
    /** @param {import('./db.mjs').Queryable} tx */
    const apply = (tx) => {
      if (method === 'POST') return createEntity(tx, writeContext, /** @type {Record<string, unknown>} */ (input));
      if (method === 'PATCH') {
        return updateEntity(tx, writeContext, String(id), matches, /** @type {Record<string, unknown>} */ (input));
      }
      return deleteEntity(tx, writeContext, String(id), matches);
    };
    const use = { user, key, fingerprint: fingerprint({ method, path: context.path, body: input, ifMatch }) };
    return db.transaction((tx) =>
      once(tx, use, async () => {
        await lockResource(tx, resource.name);
        return apply(tx);
      }),
    );
  };

  return async (context) => {
    const { offline, latencyMs, unauthorized } = faults.current;
    if (offline) return drop(context);
    if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: context.signal });
    const user = authenticate(header(context.req, 'authorization'), tokens);
    if (user === undefined || unauthorized) {
      throw new HttpError(401, 'missing, unknown or expired bearer token', { 'WWW-Authenticate': 'Bearer' });
    }
    const { method } = context;
    const isWrite = method === 'POST' || method === 'PATCH' || method === 'DELETE';
    const plan = faults.plan({ isWrite, body: context.body });
    if (plan.response) return send(context.res, plan.response.status, plan.response.body, plan.response.headers);
    if (plan.dropBeforeApply) return drop(context);

    const [name = '', id, ...extra] = context.segments;
    const resource = byName.get(name);
    if (!resource || extra.length > 0) throw new HttpError(404, `no resource at ${context.path}`);
    const allowed = id === undefined ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD', 'PATCH', 'DELETE'];
    if (!allowed.includes(method)) throw new HttpError(405, `${method} not allowed here`, { Allow: allowed.join(', ') });

    // Node's http sends no body in answer to HEAD: answered as GET, it gets GET's status and headers.
    if (method === 'GET' || method === 'HEAD') {
      if (id === undefined) return send(context.res, 200, await readCollection(context, resource));
      const found = await findEntity(db, resource.name, id);
      if (!found || found.deleted) throw new HttpError(404, `${resource.name}/${id} not found`);
      return send(context.res, 200, found.data, etagOf(found.data));
    }
    const answer = await write(context, resource, id, user);
    if (plan.dropAfterApply) return drop(context);
    const headers = etagOf(answer.body);
    if (answer.replayed) headers['Idempotent-Replayed'] = 'true';
    send(context.res, answer.status, answer.status === 204 ? undefined : answer.body, headers);
  };
}

/**
 * @param {string | undefined} value `Bearer {token}`
 * @param {Record<string, string>} tokens
 */
function authenticate(value, tokens) {
  const token = /^Bearer +(\S+)$/i.exec(value ?? '')?.[1];
  return token !== undefined && Object.hasOwn(tokens, token) ? tokens[token] : undefined;
}

/**
 * If-Match compares strongly (RFC 9110): `"3"` (or a bare 3) matches version
 * 3, a list matches any of its tags, and `*` any current entity (a missing one
 * is a 404 before this is asked); a weak `W/"3"` or anything else matches nothing.
 * Tags compare as text, as the ETag was sent: `"03"` is not version 3.
 * @param {string | undefined} ifMatch
 * @returns {(version: number) => boolean}
 */
function preconditionOf(ifMatch) {
  if (ifMatch?.trim() === '*') return () => true;
  const expected = (ifMatch ?? '').split(',').map((tag) => /^\s*(?:"(\d+)"|(\d+))\s*$/.exec(tag));
  return (version) => expected.some((digits) => digits !== null && (digits[1] ?? digits[2]) === String(version));
}

/**
 * @param {unknown} body
 * @returns {Record<string, string>}
 */
function etagOf(body) {
  const version = /** @type {{ version?: unknown } | null} */ (body)?.version;
  return Number.isInteger(version) ? { ETag: `"${version}"` } : {};
}

/** @param {string | null} text */
function deltaLimit(text) {
  const limit = text === null ? DEFAULT_DELTA_LIMIT : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELTA_LIMIT) {
    throw new HttpError(400, `limit must be an integer from 1 to ${MAX_DELTA_LIMIT}`);
  }
  return limit;
}

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {string} name lower case
 */
function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
