/**
 * Changes parked in the outbox, as the app sees them: conflicts awaiting a decision (conflicts$,
 * each with its resolve()) and failed changes (failed$, each with retry() and discard()). Under
 * 'merge', a conflict left with no field in dispute is decided here as the strategy would have.
 */
import { BehaviorSubject } from 'rxjs';
import { applyOutcome, DECISION_ROUNDS, type OutcomeHost } from '../conflict/apply-outcome.js';
import { checkDecision, conflictFields, describeDecision, fromDecision, isValueDecision, newestRemote, undisputed, type ConflictInput, type Outcome } from '../conflict/resolve.js';
import { ConflictError, HarborSyncError, StorageError, ValidationError } from '../errors.js';
import { orClosed } from '../internal/abort.js';
import type { Conflict, ConflictChoice, ConflictStrategy, FailedMutation, ResourceDefinition } from '../types.js';
import { applyOp } from './coalesce.js';
import { foldUpdatesInto, isQuarantined, isRolledBack, toPendingOp, type OutboxEntry } from './entry.js';
import { idsIn } from './remap.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

export interface ParkedHost extends OutcomeHost {
  readonly defs: ReadonlyMap<string, Def>;
  /** Aborted by close(). */
  readonly lifetime: AbortSignal;
  assertOpen(what: string): void;
  closed(): boolean;
  strategy(def: Def): ConflictStrategy<Rec>;
  currentReference(r: string, id: string): string | number;
  /** A decision or a retry may have left the replay loop more to send. */
  wake(): void;
  /** The queue changed outside a commit's own notice (a discarded row): everything counting it is told. */
  outboxChanged(): void;
}

/** The parked entries, read from the outbox after a commit. */
export interface Parked {
  conflicts: Array<{ entry: OutboxEntry; since: readonly OutboxEntry[] }>;
  failed: OutboxEntry[];
}

const bySeq = (a: OutboxEntry, b: OutboxEntry) => a.seq - b.seq;

const sameEntries = (a: readonly OutboxEntry[], b: readonly OutboxEntry[]) =>
  a.length === b.length && a.every((entry, i) => entry === b[i]);

export class ParkedChanges {
  readonly conflicts = new BehaviorSubject<Conflict[]>([]);
  readonly failed = new BehaviorSubject<FailedMutation[]>([]);
  /** The parked conflicts conflicts$ last told of, each followed by the changes made to its entity since. */
  #conflictEntries: OutboxEntry[] = [];
  /** Those of them with no field in dispute, and the newest change made to each since (itself when none). */
  #undisputed: Array<{ entry: OutboxEntry; newest: OutboxEntry }> = [];
  /** Undisputed conflicts looked at: by the parked entry, the newest change made since (the entry itself when none). */
  readonly #undisputedSeen = new WeakMap<OutboxEntry, WeakSet<OutboxEntry>>();
  readonly #undisputedDecisions = new Set<Promise<void>>();
  #failedEntries: OutboxEntry[] = [];
  /**
   * What conflicts$ and failed$ last showed of each parked entry (a conflict with the changes made
   * since): one that did not change keeps its object, so a commit costs no new ones for the rest.
   */
  readonly #shownConflicts = new WeakMap<OutboxEntry, { since: readonly OutboxEntry[]; conflict: Conflict }>();
  readonly #shownFailed = new WeakMap<OutboxEntry, FailedMutation>();
  readonly #host: ParkedHost;

  constructor(host: ParkedHost) {
    this.#host = host;
  }

  /** Only the (few) parked entries are listed, after every commit. */
  read(): Parked {
    const { outbox } = this.#host.store;
    const conflicts: Parked['conflicts'] = [];
    const failed: OutboxEntry[] = [];
    for (const entry of outbox.parked()) {
      if (entry.state === 'conflict' && entry.conflict) {
        const since = outbox.entriesOf(entry.r, entry.id).filter((e) => e.seq > entry.seq && e.state === 'queued');
        conflicts.push({ entry, since });
      } else if (entry.state === 'failed') failed.push(entry);
    }
    conflicts.sort((a, b) => a.entry.seq - b.entry.seq);
    failed.sort(bySeq);
    return { conflicts, failed };
  }

