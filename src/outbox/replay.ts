import { conflictEntity, classifyStatus } from '../transport/classify.js';
import { ConflictError, HarborSyncError, HttpError, SchemaError } from '../errors.js';
import type { Env } from '../env.js';
import type { LocalStore, ViewChange } from '../store/local-store.js';
import type { ConflictStrategy, ResourceDefinition, SyncEvent, Transport } from '../types.js';
import { retryDelay, parseRetryAfter } from './backoff.js';
import { normalizeId } from '../internal/ids.js';
import { referrersOf, waitsForId } from './remap.js';
import { idempotencyKey, type EntryFailure, type OutboxEntry } from './entry.js';
import { conflictFields, decide, overwritten, parked, remoteMatchesIntent, requeue, type Outcome } from '../conflict/resolve.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

export interface ReplayOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  sendDelayMs: number;
}

/** What the replay loop needs from its client. */
export interface ReplayHost {
  env: Env;
  store: LocalStore;
  transport: Transport;
  options: ReplayOptions;
  definition(r: string): Def | undefined;
  definitions(): Iterable<Def>;
  /** The entity `from` is now `to`: handles follow it. */
  remapped(r: string, from: string, to: string): void;
  strategy(def: Def): ConflictStrategy<Rec>;
  /** Parses a server entity with the resource's schema; undefined (reported) when invalid. */
  parse(def: Def, value: unknown, id: string | undefined): Promise<Rec | undefined>;
  applied(change: ViewChange | readonly ViewChange[]): void;
  emit(event: SyncEvent): void;
  settled(seq: number, outcome: { value: Rec | null } | { error: HarborSyncError }): void;
  canSend(): boolean;
  pauseUnauthorized(): void;
  setSyncing(syncing: boolean, nextRetryAt: number | null, lastError?: Error | null): void;
  /** The outbox changed in a way other tabs must learn. */
  announce(): void;
}

/**
 * The replay loop: sends each entity's oldest entry, one request per entity, entities in global
 * order; classifies the answer; commits it. Retries back off; parked entries hold back only their
 * own entity.
 */
export class Replayer {
  #stopped = false;
  #running = false;
  #wakeUp: (() => void) | null = null;
  #cancelTimer: (() => void) | null = null;
  #flushing = 0;
  #idleWaiters: Array<() => void> = [];

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

  /** Entries due after this time become due now (the network came back). */
  forgetBackoff(): void {
    for (const head of this.#host.store.outbox.heads()) head.nextAttemptAt = 0;
    this.wake();
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
   * Stops the loop. A request in flight is abandoned, not awaited: its answer is dropped, and the
   * entry, still in the outbox, is re-sent with the same key by the next client.
   */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.wake();
    this.#releaseIdle();
  }

  #releaseIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #next(now: number): { entry: OutboxEntry | null; dueAt: number | null } {
    let dueAt: number | null = null;
    for (const head of this.#host.store.outbox.heads()) {
      if (head.state !== 'queued' || this.#waitsForServerId(head)) continue;
      const readyAt = Math.max(head.nextAttemptAt, this.#flushing ? 0 : head.changedAt + this.#host.options.sendDelayMs);
      if (readyAt <= now) return { entry: head, dueAt: null };
      dueAt = dueAt === null ? readyAt : Math.min(dueAt, readyAt);
    }
    return { entry: null, dueAt };
  }

  async #loop(): Promise<void> {
    const { env } = this.#host;
    while (!this.#stopped) {
      const { entry, dueAt } = this.#host.canSend() ? this.#next(env.clock.now()) : { entry: null, dueAt: null };
      if (entry) {
        try {
          await this.#send(entry);
        } catch (error) {
          if (this.#stopped) return;
          // A storage fault while committing: the entry stays queued and is re-sent with its key.
          const failure = error instanceof HarborSyncError ? error : new SchemaError([{ field: '', message: String(error) }]);
          this.#host.emit({ type: 'error', at: env.clock.now(), resource: entry.r, error: failure });
          await this.#sleep(this.#host.options.baseDelayMs);
        }
        continue;
      }
      const backingOff = dueAt !== null && this.#nextIsBackoff();
      this.#host.setSyncing(false, backingOff ? dueAt : null);
      this.#releaseIdle();
      await this.#sleep(dueAt === null ? null : Math.max(0, dueAt - env.clock.now()));
    }
  }

  /** An entry pointing at an entity the server has not named yet waits for that entity's POST. */
  #waitsForServerId(entry: OutboxEntry): boolean {
    const def = this.#host.definition(entry.r);
    return def !== undefined && waitsForId(entry.payload, Object.keys(def.references));
  }

  #nextIsBackoff(): boolean {
    return this.#host.store.outbox.heads().some((h) => h.state === 'queued' && h.attempts > 0);
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

  async #send(entry: OutboxEntry): Promise<void> {
    const host = this.#host;
    const { store, env } = host;
    const def = host.definition(entry.r);
    if (!def) return;
    if (!entry.frozen) {
      // Frozen before the request leaves: from here on the payload is what the key stands for.
      await store.rewrite(def, entry.id, ({ base, entries }) => ({
        base,
        entries: entries.map((e) => (e.seq === entry.seq ? { ...e, frozen: true } : e)),
      }));
      const stored = store.outbox.get(entry.seq);
      // Gone from IndexedDB: another tab (a second sender where Web Locks are missing) settled it.
      if (!stored) return;
      entry = stored;
    }
    host.setSyncing(true, null);
    const attempt = entry.attempts + 1;
    host.emit({ type: 'sent', at: env.clock.now(), resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, attempt });
    let answer: unknown;
    try {
      answer = await this.#request(def, entry);
    } catch (error) {
      await this.#failed(def, entry, error);
      return;
    }
    if (this.#stopped) return;
    if (entry.op === 'delete') return this.#succeed(def, entry, null);
    const parsed = await host.parse(def, answer, entry.id);
    if (!parsed) {
      const error = new SchemaError([{ field: '', message: 'the server answered with an entity that fails the schema' }], { resource: entry.r, id: entry.id });
      return this.#park(def, entry, { message: error.message, body: answer, rejected: false }, error);
    }
    return this.#succeed(def, entry, parsed);
  }

  #request(def: Def, entry: OutboxEntry): Promise<unknown> {
    const { transport } = this.#host;
    const key = idempotencyKey(entry);
    if (entry.op === 'create') {
      const { [def.key]: temporary, ...named } = entry.payload ?? {};
      // The server names the entity: the temporary id never leaves the client.
      return transport.create(def, def.ids === 'server' ? named : (entry.payload ?? {}), key);
    }
    if (entry.op === 'update') return transport.update(def, entry.id, entry.payload ?? {}, entry.baseVersion, key);
    return transport.remove(def, entry.id, entry.baseVersion, key);
  }

