import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { outboxEntry } from '../../test/helpers/outbox-entry.js';
import { defineResource } from '../resource.js';
import type { ResourceDefinition } from '../types.js';
import type { OutboxEntry } from './entry.js';
import { entityKey, OutboxMemory } from './outbox-memory.js';
import { currentReferences, danglingReference, holdDeletions, waitsForOthers, type ReferenceHost } from './reference-waits.js';

type Def = ResourceDefinition<object>;

const asDef = (def: unknown) => def as Def;
/** Named by the server: a temporary id stands for one until the create's answer renames it. */
const projects = asDef(defineResource({ name: 'projects', schema: z.object({ id: z.string(), version: z.number() }), ids: 'server' }));
/** Named by the app: its ids are final, whatever they look like. */
const tags = asDef(defineResource({ name: 'tags', schema: z.object({ id: z.string(), version: z.number() }), ids: 'client' }));
const tasks = asDef(
  defineResource({
    name: 'tasks',
    schema: z.object({ id: z.string(), projectId: z.string(), tagIds: z.array(z.string()), version: z.number() }),
    ids: 'client',
    references: { projectId: 'projects', tagIds: 'tags' },
  }),
);
/** Tasks that name another task they follow. */
const steps = asDef(
  defineResource({ name: 'steps', schema: z.object({ id: z.string(), after: z.string(), version: z.number() }), ids: 'client', references: { after: 'steps' } }),
);
const notes = asDef(defineResource({ name: 'notes', schema: z.object({ id: z.string(), version: z.number() }), ids: 'client' }));
/** Comments on a task. */
const comments = asDef(
  defineResource({ name: 'comments', schema: z.object({ id: z.string(), taskId: z.string(), version: z.number() }), ids: 'client', references: { taskId: 'tasks' } }),
);
const defs = new Map([projects, tags, tasks, steps, notes, comments].map((def) => [def.name, def]));

function hostWith(entries: OutboxEntry[]): ReferenceHost {
  const outbox = new OutboxMemory();
  outbox.replaceAll(entries);
  return { store: { outbox }, definition: (r) => defs.get(r), currentReference: (_r, id) => id };
}

/** A task queued at `seq`, naming `projectId` and `tagIds`. */
const task = (seq: number, projectId: string, tagIds: string[] = []) =>
  outboxEntry({ seq, r: 'tasks', id: `task-${seq}`, op: 'create', payload: { id: `task-${seq}`, projectId, tagIds, version: 0 } });

const waits = (host: ReferenceHost, entry: OutboxEntry, renaming: ReadonlySet<string> = new Set()) => waitsForOthers(host, renaming, entry, defs.get(entry.r)!, entry.payload);

describe('waitsForOthers', () => {
  it('holds a change naming a temporary id of a resource the server names, whatever the queue holds of its create', () => {
    const create = outboxEntry({ seq: 3, r: 'projects', id: 'tmp:p', op: 'create', payload: { id: 'tmp:p', version: 0 } });
    expect(waits(hostWith([create]), task(2, 'tmp:p'))).toBe(true);
    expect(waits(hostWith([]), task(2, 'tmp:p'))).toBe(true);
  });

  it('does not hold a change naming an id of a resource the app names, though it looks temporary', () => {
    expect(waits(hostWith([]), task(2, 'p1', ['tmp:t']))).toBe(false);
  });

  it('holds a change while an earlier change to the entity it names is queued, not for a later one', () => {
    const update = (seq: number) => outboxEntry({ seq, r: 'projects', id: 'p1', op: 'update', payload: { name: 'P' } });
    expect(waits(hostWith([update(1)]), task(2, 'p1'))).toBe(true);
    expect(waits(hostWith([update(3)]), task(2, 'p1'))).toBe(false);
    // Each id of an array field is looked at.
    const tag = outboxEntry({ seq: 1, r: 'tags', id: 't2', op: 'create', payload: { id: 't2', version: 0 } });
    expect(waits(hostWith([tag]), task(2, 'p1', ['t1', 't2']))).toBe(true);
  });

  it('holds a change while the entity it names has a parked create, or a change parked on the deletion; not for a parked update', () => {
    const conflict = { base: null, local: null, fields: [] };
    const parked = (fields: Partial<OutboxEntry>) => outboxEntry({ seq: 1, r: 'projects', id: 'p1', ...fields });
    expect(waits(hostWith([parked({ op: 'create', payload: { id: 'p1', version: 0 }, state: 'failed' })]), task(2, 'p1'))).toBe(true);
    expect(waits(hostWith([parked({ state: 'conflict', conflict: { ...conflict, remote: null } })]), task(2, 'p1'))).toBe(true);
    expect(waits(hostWith([parked({ state: 'failed' })]), task(2, 'p1'))).toBe(false);
    expect(waits(hostWith([parked({ state: 'conflict', conflict: { ...conflict, remote: { id: 'p1', version: 2 } } })]), task(2, 'p1'))).toBe(false);
  });

  it('holds a change naming an entity whose rename is being stored, by either id', () => {
    const renaming = new Set([entityKey('projects', 'tmp:p'), entityKey('projects', 'p1')]);
    expect(waits(hostWith([]), task(2, 'p1'), renaming)).toBe(true);
    expect(waits(hostWith([]), task(2, 'p2'), renaming)).toBe(false);
  });

  it('never holds two changes each for the other: only the earlier one holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (a, b) => {
        fc.pre(a !== b);
        const step = (seq: number, after: string) => outboxEntry({ seq, r: 'steps', id: `s${seq}`, op: 'update', payload: { after } });
        const [first, second] = [step(a, `s${b}`), step(b, `s${a}`)];
        const host = hostWith([first, second]);
        expect(waits(host, first) && waits(host, second)).toBe(false);
        expect(waits(host, first) || waits(host, second)).toBe(true);
      }),
    );
  });
});

