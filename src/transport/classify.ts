/**
 * What an HTTP answer to a write means for the outbox entry (pure, DESIGN §2).
 *
 * Retrying is always safe (the idempotency key makes a re-send harmless, and a bound parks an
 * entry that keeps failing), while 'permanent' rolls the user's change back in the view. So a
 * status counts as permanent only when resending the same request cannot succeed.
 */
import { isPlainObject } from '../internal/plain.js';

export type Outcome = 'ok' | 'retry' | 'conflict' | 'gone' | 'unauthorized' | 'permanent';

export type WriteOp = 'create' | 'update' | 'delete';

// DESIGN §2's retryable list.
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
// 5xx that say the server can never do this request (not implemented, protocol or
// configuration errors). Every other 5xx, listed or not (507, 511 captive portals, CDN 52x),
// is the server's passing trouble and retried.
const PERMANENT_5XX = new Set([501, 505, 506, 508, 510]);

/**
 * Classifies the status of an answer to a write. Total: every number gets an outcome.
 *
 * - 2xx → ok.
 * - 408, 425, 429, 500, 502, 503, 504 → retry; other 5xx → retry, except 501, 505, 506, 508, 510
 *   → permanent.
 * - 401 → unauthorized (refresh the token once, then pause).
 * - 409 → conflict when the body carries the current entity (see conflictEntity), else retry:
 *   a server still processing the same idempotency key.
 * - 412 → conflict, with or without the entity: the version precondition failed, so a resend
 *   can never succeed; without an entity the caller fetches the current one.
 * - 404 and 410 on update/delete → gone (deleted on the server); on a create → permanent.
 * - any other 4xx and 3xx (writes never follow redirects) → permanent.
 * - 1xx, and anything outside 100–599 (0 from an opaque answer) → retry: no usable final answer.
 */
export function classifyStatus(status: number, op: WriteOp, body: unknown, isEntity: (value: unknown) => boolean): Outcome {
  if (!Number.isInteger(status) || status < 200 || status > 599) return 'retry';
  if (status < 300) return 'ok';
  if (status < 400) return 'permanent';
  if (RETRYABLE.has(status)) return 'retry';
  if (status >= 500) return PERMANENT_5XX.has(status) ? 'permanent' : 'retry';
  if (status === 401) return 'unauthorized';
  if (status === 409) return conflictEntity(body, isEntity) === undefined ? 'retry' : 'conflict';
  if (status === 412) return 'conflict';
  if ((status === 404 || status === 410) && op !== 'create') return 'gone';
  return 'permanent';
}

/**
 * The current entity a conflict answer carries: the body itself or `{ current: entity }`;
 * undefined when there is none. When `isEntity` accepts both the body and its `current` (a
 * loose check such as "any object"), a body whose only key is `current` is the wrapper; one
 * with more keys is an entity that happens to have a `current` field.
 */
export function conflictEntity(body: unknown, isEntity: (value: unknown) => boolean): unknown {
  const whole = isEntity(body);
  if (isPlainObject(body) && Object.hasOwn(body, 'current') && isEntity(body['current'])) {
    if (!whole || Object.keys(body).length === 1) return body['current'];
  }
  return whole ? body : undefined;
}
