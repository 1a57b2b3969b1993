import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { outboxEntry } from '../../test/helpers/outbox-entry.js';
import type { OutboxEntry } from './entry.js';
import { entityKey, OutboxMemory, splitEntityKey } from './outbox-memory.js';

const STATES = ['queued', 'conflict', 'failed'] as const;

const entry = (seq: number, id: string, state: OutboxEntry['state'], attempts = 0) =>
  outboxEntry({ seq, id, state, attempts, payload: { title: `t${seq}` }, key: `k${seq}` });

/** The tallies recounted from every entry, as the status computed them before they were kept. */
function recount(memory: OutboxMemory): { queued: number; parked: number[] } {
  const all = [...memory.values()];
  return {
    queued: all.filter((e) => e.state === 'queued').length,
    parked: all.filter((e) => e.state !== 'queued').map((e) => e.seq).sort((a, b) => a - b),
  };
}

/** Each entity's first entry, in global order, recomputed from the entities' entries. */
const firstOfEach = (memory: OutboxMemory) =>
  ['a', 'b', 'c'].flatMap((id) => memory.entriesOf('todos', id).slice(0, 1)).sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : 1));

const kept = (memory: OutboxMemory) => ({ queued: memory.queuedCount, parked: [...memory.parked()].map((e) => e.seq).sort((a, b) => a - b) });

const state = fc.constantFrom(...STATES);
const id = fc.constantFrom('a', 'b', 'c');
const seq = fc.integer({ min: 1, max: 12 });
const operation = fc.oneof(
  fc.record({ kind: fc.constant('all' as const), entries: fc.array(fc.tuple(seq, id, state), { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('entity' as const), id, entries: fc.array(fc.tuple(seq, state), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('entry' as const), seq, id, state, attempts: fc.integer({ min: 0, max: 2 }) }),
);

describe('OutboxMemory', () => {
  it('keeps the queued and retried counts, the parked entries and the heads equal to a recount, whatever commits in whatever order', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 30 }), (operations) => {
        const memory = new OutboxMemory();
        for (const op of operations) {
          if (op.kind === 'all') {
            // One entry per seq, as IndexedDB stores them.
            const bySeq = new Map(op.entries.map(([s, i, st]) => [s, entry(s, i, st)]));
            memory.replaceAll([...bySeq.values()]);
          } else if (op.kind === 'entity') {
            const bySeq = new Map(op.entries.map(([s, st]) => [s, entry(s, op.id, st)]));
            memory.setEntity('todos', op.id, [...bySeq.values()]);
          } else {
            memory.replaceEntry(entry(op.seq, op.id, op.state, op.attempts));
          }
          expect(kept(memory)).toEqual(recount(memory));
          expect([...memory.heads()]).toEqual(firstOfEach(memory));
          expect(memory.retriedCount).toBe([...memory.values()].filter((e) => e.state === 'queued' && e.attempts > 0).length);
        }
      }),
    );
  });

  it('counts an entry out when it is settled, parked, or retried', () => {
    const memory = new OutboxMemory();
    memory.setEntity('todos', 'a', [entry(1, 'a', 'queued'), entry(2, 'a', 'queued')]);
    memory.setEntity('todos', 'b', [entry(3, 'b', 'queued')]);
    expect(memory.queuedCount).toBe(3);
    memory.replaceEntry(entry(1, 'a', 'conflict'));
    expect(memory.queuedCount).toBe(2);
    expect([...memory.parked()].map((e) => e.seq)).toEqual([1]);
    memory.replaceEntry(entry(1, 'a', 'queued'));
    memory.setEntity('todos', 'b', []);
    expect(memory.queuedCount).toBe(2);
    expect([...memory.parked()]).toEqual([]);
    memory.replaceAll([]);
    expect(memory.queuedCount).toBe(0);
  });
});

describe('entityKey', () => {
  it('is split back into the resource and the id, whatever the id holds (a NUL included)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/), fc.string(), (r, id) => {
        expect(splitEntityKey(entityKey(r, id))).toEqual([r, id]);
      }),
    );
    expect(splitEntityKey(entityKey('tasks', 'a\u0000b'))).toEqual(['tasks', 'a\u0000b']);
  });
});
