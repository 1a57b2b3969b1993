import type { FieldIssue } from '../errors.js';
import { deepEqual } from './plain.js';
import type { StandardSchemaV1 } from './standard-schema.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/**
 * Pairs of values a missing version field is given, a pair at a time, to read the schema's output
 * (its defaults and transforms) for an entity the server has not versioned yet. Both of a pair
 * must give the same output less that field: an output that depends on the version's value would
 * hold a made-up value.
 */
const VERSION_STAND_INS: ReadonlyArray<readonly [unknown, unknown]> = [
  [1, 2],
  ['1', '2'],
];

function fieldOf(issue: StandardSchemaV1.Issue): string {
  if (!issue.path) return '';
  return issue.path.map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.');
}

const issuesOf = (issues: readonly StandardSchemaV1.Issue[]): FieldIssue[] => issues.map((i) => ({ field: fieldOf(i), message: i.message }));

/**
 * Runs the schema. Synchronous schemas answer synchronously, so a local write can update the
 * mirror in the same call; an async schema answers with a promise.
 *
 * `optionalField` (the version) may be missing: until the server confirms a create, the entity
 * has none. Its absence is then no error, and the output is what the schema makes of the entity
 * with a stand-in version, less that field. Checks that only run on a whole entity (a refinement)
 * run then too, and an issue one names on another field is reported. When no stand-in passes, or
 * the output depends on the version, the entity is kept as it is.
 */
export function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  optionalField: string | null = null,
): Validation<T> | Promise<Validation<T>> {
  const missing =
    optionalField !== null && typeof value === 'object' && value !== null && (value as Record<string, unknown>)[optionalField] === undefined
      ? optionalField
      : null;
  return after(schema['~standard'].validate(value), (result) => {
    if (!result.issues) return { ok: true, value: result.value };
    const issues = issuesOf(result.issues);
    const remaining = missing === null ? issues : issues.filter((i) => i.field !== missing);
    if (remaining.length > 0) return { ok: false, issues: remaining };
    // Only the missing version was wrong (or a failure named no issue at all).
    return missing === null ? { ok: true, value: value as T } : withStandIn(schema, value as Record<string, unknown>, missing, 0);
  });
}

function withStandIn<T>(schema: StandardSchemaV1<unknown, T>, value: Record<string, unknown>, field: string, pair: number): Validation<T> | Promise<Validation<T>> {
  if (pair === VERSION_STAND_INS.length) return { ok: true, value: value as T };
  const [first, second] = VERSION_STAND_INS[pair]!;
  const run = (standIn: unknown) => schema['~standard'].validate({ ...value, [field]: standIn });
  return after(run(first), (result) => {
    if (result.issues) {
      const issues = issuesOf(result.issues);
      // A stand-in of the wrong type: the next pair. Issues on other fields are the entity's own;
      // one on the whole entity may be about the version, so it is not held against the entity.
      if (issues.some((i) => i.field === field)) return withStandIn(schema, value, field, pair + 1);
      const named = issues.filter((i) => i.field !== '');
      return named.length ? { ok: false, issues: named } : { ok: true, value: value as T };
    }
    const output = without(result.value, field);
    return after(run(second), (again) =>
      !again.issues && deepEqual(without(again.value, field), output) ? { ok: true, value: output as T } : { ok: true, value: value as T },
    );
  });
}

function without(output: unknown, field: string): Record<string, unknown> {
  const { [field]: _standIn, ...rest } = output as Record<string, unknown>;
  return rest;
}

function after<T, R>(result: T | Promise<T>, then: (result: T) => R | Promise<R>): R | Promise<R> {
  return result instanceof Promise ? result.then(then) : then(result);
}