  async #succeed(def: Def, entry: OutboxEntry, answer: Rec | null): Promise<void> {
    const host = this.#host;
    const newId = answer && entry.op === 'create' ? normalizeId(answer[def.key]) : undefined;
    if (answer && newId !== undefined && newId !== entry.id) {
      const changes = await host.store.settleRemapped(def, entry, answer, newId, referrersOf(host.definitions(), def.name));
      if (changes) {
        host.remapped(def.name, entry.id, newId);
        host.applied(changes);
        host.emit({ type: 'idRemapped', at: host.env.clock.now(), resource: def.name, from: entry.id, to: newId });
      }
    } else {
      const change = await host.store.settle(def, entry, answer);
      if (change) host.applied(change);
    }
    host.emit({ type: 'succeeded', at: host.env.clock.now(), resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq });
    host.settled(entry.seq, { value: answer });
    host.announce();
  }

  async #failed(def: Def, entry: OutboxEntry, error: unknown): Promise<void> {
    const host = this.#host;
    if (this.#stopped) return;
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
      host.setSyncing(false, null, error);
      host.pauseUnauthorized();
      return;
    }
    if (outcome === 'permanent') {
      return this.#park(def, entry, { status: error.status, message: error.message, body: error.body, rejected: true }, error);
    }
    if (outcome === 'gone') {
      if (entry.op === 'delete') return this.#succeed(def, entry, null);
      return this.#conflict(def, entry, null);
    }
    let remote: unknown = conflictEntity(error.body, isEntity);
    if (remote === undefined) {
      try {
        remote = await host.transport.one(def, entry.id);
      } catch (fetchError) {
        if (fetchError instanceof HttpError && fetchError.status === 404) remote = null;
        else return this.#retry(def, entry, error, null);
      }
    }
    const parsed = remote === null ? null : await host.parse(def, remote, entry.id);
    if (parsed === undefined) return this.#retry(def, entry, error, null);
    return this.#conflict(def, entry, parsed);
  }

  async #retry(def: Def, entry: OutboxEntry, error: HarborSyncError, retryAfterMs: number | null): Promise<void> {
    const host = this.#host;
    const now = host.env.clock.now();
    const attempts = entry.attempts + 1;
    const firstFailureAt = entry.firstFailureAt ?? now;
    if (attempts >= host.options.maxAttempts || now - firstFailureAt >= host.options.maxAgeMs) {
      return this.#park(def, entry, { message: `gave up after ${attempts} attempts: ${error.message}`, rejected: false }, error);
    }
    const delayMs = retryDelay(attempts, host.env.random(), host.options, retryAfterMs);
    await host.store.rewrite(def, entry.id, ({ base, entries }) => ({
      base,
      entries: entries.map((e) => (e.seq === entry.seq ? { ...e, attempts, firstFailureAt, nextAttemptAt: now + delayMs } : e)),
    }));
    host.setSyncing(false, now + delayMs, error);
    host.emit({ type: 'retrying', at: now, resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, attempt: attempts, delayMs, error });
  }

  /** Moves the entity's head entry to failed$ (rolled back in the view) or leaves it for conflicts$. */
  async #park(def: Def, entry: OutboxEntry, failure: EntryFailure, error: HarborSyncError): Promise<void> {
    const host = this.#host;
    const change = await host.store.rewrite(def, entry.id, ({ base, entries }) => ({
      base,
      entries: entries.map((e) => (e.seq === entry.seq ? { ...e, state: 'failed' as const, failure } : e)),
    }));
    host.applied(change);
    const at = host.env.clock.now();
    host.emit({ type: 'failed', at, resource: entry.r, id: entry.id, op: entry.op, seq: entry.seq, error });
    if (failure.rejected) host.emit({ type: 'rolledBack', at, resource: entry.r, id: entry.id });
    host.settled(entry.seq, { error });
    host.announce();
  }

  async #conflict(def: Def, entry: OutboxEntry, remote: Rec | null): Promise<void> {
    const host = this.#host;
    const ignore = [def.version];
    if (remoteMatchesIntent(entry, remote, ignore)) return this.#succeed(def, entry, remote);
    const record = (await host.store.loadRecords(entry.r, [entry.id])).get(entry.id);
    const local = record?.view ?? null;
    // The state the change was made on, even if a pull rebased the view on a newer one since.
    const base = record ? (record.origin !== undefined ? record.origin : record.base) : null;
    const input = { op: entry.op, base, local, remote, ignore };
    const fields = conflictFields(input);
    const strategy = host.strategy(def);
    const outcome = await decide(strategy, input, { resource: entry.r, id: entry.id, op: entry.op, base: input.base, local, remote, fields });
    await applyOutcome(host, def, entry, input, outcome, typeof strategy === 'function' ? 'function' : strategy);
  }
}

