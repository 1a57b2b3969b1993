// The on-demand query dialect (DESIGN section 2):
//   GET /api/todos?filter[done]=false&sort=title,-id&limit=50&cursor=c
//   → { items, cursor: string | null }
// A filter compares the field's JSON value rendered as text (true, false, null,
// 12.5, abc) for equality; a missing field equals nothing. Sort fields order by
// their JSONB value (numbers numerically, strings by code point, a missing
// field like JSON null, first); `id` is appended as the tie-breaker so the order is total. The
// cursor holds the last row's sort key (keyset paging): a page costs the same
// at any depth, and rows written before the cursor do not shift the next page.
// A limit above 1,000 is answered 1,000 rows at a time.

import { HttpError } from './http-error.mjs';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
const FILTER = /^filter\[(.+)\]$/;

/**
 * @typedef {{ field: string, descending: boolean }} SortKey
 * @typedef {object} QuerySpec
 * @property {Array<[string, string]>} filters field, value
 * @property {SortKey[]} sort always ends with id
 * @property {number} limit
 * @property {string[] | null} after sort key of the last row already seen (from the cursor)
 */

/**
 * Whether a list request uses the query dialect rather than asking for the whole list.
 * @param {URLSearchParams} params
 */
export function isQuery(params) {
  return [...params.keys()].some((key) => key === 'sort' || key === 'limit' || key === 'cursor' || FILTER.test(key));
}

/**
 * @param {URLSearchParams} params
 * @returns {QuerySpec}
 */
export function parseQuery(params) {
  /** @type {Array<[string, string]>} */
  const filters = [];
  for (const [key, value] of params) {
    const field = FILTER.exec(key)?.[1];
    if (field !== undefined) filters.push([field, value]);
  }
  const sortText = params.get('sort');
  // `sort=` asks for no order, as no `sort` does: by id.
  const sort = (sortText === null || sortText === '' ? [] : sortText.split(',')).map((part) =>
    part.startsWith('-') ? { field: part.slice(1), descending: true } : { field: part, descending: false },
  );
  // Left out, an empty field would answer in another order than the one asked for.
  if (sort.some((key) => key.field === '')) throw new HttpError(400, `sort names an empty field: ${sortText}`);
  if (!sort.some((key) => key.field === 'id')) sort.push({ field: 'id', descending: false });
  const limitText = params.get('limit');
  const asked = limitText === null ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(asked) || asked < 1) throw new HttpError(400, 'limit must be a positive integer');
  // More is answered a page at a time, with a cursor: a client asks for the rest by it (a query
  // grown page by page is refetched from its first row with its whole limit).
  const limit = Math.min(asked, MAX_LIMIT);
  const cursor = params.get('cursor');
  return { filters, sort, limit, after: cursor ? decodeCursor(cursor, sort) : null };
}

/**
 * @param {import('./db.mjs').Queryable} db
 * @param {string} resource
 * @param {QuerySpec} spec
 * @returns {Promise<{ items: unknown[], cursor: string | null }>}
 */
export async function runQuery(db, resource, spec) {
  /** @type {unknown[]} */
  const params = [resource];
  /** @param {unknown} value */
  const param = (value) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = ['resource = $1', 'NOT deleted'];
  for (const [field, value] of spec.filters) {
    if (field === 'id') {
      where.push(`id = ${param(value)}`);
      continue;
    }
    // ->> renders a JSON null as SQL NULL, which equals nothing: it is the text null here.
    const key = `${param(field)}::text`;
    where.push(`(CASE jsonb_typeof(data -> ${key}) WHEN 'null' THEN 'null' ELSE data ->> ${key} END) = ${param(value)}`);
  }
  // Every key is the JSONB value, the id's too: a number id orders as a number, as the client orders it.
  const keys = spec.sort.map(({ field, descending }) => ({ sql: `COALESCE(data -> ${param(field)}::text, 'null'::jsonb)`, descending }));
  // What a key orders by, most significant first. Strings compare by code point (COLLATE "C"), as
  // the client compares them, whatever the database's collation: JSONB compares them in that one
  // (an en-US database puts 'a' before 'B'). The type comes first, as JSONB orders types.
  /** @param {string} value */
  const parts = (value) => [
    `(CASE jsonb_typeof(${value}) WHEN 'null' THEN 0 WHEN 'string' THEN 1 WHEN 'number' THEN 2 WHEN 'boolean' THEN 3 ELSE 4 END)`,
    `(CASE jsonb_typeof(${value}) WHEN 'string' THEN ${value} #>> '{}' ELSE '' END) COLLATE "C"`,
    value,
  ];
  const order = keys.flatMap((key) => parts(key.sql).map((sql) => ({ sql, descending: key.descending })));
  const { after } = spec;
  if (after) {
    const values = keys.flatMap((_, i) => parts(`${param(after[i])}::jsonb`));
    // (k0 beyond c0) OR (k0 = c0 AND k1 beyond c1) OR ...: row-value comparison
    // cannot express mixed ascending and descending keys.
    const branches = order.map((key, i) => {
      const equalBefore = order.slice(0, i).map((previous, j) => `${previous.sql} = ${values[j]}`);
      return [...equalBefore, `${key.sql} ${key.descending ? '<' : '>'} ${values[i]}`].join(' AND ');
    });
    where.push(`(${branches.map((branch) => `(${branch})`).join(' OR ')})`);
  }
  const rows = await db.query(
    `SELECT data, ${keys.map((key, i) => `${key.sql}::text AS k${i}`).join(', ')}
     FROM entities WHERE ${where.join(' AND ')}
     ORDER BY ${order.map((key) => `${key.sql} ${key.descending ? 'DESC' : 'ASC'}`).join(', ')}
     LIMIT ${param(spec.limit + 1)}`,
    params,
  );
  const page = rows.slice(0, spec.limit);
  const last = page.at(-1);
  const hasMore = rows.length > spec.limit;
  return {
    items: page.map((row) => row.data),
    cursor: hasMore && last ? encodeCursor(keys.map((_, i) => String(last[`k${i}`])), spec.sort) : null,
  };
}

/**
 * @param {string[]} values
 * @param {SortKey[]} sort
 */
function encodeCursor(values, sort) {
  return Buffer.from(JSON.stringify({ sort: sortSignature(sort), values })).toString('base64url');
}

/**
 * @param {string} cursor
 * @param {SortKey[]} sort
 * @returns {string[]}
 */
function decodeCursor(cursor, sort) {
  /** @type {unknown} */
  let decoded;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid cursor');
  }
  const { sort: signature, values } = /** @type {{ sort?: unknown, values?: unknown }} */ (decoded ?? {});
  const valid =
    signature === sortSignature(sort) &&
    Array.isArray(values) &&
    values.length === sort.length &&
    values.every((value) => typeof value === 'string' && isJson(value));
  // A cursor from another sort order would page through the wrong sequence.
  if (!valid) throw new HttpError(400, 'invalid cursor for this sort order');
  return values;
}

/** @param {string} text */
function isJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** @param {SortKey[]} sort */
function sortSignature(sort) {
  return sort.map((key) => `${key.descending ? '-' : ''}${key.field}`).join(',');
}
