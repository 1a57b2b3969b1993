import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource } from '../resource.js';
import { referrersOf, replaceReferences, waitsForId } from './remap.js';

const schema = z.object({ id: z.string() });
const projects = defineResource({ name: 'projects', schema });
const todos = defineResource({ name: 'todos', schema, references: { projectId: 'projects', ownerId: 'users' } });
const links = defineResource({ name: 'links', schema, references: { from: 'projects', to: 'projects' } });

describe('remap', () => {
  it('finds every resource and field that references a resource', () => {
    expect(referrersOf([projects, todos, links], 'projects')).toEqual([
      { r: 'todos', fields: ['projectId'] },
      { r: 'links', fields: ['from', 'to'] },
    ]);
    expect(referrersOf([projects, todos], 'todos')).toEqual([]);
  });

  it('replaces only the named fields holding the old id, keeping the object when nothing changes', () => {
    const value = { id: 't', projectId: 'tmp:1', note: 'tmp:1' };
    expect(replaceReferences(value, ['projectId'], 'tmp:1', '7')).toEqual({ id: 't', projectId: '7', note: 'tmp:1' });
    expect(value.projectId).toBe('tmp:1');
    const untouched = { id: 't', projectId: '3' };
    expect(replaceReferences(untouched, ['projectId'], 'tmp:1', '7')).toBe(untouched);
    expect(replaceReferences(null, ['projectId'], 'tmp:1', '7')).toBeNull();
  });

  it('is undone by the inverse replacement when the new id was not there before', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('tmp:x', 'y', 'z')), (value) => {
        const there = replaceReferences(value, ['a', 'b'], 'tmp:x', 'new');
        expect(replaceReferences(there, ['a', 'b'], 'new', 'tmp:x')).toEqual(value);
      }),
    );
  });

  it('holds back a payload that points at a temporary id', () => {
    expect(waitsForId({ projectId: 'tmp:abc' }, ['projectId'])).toBe(true);
    expect(waitsForId({ projectId: '12' }, ['projectId'])).toBe(false);
    expect(waitsForId(null, ['projectId'])).toBe(false);
  });
});