describe('currentReferences', () => {
  const renamed = (r: string, id: string) => (r === 'projects' && id === 'tmp:p' ? 'p1' : id);

  it('names a renamed temporary id by the id the server gave it, leaving the stored payload as it was', () => {
    const payload = { id: 'task-1', projectId: 'tmp:p', tagIds: ['t1'], version: 0 };
    expect(currentReferences({ currentReference: renamed }, tasks, payload)).toEqual({ ...payload, projectId: 'p1' });
    expect(payload.projectId).toBe('tmp:p');
  });

  it('gives the same payload back when nothing it names was renamed', () => {
    const payload = { id: 'task-1', projectId: 'p2', tagIds: ['tmp:t'], version: 0 };
    expect(currentReferences({ currentReference: renamed }, tasks, payload)).toBe(payload);
    expect(currentReferences({ currentReference: renamed }, tasks, null)).toBeNull();
  });
});

describe('danglingReference', () => {
  const dangling = (host: ReferenceHost, projectId: string, busy: ReadonlySet<string> = new Set()) =>
    danglingReference(host, busy, tasks, { id: 'task-2', projectId, tagIds: ['tmp:t'], version: 0 });

  it('reports a temporary id whose create is gone, naming the field', () => {
    expect(dangling(hostWith([]), 'tmp:p')).toEqual({ field: 'projectId', message: 'refers to projects/tmp:p, whose create was dropped before the server named it' });
  });

  it('reports nothing while the create is queued or being answered, nor for an id the server gave', () => {
    const create = outboxEntry({ seq: 1, r: 'projects', id: 'tmp:p', op: 'create', payload: { id: 'tmp:p', version: 0 } });
    expect(dangling(hostWith([create]), 'tmp:p')).toBeUndefined();
    expect(dangling(hostWith([]), 'tmp:p', new Set([entityKey('projects', 'tmp:p')]))).toBeUndefined();
    expect(dangling(hostWith([]), 'p1')).toBeUndefined();
  });
});

describe('a resource without references', () => {
  it('is answered without a look at the queue or the definitions', () => {
    const consulted = (): never => {
      throw new Error('consulted');
    };
    const unread = { has: consulted } as unknown as ReadonlySet<string>;
    const untouchable: ReferenceHost = { store: { outbox: { entriesOf: consulted } }, definition: consulted, currentReference: consulted };
    const entry = outboxEntry({ r: 'notes', id: 'n1', payload: { id: 'n1', version: 0 } });
    expect(waitsForOthers(untouchable, unread, entry, notes, entry.payload)).toBe(false);
    expect(currentReferences(untouchable, notes, entry.payload)).toBe(entry.payload);
    expect(danglingReference(untouchable, unread, notes, entry.payload)).toBeUndefined();
  });
});

describe('holdDeletions', () => {
  const held = (host: ReferenceHost, def: Def, payload: Record<string, unknown>, renaming = new Map<string, string[]>()) => {
    const keys = new Set<string>();
    holdDeletions(host, renaming, def, payload, keys);
    return [...keys].map((key) => key.replace('\u0000', '/')).sort();
  };

  it('holds what a change names, and what the queued changes of those name in turn', () => {
    const host = hostWith([task(1, 'p1', ['t1'])]);
    expect(held(host, comments, { id: 'c1', taskId: 'task-1' })).toEqual(['projects/p1', 'tags/t1', 'tasks/task-1']);
    expect(held(hostWith([]), comments, { id: 'c1', taskId: 'task-1' })).toEqual(['tasks/task-1']);
  });

  it("holds what a create's answer being stored names, under either id", () => {
    const renaming = new Map([[entityKey('tasks', 'tmp:t'), [entityKey('projects', 'p1')]]]);
    expect(held(hostWith([]), comments, { id: 'c1', taskId: 'tmp:t' }, renaming)).toEqual(['projects/p1', 'tasks/tmp:t']);
  });

  it('names entities by the ids they have now', () => {
    const host = { ...hostWith([]), currentReference: (_r: string, id: string) => (id === 'tmp:t' ? 't9' : id) };
    expect(held(host, comments, { id: 'c1', taskId: 'tmp:t' })).toEqual(['tasks/t9']);
  });

  it('ends on a cycle of references', () => {
    const step = (seq: number, after: string) => outboxEntry({ seq, r: 'steps', id: `s${seq}`, op: 'update', payload: { after } });
    expect(held(hostWith([step(1, 's2'), step(2, 's1')]), steps, { after: 's1' })).toEqual(['steps/s1', 'steps/s2']);
  });
});
