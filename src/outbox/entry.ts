import type { MutationOp } from '../types.js';
import { applyOp, type PendingOp } from './coalesce.js';

type Rec = Record<string, unknown>;

export interface ParkedConflict {
  base: Rec | null;
  local: Rec | null;
  remote: Rec | null;
  fields: string[];
}

export interface EntryFailure {
  status?: number;
  message: string;
  body?: unknown;
  /** The server refused the change (a permanent 4xx): the view is rolled back until retry(). */
  rejected: boolean;
}

/** One logical mutation in the durable queue. */
export interface OutboxEntry {
  /** Global order: IndexedDB's autoincrement, never the clock. */
  seq: number;
  r: string;
  id: string;
  op: MutationOp;
  /** create: the entity; update: the changed fields; delete: null. */
  payload: Rec | null;
  /** The version the change was made on, sent as If-Match; null for a create. */
  baseVersion: unknown;
  /** The idempotency key of the logical mutation; a re-send after a conflict appends ':' + rekeys. */
  key: string;
  rekeys: number;
  /** A request may have gone out with this payload: it is never edited again. */
  frozen: boolean;
  /** Retryable failures of the current payload. */
  attempts: number;
  firstFailureAt: number | null;
  nextAttemptAt: number;
  /** When the entity last changed through this entry (sendDelayMs counts from here). */
  changedAt: number;
  state: 'queued' | 'conflict' | 'failed';
  conflict: ParkedConflict | null;
  failure: EntryFailure | null;
  /** The client instance (tab) that made the change, told of its outcome. */
  origin: string;
}

export type NewEntry = Omit<OutboxEntry, 'seq'>;

export function idempotencyKey(entry: Pick<OutboxEntry, 'key' | 'rekeys'>): string {
  return entry.rekeys === 0 ? entry.key : `${entry.key}:${entry.rekeys}`;
}

export function toPendingOp(entry: Pick<OutboxEntry, 'op' | 'payload'>): PendingOp {
  if (entry.op === 'delete') return { op: 'delete' };
  if (entry.op === 'create') return { op: 'create', value: entry.payload ?? {} };
  return { op: 'update', patch: entry.payload ?? {} };
}

/** Refused by the server: left out of the view until retried. */
export function isRolledBack(entry: Pick<OutboxEntry, 'state' | 'failure'>): boolean {
  return entry.state === 'failed' && entry.failure?.rejected === true;
}

/**
 * The local view: the server state with the entity's queued changes applied in order.
 * Entries the server refused are rolled back (left out) until retried; entries parked after
 * too many retryable failures still show. With any entry queued the view is an object of its
 * own, even when it equals the base: a record stored with view and base as one object has
 * nothing queued, which a local write checks without reading the outbox.
 */
export function foldView(base: Rec | null, entries: readonly OutboxEntry[]): Rec | null {
  let view = base;
  for (const entry of entries) {
    if (isRolledBack(entry)) continue;
    if (entry.op !== 'create' && view === null) continue;
    view = applyOp(view, toPendingOp(entry));
  }
  return view !== null && view === base && entries.length > 0 ? { ...view } : view;
}
