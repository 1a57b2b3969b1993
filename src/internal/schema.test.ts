import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { StandardSchemaV1 } from './standard-schema.js';
import { validate } from './schema.js';

const todo = z.object({ id: z.string(), title: z.string().trim(), done: z.boolean().default(false), version: z.number().int().positive() });

/**
 * A schema of one's own: `check` decides (a message, or null to pass), the output is `output` of
 * the value; `async` says when it answers with a promise.
 */
function handMade(
  check: (value: Record<string, unknown>) => string | null,
  options: { output?: (value: Record<string, unknown>) => Record<string, unknown>; async?: (value: Record<string, unknown>) => boolean; issues?: StandardSchemaV1.Issue[] } = {},
): StandardSchemaV1<unknown, Record<string, unknown>> {
  const run = (value: Record<string, unknown>): StandardSchemaV1.Result<Record<string, unknown>> => {
    const message = check(value);
    if (message !== null) return { issues: options.issues ?? [{ message, path: ['version'] }] };
    return { value: options.output ? options.output(value) : value };
  };
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => {
        const record = value as Record<string, unknown>;
        return options.async?.(record) ? Promise.resolve(run(record)) : run(record);
      },
    },
  };
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

  it('an async schema answers with a promise, and the output of a stand-in is used', async () => {
    const schema = handMade((value) => (typeof value['version'] === 'number' ? null : 'version: a number'), {
      async: () => true,
      output: (value) => ({ ...value, checked: true }),
    });
    const answer = validate(schema, { id: 'a' }, 'version');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual({ ok: true, value: { id: 'a', checked: true } });
    expect(await validate(schema, { id: 'a', version: 'x' }, 'version')).toEqual({ ok: false, issues: [{ field: 'version', message: 'version: a number' }] });
  });

  it('a schema synchronous at first and async once the version is there answers with a promise', async () => {
    const schema = handMade((value) => (value['version'] === undefined ? 'version: required' : null), {
      async: (value) => value['version'] !== undefined,
      output: (value) => ({ ...value, checked: true }),
    });
    const answer = validate(schema, { id: 'a' }, 'version');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual({ ok: true, value: { id: 'a', checked: true } });
  });

  it('defaults that differ from run to run (an id, a time) are kept from the stand-in run', () => {
    let drawn = 0;
    const schema = todo.extend({ slug: z.string().default(() => `slug-${++drawn}`) });
    const answer = validate(schema, { id: 'a', title: ' x ', junk: 1 }, 'version');
    expect(answer).toEqual({ ok: true, value: { id: 'a', title: 'x', done: false, slug: expect.stringMatching(/^slug-\d+$/) } });
  });

  it('a field derived from the version holds the stand-in until the server answers with a version', () => {
    const schema = z.object({ id: z.string(), version: z.number() }).transform(({ version, ...rest }) => ({ ...rest, revision: version }));
    expect(validate(schema, { id: 'a' }, 'version')).toEqual({ ok: true, value: { id: 'a', revision: 1 } });
  });

  it('a refinement of the whole entity that names another field is reported, though the version is missing', () => {
    const schema = todo.refine((t) => t.title !== 'bad', { message: 'not that title', path: ['title'] });
    expect(validate(schema, { id: 'a', title: 'bad' }, 'version')).toEqual({ ok: false, issues: [{ field: 'title', message: 'not that title' }] });
    expect(validate(schema, { id: 'a', title: 'good' }, 'version')).toEqual({ ok: true, value: { id: 'a', title: 'good', done: false } });
  });

  it('a refinement naming another field is reported, also when the version stand-in fails a format check', () => {
    const schema = z
      .object({ id: z.string(), title: z.string(), version: z.string().min(4) })
      .refine((t) => t.title !== 'bad', { message: 'not that title', path: ['title'] });
    expect(validate(schema, { id: 'a', title: 'bad' }, 'version')).toEqual({ ok: false, issues: [{ field: 'title', message: 'not that title' }] });
    expect(validate(schema, { id: 'a', title: 'good' }, 'version')).toEqual({ ok: true, value: { id: 'a', title: 'good' } });
  });

  it('a refinement of the whole entity that names no field is reported, though the version is missing', () => {
    const schema = todo.refine((t) => t.title !== 'bad', { message: 'not that title' });
    expect(validate(schema, { id: 'a', title: 'bad' }, 'version')).toEqual({ ok: false, issues: [{ field: '', message: 'not that title' }] });
    expect(validate(schema, { id: 'a', title: 'good' }, 'version')).toEqual({ ok: true, value: { id: 'a', title: 'good', done: false } });
  });

  it('a union (not discriminated) of entities takes an entity whose version is missing, and reports what no member takes', () => {
    const note = { id: z.string(), kind: z.literal('note'), text: z.string() };
    const link = { id: z.string(), kind: z.literal('link'), url: z.string() };
    for (const version of [z.number(), z.string()]) {
      const schema = z.union([z.object({ ...note, version }), z.object({ ...link, version })]);
      expect(validate(schema, { id: 'a', kind: 'link', url: 'https://x' }, 'version')).toEqual({ ok: true, value: { id: 'a', kind: 'link', url: 'https://x' } });
      expect(validate(schema, { id: 'a', kind: 'link', text: 'no url' }, 'version')).toEqual({ ok: false, issues: [expect.objectContaining({ field: '' })] });
    }
  });

  it('a Date is read as the schema reads it, as a Date or as its ISO string (the wire form), also while the version is missing', () => {
    const at = new Date('2024-01-15T12:00:00.000Z');
    const asDate = z.object({ id: z.string(), at: z.date(), version: z.number() });
    const fromText = z.object({ id: z.string(), at: z.string().transform((text) => new Date(text)), version: z.number() });
    for (const schema of [asDate, fromText]) {
      expect(validate(schema, { id: 'a', at, version: 1 })).toEqual({ ok: true, value: { id: 'a', at, version: 1 } });
      expect(validate(schema, { id: 'a', at }, 'version')).toEqual({ ok: true, value: { id: 'a', at } });
      expect(validate(schema, { id: 'a', at, version: 'x' }, 'version')).toEqual({ ok: false, issues: [expect.objectContaining({ field: 'version' })] });
    }
  });

  it('a refused value that refers back to itself, or nests deep, is reported as refused (no stack overflow)', () => {
    const cyclic: Record<string, unknown> = { id: 'a', title: 5, version: 1 };
    cyclic['self'] = { parent: cyclic, at: new Date(0) };
    let deep: unknown = new Date(0);
    for (let i = 0; i < 20_000; i++) deep = [deep];
    for (const value of [cyclic, { id: 'a', title: 5, version: 1, deep }]) {
      expect(validate(todo, value)).toEqual({ ok: false, issues: [expect.objectContaining({ field: 'title' })] });
    }
  });

  it('a failure that names no issue passes the entity as it is, as before', () => {
    const schema = handMade(() => 'refused', { issues: [] });
    expect(validate(schema, { id: 'a' })).toEqual({ ok: true, value: { id: 'a' } });
  });
});
