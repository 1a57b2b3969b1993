import type { FieldIssue } from '../errors.js';
import type { MutationOp } from '../types.js';
import { applyPatch } from '../internal/plain.js';
import { applyOp, type PendingOp } from './coalesce.js';

type Rec = Record<string, unknown>;

export interface ParkedConflict {
  base: Rec | null;
  local: Rec | null;
  remote: Rec | null;
  fields: string[];
}

export interface EntryFailure {
  /** The class of the error it was parked after, for a tab rebuilding it (absent in older rows). */
  name?: string;
  /** That error's request and schema issues, for a tab rebuilding it (absent in older rows). */
  method?: string;
  url?: string;
  issues?: readonly FieldIssue[];
  status?: number;
  message: string;
  body?: unknown;
  /** The server refused the change (a permanent 4xx): the view is rolled back until retry(). */
  rejected: boolean;
  /** A stored row that is no well-formed entry: kept (as `body`) but never sent. */
  quarantined?: true;
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
  /** The wait that set `nextAttemptAt` (absent in older rows): a clock stepped back since does not lengthen it. */
  waitMs?: number;
  /**
   * The last attempt got no answer (a network error or a timeout), which an offline period
   * explains: coming online makes the entry due before `nextAttemptAt`. 'offline': it got none
   * because the device went offline while it was out, and was not counted. Absent: it got one.
   */
  unanswered?: boolean | 'offline';
  /** When the entity last changed through this entry (sendDelayMs counts from here). */
  changedAt: number;
  /**
   * Where this entry's newest change stands in the order changes were made, on the scale of `seq`
   * (the outbox's key generator, shared by the tabs): a number drawn when a change coalesced into
   * it, or the newest `seq` a conflict decision folded into it. Its own seq stays its place in
   * the queue. Absent: `seq` says it.
   */
  lastSeq?: number;
  state: 'queued' | 'conflict' | 'failed';
  conflict: ParkedConflict | null;
  failure: EntryFailure | null;
  /** The client instance (tab) that made the change, told of its outcome. */
  origin: string;
}

export type NewEntry = Omit<OutboxEntry, 'seq'>;

const OPS: ReadonlySet<unknown> = new Set(['create', 'update', 'delete']);
const STATES: ReadonlySet<unknown> = new Set(['queued', 'conflict', 'failed']);
const isObject = (x: unknown): x is Rec => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

/** What makes a row of the outbox store no entry this release can send; null when it is one. */
export function entryDefect(row: unknown): string | null {
  if (!isObject(row)) return 'not an object';
  const { seq, r, id, op, payload, key, rekeys, attempts, frozen, nextAttemptAt, changedAt, lastSeq, firstFailureAt, state, conflict, failure } = row;
  if (typeof seq !== 'number') return 'no numeric seq';
  if (state === 'failed' && isObject(failure) && failure['quarantined'] === true) return null;
  if (typeof r !== 'string' || r === '') return 'no resource';
  if (typeof id !== 'string' || id === '') return 'no id';
  if (!OPS.has(op)) return `unknown op ${typeof op === 'string' ? `"${op.slice(0, 32)}"` : typeof op}`;
  if (op === 'delete' ? payload !== null : !isObject(payload)) return `a payload that does not fit a ${op as string}`;
  if (typeof key !== 'string' || key === '') return 'no idempotency key';
  if (!isCount(rekeys) || !isCount(attempts) || typeof frozen !== 'boolean') return 'malformed send state';
  if (
    typeof nextAttemptAt !== 'number' ||
    typeof changedAt !== 'number' ||
    (lastSeq !== undefined && typeof lastSeq !== 'number') ||
    (firstFailureAt !== null && typeof firstFailureAt !== 'number')
  ) {
    return 'malformed times';
  }
  if (!STATES.has(state)) return 'unknown state';
  if (state === 'conflict' && !isObject(conflict)) return 'a conflict without its sides';
  if (state === 'failed' && !(isObject(failure) && typeof failure['message'] === 'string')) return 'a failure without its message';
  return null;
}

