import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { OutboxEntry } from '../outbox/entry.js';
import { defineResource } from '../resource.js';
import { checkDecision, conflictFields, decide, fromDecision, overwritten, overwrittenByValue, remoteMatchesIntent, requeue, undisputed, withNewerRemote } from './resolve.js';

const head: OutboxEntry = {
  seq: 7,
  r: 'todos',
  id: 'a',
  op: 'update',
  payload: { title: 'mine' },
  baseVersion: 1,
  key: 'k',
  rekeys: 0,
  frozen: true,
  attempts: 3,
  firstFailureAt: 5,
  nextAttemptAt: 99,
  changedAt: 1,
  state: 'queued',
  conflict: null,
  failure: null,
  origin: 'tab',
};
const fields = { key: 'id', version: 'version' };
const base = { id: 'a', title: 'A', done: false, version: 1 };
const ignore = ['version'];

describe('remoteMatchesIntent', () => {
  it('is true when the server already holds every field the change meant to write', () => {
    expect(remoteMatchesIntent(head, { ...base, title: 'mine', version: 2 }, ignore)).toBe(true);
    expect(remoteMatchesIntent(head, { ...base, title: 'theirs', version: 2 }, ignore)).toBe(false);
    expect(remoteMatchesIntent(head, null, ignore)).toBe(false);
    expect(remoteMatchesIntent({ ...head, op: 'delete', payload: null }, null, ignore)).toBe(true);
  });
});

describe('withNewerRemote', () => {
  const local = { ...base, title: 'mine' };
  const theirs = { ...base, title: 'theirs', version: 2 };
  const parked: OutboxEntry = { ...head, state: 'conflict', frozen: false, conflict: { base, local, remote: theirs, fields: ['title'] } };
  const gone: OutboxEntry = { ...parked, conflict: { base, local, remote: null, fields: ['title'] } };

  it('gives a parked conflict a newer server state, the view rebased on it, and the fields that now conflict', () => {
    const newer = { ...base, title: 'theirs', done: true, version: 3 };
    const rebased = { ...newer, title: 'mine' };
    expect(withNewerRemote(parked, newer, rebased, 'version')).toEqual({ ...parked, conflict: { base, local: rebased, remote: newer, fields: ['title'] } });
    // The other side gave its title up: what conflicts now is told anew.
    const agreed = { ...base, done: true, version: 3 };
    expect(withNewerRemote(parked, agreed, { ...agreed, title: 'mine' }, 'version').conflict!.fields).toEqual([]);
  });

  it("takes the server's deletion, and an entity created again over a deletion", () => {
    expect(withNewerRemote(parked, null, local, 'version').conflict).toEqual({ base, local, remote: null, fields: ['title'] });
    const again = { id: 'a', title: 'again', done: false, version: 5 };
    expect(withNewerRemote(gone, again, { ...again, title: 'mine' }, 'version').conflict!.remote).toBe(again);
  });

  it('leaves the entry itself for the same state, an older version, the version the change was sent against, or no parked conflict', () => {
    expect(withNewerRemote(parked, { ...theirs }, local, 'version')).toBe(parked);
    const later: OutboxEntry = { ...parked, conflict: { ...parked.conflict!, remote: { ...theirs, version: 4 } } };
    expect(withNewerRemote(later, theirs, local, 'version')).toBe(later);
    expect(withNewerRemote(parked, base, local, 'version')).toBe(parked);
    expect(withNewerRemote(gone, base, local, 'version')).toBe(gone);
    expect(withNewerRemote(gone, null, local, 'version')).toBe(gone);
    expect(withNewerRemote(head, theirs, local, 'version')).toBe(head);
    const failed: OutboxEntry = { ...parked, state: 'failed' };
    expect(withNewerRemote(failed, { ...theirs, version: 3 }, local, 'version')).toBe(failed);
  });

  it('counts a different version that is not a number as newer, as pulls do', () => {
    const tagged: OutboxEntry = { ...parked, baseVersion: 'e1', conflict: { base: { ...base, version: 'e1' }, local, remote: { ...theirs, version: 'e2' }, fields: ['title'] } };
    expect(withNewerRemote(tagged, { ...theirs, version: 'e0' }, local, 'version').conflict!.remote).toMatchObject({ version: 'e0' });
    expect(withNewerRemote(tagged, { ...theirs, version: 'e1' }, local, 'version')).toBe(tagged);
  });
});

