import type { FieldIssue } from '../errors.js';
import { normalizeId } from '../internal/ids.js';
import { copyPlain, deepEqual, isForbiddenKey, isPlainObject, unsendableField } from '../internal/plain.js';
import { validate } from '../internal/schema.js';
import { isOlderVersion } from '../internal/versions.js';
import type { OutboxEntry, ParkedConflict } from '../outbox/entry.js';
import { renameIds } from '../outbox/remap.js';
import type { ConflictContext, ConflictDecision, ConflictStrategy, ResourceDefinition } from '../types.js';
import { diffFields, threeWayMerge } from './merge.js';

type Rec = Record<string, unknown>;

/** What a conflicted entity becomes. */
export type Outcome =
  | { kind: 'remote' }
  | { kind: 'target'; value: Rec | null; choice: 'local' | 'value' | 'merged' }
  | { kind: 'park'; fields: string[] };

export interface ConflictInput {
  op: OutboxEntry['op'];
  base: Rec | null;
  local: Rec | null;
  remote: Rec | null;
  ignore: readonly string[];
}

/** Fields changed on both sides differently; when one side is gone, what the other changed. */
export function conflictFields(input: ConflictInput): string[] {
  const { base, local, remote, ignore } = input;
  if (local && remote) return threeWayMerge(base, local, remote, { ignore }).conflicts;
  const other = local ?? remote;
  return other ? diffFields(base ?? {}, other, ignore) : [];
}

/**
 * A parked conflict's entry holding `remote` (null: deleted) when that server state is newer than
 * the one it holds, compared as pulls compare versions, and `local`, the view rebased on it;
 * otherwise the entry itself. The version the change was sent against is no news: the conflict's
 * answer (perhaps "gone") came after it, and a list computed before that answer may still hold it.
 */
export function withNewerRemote(entry: OutboxEntry, remote: Rec | null, local: Rec | null, versionField: string): OutboxEntry {
  const conflict = entry.state === 'conflict' ? entry.conflict : null;
  if (!conflict) return entry;
  if (remote === null) {
    if (conflict.remote === null) return entry;
  } else {
    const version = remote[versionField];
    const held = conflict.remote === null ? entry.baseVersion : conflict.remote[versionField];
    if (Object.is(version, held) || Object.is(version, entry.baseVersion) || isOlderVersion(version, held)) return entry;
  }
  const fields = conflictFields({ op: entry.op, base: conflict.base, local, remote, ignore: [versionField] });
  return { ...entry, conflict: { ...conflict, local, remote, fields } };
}

/**
 * The server state a conflict is decided on: the answer's, or the base a pull stored since when
 * that is a later numbered version (the pull committed while the answer was on its way).
 */
export function newestRemote(remote: Rec | null, stored: Rec | null, versionField: string): Rec | null {
  return remote !== null && stored !== null && isOlderVersion(remote[versionField], stored[versionField]) ? stored : remote;
}

/** True when the server already holds what the change meant to write (our own earlier write). */
export function remoteMatchesIntent(entry: OutboxEntry, remote: Rec | null, ignore: readonly string[]): boolean {
  if (entry.op === 'delete') return remote === null;
  if (remote === null || entry.payload === null) return false;
  const fields = Object.keys(entry.payload).filter((f) => !ignore.includes(f));
  return fields.every((f) => deepEqual(entry.payload![f], remote[f]));
}

/**
 * Why `value` is not a conflict strategy, or null when it is one: any other string would be called
 * as a resolver at the first conflict, throw, and leave every conflict parked as under 'manual'.
 */
