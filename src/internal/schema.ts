import type { FieldIssue } from '../errors.js';
import type { StandardSchemaV1 } from './standard-schema.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

function fieldOf(issue: StandardSchemaV1.Issue): string {
  if (!issue.path) return '';
  return issue.path.map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.');
}

function toResult<T>(result: StandardSchemaV1.Result<T>, input: unknown, optionalField: string | null): Validation<T> {
  if (!result.issues) return { ok: true, value: result.value };
  const issues = result.issues.map((i) => ({ field: fieldOf(i), message: i.message }));
  // Until the server confirms a create, the entity has no version: its absence is not an error.
  const remaining =
    optionalField === null ? issues : issues.filter((i) => i.field !== optionalField);
  if (remaining.length === 0) return { ok: true, value: input as T };
  return { ok: false, issues: remaining };
}

/**
 * Runs the schema. Synchronous schemas answer synchronously, so a local write can update the
 * mirror in the same call; an async schema answers with a promise.
 */
export function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  optionalField: string | null = null,
): Validation<T> | Promise<Validation<T>> {
  const skip = optionalField !== null && (value as Record<string, unknown>)[optionalField] === undefined ? optionalField : null;
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) return result.then((r) => toResult(r, value, skip));
  return toResult(result, value, skip);
}