describe('undisputed', () => {
  const input = (local: Record<string, unknown> | null, remote: Record<string, unknown> | null) => ({ op: 'update' as const, base, local, remote, ignore });

  it('merges when no field is in dispute, and drops the change when both sides deleted the entity', () => {
    const remote = { ...base, done: true, version: 3 };
    expect(undisputed(input({ ...base, title: 'mine' }, remote))).toEqual({ kind: 'target', value: { ...base, title: 'mine', done: true, version: 3 }, choice: 'merged' });
    expect(undisputed(input(null, null))).toEqual({ kind: 'remote' });
  });

  it('takes a deletion when the other side changed no field, the version aside', () => {
    expect(undisputed(input(null, { ...base, version: 3 }))).toEqual({ kind: 'target', value: null, choice: 'merged' });
    expect(undisputed(input({ ...base }, null))).toEqual({ kind: 'remote' });
  });

  it('decides nothing while a field is in dispute or one side alone deleted the entity', () => {
    expect(undisputed(input({ ...base, title: 'mine' }, { ...base, title: 'theirs', version: 2 }))).toBeNull();
    expect(undisputed(input(null, { ...base, title: 'theirs', version: 2 }))).toBeNull();
    expect(undisputed(input({ ...base, title: 'mine' }, null))).toBeNull();
  });
});

describe('requeue', () => {
  it('re-sends the difference against the remote version under a new key, unfrozen and with fresh attempts', () => {
    const [entry] = requeue(head, { ...base, title: 'mine', done: true }, { ...base, title: 'theirs', version: 2 }, fields);
    expect(entry).toMatchObject({ seq: 7, key: 'k', rekeys: 1, op: 'update', payload: { title: 'mine', done: true }, baseVersion: 2 });
    expect(entry).toMatchObject({ frozen: false, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, state: 'queued' });
  });

  it('sends nothing when the target already equals the remote', () => {
    expect(requeue(head, { ...base, version: 9 }, { ...base, version: 2 }, fields)).toEqual([]);
  });

  it('re-creates an entity deleted on the server, and deletes one the target removes', () => {
    expect(requeue(head, { ...base, title: 'mine' }, null, fields)[0]).toMatchObject({ op: 'create', payload: { id: 'a', title: 'mine', done: false }, baseVersion: null });
    expect(requeue(head, null, { ...base, version: 3 }, fields)[0]).toMatchObject({ op: 'delete', payload: null, baseVersion: 3 });
    expect(requeue(head, null, null, fields)).toEqual([]);
  });
});

