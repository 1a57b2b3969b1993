/**
 * What a conflict's decision does to the queue: the conflicted change dropped, re-sent on the
 * server's version, or parked in conflicts$.
 */
import { ConflictError, type HarborSyncError } from '../errors.js';
import type { Env } from '../env.js';
import { deepEqual } from '../internal/plain.js';
import { isQuarantined, onServerState, type OutboxEntry } from '../outbox/entry.js';
import { madeAfter } from '../outbox/remap.js';
import type { LocalStore, ViewChange } from '../store/local-store.js';
import type { ResourceDefinition, SyncEvent } from '../types.js';
import { newestRemote, overwritten, overwrittenByValue, parked, requeue, type Outcome } from './resolve.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** What committing a decision needs from its client. */
export interface OutcomeHost {
  env: Env;
  store: LocalStore;
  applied(change: ViewChange | readonly ViewChange[]): void;
  emit(event: SyncEvent): void;
  settled(seq: number, outcome: { value: Rec | null } | { error: HarborSyncError }): void;
  /** The entry `seq` left the queue folded into the entry `into`: its waits settle with that one. */
  folded(seq: number, into: number): void;
  /** The outbox changed in a way other tabs must learn. */
  announce(): void;
}

/** Decisions made again when the entity changed under them, before the change is simply retried. */
export const DECISION_ROUNDS = 3;

/** Whether an outcome sends the conflicted change again (rather than dropping or parking it). */
export function resends(def: Def, head: OutboxEntry, outcome: Outcome, remote: Rec | null): boolean {
  return outcome.kind === 'target' && requeue(head, outcome.value, remote, { key: def.key, version: def.version }).length > 0;
}

/** Commits a conflict outcome; shared by the replay loop and Conflict.resolve(). */
export async function applyOutcome(
  host: OutcomeHost,
  def: Def,
  head: OutboxEntry,
  /** `seen`: the entity's entries as stored when `local` was read with them. */
  input: { base: Rec | null; local: Rec | null; remote: Rec | null; ignore: readonly string[]; seen: ReadonlyMap<number, OutboxEntry> },
  outcome: Outcome,
  strategy: string,
  /** The re-sent change's attempts so far and when it may go out: conflict after conflict backs off. */
  resend: { notBefore: number; attempts: number } = { notBefore: 0, attempts: 0 },
): Promise<'stale' | undefined> {
  const at = host.env.clock.now();
  const { base, local, remote } = input;
  // A pull stored a later server state since the decision read the entity: it is made again on that.
  const overtaken = (stored: Rec | null) => newestRemote(remote, stored, def.version) !== remote;
  if (outcome.kind === 'park') {
    let stale = false as boolean;
    const change = await host.store.rewrite(def, head.id, (stored) => {
      stale = overtaken(stored.base);
      if (stale) return stored;
      return { base: stored.base, entries: stored.entries.map((e) => (e.seq === head.seq ? parked(e, { base, local, remote, fields: outcome.fields }) : e)) };
    });
    host.applied(change);
    if (stale) return 'stale';
    host.emit({ type: 'conflict', at, resource: head.r, id: head.id, fields: outcome.fields });
    // A write awaiting the server learns now; resolving the conflict later does not revive the wait.
    host.settled(head.seq, { error: new ConflictError(outcome.fields, { resource: head.r, id: head.id }) });
    host.announce();
    return undefined;
  }
  const target = outcome.kind === 'remote' ? remote : outcome.value;
  // requeue() gives the head alone, re-sent, or nothing.
  const requeued = (outcome.kind === 'remote' ? [] : requeue(head, target, remote, { key: def.key, version: def.version })).map((e) => ({
    ...e,
    attempts: resend.attempts,
    nextAttemptAt: resend.notBefore,
    waitMs: Math.max(resend.notBefore - at, 0),
    unanswered: false,
  }));
  let decidedElsewhere = false as boolean;
  let stale = false as boolean;
  let replaced: readonly OutboxEntry[] = [];
  const change = await host.store.rewrite(def, head.id, (stored) => {
    // Two senders (no Web Locks) may meet the same conflict: the first decision stands.
    const current = stored.entries.find((e) => e.seq === head.seq);
    if (!current || current.rekeys !== head.rekeys) {
      decidedElsewhere = true;
      return stored;
    }
    // An entry the decision saw has changed since (a write merged into it, or a pull gave the
    // parked conflict a newer remote), or is gone (a delete took back a create queued after the
    // conflict): the decision is stale.
    const changedSince = (e: OutboxEntry) => (e.seq === head.seq ? !deepEqual(head.conflict, e.conflict) : input.seen.has(e.seq) && !deepEqual(input.seen.get(e.seq), e));
    const storedSeqs = new Set(stored.entries.map((e) => e.seq));
    const goneSince = [...input.seen.keys()].some((seq) => !storedSeqs.has(seq));
    if (goneSince || stored.entries.some(changedSince) || overtaken(stored.base)) {
      stale = true;
      return stored;
    }
    // The decision replaces what it saw. A change made since (while a resolver decided) and a
    // quarantined row are not in it: they stay, after it, on the server's version.
    const stays = (e: OutboxEntry) => e.seq !== head.seq && (isQuarantined(e) || !input.seen.has(e.seq));
    replaced = stored.entries.filter((e) => !stays(e));
    const later = stored.entries.filter(stays).map((e) => onServerState(e, remote, def.version));
    // The re-send carries the changes it replaces: it counts as made when the newest of them was.
    const newest = replaced.reduce((a, b) => (madeAfter(b, a) ? b : a), head);
    const resent = requeued.map((e) => ({ ...e, changedAt: newest.changedAt, lastSeq: newest.lastSeq ?? newest.seq }));
    return { base: remote, entries: [...resent, ...later].sort((a, b) => a.seq - b.seq) };
  }, { at, version: head.baseVersion });
  // Told before the change's own hint: a tab that re-reads the queue on that hint must find each
  // folded wait already following the re-sent entry, or it answers it from the stored server state.
  if (!stale && !decidedElsewhere && requeued.length > 0) {
    for (const entry of replaced) if (entry.seq !== head.seq) host.folded(entry.seq, head.seq);
  }
  host.applied(change);
  if (stale) return 'stale';
  if (decidedElsewhere) return undefined;
  host.emit({
    type: 'resolved',
    at,
    resource: head.r,
    id: head.id,
    strategy,
    choice: outcome.kind === 'remote' ? 'remote' : outcome.choice,
    overwritten:
      outcome.kind === 'remote'
        ? overwritten(local, remote, input.ignore)
        : outcome.choice === 'value' && outcome.value
          ? overwrittenByValue(outcome.value, local, remote, input.ignore)
          : overwritten(target, remote, input.ignore),
  });
  // The entity's later changes are in the target: their waits went with the re-sent change above,
  // or, when nothing is re-sent, end with the server's entity the decision kept, as the head's does.
  if (requeued.length === 0) for (const entry of replaced) host.settled(entry.seq, { value: remote });
  host.announce();
  return undefined;
}
