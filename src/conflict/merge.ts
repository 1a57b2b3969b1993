/**
 * Three-way merge of an entity, field by field (pure, DESIGN §4 'merge').
 *
 * A field changed on one side only takes that side's value; changed on both sides to the same
 * value, that value; changed on both sides differently, it is a conflict, never a guess. Nested
 * plain objects merge the same way, one level down; arrays and every other value are one value.
 * A field absent on a side counts as undefined (deleted), as over JSON.
 */
import { deepEqual, isForbiddenKey, isPlainObject } from '../internal/plain.js';

type Rec = Record<string, unknown>;

export interface MergeOptions {
  /** Top-level fields the server owns (the version): they take remote's value, never conflict. */
  readonly ignore: readonly string[];
}

export interface MergeResult {
  /** The merged entity; a conflicting field holds remote's value until someone decides. */
  value: Rec;
  /** Dotted paths ('address.city') of the fields changed on both sides, differently. */
  conflicts: string[];
}

function own(record: Rec | null, key: string): unknown {
  return record !== null && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Own keys of `first`, then those only `second` has. */
function unionKeys(first: Rec | null, second: Rec | null): string[] {
  const keys = first === null ? [] : Object.keys(first);
  if (second !== null) {
    for (const key of Object.keys(second)) if (first === null || !Object.hasOwn(first, key)) keys.push(key);
  }
  return keys;
}

/**
 * Top-level fields whose values differ (deepEqual; absent equals undefined), in `a`'s key order
 * then `b`'s. Ignored and forbidden keys are skipped. A null record counts as empty.
 */
export function diffFields(a: Rec | null, b: Rec | null, ignore: readonly string[]): string[] {
  const changed: string[] = [];
  for (const key of unionKeys(a, b)) {
    if (isForbiddenKey(key) || ignore.includes(key)) continue;
    if (!deepEqual(own(a, key), own(b, key))) changed.push(key);
  }
  return changed;
}

/**
 * Merges `local` and `remote`, both derived from `base`. A null base (a create that met an
 * existing entity) knows no field: a field on one side only takes that side's value, a field on
 * both sides with different values conflicts. That is the same as an empty base, which is how
 * it is treated, at the top and for a nested object whose base was not an object.
 *
 * `__proto__`, `constructor` and `prototype` keys are skipped at every level the merge walks;
 * a value taken whole from one side is shared, not copied (treat the result as immutable).
 */
export function threeWayMerge(base: Rec | null, local: Rec, remote: Rec, options: MergeOptions): MergeResult {
  const conflicts: string[] = [];
  const value = mergeRecords(base, local, remote, '', conflicts, options.ignore);
  return { value, conflicts };
}

function mergeRecords(
  base: Rec | null,
  local: Rec,
  remote: Rec,
  prefix: string,
  conflicts: string[],
  ignore: readonly string[],
): Rec {
  const merged: Rec = {};
  for (const key of unionKeys(remote, local)) {
    if (isForbiddenKey(key)) continue; // the assignment below can then never reach a prototype
    const theirs = own(remote, key);
    const value = ignore.includes(key)
      ? theirs
      : mergeValue(own(base, key), own(local, key), theirs, prefix + key, conflicts);
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

function mergeValue(base: unknown, local: unknown, remote: unknown, path: string, conflicts: string[]): unknown {
  if (deepEqual(base, local)) return remote; // only remote changed, or nothing did
  if (deepEqual(base, remote) || deepEqual(local, remote)) return local; // only local, or both alike
  if (isPlainObject(local) && isPlainObject(remote)) {
    return mergeRecords(isPlainObject(base) ? base : null, local, remote, `${path}.`, conflicts, []);
  }
  conflicts.push(path);
  return remote;
}