/** Commits a conflict outcome; shared by the replay loop and Conflict.resolve(). */
export async function applyOutcome(
  host: Pick<ReplayHost, 'store' | 'applied' | 'emit' | 'settled' | 'announce' | 'env'>,
  def: Def,
  head: OutboxEntry,
  input: { base: Rec | null; local: Rec | null; remote: Rec | null; ignore: readonly string[] },
  outcome: Outcome,
  strategy: string,
): Promise<void> {
  const at = host.env.clock.now();
  const { base, local, remote } = input;
  if (outcome.kind === 'park') {
    const change = await host.store.rewrite(def, head.id, ({ base: stored, entries }) => ({
      base: stored,
      entries: entries.map((e) => (e.seq === head.seq ? parked(e, { base, local, remote, fields: outcome.fields }) : e)),
    }));
    host.applied(change);
    host.emit({ type: 'conflict', at, resource: head.r, id: head.id, fields: outcome.fields });
    // A write awaiting the server learns now; resolving the conflict later does not revive the wait.
    host.settled(head.seq, { error: new ConflictError(outcome.fields, { resource: head.r, id: head.id }) });
    host.announce();
    return;
  }
  const target = outcome.kind === 'remote' ? remote : outcome.value;
  const requeued = outcome.kind === 'remote' ? [] : requeue(head, target, remote, { key: def.key, version: def.version });
  let decidedElsewhere = false as boolean;
  const change = await host.store.rewrite(def, head.id, (stored) => {
    // Two senders (no Web Locks) may meet the same conflict: the first decision stands.
    const current = stored.entries.find((e) => e.seq === head.seq);
    if (current && current.rekeys === head.rekeys) return { base: remote, entries: requeued };
    decidedElsewhere = true;
    return stored;
  });
  host.applied(change);
  if (decidedElsewhere) return;
  host.emit({
    type: 'resolved',
    at,
    resource: head.r,
    id: head.id,
    strategy,
    choice: outcome.kind === 'remote' ? 'remote' : outcome.choice,
    overwritten: outcome.kind === 'remote' ? overwritten(local, remote, input.ignore) : overwritten(target, remote, input.ignore),
  });
  if (requeued.length === 0) host.settled(head.seq, { value: remote });
  host.announce();
}