export function strategyProblem(value: unknown): string | null {
  if (typeof value === 'function' || value === 'merge' || value === 'client-wins' || value === 'server-wins' || value === 'manual') return null;
  return `conflicts must be 'merge', 'client-wins', 'server-wins', 'manual' or a function, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
}

/** Applies a strategy to a conflict; async because a resolver function may be. */
export async function decide<T>(strategy: ConflictStrategy<T>, input: ConflictInput, context: ConflictContext<T>): Promise<Outcome> {
  if (strategy === 'server-wins') return { kind: 'remote' };
  if (strategy === 'client-wins') return { kind: 'target', value: localSide(input), choice: 'local' };
  if (strategy === 'manual') return { kind: 'park', fields: context.fields };
  if (strategy === 'merge') {
    // A change arriving on an entity both sides deleted (queued behind its own delete, as two ids
    // merged leave it) is shown as a conflict, never dropped unseen; a parked one may settle so later.
    if (input.local === null && input.remote === null) return { kind: 'park', fields: context.fields };
    return undisputed(input) ?? { kind: 'park', fields: context.fields };
  }
  return fromDecision(await strategy(context), input, context.fields);
}

/**
 * What 'merge' makes of a conflict with no field in dispute: the merge, re-sent; nothing, when both
 * sides deleted the entity; the deletion, when the other side changed no field (a deletion against
 * an unchanged entity is a one-sided change). Null while a field is in dispute.
 */
export function undisputed(input: ConflictInput): Outcome | null {
  const { base, local, remote, ignore } = input;
  if (local === null && remote === null) return { kind: 'remote' };
  if (local === null) return diffFields(base ?? {}, remote, ignore).length === 0 ? { kind: 'target', value: null, choice: 'merged' } : null;
  if (remote === null) return diffFields(base ?? {}, local, ignore).length === 0 ? { kind: 'remote' } : null;
  const merged = threeWayMerge(base, local, remote, { ignore });
  return merged.conflicts.length ? null : { kind: 'target', value: merged.value, choice: 'merged' };
}

/**
 * The local side as a decision keeps it, with the fields it lacks that remote holds taken from
 * remote: another writer set them, this device never had them (a local write cannot clear a
 * field), and a request could only clear them with null, a value the schema may refuse.
 */
function localSide({ local, remote }: ConflictInput): Rec | null {
  if (local === null || remote === null) return local;
  let kept: Rec | null = null;
  for (const field of Object.keys(remote)) {
    if (isForbiddenKey(field) || local[field] !== undefined) continue;
    kept ??= { ...local };
    kept[field] = remote[field];
  }
  return kept ?? local;
}

/** Whether a decision is `{ value: { ...fields } }`: types do not hold at run time (a script tag, a resolver's answer). */
export const isValueDecision = (given: unknown): given is { value: Rec } => isPlainObject(given) && isPlainObject(given['value']);

/** A decision that is none, as an error names it: the text given, or what it holds. */
export function describeDecision(given: unknown): string {
  return typeof given === 'string' ? JSON.stringify(given) : isPlainObject(given) ? '{ value } holding no object of fields' : String(given);
}

export function fromDecision<T>(decision: ConflictDecision<T>, input: ConflictInput, fields: string[]): Outcome {
  if (decision === 'remote') return { kind: 'remote' };
  if (decision === 'local') return { kind: 'target', value: localSide(input), choice: 'local' };
  if (decision === 'manual') return { kind: 'park', fields };
  // Types do not hold at run time: a value that is no object (a string, an array) would be spread
  // into the entity by index, and the merge sent with remote's values in the fields in dispute.
  if (!isValueDecision(decision)) {
    throw new TypeError(`a conflict decision is 'local', 'remote', 'manual' or { value: { ...fields } }, received ${describeDecision(decision)}`);
  }
  const start =
    input.local && input.remote
      ? threeWayMerge(input.base, input.local, input.remote, { ignore: input.ignore }).value
      : (input.local ?? input.remote ?? {});
  const value: Rec = { ...start };
  for (const [field, v] of Object.entries(decision.value as Rec)) {
    if (field === '__proto__' || field === 'constructor' || field === 'prototype') continue;
    // A copy: the views freeze what they hold, and the app's object stays its own.
    value[field] = copyPlain(v);
  }
  return { kind: 'target', value, choice: 'value' };
}

/**
 * A decision that keeps an entity is a local write, be it a `{ value }`, a merge or the local view
 * (each side of a merge passed the schema, as the view did when written, but a refinement across
 * fields may refuse their mix, or the view as a pull rebased it): the entity must pass the
 * resource's schema, as `update()` checks base + patch (the version may be missing, as on a re-create), and be data
 * IndexedDB can store and JSON carry (`unsendableField`), keep the conflicted entity's `id`, and
 * clear no field of `remote` (the state it is sent against) with undefined, as `update()` refuses.
 * Valid, the outcome carries what the schema made of it; invalid, the issues, each naming its field.
 * `current` names an entity by the id it has now (a temporary id the server renamed: the server's).
 */
export async function checkDecision(
  def: ResourceDefinition<object>,
  outcome: Outcome,
  id: string,
  remote: Rec | null,
  current: (r: string, id: string) => string | number = (_, given) => given,
): Promise<Outcome | { issues: FieldIssue[] }> {
  if (outcome.kind !== 'target' || outcome.value === null) return outcome;
  const result = await validate(def.schema, namedNow(def, outcome.value, current), def.version);
  if (!result.ok) return { issues: result.issues };
  const value = result.value as Rec;
  // Stored under `id`, a value naming another entity would show it twice, and a re-create send it.
  if (normalizeId(value[def.key]) !== id) return { issues: [{ field: def.key, message: 'the key cannot be changed' }] };
  // JSON has no undefined: the patch would leave the field out, the server keep its value, and
  // its answer bring that back over the decision.
  const cleared = Object.keys(value).filter((field) => value[field] === undefined && remote !== null && remote[field] !== undefined);
  if (cleared.length > 0) {
    const message = 'cannot be cleared with undefined, which a request cannot carry: set it to null (in a schema that allows null)';
    return { issues: cleared.map((field) => ({ field, message })) };
  }
  const unsendable = unsendableField(value);
  return unsendable ? { issues: [unsendable] } : { ...outcome, value };
}

/**
 * The value with its key and `references` fields naming their entities by the ids they have now,
 * as `update()` names them: a value built on the copy `create()` returned holds temporary ids the
 * server may have renamed since, and would be stored naming an entity no change will create.
 */
function namedNow(def: ResourceDefinition<object>, value: Rec, current: (r: string, id: string) => string | number): Rec {
  const fields: Array<[string, string]> = [[def.key, def.name], ...Object.entries(def.references)];
  let out: Rec | null = null;
  for (const [field, r] of fields) {
    const given = value[field];
    const now = renameIds(given, (id) => (typeof id === 'string' ? current(r, id) : id));
    if (now === given) continue;
    out ??= { ...value };
    out[field] = now;
  }
  return out ?? value;
}

/** What a resolution overwrote, by field, so an app can tell the user. */
export function overwritten(local: Rec | null, remote: Rec | null, ignore: readonly string[]) {
  const out: Record<string, { local: unknown; remote: unknown }> = {};
  for (const field of diffFields(local ?? {}, remote ?? {}, ignore)) {
    out[field] = { local: local?.[field], remote: remote?.[field] };
  }
  return out;
}

/**
 * What a `{ value }` decision overwrote: each field it sets apart from either side, with what both
 * sides had (the value kept is neither's, so `overwritten(value, remote)` would hide the local one).
 */
export function overwrittenByValue(value: Rec, local: Rec | null, remote: Rec | null, ignore: readonly string[]) {
  const fields = new Set([...diffFields(value, local ?? {}, ignore), ...diffFields(value, remote ?? {}, ignore)]);
  return Object.fromEntries([...fields].map((field) => [field, { local: local?.[field], remote: remote?.[field] }]));
}

/**
 * The entity's queue after a decision. The conflicted entry keeps its place and logical key but
 * gets a new key suffix, because its content changed; later entries are folded into it, since the
 * target already holds their changes.
 */
export function requeue(
  head: OutboxEntry,
  target: Rec | null,
  remote: Rec | null,
  fields: { key: string; version: string },
): OutboxEntry[] {
  const reset = { frozen: false, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, state: 'queued' as const, conflict: null, failure: null, rekeys: head.rekeys + 1 };
  if (remote === null) {
    if (target === null) return [];
    const { [fields.version]: _version, ...value } = target;
    return [{ ...head, ...reset, op: 'create', payload: value, baseVersion: null }];
  }
  if (target === null) return [{ ...head, ...reset, op: 'delete', payload: null, baseVersion: remote[fields.version] }];
  const patch: Rec = {};
  for (const field of diffFields(remote, target, [fields.key, fields.version])) {
    if (field in target) patch[field] = target[field];
    else patch[field] = null;
  }
  if (Object.keys(patch).length === 0) return [];
  return [{ ...head, ...reset, op: 'update', payload: patch, baseVersion: remote[fields.version] }];
}

export function parked(head: OutboxEntry, conflict: ParkedConflict): OutboxEntry {
  return { ...head, state: 'conflict', conflict };
}
