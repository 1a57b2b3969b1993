import { TEMP_ID_PREFIX } from '../internal/ids.js';
import { deepEqual } from '../internal/plain.js';
import type { ResourceDefinition } from '../types.js';
import { foldView, isRolledBack, type OutboxEntry } from './entry.js';

type Rec = Record<string, unknown>;

/** A resource whose `references` point at another resource, and the fields that do. */
export interface Referrer {
  r: string;
  fields: string[];
}

/** Every resource holding ids of `target` in some of its fields. */
export function referrersOf(definitions: Iterable<ResourceDefinition<object>>, target: string): Referrer[] {
  const out: Referrer[] = [];
  for (const def of definitions) {
    const fields = Object.entries(def.references)
      .filter(([, r]) => r === target)
      .map(([field]) => field);
    if (fields.length) out.push({ r: def.name, fields });
  }
  return out;
}

/** The ids a `references` field holds: each of an array's (a task naming several projects), or its one. */
export const idsIn = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : [value]);

/** A `references` field's value with each id it holds passed through `rename`; the same value when none changed. */
export function renameIds(value: unknown, rename: (id: unknown) => unknown): unknown {
  if (!Array.isArray(value)) return rename(value);
  let out: unknown[] | null = null;
  value.forEach((id, i) => {
    const to = rename(id);
    if (to !== id) (out ??= [...value])[i] = to;
  });
  return out ?? value;
}

/** `value` with `from` replaced by `to` in `fields`; the same object when nothing changed. */
export function replaceReferences<V extends Rec | null>(value: V, fields: readonly string[], from: string, to: string | number): V {
  if (value === null) return value;
  let out: Rec | null = null;
  for (const field of fields) {
    const renamed = renameIds(value[field], (id) => (id === from ? to : id));
    if (renamed !== value[field]) {
      out ??= { ...value };
      out[field] = renamed;
    }
  }
  return (out ?? value) as V;
}

/** True while a payload still points at an entity the server has not named yet. */
export function waitsForId(payload: Rec | null, fields: readonly string[]): boolean {
  if (payload === null) return false;
  return fields.some((field) => idsIn(payload[field]).some((v) => typeof v === 'string' && v.startsWith(TEMP_ID_PREFIX)));
}

type TwinEntry = Pick<OutboxEntry, 'seq' | 'lastSeq' | 'op' | 'payload' | 'frozen' | 'state' | 'changedAt' | 'failure'>;

/**
 * Whether `entry`'s newest change was made after `than`'s: the later in the order the outbox took
 * them in (its key generator, which the tabs share). Never by their times: a clock that stepped
 * back between two changes dates the later one first.
 */
export function madeAfter(entry: Pick<OutboxEntry, 'seq' | 'lastSeq'>, than: Pick<OutboxEntry, 'seq' | 'lastSeq'>): boolean {
  return (entry.lastSeq ?? entry.seq) > (than.lastSeq ?? than.seq);
}

/** An entry whose payload may still go out under the key it was sent with: never edited again. */
const isFixed = (entry: TwinEntry) => entry.frozen && entry.state !== 'conflict';

/** The entry changed last; refused ones, shown nowhere, do not count. */
function changedLast<E extends TwinEntry>(entries: readonly E[]): E | undefined {
  let last: E | undefined;
  for (const entry of entries) if (!isRolledBack(entry) && (!last || madeAfter(entry, last))) last = entry;
  return last;
}

