// Idempotency-Key handling. The key's record, the version check and the
// write commit in ONE transaction, so there is no moment where a write is
// applied but its answer is not stored (or the reverse). Keys are scoped per
// user: one user can never read another's stored answer.

import { createHash } from 'node:crypto';

/**
 * @typedef {import('./writes.mjs').Answer} Answer
 * @typedef {import('./db.mjs').Queryable} Queryable
 * @typedef {{ user: string, key: string, fingerprint: string }} KeyUse
 */

/**
 * Identifies "the same request": a key reused with another fingerprint is a
 * client bug (422), not a retry.
 * @param {{ method: string, path: string, body: unknown, ifMatch: string | undefined }} request
 */
export function fingerprint({ method, path, body, ifMatch }) {
  const text = [method, path, canonicalJson(body), ifMatch ?? ''].join('\n');
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Runs `apply` at most once per (user, key) and stores its answer. A key seen
 * before with the same fingerprint gets the stored answer (`replayed: true`)
 * and `apply` does not run; with another fingerprint it gets 422.
 *
 * Two requests with one key may arrive together (a proxy retry, two tabs, two
 * server instances): the transaction-scoped advisory lock on the key makes the
 * second wait until the first commits, then it finds the record.
 * @param {Queryable} tx
 * @param {KeyUse} use
 * @param {() => Promise<Answer>} apply
 * @returns {Promise<Answer & { replayed: boolean }>}
 */
export async function once(tx, { user, key, fingerprint }, apply) {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`key:${user}\n${key}`]);
  const [stored] = await tx.query(
    'SELECT fingerprint, status, body FROM idempotency_keys WHERE user_name = $1 AND key = $2',
    [user, key],
  );
  if (stored && stored.fingerprint !== fingerprint) {
    return {
      status: 422,
      body: { error: `Idempotency-Key ${key} was already used for a different request` },
      replayed: false,
    };
  }
  if (stored) return { status: stored.status, body: JSON.parse(stored.body), replayed: true };
  const answer = await apply();
  await tx.query(
    'INSERT INTO idempotency_keys (user_name, key, fingerprint, status, body) VALUES ($1, $2, $3, $4, $5)',
    [user, key, fingerprint, answer.status, JSON.stringify(answer.body)],
  );
  return { ...answer, replayed: false };
}

/**
 * JSON with object keys sorted at every depth, so that `{a,b}` and `{b,a}`
 * fingerprint alike.
 * @param {unknown} value
 * @returns {string}
 */
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
