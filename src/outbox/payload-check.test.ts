import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, type StandardSchemaV1 } from '../index.js';
import { payloadIssues } from './payload-check.js';

const schema = z.object({ id: z.string(), title: z.string().max(5), meta: z.object({ tags: z.array(z.string()) }), version: z.number().int() });
const todos = defineResource({ name: 'todos', schema });

describe('payloadIssues: what the schema refuses in a queued change', () => {
  it('a create is checked whole, its version allowed to be missing', () => {
    expect(payloadIssues(todos, { op: 'create', payload: { id: 'a', title: 'milk', meta: { tags: [] } } })).toEqual([]);
    const issues = payloadIssues(todos, { op: 'create', payload: { id: 'a', title: 'oat milk' } }) as Array<{ field: string }>;
    expect(issues.map((i) => i.field).sort()).toEqual(['meta', 'title']);
  });

  it('an update counts only the issues naming a field it carries, nested ones included', () => {
    expect(payloadIssues(todos, { op: 'update', payload: { title: 'milk' } })).toEqual([]);
    expect((payloadIssues(todos, { op: 'update', payload: { title: 'oat milk' } }) as Array<{ field: string }>).map((i) => i.field)).toEqual(['title']);
    expect((payloadIssues(todos, { op: 'update', payload: { meta: { tags: [1] } } }) as Array<{ field: string }>).map((i) => i.field)).toEqual(['meta.tags.0']);
  });

  it('a delete carries nothing to check', () => {
    expect(payloadIssues(todos, { op: 'delete', payload: null })).toEqual([]);
  });

  it('an async schema answers with a promise', async () => {
    const later: StandardSchemaV1<unknown, z.infer<typeof schema>> = {
      '~standard': { version: 1, vendor: 'test', validate: (value) => Promise.resolve(schema['~standard'].validate(value)) },
    };
    const checked = payloadIssues(defineResource({ name: 'todos', schema: later }), { op: 'update', payload: { title: 'oat milk' } });
    expect(checked).toBeInstanceOf(Promise);
    expect((await checked).map((i) => i.field)).toEqual(['title']);
  });
});
