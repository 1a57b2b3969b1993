// The /admin endpoints that tests and the demo drive (no auth; http.mjs
// admits loopback clients only):
//   GET  /admin/faults            the fault switch's settings
//   POST /admin/faults            merge settings (null resets a field)
//   GET  /admin/ledger[?resource] every applied write, oldest first
//   POST /admin/edit              write as another user ('mallory'), recorded in the ledger:
//                                 { resource, id, patch } | { resource, id, delete: true } | { resource, create }
//   POST /admin/seed              { resource, count }: insert todo-shaped rows in one statement
//   POST /admin/reset             empty every table and clear this instance's faults

import { resetDatabase } from './db.mjs';
import { HttpError } from './http-error.mjs';
import { objectBody, send } from './http.mjs';
import { lockResource, readLedger, seedEntities } from './store.mjs';
import { checkCreatedId, createEntity, deleteEntity, updateEntity } from './writes.mjs';

/** The user recorded for admin writes: "someone else changed it meanwhile". */
const OTHER_USER = 'mallory';
const MAX_SEED = 1_000_000;

/**
 * @param {{ db: import('./db.mjs').Database, faults: ReturnType<typeof import('./faults.mjs').createFaults>,
 *           resources: Array<{ name: string }>, serverIds: boolean }} options
 * @returns {import('./http.mjs').Handler}
 */
export function createAdmin({ db, faults, resources, serverIds }) {
  const names = new Set(resources.map((resource) => resource.name));

  /** @param {Record<string, any>} body */
  const resourceOf = (body) => {
    if (!names.has(body.resource)) throw new HttpError(404, `unknown resource ${String(body.resource)}`);
    return /** @type {string} */ (body.resource);
  };

  /** @param {Record<string, any>} body */
  const edit = (body) => {
    const resource = resourceOf(body);
    const context = { resource, user: OTHER_USER, idempotencyKey: null, serverIds };
    const always = () => true;
    return db.transaction(async (tx) => {
      await lockResource(tx, resource);
      if (isObject(body.create)) {
        if (!serverIds) checkCreatedId(body.create.id);
        return createEntity(tx, context, body.create);
      }
      // 7 and '7' are one id, as in the API's paths.
      if (typeof body.id !== 'string' && typeof body.id !== 'number') throw new HttpError(400, 'edit needs an id, or create');
      const id = String(body.id);
      if (body.delete === true) return deleteEntity(tx, context, id, always);
      if (isObject(body.patch)) return updateEntity(tx, context, id, always, body.patch);
      throw new HttpError(400, 'edit needs patch, delete: true, or create');
    });
  };

  /** @param {Record<string, any>} body */
  const seed = (body) => {
    const resource = resourceOf(body);
    const { count } = body;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SEED) {
      throw new HttpError(400, `count must be an integer from 1 to ${MAX_SEED}`);
    }
    return db.transaction(async (tx) => {
      await lockResource(tx, resource);
      return seedEntities(tx, resource, count, OTHER_USER);
    });
  };

  return async (context) => {
    const route = `${context.method} ${context.segments.join('/')}`;
    const { res } = context;
    switch (route) {
      case 'GET faults':
        return send(res, 200, faults.snapshot());
      case 'POST faults':
        return send(res, 200, faults.update(objectBody(context)));
      case 'GET ledger':
        return send(res, 200, await readLedger(db, context.query.get('resource') ?? undefined));
      case 'POST edit': {
        const answer = await edit(objectBody(context));
        return send(res, answer.status, answer.status === 204 ? undefined : answer.body);
      }
      case 'POST seed':
        return send(res, 200, await seed(objectBody(context)));
      case 'POST reset':
        await resetDatabase(db);
        faults.clear();
        return send(res, 204);
      default:
        throw new HttpError(404, `no admin route ${route}`);
    }
  };
}

/** @param {unknown} value @returns {value is Record<string, any>} */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
