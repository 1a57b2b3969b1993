// SQL over the entities, ledger and id counter tables. Functions that change
// data take a transaction (`tx`) in which the caller already holds
// `lockResource`; reads take the database or a transaction.

/**
 * @typedef {Record<string, unknown> & { id: string | number, version: number }} Entity
 * @typedef {{ data: Entity, version: number, deleted: boolean }} StoredEntity
 * @typedef {import('./db.mjs').Queryable} Queryable
 */

/**
 * Serializes the writes to one resource until the transaction ends. Change
 * sequence numbers are then taken in commit order, so a delta reader that has
 * seen seq N can never later miss a change with a smaller seq committed late
 * (possible on Postgres with concurrent transactions). It also makes the
 * read-check-write of a version safe without row locks.
 * @param {Queryable} tx
 * @param {string} resource
 */
export async function lockResource(tx, resource) {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [`resource:${resource}`]);
}

/**
 * @param {Queryable} db
 * @param {string} resource
 * @param {string} id
 * @returns {Promise<StoredEntity | undefined>}
 */
export async function findEntity(db, resource, id) {
  const [row] = await db.query(
    'SELECT data, version, deleted FROM entities WHERE resource = $1 AND entity_key(id) = entity_key($2) AND id = $2',
    [resource, id],
  );
  return row;
}

/**
 * Inserts or replaces an entity (or its tombstone) with a new change sequence number.
 * @param {Queryable} tx
 * @param {string} resource
 * @param {{ data: Entity, deleted: boolean }} entity
 */
export async function saveEntity(tx, resource, { data, deleted }) {
  await tx.query(
    `INSERT INTO entities (resource, id, data, version, deleted, seq)
     VALUES ($1, $2, $3::jsonb, $4, $5, nextval('change_seq'))
     ON CONFLICT (resource, entity_key(id)) DO UPDATE
       SET data = excluded.data, version = excluded.version, deleted = excluded.deleted, seq = excluded.seq`,
    [resource, String(data.id), JSON.stringify(data), data.version, deleted],
  );
}

/**
 * Reserves `count` consecutive server ids and returns the first.
 * @param {Queryable} tx
 * @param {string} resource
 * @param {number} [count]
 */
export async function reserveIds(tx, resource, count = 1) {
  const [row] = await tx.query(
    `INSERT INTO id_counters (resource, last) VALUES ($1, $2)
     ON CONFLICT (resource) DO UPDATE SET last = id_counters.last + $2
     RETURNING last`,
    [resource, count],
  );
  return Number(row.last) - count + 1;
}

/**
 * @typedef {object} LedgerEntry
 * @property {string} resource
 * @property {string | null} entityId
 * @property {'create' | 'update' | 'delete' | 'seed'} op
 * @property {string | null} idempotencyKey
 * @property {number | null} versionBefore
 * @property {number | null} versionAfter
 * @property {unknown} body the request body (the patch, the created fields)
 * @property {string} user
 */

/**
 * @param {Queryable} tx
 * @param {LedgerEntry} entry
 */
export async function appendLedger(tx, entry) {
  await tx.query(
    `INSERT INTO ledger (resource, entity_id, op, idempotency_key, version_before, version_after, body, user_name)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
    [
      entry.resource,
      entry.entityId,
      entry.op,
      entry.idempotencyKey,
      entry.versionBefore,
      entry.versionAfter,
      JSON.stringify(entry.body ?? null),
      entry.user,
    ],
  );
}

/**
 * @param {Queryable} db
 * @param {string} [resource] only this resource's writes
 * @returns {Promise<Array<LedgerEntry & { seq: number, at: string }>>}
 */
export async function readLedger(db, resource) {
  const rows = await db.query(
    `SELECT seq, at, resource, entity_id, op, idempotency_key, version_before, version_after, body, user_name
     FROM ledger WHERE $1::text IS NULL OR resource = $1 ORDER BY seq`,
    [resource ?? null],
  );
  return rows.map((row) => ({
    seq: Number(row.seq),
    at: new Date(row.at).toISOString(),
    resource: row.resource,
    entityId: row.entity_id,
    op: row.op,
    idempotencyKey: row.idempotency_key,
    versionBefore: row.version_before,
    versionAfter: row.version_after,
    body: row.body,
    user: row.user_name,
  }));
}

/**
 * The authoritative list: every live entity, by id.
 * @param {Queryable} db
 * @param {string} resource
 * @returns {Promise<Entity[]>}
 */
export async function listEntities(db, resource) {
  const rows = await db.query('SELECT data FROM entities WHERE resource = $1 AND NOT deleted ORDER BY id', [
    resource,
  ]);
  return rows.map((row) => row.data);
}

/**
 * Changes after a cursor (a change sequence number), oldest first. An entity
 * appears once, in its latest state, at the position of its latest write.
 * Returns null for a cursor this database never issued: beyond the
 * resource's last change (rows are never removed, except by a reset).
 * @param {Queryable} db
 * @param {string} resource
 * @param {string} after sequence number as decimal digits
 * @param {number} limit
 */
export async function readDelta(db, resource, after, limit) {
  const rows = await db.query(
    'SELECT id, data, deleted, seq FROM entities WHERE resource = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    [resource, after, limit + 1],
  );
  if (rows.length === 0 && after !== '0') {
    const [{ last }] = await db.query('SELECT max(seq) AS last FROM entities WHERE resource = $1', [resource]);
    if (last === null || BigInt(last) < BigInt(after)) return null;
  }
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.filter((row) => !row.deleted).map((row) => row.data),
    deleted: page.filter((row) => row.deleted).map((row) => row.data.id),
    cursor: last ? String(last.seq) : after,
    hasMore: rows.length > limit,
  };
}

/**
 * Inserts `count` todo-shaped rows in one statement (ids from the id counter,
 * titles "Todo 000001"..., every second one done) and records one ledger row.
 * @param {Queryable} tx
 * @param {string} resource
 * @param {number} count
 * @param {string} user
 */
export async function seedEntities(tx, resource, count, user) {
  const first = await reserveIds(tx, resource, count);
  const last = first + count - 1;
  const [row] = await tx.query(
    `WITH inserted AS (
       INSERT INTO entities (resource, id, data, version, deleted, seq)
       SELECT $1, n::text,
              jsonb_build_object('id', n::text, 'title', 'Todo ' || lpad(n::text, 6, '0'), 'done', n % 2 = 0, 'version', 1),
              1, false, nextval('change_seq')
       FROM generate_series($2::bigint, $3::bigint) AS n
       ON CONFLICT (resource, entity_key(id)) DO NOTHING
       RETURNING 1)
     SELECT count(*)::integer AS inserted FROM inserted`,
    [resource, first, last],
  );
  await appendLedger(tx, {
    resource,
    entityId: null,
    op: 'seed',
    idempotencyKey: null,
    versionBefore: null,
    versionAfter: 1,
    body: { count, first: String(first), last: String(last) },
    user,
  });
  return { inserted: row.inserted, first: String(first), last: String(last) };
}