/**
 * The queued changes of one entity known here under two ids (its create's answer was lost, and a
 * pull brought it under its real id), put together in outbox order. Each id's changes were made
 * without the other's, and an entry keeps the place of its first change when later ones coalesce
 * into it (or a conflict's re-send folds them in), so outbox order is not the order the two ids'
 * changes were made in. The change made last (`madeAfter`) decides:
 * - whether the entity stays: after a delete made last, the changes made before it are dropped;
 *   after an update made last, the deletes made before it are (unless a create follows one:
 *   it makes the entity anew after the delete);
 * - each field's value: the entry changed last that sets it decides; a later entry carries its
 *   value, or leaves the field out when it already holds it (an update left with nothing goes).
 * Entries that may go out again under the key they were sent with (frozen, and not parked as a
 * conflict, whose decision is sent under a new key) are left as they are: an update changed last
 * that one of them would override, or made after a delete among them, is `moved` behind it
 * instead. Changes the server refused (rolled back) decide nothing. A coalesced entry's fields
 * count as changed at its last change: the entry records no time per field.
 */
export function mergeTwins<E extends TwinEntry>(
  entries: readonly E[],
  keyField: string,
): { kept: E[]; dropped: E[]; folded: Array<{ seq: number; into: number }>; moved: E[] } {
  const last = changedLast(entries);
  if (!last) return { kept: [...entries], dropped: [], folded: [], moved: [] };
  const overridden = (entry: E, index: number) =>
    last.op === 'delete'
      ? entry.op !== 'delete'
      : last.op === 'update' && entry.op === 'delete' && !entries.slice(index + 1).some((later) => later.op === 'create');
  const overriddenEntries = entries.filter((entry, index) => entry !== last && !isFixed(entry) && !isRolledBack(entry) && overridden(entry, index));
  const remaining = entries.filter((entry) => !overriddenEntries.includes(entry));
  const movers = movedPastSent(remaining, keyField);
  const placed = movers.size
    ? [...remaining.filter((e) => !movers.has(e.seq)), ...remaining.filter((e) => movers.has(e.seq)).map((e) => ({ ...e, lastSeq: e.lastSeq ?? e.seq }))]
    : remaining;
  const { entries: valued, folded } = latestValuesLast(placed, keyField);
  const isFolded = (entry: E) => folded.some((f) => f.seq === entry.seq);
  const kept = valued.filter((entry) => !isFolded(entry));
  return {
    kept,
    dropped: entries.filter((entry) => overriddenEntries.includes(entry) || isFolded(entry)),
    folded,
    moved: kept.filter((entry) => movers.has(entry.seq)),
  };
}

/** Per field, the entry changed last that sets it, its value, and where it stands. */
type Winners<E> = Map<string, { entry: E; value: unknown; index: number }>;

function winnersOf<E extends TwinEntry>(entries: readonly E[], keyField: string): Winners<E> {
  const latest: Winners<E> = new Map();
  entries.forEach((entry, index) => {
    if (entry.op === 'delete' || entry.payload === null || isRolledBack(entry)) return;
    for (const [field, value] of Object.entries(entry.payload)) {
      if (field === keyField) continue;
      const known = latest.get(field);
      if (!known || madeAfter(entry, known.entry)) latest.set(field, { entry, value, index });
    }
  });
  return latest;
}

/** Where the last delete that goes out as it is (sent under its key) stands; -1: none. */
function lastSentDelete(entries: readonly TwinEntry[]): number {
  let at = -1;
  entries.forEach((e, i) => {
    if (e.op === 'delete' && isFixed(e) && !isRolledBack(e)) at = i;
  });
  return at;
}

/** A queued update not sent yet: stored anew, it keeps nothing a request may carry again. */
const isMovable = (e: TwinEntry) => e.op === 'update' && e.state === 'queued' && !e.frozen && !isRolledBack(e);

/**
 * The entries to move to the end of the queue (the caller stores them anew). A queued update that
 * decides a field moves behind a change sent after it under its key (a request may carry that
 * payload again: it cannot be edited) that sets the field to another value: sent after it, the
 * value goes out once, rather than from it and again from a later entry carrying it. So does a
 * queued update made after a delete sent after it (recreateAfterSentDelete then makes it bring the
 * entity back), unless a create after that delete makes the entity anew. A create stays where the
 * entity needs it.
 */
