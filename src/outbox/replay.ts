import { conflictEntity, classifyStatus } from '../transport/classify.js';
import { ConflictError, HarborSyncError, HttpError, NetworkError, SchemaError, ValidationError, type FieldIssue } from '../errors.js';
import type { ViewChange } from '../store/local-store.js';
import type { ConflictStrategy, ResourceDefinition, Transport } from '../types.js';
import { backoffDelay, boundedDeadline, failingForMs, longestRetryDelayMs, parseRetryAfter, retryDelay, retryingSince } from './backoff.js';
import { normalizeId } from '../internal/ids.js';
import { isOlderVersion } from '../internal/versions.js';
import { referrersOf } from './remap.js';
import { idempotencyKey, type EntryFailure, type OutboxEntry } from './entry.js';
import { entityKey } from './outbox-memory.js';
import { currentReferences, danglingReference, holdDeletions, namedEntities, waitsForOthers } from './reference-waits.js';
import { payloadIssues } from './payload-check.js';
import { toTabError } from '../sync/broadcast.js';
import { checkDecision, conflictFields, decide, newestRemote, remoteMatchesIntent, type ConflictInput, type Outcome } from '../conflict/resolve.js';
import { applyOutcome, DECISION_ROUNDS, resends, type OutcomeHost } from '../conflict/apply-outcome.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

export interface ReplayOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  sendDelayMs: number;
  /** Requests in flight at once, each to a different entity. */
  maxInFlight: number;
  /** How long a request may take: an entry due for longer than that was not being retried. */
  timeoutMs: number;
}

/** What the replay loop needs from its client. */
export interface ReplayHost extends OutcomeHost {
  transport: Transport;
  options: ReplayOptions;
  definition(r: string): Def | undefined;
  definitions(): Iterable<Def>;
  /** The entity `from` is now `to` (the server's id as its answer wrote it): handles follow it. */
  remapped(r: string, from: string, to: string | number): void;
  /**
   * The id an entity has now, as a field referring to it holds it: a temporary id the server
   * renamed (the rename is stored) resolves to the server's, as its answer wrote it.
   */
  currentReference(r: string, id: string): string | number;
  strategy(def: Def): ConflictStrategy<Rec>;
  /** Pulls the resource again (its answer to a write could not be cached). */
  refetch(def: Def): void;
  /** Parses a server entity with the resource's schema; undefined (reported, and told to `refused`) when invalid. */
  parse(def: Def, value: unknown, id: string | undefined, refused?: (error: SchemaError) => void): Rec | undefined | Promise<Rec | undefined>;
  canSend(): boolean;
  /** What the online source says now. */
  online(): boolean;
  pauseUnauthorized(): void;
  setSyncing(syncing: boolean, nextRetryAt: number | null, lastError?: Error | null): void;
  /** Another tab settled a change of this entity unheard of here: read again as its message would have had it (views, waits). */
  reread(r: string, id: string): void;
}

const keyOf = (entry: OutboxEntry) => entityKey(entry.r, entry.id);

interface PendingAnswer {
  def: Def;
  entry: OutboxEntry;
  answer: Rec | null;
  done: () => void;
  failed: (error: unknown) => void;
}

/**
 * Due entries frozen in one transaction ahead of their requests: a backlog costs one freeze per
 * batch, not one per request. An entry frozen ahead no longer coalesces; it is sent within a few
 * requests' time.
 */
const FREEZE_AHEAD = 16;
/**
 * The next batch is frozen while this many frozen entries are still to be sent: its transaction
 * queues behind the answers being stored, and the requests go on meanwhile instead of waiting.
 */
const REFREEZE_BELOW = FREEZE_AHEAD / 2;

/**
 * The replay loop, a pipeline: due heads are frozen in batches, in global order; up to
 * `maxInFlight` requests are out at once, each to a different entity, started in global order;
 * an answer frees its request slot on arrival and is stored while the next request is out
 * (answers arriving together share one transaction). An entity's next change waits until its
 * answer is stored, so each entity's changes arrive in order. Retries back off; parked entries
 * hold back only their own entity. A change that references another entity waits for that
 * entity's earlier changes.
 */
export class Replayer {
  #stopped = false;
  #running = false;
  #wakeUp: (() => void) | null = null;
  #cancelTimer: (() => void) | null = null;
  #flushing = 0;
  #idleWaiters: Array<() => void> = [];
  /** Entities from the freezing of their head until its answer is stored. */
  readonly #busy = new Set<string>();
  /** Entities (by both ids) a create's answer names, until the rename is stored and shown: what each names. */
  readonly #renaming = new Map<string, readonly string[]>();
  /** Creates of resources the server names ids for, by seq, from their request until their answer is stored: who waits for that. */
  readonly #createsOut = new Map<number, { r: string; stored: Array<() => void> }>();
  /** Entries this tab sent since it last began to lead, while they stay queued: no other tab sends them. */
  readonly #sentHere = new Set<number>();
  /** Frozen entries whose requests have not left yet, in global order. */
  #frozen: OutboxEntry[] = [];
  #freezing = false;
  /** Counts standDown() calls: a freeze committed after one is forgotten like the rest. */
  #stoodDown = 0;
  /** Counts databaseDeleted() calls: an answer to a request sent before one is not stored. */
  #deletions = 0;
  /** Requests whose answers have not arrived. */
  #requests = 0;
  /** Entries between their request and their stored answer (or retry, or parking). */
  #sending = 0;
  /** After a storage fault nothing new is sent before this time. */
  #faultUntil = 0;
  /** Storage faults since an attempt last ended with what it stored: each doubles the wait. */
  #faultsInRow = 0;
  /**
   * status$'s `nextRetryAt`: the earliest retry of a change not out now, as the last look at the
   * queue found it, and those set since. A request that leaves does not hide it.
   */
  #retryAt: number | null = null;
  /**
   * Entries coming online made due before their deadline, by seq, with that deadline: it holds
   * while the entry's stored deadline is still the one, and ends with the attempt it caused.
   */
  readonly #dueOnline = new Map<number, number>();
  /** Deadlines moved by a clock step, kept across re-reads of the outbox (see #anchored). */
  readonly #anchors = new Map<string, { stored: number; at: number }>();
  /** Per entry never sent, what the schema refuses in it (null: an async schema is judging it). */
  readonly #judged = new WeakMap<OutboxEntry, FieldIssue[] | null>();
  /** Verdicts an async schema has yet to give: until they come, the queue is not idle (flush() waits). */
  #judging = 0;
  /** Answers waiting for the next settle transaction, and whether one is running. */
  #answers: PendingAnswer[] = [];
  #settling = false;