describe('decide', () => {
  const input = { op: 'update' as const, base, local: { ...base, title: 'mine' }, remote: { ...base, done: true, version: 2 }, ignore };
  const context = { resource: 'todos', id: 'a', op: 'update' as const, base, local: input.local, remote: input.remote, fields: [] };

  it("'merge' merges one-sided changes and parks two-sided ones", async () => {
    expect(await decide('merge', input, context)).toEqual({ kind: 'target', choice: 'merged', value: { ...base, title: 'mine', done: true, version: 2 } });
    const both = { ...input, remote: { ...base, title: 'theirs', version: 2 } };
    expect(await decide('merge', both, { ...context, fields: ['title'] })).toEqual({ kind: 'park', fields: ['title'] });
    expect(await decide('merge', { ...input, remote: null }, context)).toMatchObject({ kind: 'park' });
  });

  it('maps the fixed strategies and a resolver function', async () => {
    expect(await decide('server-wins', input, context)).toEqual({ kind: 'remote' });
    expect(await decide('client-wins', input, context)).toEqual({ kind: 'target', value: input.local, choice: 'local' });
    expect(await decide('manual', input, context)).toEqual({ kind: 'park', fields: [] });
    expect(await decide(async () => ({ value: { title: 'both' } }), input, context)).toMatchObject({ kind: 'target', choice: 'value', value: { title: 'both', done: true } });
    // A resolver's 'manual' leaves the conflict to conflicts$, naming the fields in dispute.
    expect(await decide(() => 'manual', input, { ...context, fields: ['title'] })).toEqual({ kind: 'park', fields: ['title'] });
  });

  it('never copies forbidden keys out of a chosen value', () => {
    const outcome = fromDecision({ value: JSON.parse('{"__proto__": {"polluted": 1}, "title": "x"}') }, input, []);
    expect(outcome.kind === 'target' && Object.getPrototypeOf(outcome.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('conflictFields and overwritten', () => {
  it('names the fields changed on both sides, or what the other side changed when one side is gone', () => {
    expect(conflictFields({ op: 'update', base, local: { ...base, title: 'm' }, remote: { ...base, title: 'r', version: 2 }, ignore })).toEqual(['title']);
    expect(conflictFields({ op: 'delete', base, local: null, remote: { ...base, done: true, version: 2 }, ignore })).toEqual(['done']);
  });

  it('records what a resolution overwrote, field by field', () => {
    expect(overwritten({ ...base, title: 'm' }, { ...base, title: 'r', version: 2 }, ignore)).toEqual({ title: { local: 'm', remote: 'r' } });
  });

  it("records what a { value } decision overwrote on either side: each side's own value, never the value kept", () => {
    const local = { ...base, title: 'm', done: true };
    const remote = { ...base, title: 'r', version: 2 };
    expect(overwrittenByValue({ ...remote, title: 'r', done: true }, local, remote, ignore)).toEqual({ title: { local: 'm', remote: 'r' }, done: { local: true, remote: false } });
    expect(overwrittenByValue({ ...remote, title: 'both', done: true }, local, remote, ignore)).toEqual({ title: { local: 'm', remote: 'r' }, done: { local: true, remote: false } });
  });
});

describe('checkDecision', () => {
  const todoSchema = z.object({ id: z.string(), title: z.string().trim(), done: z.boolean(), version: z.number().int() });
  const todos = defineResource({ name: 'todos', schema: todoSchema });

  it("a { value } decision passes with the schema's output; the version may be missing (a re-create)", async () => {
    const decided = { kind: 'target', value: { id: 'a', title: ' both ', done: false }, choice: 'value' } as const;
    expect(await checkDecision(todos, decided, 'a', null)).toEqual({ ...decided, value: { id: 'a', title: 'both', done: false } });
  });

  it('a { value } decision that fails the schema gives the issues, by field', async () => {
    const decided = { kind: 'target', value: { ...base, done: 'yes' }, choice: 'value' } as const;
    expect(await checkDecision(todos, decided, 'a', null)).toEqual({ issues: [{ field: 'done', message: expect.any(String) }] });
  });

  it('a { value } decision naming another id than the conflicted entity\'s gives an issue naming the key', async () => {
    const decided = { kind: 'target', value: { ...base, id: 'b' }, choice: 'value' } as const;
    expect(await checkDecision(todos, decided, 'a', null)).toEqual({ issues: [{ field: 'id', message: 'the key cannot be changed' }] });
  });

  it('a { value } decision holding what IndexedDB cannot store or JSON carry gives an issue naming the field', async () => {
    const loose = defineResource({ name: 'docs', schema: z.object({ id: z.string(), version: z.number().int() }).catchall(z.unknown()) });
    const decided = { kind: 'target', value: { id: 'a', version: 1, run: () => 1 }, choice: 'value' } as const;
    expect(await checkDecision(loose, decided, 'a', null)).toEqual({ issues: [{ field: 'run', message: expect.stringMatching(/a function/) as unknown }] });
  });

  it('a merge is checked too: a refinement across fields may refuse the mix of two valid sides', async () => {
    const checked = defineResource({ name: 'todos', schema: todoSchema.refine((t) => !(t.done && t.title === ''), { path: ['title'] }) });
    const merged = { kind: 'target', value: { ...base, title: '', done: true }, choice: 'merged' } as const;
    expect(await checkDecision(checked, merged, 'a', base)).toEqual({ issues: [{ field: 'title', message: expect.any(String) }] });
    expect(await checkDecision(checked, { ...merged, value: { ...base, title: ' B ', done: true } }, 'a', base)).toEqual({ ...merged, value: { ...base, title: 'B', done: true } });
  });

  it('so is the local view: rebased by a pull, it may be such a mix', async () => {
    const local = { kind: 'target', value: { ...base, done: 'yes' }, choice: 'local' } as const;
    expect(await checkDecision(todos, local, 'a', base)).toEqual({ issues: [{ field: 'done', message: expect.any(String) }] });
  });

  it('the remote state and a deletion pass as they are', async () => {
    const deletion = { kind: 'target', value: null, choice: 'local' } as const;
    expect(await checkDecision(todos, deletion, 'a', base)).toBe(deletion);
    expect(await checkDecision(todos, { kind: 'remote' }, 'a', null)).toEqual({ kind: 'remote' });
  });
});
