import type { FieldIssue } from '../errors.js';
import { isPlainObject, MAX_DEPTH } from './plain.js';
import type { StandardSchemaV1 } from './standard-schema.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/**
 * Values a missing version field is given, in turn, to read the schema's output (its defaults and
 * transforms) for an entity the server has not versioned yet; the field is taken out again.
 */
const VERSION_STAND_INS: readonly unknown[] = [1, '1'];

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
 * with a stand-in version, less that field (a field derived from the version holds the stand-in's
 * value until the server's answer replaces it). Checks that only run on a whole entity (a
 * refinement) run then too, and an issue one raises on another field, or on none, is reported.
 * When no stand-in passes, the entity is kept as it is.
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
  return after(check(schema, value), (result) => {
    // A version the schema filled in itself (a default) is none the server gave: taken out, as a stand-in's is.
    if (!result.issues) return { ok: true, value: missing === null ? result.value : (without(result.value, missing) as T) };
    const issues = issuesOf(result.issues);
    // One naming no field may be the missing version's too (a union's "no member takes it"): the stand-ins say.
    const remaining = missing === null ? issues : issues.filter((i) => i.field !== missing && i.field !== '');
    if (remaining.length > 0) return { ok: false, issues: remaining };
    // Only the missing version was wrong (or a failure named no issue at all).
    return missing === null ? { ok: true, value: value as T } : withStandIn(schema, value as Record<string, unknown>, missing, 0);
  });
}

function withStandIn<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: Record<string, unknown>,
  field: string,
  next: number,
  unnamed: FieldIssue[] = [],
): Validation<T> | Promise<Validation<T>> {
  // Issues naming no field (a refinement across fields without a path) are the entity's own
  // unless a stand-in passes: a union refuses a stand-in of the wrong type with one too.
  if (next === VERSION_STAND_INS.length) return unnamed.length ? { ok: false, issues: unnamed } : { ok: true, value: value as T };
  return after(check(schema, { ...value, [field]: VERSION_STAND_INS[next] }), (result) => {
    if (!result.issues) return { ok: true, value: without(result.value, field) as T };
    const issues = issuesOf(result.issues);
    // Issues naming another field come from checks of the whole entity, which only run now: they
    // are the entity's own.
    const named = issues.filter((i) => i.field !== field && i.field !== '');
    if (named.length) return { ok: false, issues: named };
    // A stand-in the schema refuses (of the wrong type or format): the next one.
    return withStandIn(schema, value, field, next + 1, unnamed.length ? unnamed : issues.filter((i) => i.field === ''));
  });
}

/**
 * The schema's answer for the value or, should it refuse a value holding Dates, for its wire form
 * if that one is refused less: a stored view is the schema's output, and a schema that reads a date
 * from its ISO string (as the server sends it) refuses the Date it made.
 */
function check<T>(schema: StandardSchemaV1<unknown, T>, value: unknown): StandardSchemaV1.Result<T> | Promise<StandardSchemaV1.Result<T>> {
  return after(run(schema, value), (result) => {
    const wire = result.issues ? wireForm(value) : value;
    return wire === value ? result : after(run(schema, wire), (again) => (again.issues && again.issues.length >= result.issues!.length ? result : again));
  });
}

/** The schema's answer; a throw (a transform given what it cannot read: zod passes it on) is an issue naming no field. */
function run<T>(schema: StandardSchemaV1<unknown, T>, value: unknown): StandardSchemaV1.Result<T> | Promise<StandardSchemaV1.Result<T>> {
  const threw = (error: unknown): StandardSchemaV1.FailureResult => ({ issues: [{ message: `the schema threw: ${String(error)}` }] });
  try {
    const result = schema['~standard'].validate(value);
    return result instanceof Promise ? result.catch(threw) : result;
  } catch (error) {
    return threw(error);
  }
}

/**
 * The value as a JSON request carries it, Dates as ISO strings; the value itself when it holds none.
 * Only plain data is walked, and not past a cycle or MAX_DEPTH: what is beyond is no entity's.
 */
function wireForm(value: unknown, ancestors: unknown[] = []): unknown {
  if (value instanceof Date) return value.toJSON();
  if (!(Array.isArray(value) || isPlainObject(value)) || ancestors.length >= MAX_DEPTH || ancestors.includes(value)) return value;
  ancestors.push(value);
  const entries = Object.entries(value).map(([key, item]) => [key, wireForm(item, ancestors)] as const);
  ancestors.pop();
  if (entries.every(([key, item]) => item === (value as Record<string, unknown>)[key])) return value;
  return Array.isArray(value) ? entries.map(([, item]) => item) : Object.fromEntries(entries);
}

/** The output less `field` (a new object only when it has one). */
function without(output: unknown, field: string): unknown {
  if (typeof output !== 'object' || output === null || !(field in output)) return output;
  const { [field]: _dropped, ...rest } = output as Record<string, unknown>;
  return rest;
}

function after<T, R>(result: T | Promise<T>, then: (result: T) => R | Promise<R>): R | Promise<R> {
  return result instanceof Promise ? result.then(then) : then(result);
}
