import { TEMP_ID_PREFIX } from '../internal/ids.js';
import { deepEqual } from '../internal/plain.js';
import type { ResourceDefinition } from '../types.js';

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

/** `value` with `from` replaced by `to` in `fields`; the same object when nothing changed. */
export function replaceReferences<V extends Rec | null>(value: V, fields: readonly string[], from: string, to: string): V {
  if (value === null) return value;
  let out: Rec | null = null;
  for (const field of fields) {
    if (value[field] === from) {
      out ??= { ...value };
      out[field] = to;
    }
  }
  return (out ?? value) as V;
}

/** True while a payload still points at an entity the server has not named yet. */
export function waitsForId(payload: Rec | null, fields: readonly string[]): boolean {
  if (payload === null) return false;
  return fields.some((field) => {
    const v = payload[field];
    return typeof v === 'string' && v.startsWith(TEMP_ID_PREFIX);
  });
}

type TwinEntry = { op: string; payload: Rec | null; frozen: boolean; state: string; changedAt: number };

/** An entry whose payload may still go out under the key it was sent with: never edited again. */
const isFixed = (entry: TwinEntry) => entry.frozen && entry.state !== 'conflict';

/**
 * The queued changes of one entity known here under two ids (its create's answer was lost, and a
 * pull brought it under its real id), put together in outbox order. Each id's changes were made
 * without the other's, and a change coalesced into an earlier entry sits at that entry's place,
 * so outbox order is not the order the two ids' changes were made in. The change made last
 * (`changedAt`) decides:
 * - whether the entity stays: after a delete made last, the changes made before it are dropped;
 *   after a create or an update made last, the deletes made before it are;
 * - each field's value: later entries that set it carry the value of the entry changed last.
 * Entries that may go out again under the key they were sent with (frozen, and not parked as a
 * conflict, whose decision is sent under a new key) are left as they are. A coalesced entry's
 * fields count as changed at its last change: the entry records no time per field.
 */
export function mergeTwins<E extends TwinEntry>(entries: readonly E[], keyField: string): { kept: E[]; dropped: E[] } {
  let last: E | undefined;
  for (const entry of entries) if (!last || entry.changedAt >= last.changedAt) last = entry;
  const dropped = entries.filter(
    (entry) => entry !== last && !isFixed(entry) && entry.changedAt <= last!.changedAt && (last!.op === 'delete') !== (entry.op === 'delete'),
  );
  const kept = dropped.length ? entries.filter((entry) => !dropped.includes(entry)) : [...entries];
  return { kept: latestValuesLast(kept, keyField), dropped };
}

/** Each field, applied in outbox order, ends on the value of the entry changed last that sets it. */
function latestValuesLast<E extends TwinEntry>(entries: readonly E[], keyField: string): E[] {
  const latest = new Map<string, { at: number; value: unknown; index: number }>();
  entries.forEach((entry, index) => {
    if (entry.op === 'delete' || entry.payload === null) return;
    for (const [field, value] of Object.entries(entry.payload)) {
      if (field === keyField) continue;
      const known = latest.get(field);
      if (!known || entry.changedAt >= known.at) latest.set(field, { at: entry.changedAt, value, index });
    }
  });
  return entries.map((entry, index) => {
    if (isFixed(entry) || entry.op === 'delete' || entry.payload === null) return entry;
    let payload: Rec | null = null;
    for (const field of Object.keys(entry.payload)) {
      const winner = latest.get(field);
      if (winner && winner.index < index && !deepEqual(winner.value, entry.payload[field])) {
        payload ??= { ...entry.payload };
        payload[field] = winner.value;
      }
    }
    return payload ? { ...entry, payload } : entry;
  });
}