function movedPastSent<E extends TwinEntry>(entries: readonly E[], keyField: string): Set<number> {
  const latest = winnersOf(entries, keyField);
  const movers = new Set<number>();
  for (const [field, { entry: winner, value, index }] of latest) {
    if (!isMovable(winner)) continue;
    const overriddenLater = entries
      .slice(index + 1)
      .some((e) => isFixed(e) && !isRolledBack(e) && e.payload !== null && field in e.payload && !deepEqual(e.payload[field], value));
    if (overriddenLater) movers.add(winner.seq);
  }
  const sentDelete = lastSentDelete(entries);
  if (sentDelete >= 0 && !entries.slice(sentDelete + 1).some((e) => e.op === 'create')) {
    const decidesSome = (e: E) => [...latest.values()].some((w) => w.entry === e);
    for (const e of entries.slice(0, sentDelete)) if (isMovable(e) && madeAfter(e, entries[sentDelete]!) && decidesSome(e)) movers.add(e.seq);
  }
  return movers;
}

/**
 * Each field, applied in outbox order, ends on the value of the entry changed last that sets it.
 * A later entry that may still be edited carries that value, or, an update whose field already
 * holds it when it applies, leaves the field out: a value goes out once. An update left with
 * nothing is `folded` into the last entry that carries one of its values: its waits follow that one.
 */
function latestValuesLast<E extends TwinEntry>(
  entries: readonly E[],
  keyField: string,
): { entries: E[]; folded: Array<{ seq: number; into: number }> } {
  const latest = winnersOf(entries, keyField);
  // The entity's fields as the entries before the current one leave them, and which entry set each.
  let current = new Map<string, { value: unknown; by: E }>();
  const folded: Array<{ seq: number; into: number }> = [];
  const valued = entries.map((entry, index) => {
    let out = entry;
    let carrier: E | undefined;
    if (!isFixed(entry) && !isRolledBack(entry) && entry.op !== 'delete' && entry.payload !== null) {
      let payload: Rec | null = null;
      for (const field of Object.keys(entry.payload)) {
        const winner = latest.get(field);
        if (!winner || winner.index >= index) continue;
        const held = current.get(field);
        if (entry.op === 'update' && held && deepEqual(held.value, winner.value)) {
          payload ??= { ...entry.payload };
          delete payload[field];
          if (!carrier || entries.indexOf(held.by) > entries.indexOf(carrier)) carrier = held.by;
        } else if (!deepEqual(winner.value, entry.payload[field])) {
          payload ??= { ...entry.payload };
          payload[field] = winner.value;
        }
      }
      if (payload) out = { ...entry, payload };
      if (payload && carrier && Object.keys(payload).length === 0) folded.push({ seq: entry.seq, into: carrier.seq });
    }
    if (isRolledBack(out)) return out;
    if (out.op !== 'update') current = new Map();
    for (const [field, value] of Object.entries(out.payload ?? {})) current.set(field, { value, by: entry });
    return out;
  });
  return { entries: valued, folded };
}

/**
 * After mergeTwins, when the change made last keeps the entity but a delete made before it may
 * already be at the server (sent under its key, it goes out as it is): the first change after
 * that delete that may still be edited goes out as a create of the entity as the changes leave
 * it, so the entity comes back with them, as a `'local'` decision on a deletion would bring it.
 */
export function recreateAfterSentDelete(base: Rec | null, entries: readonly OutboxEntry[], versionField: string): OutboxEntry[] {
  const last = changedLast(entries);
  const sentDelete = lastSentDelete(entries);
  if (!last || last.op === 'delete' || sentDelete < 0) return [...entries];
  const at = entries.findIndex((entry, i) => i > sentDelete && isMovable(entry));
  if (at < 0) return [...entries];
  const value = foldView(base, entries.filter((entry, i) => i <= at && entry.op !== 'delete'));
  if (value === null) return [...entries];
  const { [versionField]: _version, ...payload } = value;
  return entries.map((entry, i) => (i === at ? { ...entry, op: 'create' as const, payload, baseVersion: null } : entry));
}
