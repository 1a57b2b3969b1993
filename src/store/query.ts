/**
 * Queries compiled once into a matcher and a total order (pure).
 *
 * Order is total: ties are always broken by the key ascending, so every entity has exactly one
 * position and a binary search with the entity's own (old) value finds it (store/sorted-chunks.ts).
 */
import type { Query, SortDirection } from '../types.js';
import { deepEqual, isPlainObject } from '../internal/plain.js';
import { TEMP_ID_PREFIX } from '../internal/ids.js';

type Rec = Record<string, unknown>;
type Compare<T> = (a: T, b: T) => number;

export interface CompiledQuery<T> {
  readonly matches: (entity: T) => boolean;
  /** Total order: the query's fields, then the key ascending. 0 only for the same key. */
  readonly compare: (a: T, b: T) => number;
  /** Infinity when the query has none. */
  readonly limit: number;
  /** The effective order `compare` applies: the query's fields (repeats dropped) up to the key. */
  readonly order: ReadonlyArray<readonly [string, SortDirection]>;
  /** The equality `where` without its undefined fields (frozen); null for a predicate or none. */
  readonly equality: Readonly<Record<string, unknown>> | null;
}

// ---------------------------------------------------------------------------------------------
// Value order, as Postgres orders JSONB (the reference server's dialect sorts by it, and on-demand
// pages must meet the client's order): a missing field like null < strings < dates (strings on the
// wire, after any other: a field rarely holds both) < numbers < booleans < arrays < objects <
// anything else (by its text).

function rank(value: unknown): number {
  switch (typeof value) {
    case 'undefined':
      return 1;
    case 'string':
      return 2;
    case 'number':
      return 4;
    case 'boolean':
      return 5;
    case 'object':
      return value === null ? 1 : value instanceof Date ? 3 : Array.isArray(value) ? 6 : 7;
    default:
      return 8;
  }
}

/** A unit from U+D800 up: a surrogate, or one it would sort below by code unit though not by code point. */
const HIGH_UNIT = /[\uD800-\uFFFF]/;

/**
 * By code point, as the server orders text (COLLATE "C": UTF-8 bytes), not `localeCompare`:
 * deterministic across browsers and locales. UTF-16 code units order alike but for a surrogate
 * (half of a character past U+FFFF, an emoji) against a unit from U+E000 (fullwidth and halfwidth
 * forms): by code unit the emoji came first, and on-demand pages judged rows of the server's order
 * out of their place (a cached row taken for deleted). Only strings holding such units both pay
 * for the walk.
 */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  if (HIGH_UNIT.test(a) && HIGH_UNIT.test(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a.charCodeAt(i);
      const y = b.charCodeAt(i);
      if (x === y) continue;
      if (x >= 0xd800 && y >= 0xd800 && x < 0xe000 !== y < 0xe000) return x < 0xe000 ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a < b ? -1 : 1;
}

/**
 * Compares two field values. Strings by code point (compareStrings). NaN sorts before every other
 * number.
 */
export function compareValues(a: unknown, b: unknown): number {
  // Fast paths first: a field almost always holds one type.
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (typeof a === 'number' && typeof b === 'number') {
    if (a < b) return -1;
    if (a > b) return 1;
    if (a === b) return 0;
    return a !== a ? (b !== b ? 0 : -1) : 1; // at least one NaN
  }
  if (a === b) return 0;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra === 5) return a ? 1 : -1; // booleans, and a !== b
  // By time, invalid dates first, as NaN among numbers.
  if (ra === 3) return compareValues((a as Date).getTime(), (b as Date).getTime());
  if (ra === 6 || ra === 7) {
    // As the server stores them: JSON, dates as their text.
    const ja = parsed(a);
    const jb = parsed(b);
    if (ja !== undefined && jb !== undefined) return compareJson(ja, jb);
    if (ja !== jb) return ja === undefined ? 1 : -1;
  }
  if (ra < 6) return 0; // undefined, null
  const ta = jsonText(a);
  const tb = jsonText(b);
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/**
 * JSONB's order of JSON values: arrays by length, then element by element; objects by their
 * number of keys, then key and value by key and value in JSONB's storage order of keys.
 */
function compareJson(a: unknown, b: unknown): number {
  const ra = rank(a);
  if (ra !== rank(b) || ra < 6) return compareValues(a, b);
  const x = ra === 6 ? (a as unknown[]) : storedKeys(a as Rec);
  const y = ra === 6 ? (b as unknown[]) : storedKeys(b as Rec);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  for (let i = 0; i < x.length; i++) {
    const c = ra === 6 ? compareJson(x[i], y[i]) : compareValues(x[i], y[i]) || compareJson((a as Rec)[x[i] as string], (b as Rec)[y[i] as string]);
    if (c !== 0) return c;
  }
  return 0;
}

/** JSONB keeps an object's keys shortest first (in UTF-8 bytes), then by their bytes. */
function storedKeys(object: Rec): string[] {
  return Object.keys(object).sort((p, q) => utf8Length(p) - utf8Length(q) || compareValues(p, q));
}

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A surrogate is half of a 4-byte character.
    n += unit < 0x80 ? 1 : unit < 0x800 || (unit >= 0xd800 && unit < 0xe000) ? 2 : 3;
  }
  return n;
}

