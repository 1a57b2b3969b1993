import type { OutboxEntry } from '../../src/outbox/entry.js';

/** An outbox entry as the store keeps it: a queued update of todos/a, with `fields` over it. */
export function outboxEntry(fields: Partial<OutboxEntry> = {}): OutboxEntry {
  return {
    seq: 1,
    r: 'todos',
    id: 'a',
    op: 'update',
    payload: { title: 'B' },
    baseVersion: 1,
    key: 'k',
    rekeys: 0,
    frozen: false,
    attempts: 0,
    firstFailureAt: null,
    nextAttemptAt: 0,
    changedAt: 0,
    state: 'queued',
    conflict: null,
    failure: null,
    origin: 'tab',
    ...fields,
  };
}
