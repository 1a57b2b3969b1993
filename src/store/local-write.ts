import { unwrap } from 'idb';
import { ValidationError } from '../errors.js';
import { coalesce, type Coalesced, type PendingOp } from '../outbox/coalesce.js';
import { asEntry, foldView, toPendingOp, type NewEntry, type OutboxEntry } from '../outbox/entry.js';
import { deepEqual } from '../internal/plain.js';
import type { ResourceDefinition } from '../types.js';
import { isEntityRecord, type EntityRecord } from './db.js';
import { requested, type WriteTx } from './transaction.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** The entity's record as stored. */
export function storedRecord(tx: WriteTx, r: string, id: string): Promise<EntityRecord | undefined> {
  return requested(unwrap(tx.objectStore('entities')).get([r, id]) as IDBRequest<EntityRecord | undefined>);
}

/** The entity's queued entries as stored, in global order. */
export async function storedEntries(tx: WriteTx, r: string, id: string): Promise<OutboxEntry[]> {
  return (await requested(unwrap(tx.objectStore('outbox')).index('entity').getAll([r, id]) as IDBRequest<unknown[]>)).map(asEntry);
}

/** What a local write reads: the entity's record and its queued entries, in one round trip. */
export function readEntity(tx: WriteTx, r: string, id: string): Promise<[EntityRecord | undefined, OutboxEntry[]]> {
  const reads = Promise.all([storedRecord(tx, r, id), storedEntries(tx, r, id)]);
  // Awaited by the caller; should a write issued meanwhile throw synchronously, it must not be left unhandled.
  reads.catch(() => undefined);
  return reads;
}

/**
 * The stored record is the clean `cached` view (or absent, for null), as a write assumed. Clean
 * is read off the record alone, without the outbox: with any entry queued, foldView makes the
 * view an object of its own, so view and base are stored as one object (structured cloning
 * keeps that sharing) only when nothing is queued. An entity with queued changes always has a
 * record, so an absent one has none.
 */
export function isClean(stored: EntityRecord | undefined, cached: Rec | null): boolean {
  if (cached === null) return stored === undefined;
  return isEntityRecord(stored) && stored.view === stored.base && stored.origin === undefined && deepEqual(stored.base, cached);
}

/** The copy carries the version the server gave it (a create not yet confirmed has none). */
export function hasServerVersion(copy: Rec | null | undefined, def: Def): copy is Rec {
  return copy !== null && copy !== undefined && copy[def.version] !== undefined && copy[def.version] !== null;
}

/**
 * What a local write stored: the entity's record as put (null: deleted, or put back as it was),
 * and `read` once its transaction committed; `cancelled`: the entry it took out unsent.
 */
export interface Written {
  record: EntityRecord | null;
  read: () => { entries: OutboxEntry[]; view: Rec | null; cancelled: number | null };
}

/**
 * Issues a local change's writes on top of `stored` and the entity's queued `entries` (which it
 * updates): the outbox entry coalesced or added, and the entity's new view. The requests go
 * straight to the IDB stores, with no promise or listener each: one that fails aborts the
 * transaction, which its caller reports. Returns the record put, and what to read after the
 * commit: the entries as committed (a new entry's seq filled in) and the view. `fresh` builds a
 * new entry; when the change coalesces, only its time is taken. `referenced`: the newest queued
 * change of an entity the change names (LocalStore#newestReferenced); an entry older than it is not merged into.
 */
