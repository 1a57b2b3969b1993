import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { StandardSchemaV1 } from './standard-schema.js';
import { validate } from './schema.js';

const todo = z.object({ id: z.string(), title: z.string().trim(), done: z.boolean().default(false), version: z.number().int().positive() });

/** A schema of one's own: `check` decides, the value passes through (async when asked). */
function handMade(check: (value: Record<string, unknown>) => string | null, async = false): StandardSchemaV1<unknown, Record<string, unknown>> {
  const run = (value: unknown): StandardSchemaV1.Result<Record<string, unknown>> => {
    const message = check(value as Record<string, unknown>);
    return message === null ? { value: value as Record<string, unknown> } : { issues: [{ message, path: ['version'] }] };
  };
  return { '~standard': { version: 1, vendor: 'test', validate: (value) => (async ? Promise.resolve(run(value)) : run(value)) } };
}

describe('validate', () => {
  it('answers with the schema output, synchronously for a synchronous schema', () => {
    expect(validate(todo, { id: 'a', title: ' Milk ', version: 3 })).toEqual({ ok: true, value: { id: 'a', title: 'Milk', done: false, version: 3 } });
  });

  it('names the field of every issue, the path joined with dots', () => {
    const nested = z.object({ id: z.string(), owner: z.object({ name: z.string() }) });
    expect(validate(nested, { id: 1, owner: { name: 2 } })).toEqual({
      ok: false,
      issues: [expect.objectContaining({ field: 'id' }), expect.objectContaining({ field: 'owner.name' })],
    });
  });

  it('with the version missing and allowed to be: the output of the schema, without a version', () => {
    expect(validate(todo, { id: 'a', title: ' Milk ' }, 'version')).toEqual({ ok: true, value: { id: 'a', title: 'Milk', done: false } });
  });

  it('a missing version the schema wants as a string: the second stand-in passes', () => {
    const schema = z.object({ id: z.string(), version: z.string() }).transform((t) => ({ ...t, seen: true }));
    expect(validate(schema, { id: 'a' }, 'version')).toEqual({ ok: true, value: { id: 'a', seen: true } });
  });

  it('a missing version that no stand-in satisfies: the entity as it is', () => {
    const schema = z.object({ id: z.string(), title: z.string().trim(), version: z.literal(7) });
    const value = { id: 'a', title: ' Milk ' };
    expect(validate(schema, value, 'version')).toEqual({ ok: true, value });
  });

  it('other issues are still reported while the version is missing', () => {
    expect(validate(todo, { id: 'a', title: 5 }, 'version')).toEqual({ ok: false, issues: [expect.objectContaining({ field: 'title' })] });
  });

  it('a version present and wrong is reported, allowed to be missing or not', () => {
    expect(validate(todo, { id: 'a', title: 'x', version: -1 }, 'version')).toEqual({ ok: false, issues: [expect.objectContaining({ field: 'version' })] });
  });

  it('an async schema answers with a promise, stand-ins included', async () => {
    const schema = handMade((value) => (typeof value['version'] === 'number' ? null : 'version: a number'), true);
    const answer = validate(schema, { id: 'a' }, 'version');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual({ ok: true, value: { id: 'a' } });
    expect(await validate(schema, { id: 'a', version: 'x' }, 'version')).toEqual({ ok: false, issues: [{ field: 'version', message: 'version: a number' }] });
  });
});
