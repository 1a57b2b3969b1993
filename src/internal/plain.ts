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
