/**
 * Helpers for the JSON-like values entities are made of (pure).
 *
 * Equality follows JSON: a property holding `undefined` equals an absent one, because that is
 * what reaches the server. Nothing here assigns a key that could reach a prototype.
 */

type Rec = Record<string, unknown>;

/** Keys that are never merged or patched into an object: writing them could change a prototype. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

const hasOwn = Object.hasOwn as (object: object, key: string) => boolean;

/**
 * An object literal, `Object.create(null)`, or a plain object from another realm (an iframe),
 * whose prototype's prototype is null. Arrays, dates, maps and class instances are not.
 */
export function isPlainObject(value: unknown): value is Rec {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * Structural equality of JSON-like values: primitives by `===`, arrays element-wise, plain objects
 * by own enumerable keys (an `undefined` property equals an absent one), dates by time. Any other
 * object is equal only to itself. NaN is not equal to NaN.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && arraysEqual(a, b);
  if (Array.isArray(b)) return false;
  // Entities read back from IndexedDB may hold dates (structured clone keeps them).
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  return isPlainObject(a) && isPlainObject(b) && objectsEqual(a, b);
}

function arraysEqual(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
  return true;
}

// for-in with an own check rather than Object.keys: no array allocated per comparison.
function objectsEqual(a: Rec, b: Rec): boolean {
  for (const key in a) {
    if (hasOwn(a, key) && !deepEqual(a[key], hasOwn(b, key) ? b[key] : undefined)) return false;
  }
  for (const key in b) {
    if (hasOwn(b, key) && !hasOwn(a, key) && b[key] !== undefined) return false;
  }
  return true;
}

/**
 * A new object: `target`'s own fields with `patch`'s own top-level fields replacing them (shallow).
 * Forbidden keys in `patch` are skipped; inputs are never mutated. An `undefined` in `patch` is
 * set as such (equal to absent under `deepEqual`). Forbidden keys already own data of `target`
 * stay plain data: the spread defines them, it never invokes the `__proto__` setter.
 */
export function applyPatch(target: Rec, patch: Rec): Rec {
  const result: Rec = { ...target };
  for (const key in patch) {
    if (hasOwn(patch, key) && !isForbiddenKey(key)) result[key] = patch[key];
  }
  return result;
}

/**
 * Freezes an entity and the plain objects and arrays inside it, skipping what is frozen already (a
 * patched copy shares its unchanged fields): the caller gets the objects the views hold, and one it
 * changed in place would be changed unseen, neither stored nor sent, its rows misplaced in sorted
 * queries, and an update passing it back found to change nothing.
 */
export function freezeDeep<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || !(Array.isArray(value) || isPlainObject(value))) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) freezeDeep((value as Rec)[key]);
  return value;
}

/**
 * A copy of the plain objects and arrays in `value` (a write's input): the views freeze what they
 * hold, and a field the schema passes through as given would freeze the caller's own object.
 * Not past MAX_DEPTH nor into a cycle, which unsendableField refuses.
 */
export function copyPlain(value: unknown, ancestors: unknown[] = []): unknown {
  if (!(Array.isArray(value) || isPlainObject(value)) || ancestors.length >= MAX_DEPTH || ancestors.includes(value)) return value;
  ancestors.push(value);
  const copy = Array.isArray(value)
    ? value.map((item) => copyPlain(item, ancestors))
    : Object.fromEntries(Object.keys(value).map((key) => [key, copyPlain((value as Rec)[key], ancestors)]));
  ancestors.pop();
  return copy;
}

/** Deeper plain data is refused rather than walked: no entity needs it, and each level is a stack frame. */
export const MAX_DEPTH = 1_000;

/**
 * The dotted path of the first array or plain object nested deeper than MAX_DEPTH levels in
 * `value`; null when none is. Server data is checked with it: storing deeper data overflows the
 * stack of the structured clone, which fails the transaction of every item stored with it.
 */
export function nestedTooDeep(value: unknown): string | null {
  const keys = deepKeys(value, 0);
  return keys && keys.reverse().join('.');
}

/** The keys down to the value too deep, innermost first. */
function deepKeys(value: unknown, depth: number): string[] | null {
  if (typeof value !== 'object' || value === null || !(Array.isArray(value) || isPlainObject(value))) return null;
  if (depth >= MAX_DEPTH) return [];
  for (const key of Object.keys(value)) {
    const keys = deepKeys((value as Rec)[key], depth + 1);
    if (keys) return (keys.push(key), keys);
  }
  return null;
}

/**
 * The first value in an entity (or patch) that IndexedDB cannot store, or a JSON request cannot
 * carry as it is, with its dotted path; null when there is none. A local write must be both: a
 * value IndexedDB refuses fails its transaction (DataCloneError), and one JSON changes is sent as
 * something else, which the server's answer then brings back in its place.
 *
 * Accepted: null, booleans, strings, finite numbers; Dates with a time (IndexedDB keeps them as
 * Dates, a request carries their ISO string, as a schema transform producing one expects); arrays
 * of these, and plain objects of these, where an undefined property is an absent one (as in JSON).
 * Refused: functions and symbols (not storable), bigints (JSON.stringify throws), NaN, Infinity
 * and invalid Dates (sent as null), undefined or holes in arrays (sent as null), Maps, Sets,
 * typed arrays, boxed primitives and class instances (sent as `{}` or their own fields), cycles,
 * and nesting deeper than MAX_DEPTH.
 */
export function unsendableField(value: unknown): { field: string; message: string } | null {
  return unsendableAt(value, '', []);
}

function unsendableAt(value: unknown, path: string, ancestors: object[]): { field: string; message: string } | null {
  const at = (message: string) => ({ field: path, message });
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : at(`holds ${String(value)}, which a JSON request carries as null`);
    case 'bigint':
      return at('holds a bigint, which a JSON request cannot carry');
    case 'function':
    case 'symbol':
      return at(`holds a ${typeof value}, which IndexedDB cannot store nor a request carry`);
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? at('holds an invalid Date, which a JSON request carries as null') : null;
  if (ancestors.includes(object)) return at('refers back to an object holding it, which a JSON request cannot carry');
  // Checked before the stack runs out (a RangeError would name nothing).
  if (ancestors.length >= MAX_DEPTH) return at(`nests deeper than ${MAX_DEPTH} levels`);
  const inner = (key: string) => (path === '' ? key : `${path}.${key}`);
  ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const item: unknown = object[i];
        if (item === undefined) return { field: inner(String(i)), message: 'holds undefined in an array, which a JSON request carries as null' };
        const found = unsendableAt(item, inner(String(i)), ancestors);
        if (found) return found;
      }
      return null;
    }
    if (!isPlainObject(object)) {
      const name = (Object.getPrototypeOf(object) as { constructor?: { name?: unknown } }).constructor?.name;
      const kind = typeof name === 'string' && name !== '' ? `a ${name}` : 'an object that is not plain';
      return at(`holds ${kind}, not plain data (an object literal, array or Date), which IndexedDB and JSON would not keep as it is`);
    }
    for (const key of Object.keys(object)) {
      const found = unsendableAt((object as Rec)[key], inner(key), ancestors);
      if (found) return found;
    }
    return null;
  } finally {
    ancestors.pop();
  }
}
