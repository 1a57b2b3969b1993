/**
 * The entities a queued change names in its `references` fields: whether it waits for them, the
 * ids it names them by now, and a temporary id no change will ever rename.
 */
import type { FieldIssue } from '../errors.js';
import { TEMP_ID_PREFIX } from '../internal/ids.js';
import type { ResourceDefinition } from '../types.js';
import type { OutboxEntry } from './entry.js';
import { entityKey, splitEntityKey, type OutboxMemory } from './outbox-memory.js';
import { idsIn, renameIds, waitsForId } from './remap.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** What the references of a change are checked against: the queue as this tab knows it, and the definitions. */
export interface ReferenceHost {
  readonly store: { readonly outbox: Pick<OutboxMemory, 'entriesOf'> };
  definition(r: string): Def | undefined;
  /** The id an entity has now, as a field referring to it holds it (see ReplayHost). */
  currentReference(r: string, id: string): string | number;
}

/**
 * A change waits while it names, in a `references` field, an entity the server has not named
 * yet, or one with an earlier change still to be delivered (a task created before its project):
 * queued, or parked in failed$ or conflicts$ until the app retries, resolves or discards it.
 * Only earlier changes hold it, so no two changes wait for each other. `payload`: the entry's,
 * with its references as they are named now. `renaming`: entities (by both ids) a create's answer
 * names, until the rename is stored and shown.
 */
export function waitsForOthers(host: ReferenceHost, renaming: Pick<ReadonlySet<string>, 'has'>, entry: OutboxEntry, def: Def, payload: Rec | null): boolean {
  if (payload === null) return false;
  const fields = Object.keys(def.references);
  if (fields.length === 0) return false;
  // A temporary id waits for its rename only where the server names ids (or the resource is
  // not defined here to say): an app's own id may start with the prefix.
  if (waitsForId(payload, fields.filter((field) => host.definition(def.references[field]!)?.ids !== 'client'))) return true;
  // Renamed by a create's answer still being stored and shown: sent now, this change's answer
  // could be shown first, and its entity missing from the views until that one is.
  const named = (field: string) => idsIn(payload[field]).filter((id) => typeof id === 'string' || typeof id === 'number');
  if (fields.some((field) => named(field).some((id) => renaming.has(entityKey(def.references[field]!, String(id)))))) return true;
  const { outbox } = host.store;
  return fields.some((field) =>
    named(field).some((target) => {
      const earlier = outbox.entriesOf(def.references[field]!, String(target))[0];
      // Queued, or a create parked unconfirmed, or a change parked on the server's deletion: the
      // entity may not exist on the server until it is decided. A parked change to an entity the
      // server has holds back only that entity.
      return earlier !== undefined && earlier.seq < entry.seq && (earlier.state === 'queued' || earlier.op === 'create' || earlier.conflict?.remote === null);
    }),
  );
}

/**
 * Adds to `held` the entities (as entity keys) whose deletion waits behind a waiting change: those
 * it names in its `references` fields and, through their own queued or parked changes (or, in
 * `renaming`, what a create's answer being stored names), those these name in turn. A comment
 * waiting for its task's id holds back its project's deletion too, or the server would delete the
 * project, and the task with it, before the comment is created.
 */
export function holdDeletions(host: ReferenceHost, renaming: ReadonlyMap<string, readonly string[]>, def: Def, payload: Rec | null, held: Set<string>): void {
  const named = namedEntities(host, def, payload);
  for (let key = named.pop(); key !== undefined; key = named.pop()) {
    if (held.has(key)) continue;
    held.add(key);
    named.push(...(renaming.get(key) ?? []));
    const [r, id] = splitEntityKey(key);
    for (const entry of host.store.outbox.entriesOf(r, id)) {
      const target = host.definition(entry.r);
      if (target) named.push(...namedEntities(host, target, entry.payload));
    }
  }
}

/** The entities (as entity keys, by the ids they have now) a payload names in its `references` fields. */
export function namedEntities(host: Pick<ReferenceHost, 'currentReference'>, def: Def, payload: Rec | null): string[] {
  if (payload === null) return [];
  return Object.entries(def.references).flatMap(([field, r]) =>
    idsIn(payload[field])
      .filter((id) => typeof id === 'string' || typeof id === 'number')
      .map((id) => entityKey(r, String(host.currentReference(r, String(id))))),
  );
}

/**
 * A payload with each `references` field naming its entity by the id it has now. A row stored
 * naming a temporary id already renamed (by a tab that had not heard of the rename) is sent
 * with the real one; the renaming transaction rewrote every row stored before it.
 */
export function currentReferences<P extends Rec | null>(host: Pick<ReferenceHost, 'currentReference'>, def: Def, payload: P): P {
  if (payload === null) return payload;
  let out: Rec | null = null;
  for (const [field, r] of Object.entries(def.references)) {
    // Only temporary ids are ever renamed.
    const current = renameIds(payload[field], (id) => (typeof id === 'string' && id.startsWith(TEMP_ID_PREFIX) ? host.currentReference(r, id) : id));
    if (current === payload[field]) continue;
    out ??= { ...payload };
    out[field] = current;
  }
  return (out ?? payload) as P;
}

/**
 * A `references` field naming a temporary id that no change will ever rename: its create is
 * gone (discarded, or deleted before it was sent) and the server never renamed it. The change can never be sent; waiting for it would leave it pending, unseen, forever.
 * `busy`: entities from the freezing of their head until its answer is stored.
 */
export function danglingReference(host: ReferenceHost, busy: ReadonlySet<string>, def: Def, payload: Rec | null): FieldIssue | undefined {
  if (payload === null) return undefined;
  const { outbox } = host.store;
  for (const [field, r] of Object.entries(def.references)) {
    if (host.definition(r)?.ids !== 'server') continue;
    for (const id of idsIn(payload[field])) {
      if (typeof id !== 'string' || !id.startsWith(TEMP_ID_PREFIX)) continue;
      // Its create is being answered while busy: the renaming may not be known here yet.
      if (outbox.entriesOf(r, id).length > 0 || busy.has(entityKey(r, id))) continue;
      return { field, message: `refers to ${r}/${id}, whose create was dropped before the server named it` };
    }
  }
  return undefined;
}