/** The value as JSON carries it; undefined when JSON cannot write it (a bigint, a cycle). */
function parsed(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return undefined;
  }
}

// Bigints (a schema's output: no request can carry one), functions and symbols, and what JSON cannot write.
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? String(inner) : inner)) ?? '';
  } catch {
    // A cycle: still deterministic, never a throw mid-sort (String() throws for an object without a prototype).
    return Object.prototype.toString.call(value);
  }
}

// ---------------------------------------------------------------------------------------------
// Normalisation shared by compileQuery and queryKey.

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a value of type ${typeof value}`;
}

function normalizeLimit(limit: unknown): number {
  if (limit === undefined) return Infinity;
  if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 0) return limit;
  throw new TypeError(`harborsync: query limit must be a non-negative integer, received ${describe(limit)}`);
}

function checkField(field: unknown): string {
  if (typeof field === 'string' && field !== '') return field;
  throw new TypeError(`harborsync: query orderBy field must be a non-empty string, received ${describe(field)}`);
}

/** The query's order, repeats dropped, cut after the key (nothing after it can decide), key appended. */
function normalizeOrder(orderBy: unknown, keyField: string): Array<readonly [string, SortDirection]> {
  const items: readonly unknown[] =
    orderBy === undefined ? [] : typeof orderBy === 'string' || !Array.isArray(orderBy) ? [orderBy] : orderBy;
  const order: Array<readonly [string, SortDirection]> = [];
  const seen = new Set<string>();
  for (const item of items) {
    let field: string;
    let direction: SortDirection = 'asc';
    if (Array.isArray(item)) {
      field = checkField(item[0]);
      const given: unknown = item[1] ?? 'asc';
      if (given !== 'asc' && given !== 'desc') {
        throw new TypeError(`harborsync: query orderBy direction must be 'asc' or 'desc', received ${describe(given)}`);
      }
      direction = given;
    } else {
      field = checkField(item);
    }
    if (seen.has(field)) continue;
    seen.add(field);
    order.push([field, direction]);
    if (field === keyField) return order;
  }
  order.push([keyField, 'asc']);
  return order;
}

/** Own fields with defined values, in a frozen copy (fromEntries defines `__proto__` as data). */
function normalizeEquality(where: Rec): Readonly<Rec> {
  const entries: Array<[string, unknown]> = [];
  for (const field of Object.keys(where)) {
    if (where[field] !== undefined) entries.push([field, where[field]]);
  }
  return Object.freeze(Object.fromEntries(entries));
}

function checkWhere(where: unknown): void {
  if (where === undefined || typeof where === 'function') return;
  if (!isPlainObject(where)) throw new TypeError(`harborsync: query where must be an object of field values or a function, received ${describe(where)}`);
  // No entity holds one: compared by identity, it would match nothing, silently (a per-field predicate is not supported).
  for (const field of Object.keys(where)) {
    const value = where[field];
    if (typeof value === 'function' || typeof value === 'symbol') {
      throw new TypeError(`harborsync: query where.${field} must be a value to compare with, received ${describe(value)}; a predicate is where: (entity) => boolean`);
    }
  }
}

/** A query that is no object, or an option misspelt ({ filter }), would show every row: refused. */
function checkQuery(query: unknown): Rec | undefined {
  if (query === undefined) return undefined;
  if (!isPlainObject(query)) throw new TypeError(`harborsync: a query must be an object of where, orderBy and limit, received ${describe(query)}`);
  for (const name of Object.keys(query)) {
    if (name !== 'where' && name !== 'orderBy' && name !== 'limit') throw new TypeError(`harborsync: query.${name} is not a query option (where, orderBy, limit)`);
  }
  checkWhere(query['where']);
  return query;
}

// ---------------------------------------------------------------------------------------------
// Compilation.

/**
 * Reads a field. Names inherited from Object.prototype (`constructor`, `toString`, `__proto__`)
 * are read as own data only, so a missing field never yields a prototype member.
 */
function reader(field: string): (entity: Rec) => unknown {
  if (field in Object.prototype) return (entity) => (Object.hasOwn(entity, field) ? entity[field] : undefined);
  return (entity) => entity[field];
}

const always = (): boolean => true;

/**
 * The id a `where` value naming an entity (a reference field, or the key) stands for now: a
 * temporary id the server renamed since resolves to the server's. Anything else is returned as is.
 */
export type CurrentValue = (field: string, value: unknown) => unknown;

function compileMatch(equality: Readonly<Rec>, current: CurrentValue | undefined): (entity: Rec) => boolean {
  const fields = Object.keys(equality);
  const reads = fields.map(reader);
  const values = fields.map((field) => equality[field]);
  // Primitives compare with ===; only objects and arrays pay for deepEqual.
  const structural = values.map((value) => typeof value === 'object' && value !== null);
  // A temporary id matches the entities naming it by either id: the rename rewrites their fields
  // to the server's, and a query made with the id create() returned must keep showing them.
  const renamable = values.map((value) => current !== undefined && typeof value === 'string' && value.startsWith(TEMP_ID_PREFIX));
  const n = fields.length;
  if (n === 0) return always;
  return (entity) => {
    for (let i = 0; i < n; i++) {
      const actual = reads[i]!(entity);
      if (structural[i] ? deepEqual(actual, values[i]) : actual === values[i]) continue;
      if (renamable[i] && actual !== undefined && actual === current!(fields[i]!, values[i])) continue;
      return false;
    }
    return true;
  };
}

function compileCompare(order: ReadonlyArray<readonly [string, SortDirection]>): Compare<Rec> {
  const reads = order.map(([field]) => reader(field));
  const signs = order.map(([, direction]) => (direction === 'desc' ? -1 : 1));
  const n = order.length;
  return (a, b) => {
    for (let i = 0; i < n; i++) {
      const read = reads[i]!;
      const c = compareValues(read(a), read(b));
      if (c !== 0) return c * signs[i]!;
    }
    return 0;
  };
}

/**
 * Compiles a query once. `where` is an equality object (each listed field deepEqual to the
 * entity's; undefined fields ignored) or a predicate; `orderBy` a field, or fields and
 * `[field, direction]` tuples. Throws a TypeError for a malformed query.
 */
export function compileQuery<T extends object>(query: Query<T> | undefined, keyField: string, current?: CurrentValue): CompiledQuery<T> {
  checkField(keyField);
  const where: unknown = checkQuery(query)?.['where'];
  const limit = normalizeLimit(query?.limit);
  const order = normalizeOrder(query?.orderBy, keyField);
  const equality = isPlainObject(where) ? normalizeEquality(where) : null;
  let matches: (entity: T) => boolean;
  if (typeof where === 'function') {
    const predicate = where as (entity: T) => boolean;
    matches = (entity) => !!predicate(entity); // JS callers may return truthy values
  } else {
    matches = (equality === null ? always : compileMatch(equality, current)) as (entity: T) => boolean;
  }
  return {
    matches,
    compare: compileCompare(order) as unknown as Compare<T>,
    limit,
    order: Object.freeze(order),
    equality,
  };
}

// ---------------------------------------------------------------------------------------------
// Identity of a query, for sharing one live query between equal requests.

/** JSON-like text with object keys sorted, so equal (deepEqual) values give equal text. */
function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  // JSON writes NaN and ±Infinity as null, which a query compares differently.
  if (typeof value === 'number') return String(value);
  if (value instanceof Date) return `Date(${value.getTime()})`; // not the same key as its ISO string
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isPlainObject(value)) {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined) parts.push(`${JSON.stringify(key)}:${canonical(value[key])}`);
    }
    return `{${parts.join(',')}}`;
  }
  return jsonText(value);
}

/**
 * A stable string naming what a query shows: equal for queries that differ only in key order,
 * undefined fields, repeated or redundant order fields. Null when `where` is a predicate
 * (functions cannot be compared by value). Throws like compileQuery for a malformed query.
 */
export function queryKey<T extends object>(query: Query<T> | undefined, keyField: string): string | null {
  checkField(keyField);
  const where: unknown = checkQuery(query)?.['where'];
  if (typeof where === 'function') return null;
  const limit = normalizeLimit(query?.limit);
  const order = normalizeOrder(query?.orderBy, keyField);
  const whereText = isPlainObject(where) ? canonical(where) : '{}';
  const orderText = order.map(([field, direction]) => `${JSON.stringify(field)}:${direction}`).join(',');
  return `where=${whereText};order=${orderText};limit=${limit === Infinity ? 'none' : limit}`;
}