  readonly #host: ReplayHost;

  constructor(host: ReplayHost) {
    this.#host = host;
  }

  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    void this.#loop().finally(() => (this.#running = false));
  }

  wake(): void {
    const wake = this.#wakeUp;
    this.#wakeUp = null;
    wake?.();
  }

  /**
   * The network came back: an entry waiting after an attempt that got no answer is due now. A
   * wait the server asked for (an answer's Retry-After or backoff) is kept: being offline did not
   * cause it. Called again before that attempt is made, it changes nothing.
   */
  cameOnline(): void {
    const now = this.#host.env.clock.now();
    const { outbox } = this.#host.store;
    for (const seq of this.#dueOnline.keys()) if (outbox.get(seq)?.state !== 'queued') this.#dueOnline.delete(seq);
    for (const head of outbox.heads()) {
      // A row stored before `unanswered` was kept says nothing of its last answer: it counts as unanswered.
      const unanswered = head.unanswered ?? head.attempts > 0;
      if (head.state === 'queued' && unanswered && head.nextAttemptAt > now) this.#dueOnline.set(head.seq, head.nextAttemptAt);
    }
    this.wake();
  }

  /** Whether a create's answer is renaming the entity (named by either id) here: its waits move once that is shown. */
  renaming(r: string, id: string): boolean {
    return this.#renaming.has(entityKey(r, id));
  }

  /** Resolves once nothing more can be sent now; sendDelayMs is skipped meanwhile. */
  flush(): Promise<void> {
    this.#flushing++;
    const done = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.start();
    this.wake();
    return done.finally(() => this.#flushing--);
  }

  /**
   * This tab no longer sends. Entries frozen but not sent yet stay frozen in IndexedDB, for the
   * tab that sends now; this one forgets them (it re-reads the outbox if it leads again).
   */
  standDown(): void {
    this.#stoodDown++;
    this.#sentHere.clear();
    for (const entry of this.#frozen) this.#busy.delete(keyOf(entry));
    this.#frozen = [];
    this.wake();
  }

  /**
   * The namespace's database was deleted (clear(), here or in another tab, or an eviction). The
   * answers to requests out now are about changes no longer stored, and the fresh database may
   * number a change made since with one of their seqs (it starts past those its tab knew): stored
   * by its seq, such an answer would settle (or park) that change, which would then never be sent.
   * They are dropped as they come.
   */
  databaseDeleted(): void {
    this.#deletions++;
    // The storage that faulted went with it: a change made in the fresh one does not wait for it.
    this.#faultUntil = 0;
    this.#faultsInRow = 0;
    this.standDown();
  }

  /**
   * Stops the loop. Requests in flight are abandoned, not awaited: their answers are dropped, and
   * the entries, still in the outbox, are re-sent with the same keys by the next client.
   */
  stop(): void {
    this.#stopped = true;
    this.#frozen = [];
    this.#cancelTimer?.();
    // Nothing is sent or retried any more: an abandoned request's answer never resets these.
    this.#host.setSyncing(false, null);
    this.wake();
    this.#releaseIdle();
  }

  #releaseIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * The heads that may be sent now, oldest first, at most `room`; when the next one is due; and
   * when the next retry is (a head that failed before), which status$ shows as `nextRetryAt`.
   */
  #due(now: number, room: number): { ready: OutboxEntry[]; dueAt: number | null; retryAt: number | null } {
    let dueAt: number | null = null;
    let retryAt: number | null = null;
    const ready: OutboxEntry[] = [];
    const { sendDelayMs } = this.#host.options;
    const longest = longestRetryDelayMs(this.#host.options);
    // Two times per queued entry at most: past that, some belong to entries gone since.
    const { outbox } = this.#host.store;
    if (this.#anchors.size > 2 * outbox.queuedCount) this.#forgetAnchors();
    // Retried entries not met yet: once none is left past `room`, the rest of a long queue is not read.
    let retried = outbox.retriedCount;
    // Entities named by a change left waiting, directly or through the entities it names: a later
    // delete of one waits too, or it would reach the server before the change made first (a
    // project deleted before a task created in it). Other changes to them go on: they leave
    // nothing such a change could not name.
    const namedByWaiting = new Set<string>();
    // An entity whose head is out has its next change sent once that answer is stored: the heads
    // made after that change wait for it, so the server gets them in the order they were made.
    let madeBefore = Infinity;
    for (const head of outbox.heads()) {
      if (head.state === 'queued' && head.attempts > 0) retried--;
      // Past `room`, a head is looked at only for when it is retried.
      else if (ready.length === room) {
        if (retried <= 0) break;
        continue;
      }
      // A resource this client does not define (another page of the app may): held for a client that does.
      const def = this.#host.definition(head.r);
      if (head.state !== 'queued' || !def) continue;
      if (this.#busy.has(keyOf(head))) {
        madeBefore = Math.min(madeBefore, outbox.entriesOf(head.r, head.id)[1]?.seq ?? Infinity);
        continue;
      }
      if (head.seq > madeBefore) continue;
      const payload = currentReferences(this.#host, def, head.payload);
      const dangling = danglingReference(this.#host, this.#busy, def, payload);
      if (dangling) {
        this.#parkUnsendable(def, head, [dangling], false);
        continue;
      }
      const refused = this.#refusedBySchema(def, head);
      if (refused === null) continue;
      if (refused.length) {
        this.#parkUnsendable(def, head, refused, true);
        continue;
      }
      if ((head.op === 'delete' && namedByWaiting.has(keyOf(head))) || waitsForOthers(this.#host, this.#renaming, head, def, payload)) {
        holdDeletions(this.#host, this.#renaming, def, payload, namedByWaiting);
        continue;
      }
      // Times set before the clock stepped back are re-anchored to now, so no wait outlasts the
      // one given (a row that does not say: the longest one); re-anchored once, they do not move
      // on each pass nor on a re-read.
      const dueOnline = this.#dueOnline.get(head.seq) === head.nextAttemptAt;
      const given = typeof head.waitMs === 'number' && head.waitMs >= 0 ? Math.min(head.waitMs, longest) : longest;
      const nextAttemptAt = dueOnline ? now : this.#anchored('n', head.seq, head.nextAttemptAt, () => boundedDeadline(head.nextAttemptAt, now, given));
      const changedAt = this.#anchored('c', head.seq, head.changedAt, () => Math.min(head.changedAt, now));
      const readyAt = Math.max(nextAttemptAt, this.#flushing ? 0 : changedAt + sendDelayMs);
      if (readyAt <= now) {
        if (ready.length < room) ready.push(head);
        continue;
      }
      dueAt = dueAt === null ? readyAt : Math.min(dueAt, readyAt);
      // A change that has not failed yet, waiting out sendDelayMs, is no retry.
      if (head.attempts > 0) retryAt = retryAt === null ? readyAt : Math.min(retryAt, readyAt);
    }
    return { ready, dueAt, retryAt };
  }

  /**
   * A stored time as re-anchored the first time it was met (by entry and stored value); the map
   * holds only times a clock step moved, and forgets those of entries no longer queued.
   */
  #anchored(kind: 'n' | 'c', seq: number, stored: number, anchor: () => number): number {
    // The common case, no clock step: nothing kept, nothing to key (this runs for every head on every pass).
    if (this.#anchors.size === 0) {
      const at = anchor();
      if (at === stored) return at;
    }
    const key = `${kind}${seq}`;
    const known = this.#anchors.get(key);
    if (known?.stored === stored) return known.at;
    const at = anchor();
    if (at === stored) this.#anchors.delete(key);
    else this.#anchors.set(key, { stored, at });
    return at;
  }

  #forgetAnchors(): void {
    const { outbox } = this.#host.store;
    for (const key of this.#anchors.keys()) if (outbox.get(Number(key.slice(1)))?.state !== 'queued') this.#anchors.delete(key);
  }

  async #loop(): Promise<void> {
    const { env, options } = this.#host;
    while (!this.#stopped) {
      const now = env.clock.now();
      const faulted = now < this.#faultUntil;
      const sendable = !faulted && this.#host.canSend();
      if (sendable && this.#requests < options.maxInFlight && this.#frozen.length) {
        const entry = this.#frozen.shift()!;
        const current = this.#host.store.outbox.get(entry.seq);
        // Gone since it was frozen (another tab settled it, or clear() discarded it): not sent.
        if (current?.state === 'queued') this.#dispatch(current);
        else this.#busy.delete(keyOf(entry));
        continue;
      }
      let dueAt: number | null = null;
      let retryAt: number | null = null;
      if (sendable && !this.#freezing && this.#frozen.length < Math.max(REFREEZE_BELOW, options.maxInFlight)) {
        const due = this.#due(now, Math.max(FREEZE_AHEAD, options.maxInFlight) - this.#frozen.length);
        this.#retryAt = due.retryAt;
        if (due.ready.length) {
          this.#freeze(due.ready);
          continue;
        }
        dueAt = due.dueAt;
        retryAt = due.retryAt;
      }
      if (this.#sending || this.#freezing || this.#judging) {
        // Woken as each answer arrives or is stored, a verdict comes, or a backed-off entry falls due.
        await this.#sleep(dueAt === null ? null : Math.max(0, dueAt - now));
        continue;
      }
      if (faulted) {
        this.#faultUntil = boundedDeadline(this.#faultUntil, now, options.maxDelayMs);
        // Nothing is sent before then, so nothing more can be now: a flush() waiting ends, as
        // while a change backs off (a storage that stays full would hold it for good).
        this.#host.setSyncing(false, this.#retrySetAt(this.#faultUntil));
        this.#releaseIdle();
        await this.#sleep(this.#faultUntil - now);
        continue;
      }
      this.#retryAt = retryAt;
      this.#host.setSyncing(false, retryAt);
      this.#releaseIdle();
      await this.#sleep(dueAt === null ? null : Math.max(0, dueAt - now));
    }
  }

  /**
   * Freezes a batch of due heads in one transaction; they are sent from #frozen, in order. A head
   * frozen already, but not sent by this tab since it leads, is read in it too: the last leader
   * may have sent it and stored its answer since this tab read the outbox, and its message about
   * that may not have arrived yet (or be lost with it).
   */
  #freeze(batch: OutboxEntry[]): void {
    this.#freezing = true;
    for (const entry of batch) this.#busy.add(keyOf(entry));
    const unchecked = batch.filter((entry) => !entry.frozen || !this.#sentHere.has(entry.seq));
    const storing = unchecked.length ? this.#host.store.freeze(unchecked) : Promise.resolve([]);
    const stoodDown = this.#stoodDown;
    storing
      .then((stored) => {
        if (this.#stopped) return;
        if (stoodDown !== this.#stoodDown) {
          for (const entry of batch) this.#busy.delete(keyOf(entry));
          return;
        }
        const asStored = new Map(unchecked.map((entry, i) => [entry, stored[i]]));
        for (const entry of batch) {
          const current = asStored.has(entry) ? asStored.get(entry) : entry;
          if (current) {
            this.#frozen.push(current);
            continue;
          }
          // Gone from IndexedDB: another tab (a second sender) settled it, perhaps unheard of here.
          // Not when this tab's own rename moved it: its waits follow it once that is told.
          this.#busy.delete(keyOf(entry));
          if (!this.#renaming.has(keyOf(entry))) this.#host.reread(entry.r, entry.id);
        }
      })
      .catch((error: unknown) => {
        for (const entry of batch) this.#busy.delete(keyOf(entry));
        this.#storageFault(batch[0]!.r, error);
      })
      .finally(() => {
        this.#freezing = false;
        this.wake();
      });
  }

  /**
   * Settles once each create of `r` whose request is out now has its answer stored, or failed; none
   * out: undefined. A read answered meanwhile may hold the entity the server made of one, under
   * the id the answer gives the temporary one: stored before the answer, it would show twice.
   */
  createsStored(r: string): Promise<void> | undefined {
    const waits: Array<Promise<void>> = [];
    for (const out of this.#createsOut.values()) if (out.r === r) waits.push(new Promise((resolve) => out.stored.push(resolve)));
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }

  /** Sends one frozen entry; its request slot frees when the answer arrives. */
  #dispatch(entry: OutboxEntry): void {
    this.#requests++;
    this.#sending++;
    this.#sentHere.add(entry.seq);
    const creating = entry.op === 'create' && this.#host.definition(entry.r)?.ids === 'server';
    if (creating) this.#createsOut.set(entry.seq, { r: entry.r, stored: [] });
    let answered = false;
    const arrived = () => {
      if (answered) return;
      answered = true;
      this.#requests--;
      this.wake();
    };
    this.#send(entry, arrived)
      .then(
        () => (this.#faultsInRow = 0),
        (error: unknown) => this.#storageFault(entry.r, error),
      )
      .finally(() => {
        arrived();
        this.#sending--;
        this.#busy.delete(keyOf(entry));
        if (creating) {
          for (const resolve of this.#createsOut.get(entry.seq)!.stored) resolve();
          this.#createsOut.delete(entry.seq);
        }
        this.#dueOnline.delete(entry.seq);
        if (this.#host.store.outbox.get(entry.seq)?.state !== 'queued') this.#sentHere.delete(entry.seq);
        this.wake();
      });
  }

  /** A storage fault while committing: the entry stays queued and is re-sent with its key. */
  #storageFault(resource: string, error: unknown): void {
    if (this.#stopped) return;
    const { env, options } = this.#host;
    const failure = error instanceof HarborSyncError ? error : new SchemaError([{ field: '', message: String(error) }]);
    this.#host.emit({ type: 'error', at: env.clock.now(), resource, error: failure });
    // A storage that stays full would otherwise have the change re-sent every baseDelayMs for as
    // long as it lasts: the waits double, up to maxDelayMs (one client's storage: no jitter).
    this.#faultUntil = env.clock.now() + backoffDelay(++this.#faultsInRow, 1, options);
    // status$ says why the queue does not drain, as it does for a failed attempt.
    this.#host.setSyncing(this.#requests > 0, this.#retrySetAt(this.#faultUntil), failure);
  }

  /**
   * What the schema refuses in the fields a change never sent carries (payloadIssues), judged once
   * per entry; null while an async schema judges it. A change that may have been sent already
   * goes out as it was, with its key: the server may have applied it.
   */
  #refusedBySchema(def: Def, entry: OutboxEntry): FieldIssue[] | null {
    if (entry.frozen) return [];
    const known = this.#judged.get(entry);
    if (known !== undefined) return known;
    const issues = payloadIssues(def, entry);
    if (!(issues instanceof Promise)) {
      this.#judged.set(entry, issues);
      return issues;
    }
    this.#judged.set(entry, null);
    this.#judging++;
    void issues
      .then(
        (found) => this.#judged.set(entry, found),
        // A schema that throws was made an issue by validate(): a rejection is no verdict, and sends it as it is.
        () => this.#judged.set(entry, []),
      )
      .finally(() => {
        this.#judging--;
        this.wake();
      });
    return null;
  }

  /**
   * Parks a change that cannot be sent as it is in failed$, before any request, for the app to
   * discard or fix: kept in the view, or (`rejected`) rolled back out of it, as a change the
   * server refused.
   */
  #parkUnsendable(def: Def, entry: OutboxEntry, issues: FieldIssue[], rejected: boolean): void {
    const key = keyOf(entry);
    this.#busy.add(key);
    this.#sending++;
    const error = new ValidationError(issues, { resource: entry.r, id: entry.id });
    this.#park(def, entry, { message: error.message, rejected }, error)
      .catch((fault: unknown) => this.#storageFault(entry.r, fault))
      .finally(() => {
        this.#sending--;
        this.#busy.delete(key);
        this.wake();
      });
  }

  #sleep(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#cancelTimer?.();
      this.#cancelTimer = ms === null ? null : this.#host.env.clock.setTimer(() => this.wake(), ms);
      this.#wakeUp = () => {
        this.#cancelTimer?.();
        this.#cancelTimer = null;
        resolve();
      };
    });
  }

  async #send(entry: OutboxEntry, arrived: () => void): Promise<void> {
    const host = this.#host;
    const { env } = host;
    // Frozen by #due, which found its resource defined (a client's resources never change).
    const def = host.definition(entry.r)!;
    host.setSyncing(true, this.#retryAt);
    const attempt = entry.attempts + 1;
    host.emit({ type: 'sent', at: env.clock.now(), resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, attempt });
    const deletions = this.#deletions;
    let answer: unknown;
    try {
      answer = await this.#request(def, entry);
    } catch (error) {
      arrived();
      if (deletions !== this.#deletions) return;
      await this.#failed(def, entry, error);
      return;
    }
    arrived();
    if (this.#stopped || deletions !== this.#deletions) return;
    if (entry.op === 'delete') return this.#succeed(def, entry, null);
    const refusals: SchemaError[] = [];
    const parsed = await host.parse(def, answer, entry.id, (error) => refusals.push(error));
    // A database deleted while an async schema checked the answer: dropped, as on its arrival.
    if (this.#stopped || deletions !== this.#deletions) return;
    // A create's answer may name the entity anew (a server-assigned id); an update's is the entity its URL named.
    const other = parsed && entry.op === 'update' ? (this.#anotherEntity(def, parsed, entry.id) ?? this.#olderThanSent(def, parsed, entry)) : undefined;
    if (!parsed || other) {
      // With the schema's issues: failed$ and the wait then name the field the server got wrong.
      const issues = [{ field: '', message: 'the server answered with an entity that fails the schema' }, ...refusals.flatMap((refusal) => refusal.issues)];
      const error = other ?? new SchemaError(issues, { resource: entry.r, id: entry.id });
      await this.#park(def, entry, { message: error.message, body: answer, rejected: false }, error);
      // The server probably applied the change: what it holds now is fetched rather than guessed.
      host.refetch(def);
      return;
    }
    return this.#succeed(def, entry, parsed);
  }

  #request(def: Def, entry: OutboxEntry): Promise<unknown> {
    const { transport } = this.#host;
    const key = idempotencyKey(entry);
    const payload = currentReferences(this.#host, def, entry.payload) ?? {};
    if (entry.op === 'create') {
      const { [def.key]: temporary, ...named } = payload;
      // The server names the entity: the temporary id never leaves the client.
      return transport.create(def, def.ids === 'server' ? named : payload, key);
    }
    if (entry.op === 'update') return transport.update(def, entry.id, payload, entry.baseVersion, key);
    if (entry.op === 'delete') return transport.remove(def, entry.id, entry.baseVersion, key);
    // Unreachable for entries read through asEntry; never let an unknown operation become a delete.
    throw new TypeError(`an outbox entry with unknown op ${String(entry.op)}`);
  }

  async #succeed(def: Def, entry: OutboxEntry, answer: Rec | null): Promise<void> {
    const host = this.#host;
    const newId = answer && entry.op === 'create' ? normalizeId(answer[def.key]) : undefined;
    if (answer && newId !== undefined && newId !== entry.id) {
      const renaming = [entityKey(def.name, newId), keyOf(entry)];
      // What the new entity names, for the deletions a change waiting for the rename holds back.
      const names = [...namedEntities(host, def, answer), ...namedEntities(host, def, entry.payload)];
      for (const key of renaming) this.#renaming.set(key, names);
      try {
        const remapped = await host.store.settleRemapped(def, entry, answer, newId, referrersOf(host.definitions(), def.name), host.env.clock.now());
        if (remapped) {
          host.remapped(def.name, entry.id, answer[def.key] as string | number);
          // Told before the change's own hint: a change whose values another entry carries waits for that one.
          for (const { seq, into } of remapped.folded) host.folded(seq, into);
          host.applied(remapped.changes);
          host.emit({ type: 'idRemapped', at: host.env.clock.now(), resource: def.name, from: entry.id, to: newId });
          // Superseded by a change made later under the entity's other id: nothing more to wait for.
          for (const seq of remapped.dropped) if (!remapped.folded.some((f) => f.seq === seq)) host.settled(seq, { value: null });
        } else {
          host.announce(); // settled by another tab first: the hint is repeated, should that tab's be lost
        }
      } finally {
        for (const key of renaming) this.#renaming.delete(key);
      }
    } else {
      const held = entry.op === 'delete' ? await this.#heldAfterDelete(def, entry) : answer;
      if (held === undefined) {
        // Not known: the delete goes out again with its key (the server answers from its record), and the server is asked again.
        const error = new NetworkError({ method: 'GET', url: `${def.path}/${entry.id}`, reason: 'what the server holds after the delete could not be read' }, { resource: entry.r, id: entry.id });
        return this.#retry(def, entry, error, null);
      }
      await this.#settle(def, entry, held);
    }
    host.emit({ type: 'succeeded', at: host.env.clock.now(), resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq });
    // No 'outbox' hint after it: the settle's 'changed' message, posted first, already told the
    // other tabs that the queue changed.
    host.settled(entry.seq, { value: answer });
  }

  /**
   * Stores an answer; answers arriving while a settle transaction runs share the next one. The
   * views a transaction changed are applied (and announced to other tabs) together, before
   * anything else is said about its entries: another tab that re-reads the outbox then finds
   * no entry gone whose view it has not been told to re-read.
   */
  #settle(def: Def, entry: OutboxEntry, answer: Rec | null): Promise<void> {
    const settled = new Promise<void>((done, failed) => this.#answers.push({ def, entry, answer, done, failed }));
    void this.#settleQueued();
    return settled;
  }

  async #settleQueued(): Promise<void> {
    if (this.#settling) return;
    this.#settling = true;
    while (this.#answers.length) {
      const batch = this.#answers;
      this.#answers = [];
      try {
        const changes = await this.#host.store.settleMany(batch, this.#host.env.clock.now());
        this.#host.applied(changes.filter((change): change is ViewChange => change !== null));
        // Entries another tab settled first: the hint is repeated, should that tab's be lost.
        if (changes.includes(null)) this.#host.announce();
        for (const item of batch) item.done();
      } catch (error) {
        for (const item of batch) item.failed(error);
      }
    }
    this.#settling = false;
  }

  async #failed(def: Def, entry: OutboxEntry, error: unknown): Promise<void> {
    const host = this.#host;
    if (this.#stopped) return;
    if (error instanceof ValidationError) {
      // The change cannot be put into a request (a version If-Match cannot carry): sent again, it
      // would fail the same way, so it is parked at once; the view keeps it, for the app to decide.
      return this.#park(def, entry, { message: error.message, rejected: false }, error);
    }
    if (!(error instanceof HttpError)) {
      const failure =
        error instanceof HarborSyncError ? error : new SchemaError([{ field: '', message: String(error) }], { resource: entry.r });
      return this.#retry(def, entry, failure, null);
    }
    const isEntity = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && def.key in v;
    const outcome = classifyStatus(error.status, entry.op, error.body, isEntity);
    if (outcome === 'retry') {
      const retryAfter = parseRetryAfter(error.retryAfter, host.env.clock.now(), error.serverDate);
      return this.#retry(def, entry, error, retryAfter);
    }
    if (outcome === 'unauthorized') {
      // Other entities may still have requests out: their answers are stored.
      host.setSyncing(this.#requests > 0, null, error);
      host.pauseUnauthorized();
      return;
    }
    if (outcome === 'permanent') {
      return this.#park(def, entry, { status: error.status, message: error.message, body: error.body, rejected: true }, error);
    }
    if (outcome === 'gone') {
      if (entry.op === 'delete') return this.#succeed(def, entry, null);
      return this.#conflict(def, entry, null, error);
    }
    const remote = conflictEntity(error.body, isEntity);
    let parsed: Rec | null | undefined = remote === undefined ? undefined : await this.#parseNamed(def, remote, entry.id, entry.op !== 'create');
    // A create met by another entity (one holding a field the server keeps unique) is refused, as
    // by any other 4xx: taken for this entity's state, it would be stored under this id and show twice.
    if (entry.op === 'create' && parsed && normalizeId(parsed[def.key]) !== entry.id) {
      return this.#park(def, entry, { status: error.status, message: error.message, body: error.body, rejected: true }, error);
    }
    // A 412 whose body is no entity of this id (none, or an error object naming the id) says no
    // more than the version failed: the server is asked what it holds. Re-sent, it would only
    // meet 412 again until parked.
    if (parsed === undefined && error.status === 412) parsed = await this.#heldByServer(def, entry.id);
    if (parsed === undefined) return this.#retry(def, entry, error, null);
    return this.#conflict(def, entry, parsed, error);
  }

  /**
   * What the server holds after a delete it answered: nothing, unless a pull stored another
   * version than the one the delete was made on while it was out. That is the entity created
   * again since, or (deleted by someone else at a later version, or by a server that does not
   * check If-Match) the state before the deletion: the server is asked which. Undefined when it
   * could not be asked.
   */
  async #heldAfterDelete(def: Def, entry: OutboxEntry): Promise<Rec | null | undefined> {
    const { record } = await this.#host.store.loadEntity(entry.r, entry.id);
    if (!record?.base || Object.is(record.base[def.version], entry.baseVersion)) return null;
    return this.#heldByServer(def, entry.id);
  }

  /** The entity as the server holds it now (null: gone); undefined when it could not be fetched or failed the schema. */
  async #heldByServer(def: Def, id: string): Promise<Rec | null | undefined> {
    let remote: unknown;
    try {
      remote = await this.#host.transport.one(def, id);
    } catch (fetchError) {
      if (fetchError instanceof HttpError && (fetchError.status === 404 || fetchError.status === 410)) return null;
      return undefined;
    }
    return remote === null ? null : this.#parseNamed(def, remote, id, true);
  }

  /** The server's entity for `id`, parsed; undefined (reported) when it fails the schema, or is another entity where the request's URL named `id`. */
  async #parseNamed(def: Def, value: unknown, id: string, named: boolean): Promise<Rec | undefined> {
    const parsed = await this.#host.parse(def, value, id);
    return parsed && named && this.#anotherEntity(def, parsed, id) ? undefined : parsed;
  }

  /**
   * A SchemaError, reported on events$, when an answer about the entity `id` is another entity:
   * stored under `id`, that entity's state would show twice and the next change go out on its version.
   */
  #anotherEntity(def: Def, parsed: Rec, id: string): SchemaError | undefined {
    if (normalizeId(parsed[def.key]) === id) return undefined;
    const error = new SchemaError([{ field: def.key, message: `names ${def.name}/${String(parsed[def.key])}, another entity than the one asked for` }], { resource: def.name, id });
    this.#host.emit({ type: 'schemaError', at: this.#host.env.clock.now(), resource: def.name, id, error });
    return error;
  }

  /**
   * A SchemaError, reported on events$, when an update's answer holds a version older than the one
   * the change was sent against: taken for the entity's state, it would be ignored as a stale
   * answer, the change settled and its values gone from the view though the server confirmed them.
   */
  #olderThanSent(def: Def, parsed: Rec, entry: OutboxEntry): SchemaError | undefined {
    const version = parsed[def.version];
    if (!isOlderVersion(version, entry.baseVersion)) return undefined;
    const message = `is ${String(version)}, older than the version ${String(entry.baseVersion)} the change was sent against (a server raises it on every write)`;
    const error = new SchemaError([{ field: def.version, message }], { resource: def.name, id: entry.id });
    this.#host.emit({ type: 'schemaError', at: this.#host.env.clock.now(), resource: def.name, id: entry.id, error });
    return error;
  }

  async #retry(def: Def, entry: OutboxEntry, error: HarborSyncError, retryAfterMs: number | null): Promise<void> {
    const host = this.#host;
    const now = host.env.clock.now();
    const unanswered = error instanceof NetworkError;
    const deadline = this.#dueOnline.get(entry.seq);
    // The attempt coming online made got no answer either: the online source spoke too soon (it
    // may flap, or lie). Not counted, it leaves the entry waiting as before, and coming online
    // again does not send it before its next counted attempt.
    if (unanswered && deadline === entry.nextAttemptAt && now < deadline) return this.#notCounted(def, entry, error, false, deadline);
    // No answer, and the device is offline now (it went while the request was out): an offline
    // period is not an attempt. Not counted, the change waits, due, for coming online; a second
    // such miss in a row counts, so a flapping source cannot send it once per flap. One after an
    // attempt that got no answer online is the first such miss.
    if (unanswered && !host.online() && entry.unanswered !== 'offline') return this.#notCounted(def, entry, error, 'offline', now);
    const attempts = entry.attempts + 1;
    // Only time spent retrying counts toward maxAgeMs (retryingSince and failingForMs explain the rule).
    const firstFailureAt = retryingSince(entry.firstFailureAt, entry.nextAttemptAt, now, host.options.timeoutMs);
    if (attempts >= host.options.maxAttempts || failingForMs(now, firstFailureAt, attempts, host.options) >= host.options.maxAgeMs) {
      const message = `gave up after ${attempts} attempts: ${error.message}`;
      // The last answer (a 503 and its body), as failed$ shows a refusal's; none after no answer.
      const answer = error instanceof HttpError ? { status: error.status, body: error.body } : {};
      return this.#park(def, entry, { ...answer, message, rejected: false }, error);
    }
    const delayMs = retryDelay(attempts, host.env.random(), host.options, retryAfterMs);
    await host.store.rewrite(def, entry.id, ({ base, entries }) => ({
      base,
      entries: entries.map((e) => (e.seq === entry.seq ? { ...e, attempts, firstFailureAt, nextAttemptAt: now + delayMs, waitMs: delayMs, unanswered } : e)),
    }));
    // Other entities may still have requests out, and retries set.
    host.setSyncing(this.#requests > 0, this.#retrySetAt(now + delayMs), error);
    host.emit({ type: 'retrying', at: now, resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, attempt: attempts, delayMs, error });
  }

  /** `#retryAt` with a retry set at `at`. */
  #retrySetAt(at: number): number {
    this.#retryAt = this.#retryAt === null ? at : Math.min(this.#retryAt, at);
    return this.#retryAt;
  }

  /** A failed attempt not counted toward the park bounds: the entry keeps its count and its deadline `dueAt`. */
  async #notCounted(def: Def, entry: OutboxEntry, error: HarborSyncError, unanswered: OutboxEntry['unanswered'], dueAt: number): Promise<void> {
    const host = this.#host;
    const now = host.env.clock.now();
    await host.store.rewrite(def, entry.id, ({ base, entries }) => ({
      base,
      entries: entries.map((e) => (e.seq === entry.seq ? { ...e, unanswered } : e)),
    }));
    host.setSyncing(this.#requests > 0, dueAt > now ? this.#retrySetAt(dueAt) : null, error);
    host.emit({ type: 'retrying', at: now, resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, attempt: entry.attempts, delayMs: Math.max(dueAt - now, 0), error });
  }

  /** Moves the entity's head entry to failed$ (rolled back in the view) or leaves it for conflicts$. */
  async #park(def: Def, entry: OutboxEntry, failure: EntryFailure, error: HarborSyncError): Promise<void> {
    const host = this.#host;
    const { name, method, url, issues } = toTabError(error);
    const change = await host.store.rewrite(def, entry.id, ({ base, entries }) => ({
      base,
      entries: entries.map((e) => (e.seq === entry.seq ? { ...e, state: 'failed' as const, failure: { ...failure, name, method, url, issues } } : e)),
    }));
    host.applied(change);
    const at = host.env.clock.now();
    host.emit({ type: 'failed', at, resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, error });
    if (failure.rejected) host.emit({ type: 'rolledBack', at, resource: entry.r, id: entry.id });
    host.settled(entry.seq, { error });
    host.announce();
  }

  async #conflict(def: Def, entry: OutboxEntry, answer: Rec | null, error: HttpError): Promise<void> {
    const host = this.#host;
    const ignore = [def.version];
    if (remoteMatchesIntent(entry, answer, ignore)) return this.#succeed(def, entry, answer);
    const strategy = host.strategy(def);
    const deletions = this.#deletions;
    let remote = answer;
    let asked = false;
    // A decision made on a view that changed before it was stored (a write while a resolver
    // decided, merged into a queued entry) is made again on what is stored now.
    for (let round = 0; round < DECISION_ROUNDS; round++) {
      const { record, entries } = await host.store.loadEntity(entry.r, entry.id);
      // "Gone", while a pull stored another version than the one the change was sent against:
      // created again since, or changed before the deletion. The server is asked which, once.
      if (remote === null && !asked && record?.base && !Object.is(record.base[def.version], entry.baseVersion)) {
        asked = true;
        const held = await this.#heldByServer(def, entry.id);
        if (held === undefined) return this.#retry(def, entry, error, null);
        remote = held;
        continue;
      }
      const local = record?.view ?? null;
      // The state the change was made on, even if a pull rebased the view on a newer one since.
      const base = record ? (record.origin !== undefined ? record.origin : record.base) : null;
      // The answer's server state, or a later one a pull stored while the answer was on its way.
      const current = newestRemote(remote, record?.base ?? null, def.version);
      if (current !== answer && remoteMatchesIntent(entry, current, ignore)) return this.#succeed(def, entry, current);
      const input = { op: entry.op, base, local, remote: current, ignore, seen: new Map(entries.map((e) => [e.seq, e])) };
      const fields = conflictFields(input);
      const outcome = await this.#decision(def, entry, strategy, input, fields);
      // The database was deleted while a resolver decided (clear(), here or in another tab): the
      // change went with it, and a conflict or error told of it now would name nothing stored.
      if (this.#stopped || deletions !== this.#deletions) return;
      if (outcome instanceof HarborSyncError) {
        // Refused: the conflict waits in conflicts$ for a decision, as under 'manual'. One with no
        // field in dispute (a merge, or a view a pull rebased, that the schema refused): those
        // the schema names are to be decided.
        host.emit({ type: 'error', at: host.env.clock.now(), resource: entry.r, error: outcome });
        const named = fields.length === 0 && outcome instanceof ValidationError ? outcome.issues.map((issue) => issue.field).filter((field) => field !== '') : fields;
        if ((await applyOutcome(host, def, entry, input, { kind: 'park', fields: named }, 'function')) === 'stale') continue;
        return;
      }
      // Each re-send goes against the version the server just named. A server whose If-Match
      // never matches it (one that compares weak tags, or rewrites versions) would meet every
      // re-send with another conflict: a conflict that re-sends counts as a failed attempt, so
      // re-sends back off and are bounded like retries (resolve() or retry() start afresh).
      const attempts = entry.attempts + 1;
      if (resends(def, entry, outcome, current) && attempts >= host.options.maxAttempts) {
        const message = `gave up after ${attempts} attempts, the last met by a conflict (does the server's If-Match match the version it answers with?): ${error.message}`;
        return this.#park(def, entry, { status: error.status, message, body: error.body, rejected: false }, error);
      }
      const notBefore = entry.attempts === 0 ? 0 : host.env.clock.now() + retryDelay(attempts, host.env.random(), host.options, null);
      const applied = await applyOutcome(host, def, entry, input, outcome, typeof strategy === 'function' ? 'function' : strategy, { notBefore, attempts });
      if (applied !== 'stale') return;
    }
    // Changed under every decision: the change goes out again as it was, and meets the conflict anew.
    await this.#retry(def, entry, error, null);
  }

  /**
   * The strategy's outcome, checked; or the error refusing it. A resolver's `{ value }` is a local
   * write and must pass the schema. A resolver that throws would throw again on every re-send of
   * the change, which would then go on for ever.
   */
  async #decision(def: Def, entry: OutboxEntry, strategy: ConflictStrategy<Rec>, input: ConflictInput, fields: string[]): Promise<Outcome | HarborSyncError> {
    const context = { resource: entry.r, id: entry.id, op: entry.op, base: input.base, local: input.local, remote: input.remote, fields };
    let decided: Outcome;
    try {
      decided = await decide(strategy, input, context);
    } catch (thrown) {
      return new ConflictError(fields, { resource: entry.r, id: entry.id, detail: `the conflict resolver threw, or answered what is no decision: ${String(thrown)}`, cause: thrown });
    }
    const outcome = await checkDecision(def, decided, entry.id, input.remote, (r, id) => this.#host.currentReference(r, id));
    return 'issues' in outcome ? new ValidationError(outcome.issues, { resource: entry.r, id: entry.id }) : outcome;
  }
}