  /** conflicts$ and failed$ told what changed in them (entries are replaced, never mutated, on every commit: identity tells). */
  publish({ conflicts, failed }: Parked): void {
    const conflictEntries = conflicts.flatMap(({ entry, since }) => [entry, ...since]);
    if (!sameEntries(this.#conflictEntries, conflictEntries)) {
      this.#conflictEntries = conflictEntries;
      const shown = conflicts.map(({ entry, since }) => {
        const known = this.#shownConflicts.get(entry);
        if (known && sameEntries(known.since, since)) return known.conflict;
        const conflict = this.#toConflict(entry, since);
        this.#shownConflicts.set(entry, { since, conflict });
        return conflict;
      });
      this.#undisputed = conflicts.flatMap(({ entry, since }, i) => (shown[i]!.fields.length === 0 ? [{ entry, newest: since.at(-1) ?? entry }] : []));
      this.conflicts.next(shown);
    }
    // Looked at on every commit: one whose decision could not be stored is tried again.
    if (this.#undisputed.length > 0 && !this.#host.closed()) this.#mergeUndisputed(this.#undisputed);
    if (!sameEntries(this.#failedEntries, failed)) {
      this.#failedEntries = failed;
      this.failed.next(
        failed.map((entry) => {
          let shown = this.#shownFailed.get(entry);
          if (!shown) this.#shownFailed.set(entry, (shown = this.#toFailed(entry)));
          return shown;
        }),
      );
    }
  }

  /** Until no decision of #mergeUndisputed is under way (one may lead to another). */
  async decided(): Promise<void> {
    while (this.#undisputedDecisions.size > 0) await Promise.all([...this.#undisputedDecisions]);
  }

  complete(): void {
    this.conflicts.complete();
    this.failed.complete();
  }

  /**
   * A parked conflict as it stands: its `local` side carries the changes made to the entity since
   * (`since`, queued behind it), which a decision takes with it, and `fields` are told anew on it.
   */
  #toConflict(entry: OutboxEntry, since: readonly OutboxEntry[]): Conflict {
    const { base, remote } = entry.conflict!;
    let { local, fields } = entry.conflict!;
    if (since.length > 0) {
      for (const later of since) local = applyOp(local, toPendingOp(later));
      fields = conflictFields({ op: entry.op, base, local, remote, ignore: [this.#host.defs.get(entry.r)?.version ?? 'version'] });
    }
    const conflict = {
      resource: entry.r,
      id: entry.id,
      base,
      local,
      remote,
      fields,
      resolve: (choice: ConflictChoice<Rec>) => this.#resolveConflict(entry, choice),
    };
    return conflict;
  }

  async #resolveConflict(entry: OutboxEntry, choice: ConflictChoice<Rec>): Promise<void> {
    this.#host.assertOpen('Conflict.resolve()');
    // A misspelt choice would fail mid-decision with no word of what was wrong, and a `value` that
    // is no object (a string, an array) would be spread into the entity field by index and sent.
    if (choice !== 'local' && choice !== 'remote' && !isValueDecision(choice)) {
      throw new TypeError(`harborsync: ${entry.r}/${entry.id}: Conflict.resolve() takes 'local', 'remote' or { value: { ...fields } }, received ${describeDecision(choice)}`);
    }
    // Parked by another page of the app: its schema, key and version field are not known here.
    if (!this.#host.defs.has(entry.r)) {
      throw new StorageError(`a conflict of resource "${entry.r}", which this client does not define, cannot be resolved here`, { resource: entry.r, id: entry.id });
    }
    if (!(await this.#decideParked(entry, 'manual', (input, fields) => fromDecision(choice, input, fields)))) {
      const detail = `the conflict changed under each of ${DECISION_ROUNDS} tries to decide it (writes or pulls meanwhile); nothing was decided: decide again on the conflict conflicts$ now holds`;
      throw new ConflictError(entry.conflict?.fields ?? [], { resource: entry.r, id: entry.id, detail });
    }
  }

  /**
   * Under 'merge', a parked conflict that newer server state, or a change made since, left with no
   * field in dispute (a pull here or in another tab, before a reload perhaps) is decided as if it
   * had come so. Looked at once per stored state of its entry and of the newest change made since
   * (`newest`): entries are replaced on every change.
   */
  #mergeUndisputed(entries: ReadonlyArray<{ entry: OutboxEntry; newest: OutboxEntry }>): void {
    for (const { entry, newest } of entries) {
      let seen = this.#undisputedSeen.get(entry);
      if (!seen) this.#undisputedSeen.set(entry, (seen = new WeakSet()));
      if (seen.has(newest)) continue;
      seen.add(newest);
      const def = this.#host.defs.get(entry.r);
      if (!def || this.#host.strategy(def) !== 'merge') continue;
      // Changed under every round: the entry stored since is looked at on its own commit.
      const deciding = this.#decideParked(entry, 'merge', undisputed).then(() => undefined, (error: unknown) => {
        if (this.#host.closed()) return;
        // Tried again on the next commit, or flush(); a merge the schema refused is refused again
        // until the entity changes.
        if (!(error instanceof ValidationError)) seen.delete(newest);
        this.#host.emit({ type: 'error', at: this.#host.env.clock.now(), resource: entry.r, error: error instanceof HarborSyncError ? error : new StorageError(String(error), { resource: entry.r, id: entry.id }) });
      });
      this.#undisputedDecisions.add(deciding);
      void deciding.finally(() => this.#undisputedDecisions.delete(deciding));
    }
  }

  /**
   * Decides a parked conflict with `choose` (null: nothing to decide now). The local side is the
   * view now: changes queued after the conflict was parked belong to it, and the decision replaces
   * the entries read with it. Should one of them change before the decision is stored (a write
   * merged into it, or a pull that brought a newer remote), the choice is applied again to what is stored.
   * False when that happened in every round: nothing was decided.
   */
  async #decideParked(entry: OutboxEntry, strategy: string, choose: (input: ConflictInput, fields: string[]) => Outcome | null): Promise<boolean> {
    const def = this.#host.defs.get(entry.r)!;
    for (let round = 0; round < DECISION_ROUNDS; round++) {
      const { record, entries } = await this.#host.store.loadEntity(entry.r, entry.id);
      const current = entries.find((e) => e.seq === entry.seq);
      // Decided since, here or in another tab: a conflict its re-send met is another one, not this decision's.
      if (!current || current.state !== 'conflict' || !current.conflict || current.rekeys !== entry.rekeys) return true;
      const { base, fields } = current.conflict;
      const remote = newestRemote(current.conflict.remote, record?.base ?? null, def.version);
      const local = record ? record.view : current.conflict.local;
      const input = { op: current.op, base, local, remote, ignore: [def.version], seen: new Map(entries.map((e) => [e.seq, e])) };
      const chosen = choose(input, fields);
      if (!chosen) return true;
      // A validation that never answers would hold resolve(), and a flush() or clear() waiting for the decision, past close().
      const outcome = await orClosed(checkDecision(def, chosen, entry.id, remote, (r, id) => this.#host.currentReference(r, id)), this.#host.lifetime);
      // Refused like a local write: nothing changes, the conflict stays for another decision.
      if ('issues' in outcome) throw new ValidationError(outcome.issues, { resource: entry.r, id: entry.id });
      if ((await applyOutcome(this.#host, def, current, input, outcome, strategy)) !== 'stale') {
        this.#host.wake();
        return true;
      }
    }
    return false;
  }

  #toFailed(entry: OutboxEntry): FailedMutation {
    const def = this.#host.defs.get(entry.r);
    const isStillFailed = (e: OutboxEntry) => e.seq === entry.seq && e.state === 'failed';
    const failed = {
      resource: entry.r,
      id: entry.id,
      op: entry.op,
      payload: entry.payload,
      error: { status: entry.failure?.status, message: entry.failure?.message ?? 'failed', body: entry.failure?.body },
      retry: async () => {
        this.#host.assertOpen('FailedMutation.retry()');
        if (isQuarantined(entry)) throw new StorageError(`${entry.failure?.message ?? 'a corrupted outbox entry'}; it cannot be retried`);
        if (!def) throw new StorageError(`a change to resource "${entry.r}", which this client does not define, cannot be retried here`, { resource: entry.r, id: entry.id });
        // A change that is no longer failed (retried or discarded since, here or in another tab) is left as it is.
        // A refused change was applied nowhere, and its key would only bring the refusal back: it
        // goes out anew. One parked after retryable failures may have been applied with its answer
        // lost: it goes out as it was, with its key, so the server answers it from its record.
        const again = (e: OutboxEntry): OutboxEntry =>
          e.failure?.rejected ? { ...e, frozen: false, rekeys: e.rekeys + 1 } : e;
        // Parked before it was ever sent (a reference that dangled): the updates made since, the
        // app's fix, are folded in; behind it, they would leave it to park again as it was.
        const namesLater = (e: OutboxEntry) =>
          Object.entries(def.references).some(([field, r]) =>
            idsIn(e.payload?.[field]).some(
              (value) => (typeof value === 'string' || typeof value === 'number') && this.#host.store.outbox.entriesOf(r, String(value)).some((x) => x.state === 'queued' && x.seq > entry.seq),
            ),
          );
        let folded: number[] = [];
        const change = await this.#host.store.rewrite(def, entry.id, ({ base, entries }) => {
          // A fresh start: a request lost to going offline before it was parked is no miss in a row
          // with the next one (parking kept the flag of the attempt before the one that parked it).
          const retried = entries.map((e) =>
            isStillFailed(e) ? { ...again(e), state: 'queued' as const, failure: null, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, unanswered: false } : e,
          );
          const stored = entries.find(isStillFailed);
          const fixed = stored && !stored.frozen ? foldUpdatesInto(retried, entry.seq, namesLater) : { entries: retried, folded: [] };
          folded = fixed.folded;
          return { base, entries: fixed.entries };
        });
        for (const seq of folded) this.#host.folded(seq, entry.seq);
        this.#host.applied(change);
        this.#host.announce();
        this.#host.wake();
      },
      discard: async () => {
        this.#host.assertOpen('FailedMutation.discard()');
        let discarded = false;
        let kept: Rec | null = null;
        // A refusal was left out of the view (and reported) when it was parked.
        let shown = !isRolledBack(entry);
        /**
         * The changes made since on a create the server never confirmed go with it: made on no
         * version, they could not be sent without it.
         */
        let madeOnIt: OutboxEntry[] = [];
        if (def && entry.id) {
          const change = await this.#host.store.rewrite(def, entry.id, ({ base, entries }) => {
            const failedNow = entries.find(isStillFailed);
            discarded = failedNow !== undefined;
            if (failedNow) shown = !isRolledBack(failedNow);
            kept = base;
            madeOnIt = failedNow?.op === 'create' && base === null ? entries.filter((e) => e.seq > failedNow.seq) : [];
            return { base, entries: entries.filter((e) => !isStillFailed(e) && !madeOnIt.includes(e)) };
          });
          this.#host.applied(change);
        }
        // Not among an entity's entries: a row that names no entity, or one of a resource not defined here.
        if (!discarded) discarded = await this.#host.store.discardFailed(entry.seq);
        this.#host.outboxChanged();
        // A refusal was rolled back (and reported) when it was parked: discarding it changes no view.
        if (discarded && def && shown) this.#host.emit({ type: 'rolledBack', at: this.#host.env.clock.now(), resource: entry.r, id: entry.id });
        // A wait made since it failed (an update that changed nothing), and those of the changes
        // that went with it, end with the server's entity.
        if (discarded) for (const e of [entry, ...madeOnIt]) this.#host.settled(e.seq, { value: kept });
        this.#host.announce();
        this.#host.wake();
      },
    };
    return failed;
  }
}