/**
 * A row read from the outbox store, as an entry. A row that is none (garbage, or written by a
 * release that knows other operations) is quarantined: a failed entry, rolled back out of the
 * view and never sent, that keeps the row as its failure's body until discard() deletes it.
 * Read through this everywhere, a row of unknown meaning is never taken for a delete or merged into.
 */
export function asEntry(row: unknown): OutboxEntry {
  const defect = entryDefect(row);
  if (defect === null) return row as OutboxEntry;
  const raw = isObject(row) ? row : {};
  const text = (x: unknown) => (typeof x === 'string' ? x : '');
  return {
    seq: raw['seq'] as number,
    r: text(raw['r']),
    id: text(raw['id']),
    op: OPS.has(raw['op']) ? (raw['op'] as MutationOp) : 'update',
    payload: null,
    baseVersion: null,
    key: '',
    rekeys: 0,
    frozen: true,
    attempts: 0,
    firstFailureAt: null,
    nextAttemptAt: 0,
    changedAt: 0,
    state: 'failed',
    conflict: null,
    failure: { message: `a corrupted outbox entry (${defect}): kept and never sent; discard() removes it`, body: row, rejected: true, quarantined: true },
    origin: '',
  };
}

/**
 * A queued change once its entity's server state is `base`: it goes out against that version. A
 * create has none to send, a frozen change keeps what its key was sent with, and after a deletion
 * (base null) a change keeps the version it was made on, so that sent it meets the deletion.
 */
export function onServerState(entry: OutboxEntry, base: Rec | null, versionField: string): OutboxEntry {
  if (entry.frozen || entry.op === 'create' || base === null || entry.baseVersion === base[versionField]) return entry;
  return { ...entry, baseVersion: base[versionField] };
}

export const isQuarantined = (entry: Pick<OutboxEntry, 'failure'>): boolean => entry.failure?.quarantined === true;

export function idempotencyKey(entry: Pick<OutboxEntry, 'key' | 'rekeys'>): string {
  return entry.rekeys === 0 ? entry.key : `${entry.key}:${entry.rekeys}`;
}

export function toPendingOp(entry: Pick<OutboxEntry, 'op' | 'payload'>): PendingOp {
  if (entry.op === 'delete') return { op: 'delete' };
  if (entry.op === 'create') return { op: 'create', value: entry.payload ?? {} };
  return { op: 'update', patch: entry.payload ?? {} };
}

/**
 * `entries` with the updates queued right after the never-sent entry `seq` folded into it, as a
 * local write folds a change into an unsent entry (a create takes an update's fields, an update
 * another's): the changes the app made to fix it while it was parked go out with it, not after
 * it. Folding stops at an update that `keepsApart` (one naming an entity queued after `seq`: in
 * that place it would reach the server first). Returns the folded seqs, whose waits follow `seq`.
 */
export function foldUpdatesInto(entries: readonly OutboxEntry[], seq: number, keepsApart: (entry: OutboxEntry) => boolean): { entries: OutboxEntry[]; folded: number[] } {
  const at = entries.findIndex((e) => e.seq === seq);
  const target = entries[at];
  const out = entries.slice(0, at + 1);
  const folded: number[] = [];
  if (!target || target.frozen || target.op === 'delete') return { entries: [...entries], folded };
  let into = target;
  let next = at + 1;
  for (; next < entries.length; next++) {
    const e = entries[next]!;
    if (e.op !== 'update' || e.state !== 'queued' || e.frozen || keepsApart(e)) break;
    // A create or an update, then an update: one create or update, as coalesce() merges them.
    into = { ...into, payload: applyPatch(into.payload ?? {}, e.payload ?? {}), changedAt: e.changedAt, lastSeq: e.lastSeq ?? e.seq };
    folded.push(e.seq);
  }
  out[at] = into;
  return { entries: [...out, ...entries.slice(next)], folded };
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
