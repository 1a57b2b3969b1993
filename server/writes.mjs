// The three writes (create, update, delete) as the wire protocol defines them.
// Each runs inside a transaction whose caller holds the resource lock, bumps
// the version, records itself in the ledger, and returns the answer the
// client gets: `{ status, body }`. Refusals (404, 409, 412) are answers too,
// so an idempotency record can replay them.

import { HttpError } from './http-error.mjs';
import { appendLedger, findEntity, reserveIds, saveEntity } from './store.mjs';

// Ids (indexed by their hash) keep to DESIGN's 1,024 characters (UTF-16 units), past which the SDK refuses them.
const MAX_ID_LENGTH = 1024;

/**
 * @typedef {import('./store.mjs').Entity} Entity
 * @typedef {import('./db.mjs').Queryable} Queryable
 * @typedef {{ status: number, body: unknown }} Answer
 * @typedef {object} WriteContext
 * @property {string} resource
 * @property {string} user who writes (recorded in the ledger)
 * @property {string | null} idempotencyKey
 * @property {boolean} serverIds whether the server assigns ids
 */

/**
 * Refuses, with a 400, an id a client may not create (without serverIds): the API's and the admin's creates alike.
 * @param {unknown} id
 */
export function checkCreatedId(id) {
  if (typeof id === 'number' ? !Number.isFinite(id) : typeof id !== 'string' || id === '') {
    throw new HttpError(400, 'a created entity needs an id: a non-empty string or a finite number');
  }
  // URL parsers read these as "this folder" and "the parent" (%2E too): no later GET, PATCH or DELETE could reach it.
  if (id === '.' || id === '..') throw new HttpError(400, `the id "${id}" cannot be addressed in a URL path`);
  if (typeof id === 'string' && id.length > MAX_ID_LENGTH) {
    throw new HttpError(400, `a created entity's id must be at most ${MAX_ID_LENGTH} characters`);
  }
}

/**
 * @param {Queryable} tx
 * @param {WriteContext} context
 * @param {Record<string, unknown>} input the entity without version (a client id is ignored with serverIds)
 * @returns {Promise<Answer>}
 */
export async function createEntity(tx, context, input) {
  const id = context.serverIds ? String(await reserveIds(tx, context.resource)) : String(input.id);
  const current = await findEntity(tx, context.resource, id);
  if (current && !current.deleted) return { status: 409, body: current.data };
  // Re-creating a deleted id continues its version line, so a client that
  // still caches the old entity does not discard the new one as stale.
  const version = current ? current.version + 1 : 1;
  // A number id stays a number in what is served (the key column holds its text).
  const data = { ...fieldsOf(input), id: context.serverIds ? id : /** @type {string | number} */ (input.id), version };
  await saveEntity(tx, context.resource, { data, deleted: false });
  await record(tx, context, { entityId: id, op: 'create', versionBefore: current?.version ?? null, version, input });
  return { status: 201, body: data };
}

/**
 * @param {Queryable} tx
 * @param {WriteContext} context
 * @param {string} id
 * @param {(version: number) => boolean} matches the If-Match precondition
 * @param {Record<string, unknown>} patch changed fields; `id` and `version` in it are ignored
 * @returns {Promise<Answer>}
 */
export async function updateEntity(tx, context, id, matches, patch) {
  const current = await findEntity(tx, context.resource, id);
  if (!current || current.deleted) return notFound(context.resource, id);
  if (!matches(current.version)) return { status: 412, body: current.data };
  const version = current.version + 1;
  const data = { ...current.data, ...fieldsOf(patch), id: current.data.id, version };
  await saveEntity(tx, context.resource, { data, deleted: false });
  await record(tx, context, { entityId: id, op: 'update', versionBefore: current.version, version, input: patch });
  return { status: 200, body: data };
}

/**
 * Leaves a tombstone (the last state with a bumped version) for the delta feed.
 * @param {Queryable} tx
 * @param {WriteContext} context
 * @param {string} id
 * @param {(version: number) => boolean} matches the If-Match precondition
 * @returns {Promise<Answer>}
 */
export async function deleteEntity(tx, context, id, matches) {
  const current = await findEntity(tx, context.resource, id);
  if (!current || current.deleted) return notFound(context.resource, id);
  if (!matches(current.version)) return { status: 412, body: current.data };
  const version = current.version + 1;
  await saveEntity(tx, context.resource, { data: { ...current.data, version }, deleted: true });
  await record(tx, context, { entityId: id, op: 'delete', versionBefore: current.version, version, input: null });
  return { status: 204, body: null };
}

/**
 * The client's fields without `id` and `version`, which the server owns.
 * @param {Record<string, unknown>} input
 */
function fieldsOf(input) {
  return Object.fromEntries(Object.entries(input).filter(([key]) => key !== 'id' && key !== 'version'));
}

/**
 * @param {string} resource
 * @param {string} id
 * @returns {Answer}
 */
function notFound(resource, id) {
  return { status: 404, body: { error: `${resource}/${id} not found` } };
}

/**
 * @param {Queryable} tx
 * @param {WriteContext} context
 * @param {{ entityId: string, op: 'create' | 'update' | 'delete', versionBefore: number | null, version: number, input: unknown }} write
 */
function record(tx, context, write) {
  return appendLedger(tx, {
    resource: context.resource,
    entityId: write.entityId,
    op: write.op,
    idempotencyKey: context.idempotencyKey,
    versionBefore: write.versionBefore,
    versionAfter: write.version,
    body: write.input,
    user: context.user,
  });
}