export function issueWrite(
  tx: WriteTx,
  def: Def,
  id: string,
  op: PendingOp,
  fresh: () => NewEntry,
  stored: EntityRecord | undefined,
  entries: OutboxEntry[],
  referenced: number,
): Written {
  const r = def.name;
  const entities = unwrap(tx.objectStore('entities'));
  const outbox = unwrap(tx.objectStore('outbox'));
  const record = stored ?? { r, id, base: null, view: null };
  if (record.view === null && op.op !== 'create') {
    // Nothing to apply the change to: another tab deleted the entity (its delete is queued), or
    // it is not stored at all and this tab showed no server version of it. A delete is already
    // done by the queued one (the record is put back as stored, over what a first pass on a
    // stale copy wrote); anything else is refused, nothing queued.
    if (op.op === 'delete' && stored) {
      entities.put(stored);
      return { record: null, read: () => ({ entries, view: null, cancelled: null }) };
    }
    throw new ValidationError([{ field: def.key, message: 'no entity with this id here (deleted, renamed or evicted since this tab last heard)' }], { resource: r, id });
  }
  // Created (or pulled) by another tab since this tab last heard: refused as a create of an id the
  // tab shows is, rather than merged into that tab's queued create or sent over the entity.
  if (record.view !== null && op.op === 'create') {
    throw new ValidationError([{ field: def.key, message: 'an entity with this id already exists' }], { resource: r, id });
  }
  const last = entries.at(-1);
  const coalesced = last && !last.frozen && last.state === 'queued' && referenced < last.seq ? coalesce(toPendingOp(last), op) : ({ kind: 'append' } as const);
  const merged = entries.length === 1 ? withoutUndone(coalesced, record.base) : coalesced;
  let added: IDBRequest<IDBValidKey> | null = null;
  let cancelled: number | null = null;
  let place: IDBRequest<IDBValidKey> | null = null;
  if (merged.kind === 'cancel' && last) {
    outbox.delete(last.seq);
    entries.pop();
    cancelled = last.seq;
  } else if (merged.kind === 'replace' && last) {
    // The entry keeps its place in the queue (what is sent after it may depend on it), and takes
    // the next number of the outbox's key generator, which the tabs share, as the place of its
    // newest change (`lastSeq`): what decides between changes of one entity known under two ids.
    // An empty row draws the number and leaves in the same transaction.
    const updated: OutboxEntry = { ...last, op: merged.op.op, payload: payloadOf(merged.op), changedAt: fresh().changedAt };
    const drawn = (place = outbox.add({}));
    drawn.onsuccess = () => {
      outbox.put({ ...updated, lastSeq: drawn.result as number });
      outbox.delete(drawn.result);
    };
    entries[entries.length - 1] = updated;
  } else {
    const baseVersion = record.view ? record.view[def.version] ?? null : null;
    const entry = { ...fresh(), id, op: op.op, payload: payloadOf(op), baseVersion: op.op === 'create' ? null : baseVersion } as OutboxEntry;
    added = outbox.add(entry);
    entries.push(entry); // its seq is filled in after the commit; folding does not read it
  }
  const view = foldView(record.base, entries);
  let written: EntityRecord | null = null;
  if (view === null && record.base === null && entries.length === 0) entities.delete([r, id]);
  else if (entries.length > 0) entities.put((written = { ...record, view }));
  else {
    // Nothing left queued (an undo): no change remains to have been made on an older state.
    const { origin: _made, ...clean } = record;
    entities.put((written = { ...clean, view }));
  }
  return {
    record: written,
    read: () => {
      if (added) entries[entries.length - 1] = { ...entries[entries.length - 1]!, seq: added.result as number };
      if (place) entries[entries.length - 1] = { ...entries[entries.length - 1]!, lastSeq: place.result as number };
      return { entries, view, cancelled };
    },
  };
}

/**
 * An update merged into the entity's only queued entry, less the fields it sets back to what the
 * server holds (an undo, a toggle clicked an even number of times): sent, they would write
 * nothing but a new version, or, under 'client-wins', overwrite what someone changed meanwhile.
 * Left with nothing, the entry goes. Not with an entry ahead: should that one be refused or
 * dropped by a conflict decision, the value set back would be lost with it.
 */
function withoutUndone(merged: Coalesced, base: Rec | null): Coalesced {
  if (merged.kind !== 'replace' || merged.op.op !== 'update' || base === null) return merged;
  const patch = Object.fromEntries(Object.entries(merged.op.patch).filter(([field, value]) => !deepEqual(base[field], value)));
  return Object.keys(patch).length ? { kind: 'replace', op: { op: 'update', patch } } : { kind: 'cancel' };
}

function payloadOf(op: PendingOp): Rec | null {
  return op.op === 'create' ? op.value : op.op === 'update' ? op.patch : null;
}
