import { BehaviorSubject, Subject, type Observable, type Subscription } from 'rxjs';
import {
  ClosedError,
  ConflictError,
  HarborSyncError,
  HttpError,
  PendingMutationsError,
  SchemaError,
  StorageError,
} from './errors.js';
import { resolveEnv, type Env } from './env.js';
import { orClosed } from './internal/abort.js';
import { isRename, normalizeId, TEMP_ID_PREFIX } from './internal/ids.js';
import { deepEqual, isPlainObject, MAX_DEPTH, nestedTooDeep } from './internal/plain.js';
import { validate, type Validation } from './internal/schema.js';
import { type OutboxEntry } from './outbox/entry.js';
import { backoffDelay } from './outbox/backoff.js';
import { ParkedChanges } from './outbox/parked.js';
import { Replayer, type ReplayHost } from './outbox/replay.js';
import { entityKey, splitEntityKey } from './outbox/outbox-memory.js';
import { referrersOf } from './outbox/remap.js';
import { ServerWaits, type ServerOutcome } from './outbox/waiters.js';
import { LocalStore, type ViewChange } from './store/local-store.js';
import type { EntityRecord } from './store/db.js';
import { databaseMarker, type DatabaseMarker } from './store/marker.js';
import { ResourceMirror, reshapedFields } from './store/mirror.js';
import { fromTabError, openTabChannel, toTabError, type TabMessage } from './sync/broadcast.js';
import { Announcer } from './sync/announcer.js';
import { FollowerFlushes } from './sync/follower-flush.js';
import { electLeader, electWhileRunning } from './sync/leader.js';
import { cursorKey, pull, syncedAtKey } from './sync/pull.js';
import { PullRetries } from './sync/pull-retries.js';
import { INITIAL_STATUS } from './sync/status.js';
import { OnDemandLoader } from './sync/on-demand.js';
import { createRestTransport } from './transport/rest.js';
import { resolveOptions } from './client/options.js';
import { ResourceHandleImpl, untilClosed, type HandleHost } from './resource-handle.js';
import type {
  ClearOptions,
  Conflict,
  ConflictStrategy,
  Entity,
  FailedMutation,
  KnownInput,
  Query,
  ResourceDefinition,
  ResourceHandle,
  SyncClient,
  SyncClientOptions,
  SyncEvent,
  SyncStatus,
  Transport,
} from './types.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** Other tabs' unanswered flush() requests a follower keeps for if it leads next; the oldest go first. */
const MAX_UNANSWERED_FLUSHES = 64;

/** Above this many entities named by other tabs at once, the resource is re-read whole. */
const REREAD_WHOLE_ABOVE = 1_000;

const isCursor = (value: unknown): value is string | null => value === null || typeof value === 'string';
const isCursorMove = (value: unknown): value is { from: string | null; to: string | null; at?: unknown } =>
  typeof value === 'object' && value !== null && isCursor((value as { from?: unknown }).from) && isCursor((value as { to?: unknown }).to);

/** What a wait on a parked entry rejects with, as stored: the conflict's fields, or the failure's error (its class, request, status, body, issues and message). */
function parkedError(entry: OutboxEntry): HarborSyncError {
  const context = { resource: entry.r, id: entry.id };
  if (entry.state === 'conflict') return new ConflictError(entry.conflict?.fields ?? [], context);
  const { status, body, message = 'failed', name = status === undefined ? 'HarborSyncError' : 'HttpError', method, url, issues } = entry.failure ?? {};
  return fromTabError({ name, ...context, status, body, message, method, url, issues });
}

/** Frozen and queued, not waiting for a retry: its request may be out now. */
const isOut = (entry: OutboxEntry | undefined, now: number) =>
  entry?.state === 'queued' && entry.frozen && !(entry.attempts > 0 && entry.nextAttemptAt > now);

/**
 * Creates a client: one IndexedDB database for the namespace, a mirror per resource, the outbox
 * replay (in the leader tab), and the observables the UI reads.
 *
 * @example
 * const client = createSyncClient({ baseUrl: 'https://api.example.com', resources: [todos] });
 * client.resource(todos).query$({ where: { done: false } }).subscribe(render);
 */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new Client(options);
}

class Client implements SyncClient, HandleHost {
  readonly env: Env;
  readonly defs: Map<string, Def>;
  readonly store: LocalStore;
  readonly transport: Transport;
  readonly origin: string;
  readonly staleTimeMs: number;
  readonly sendDelayMs: number;
  readonly #mirrors = new Map<string, ResourceMirror<object>>();
  readonly #hydrating = new Map<string, Promise<void>>();
  /** Per resource loading from IndexedDB, the ids whose changes were shown while it loaded. */
  readonly #shownWhileLoading = new Map<string, Set<string>>();
  /**
   * Per resource, the ids whose stored view its load skipped (it failed the schema: cached under
   * an older one): a view of one committed since is shown only once it passes the schema.
   */
  readonly #refusedAtLoad = new Map<string, Set<string>>();
  readonly #pulling = new Map<string, Promise<void>>();
  /** Resources a subscriber came to while another caller's load ran: that load ends "fetching" if the subscriber will revalidate. */
  readonly #revalidateOnLoad = new Set<string>();
  /** Per resource, the pull that follows the running one for refresh() calls made during it. */
  readonly #pullingNext = new Map<string, Promise<void>>();
  /** Per resource, the store's deletions when its running pull started. */
  readonly #pullingAt = new Map<string, number>();
  /** The retries of a pull the client made that failed for a passing reason. */
  readonly #pullRetries: PullRetries;
  readonly #pullBackoff: { baseDelayMs: number; maxDelayMs: number };
  readonly #handles = new Map<string, ResourceHandleImpl<object>>();
  readonly #serverWaits = new ServerWaits();
  readonly #statusSubject: BehaviorSubject<SyncStatus>;
  readonly #parked: ParkedChanges;
  readonly #eventsSubject = new Subject<SyncEvent>();
  readonly #replayer: Replayer;
  readonly #subscriptions: Subscription[] = [];
  readonly #announcer: Announcer;
  /** Messages from other tabs, handled one at a time in arrival order. */
  readonly #inbox: TabMessage[] = [];
  #draining = false;
  /** #inboxHandled() calls waiting for the inbox to empty. */
  readonly #inboxWaiters: Array<() => void> = [];
  /** When this tab's connection last heard its database deleted (by another tab's clear()). */
  #deletionHeardAt = -Infinity;
  /** When this tab last forgot its local data (its database deleted: a clear(), here or elsewhere, or an eviction). */
  #forgottenAt = -Infinity;
  /** Resources the next re-read takes whole: every loaded one back from a suspension or to the foreground. */
  readonly #rereadWhole = new Set<string>();
  /** A #catchUp() is queued whose re-read has not yet begun reading the resources shown. */
  #catchUpQueued = false;
  /** When coming to the foreground last read again what this tab shows. */
  #foregroundReadAt = -Infinity;
  /** Temporary ids (entityKey) whose queued changes another tab settled unheard of here, till re-read. */
  readonly #settledTemporary = new Set<string>();
  /** Per delta resource, the cursor up to which this tab's views reflect the server's feed. */
  readonly #knownCursors = new Map<string, string | null>();
  #releaseLeadership: () => void = () => undefined;
  /** The start waiting to open the database again after its open failed. */
  #startRetry: { attempt: number; cancel: () => void } | null = null;
  /** Asked before each send (the election's lease may have lapsed while the page slept). */
  #stillLeads: () => boolean = () => true;
  #manualPause = false;
  #unauthorized = false;
  #online = true;
  #onlineSeen: boolean | undefined;
  #closedError: ClosedError | null = null;
  /** Aborted by close(): given to every transport call, the built-in transport abandons its requests in flight and their timers. */
  readonly #lifetime = new AbortController();
  /** Aborted when close() is called. */
  readonly lifetime = this.#lifetime.signal;
  /**
   * Given to the outbox's requests; aborted, and replaced, when the database is deleted (a logout's
   * clear()): a request of a change gone with it is not sent again (after a 401, with the token of
   * whoever signed in since).
   */
  #writes = new AbortController();
  /** Forgets the token the REST transport holds from refreshToken(): the session it was for is over. */
  readonly #forgetToken: () => void;
  readonly subscribers = new Set<() => void>();
  readonly writeTurn: { current: Promise<void> | null } = { current: null };
  discards = 0;
  #storageFailure: StorageError | null = null;
  readonly #marker: DatabaseMarker;
  readonly #strategyDefault: ConflictStrategy<Rec>;
  /** @internal Not part of the API: tests read the pages it keeps. */
  readonly onDemand: OnDemandLoader;
  readonly #followerFlushes: FollowerFlushes;
  /** Other tabs' flush() requests heard while following and not answered yet: the leader may go before it answers. */
  readonly #unansweredFlushes = new Set<string>();
  /** A request's timeout: the longest a follower's read waits for the creates another tab has out. */
  readonly #timeoutMs: number;
  /** Follower reads waiting for creates another tab has out: each looks again as the outbox is read or written. */
  readonly #othersCreatesWaits = new Set<() => void>();

  readonly status$: Observable<SyncStatus>;
  readonly conflicts$: Observable<Conflict[]>;
  readonly failed$: Observable<FailedMutation[]>;
  readonly events$: Observable<SyncEvent>;

  constructor(options: SyncClientOptions) {
    this.env = resolveEnv(options ?? {});
    const resolved = resolveOptions(options, this.env.baseHref);
    if (!this.env.indexedDB) {
      throw new StorageError('IndexedDB is not available here (private mode or a non-browser host); pass the indexedDB option');
    }
    if (this.env.missingIDBClasses.length > 0) {
      throw new StorageError(
        `${this.env.missingIDBClasses.join(', ')} are not globals here, and the indexedDB option's factory needs them (in Node: import 'fake-indexeddb/auto')`,
      );
    }
    const { namespace, timeoutMs, retry } = resolved;
    this.defs = resolved.defs;
    this.staleTimeMs = resolved.staleTimeMs;
    this.sendDelayMs = resolved.sendDelayMs;
    this.#pullBackoff = retry;
    this.#timeoutMs = timeoutMs;
    this.#strategyDefault = resolved.conflicts;
    this.origin = `${this.env.clock.now().toString(36)}-${Math.floor(this.env.random() * 2 ** 32).toString(36)}`;
    this.#marker = databaseMarker(this.env.localStorage, namespace);
    this.store = new LocalStore(
      this.env.indexedDB,
      namespace,
      {
        onLost: (error) => this.#storageLost(error),
        onDeleted: () => {
          this.#deletionHeardAt = this.env.clock.now();
          this.#forgetLocalData('cleared');
        },
        onBlocked: () => this.#storageFault(new StorageError(`"harborsync:${namespace}" is blocked: another connection (an older tab) does not close it`)),
        onCorrupt: (r, id, detail) =>
          this.emit({ type: 'error', at: this.env.clock.now(), resource: r, error: new StorageError(detail, { resource: r, id }) }),
        onOpened: ({ created, reopened }) => {
          this.#opened(created, reopened);
          // A call opened the database the start failed to open: the start goes on now.
          if (this.#startRetry) {
            this.#startRetry.cancel();
            this.#start(this.#startRetry.attempt);
          }
        },
        onReopenFailed: (error) => this.#storageFault(error),
      },
      { setTimer: this.env.clock.setTimer, now: this.env.clock.now, KeyRange: this.env.IDBKeyRange, requestTimeoutMs: timeoutMs },
    );
    const rest = options.transport
      ? null
      : createRestTransport({
          baseUrl: resolved.baseUrl,
          namespace,
          fetch: this.env.fetch,
          auth: options.auth,
          timeoutMs,
          maxAnswerBytes: options.maxAnswerBytes,
        });
    this.#forgetToken = () => rest?.forgetToken();
    const transport = options.transport ?? rest!;
    // Every call, the built-in transport's and a custom one's alike, gets the signal close() aborts.
    const signal = this.#lifetime.signal;
    // A call that rejects once aborted, with whatever error its library throws then (axios's
    // CanceledError), was abandoned by close(), not failed: its reason is the close's.
    const closing = (answer: Promise<unknown>) =>
      Promise.resolve(answer).catch((error: unknown) => {
        throw signal.aborted ? signal.reason : error;
      });
    this.transport = {
      list: (def) => closing(transport.list(def, signal)),
      delta: (def, cursor) => closing(transport.delta(def, cursor, signal)),
      one: (def, id) => closing(transport.one(def, id, signal)),
      query: (def, query) => closing(transport.query(def, query, signal)),
      create: (def, body, key) => closing(transport.create(def, body, key, this.#writes.signal)),
      update: (def, id, patch, version, key) => closing(transport.update(def, id, patch, version, key, this.#writes.signal)),
      remove: (def, id, version, key) => closing(transport.remove(def, id, version, key, this.#writes.signal)),
    };
    this.#statusSubject = new BehaviorSubject<SyncStatus>({ ...INITIAL_STATUS });
    // Their current values offered (CURRENT), so the React hooks render them at once on mount,
    // not their initial state for a frame.
    this.status$ = untilClosed(this, () => this.#statusSubject.value, (subscriber) => this.#statusSubject.subscribe(subscriber));
    this.#parked = new ParkedChanges({
      ...this.#replayHostBase(),
      defs: this.defs,
      lifetime: this.lifetime,
      assertOpen: (what) => this.assertOpen(what),
      closed: () => this.#closedError !== null,
      strategy: (def) => this.strategy(def),
      currentReference: (r, id) => this.currentReference(r, id),
      wake: () => this.#replayer.wake(),
      outboxChanged: () => this.outboxChanged(),
    });
    const { conflicts, failed } = this.#parked;
    this.conflicts$ = untilClosed(this, () => conflicts.value, (subscriber) => conflicts.subscribe(subscriber));
    this.failed$ = untilClosed(this, () => failed.value, (subscriber) => failed.subscribe(subscriber));
    this.events$ = this.#eventsSubject.asObservable();
    this.#replayer = new Replayer(this.#replayHost({ ...retry, sendDelayMs: this.sendDelayMs, maxInFlight: resolved.maxInFlight, timeoutMs }));
    this.#pullRetries = new PullRetries({
      clock: this.env.clock,
      random: () => this.env.random(),
      backoff: retry,
      // Something shows the resource, and reads may go out (online, open, not signed out).
      mayRetry: (def) => this.#mirrors.get(def.name)?.hasListeners === true && this.#online && !this.#unauthorized && !this.#closedError && !this.#storageFailure,
      // An on-demand resource fetches what its watched queries miss; pages loaded since are served.
      again: (def) => (def.load === 'on-demand' ? this.onDemand.revalidate(def) : this.refreshResource(def)),
    });
    this.onDemand = new OnDemandLoader({
      store: this.store,
      transport: this.transport,
      now: () => this.env.clock.now(),
      online: () => this.#online,
      staleTimeMs: this.staleTimeMs,
      mirror: (def) => this.mirror(def),
      currentQuery: (def, query) => this.currentQuery(def, query),
      hydrate: (def) => this.hydrate(def),
      parse: (def, value, id) => this.parse(def, value, id),
      applied: (changes) => this.applied(changes, 'server-read'),
      evicted: (changes) => this.applied(changes, 'evicted'),
      emit: (event) => this.emit(event),
      synced: (at) => this.#patchStatus({ lastSyncedAt: at }),
      readFailed: (error) => this.#readFailed(error),
      loadFailed: (def, error) => this.#pullRetries.failed(def, error),
      createsStored: (def) => this.#createsStored(def),
    });
    // The database opens while the rest is set up (the tab channel, the subscriptions): its
    // answer, even a refusal, is handled after this constructor returns, every field in place.
    this.#start(1);
    const tabChannel = openTabChannel(this.env.BroadcastChannel, namespace, (message) => void this.#onTabMessage(message));
    this.#announcer = new Announcer(tabChannel);
    this.#followerFlushes = new FollowerFlushes({
      tabId: this.origin,
      clock: this.env.clock,
      outbox: this.store.outbox,
      post: (message) => this.#announcer.post(message),
      // A leader that has said nothing for as long as a request may take is frozen or gone.
      quietMs: timeoutMs,
    });
    let suspended = false;
    this.#subscriptions.push(
      this.env.online$.subscribe((online) => this.#setOnline(online)),
      // A frozen page, or one in the back/forward cache, hears no other tab: the hints it missed
      // are made up for by reading everything it shows again when it comes back. It does not
      // listen meanwhile, or the first hint would get it evicted from the back/forward cache.
      this.env.suspended$.subscribe((now) => {
        tabChannel.listen(!now);
        if (suspended && !now && !this.#closedError) {
          this.#catchUp();
          this.#refetchOnDemand();
        }
        suspended = now;
      }),
      this.env.foreground$.subscribe(() => this.#toForeground()),
    );
  }

  // ---- lifecycle and state --------------------------------------------------------------

  /**
   * Opens the database, then follows its renames and outbox and runs for leadership. A failed open
   * is reported once and tried again after the storage-fault backoff (sooner should a call open
   * it meanwhile): one refused once (Chrome's UnknownError, a full disk) or given up on needs no
   * reload. A database a newer release upgraded never opens: every call rejects with that.
   */
  #start(attempt: number): void {
    this.#startRetry = null;
    void this.store.open().then(
      () => {
        // Lost while the outbox loaded (a newer tab's upgrade): a lock taken now would never be let go.
        if (this.#closedError || this.#storageFailure) return;
        this.#followStoredRenames();
        this.outboxChanged();
        // Views that failed to load while the database would not open: loaded now.
        if (attempt > 1) {
          for (const [name, mirror] of this.#mirrors) if (mirror.hasListeners && !mirror.flags.hydrated && !this.#hydrating.has(name)) this.revalidate(this.defs.get(name)!);
        }
        this.#releaseLeadership = electWhileRunning(this.env.suspended$, () =>
          electLeader(this.env, this.store.namespace, this.origin, (leader, stillLeads) => this.#setLeader(leader, stillLeads)),
        );
      },
      (error: unknown) => {
        if (this.#closedError || this.#storageFailure) return;
        const failure = error instanceof StorageError ? error : new StorageError(String(error));
        if (attempt === 1) this.#storageFault(failure);
        const cancel = this.env.clock.setTimer(() => this.#start(attempt + 1), backoffDelay(attempt, 1, this.#pullBackoff));
        this.#startRetry = { attempt: attempt + 1, cancel };
      },
    );
  }

  assertOpen(what: string): void {
    this.#assertNotClosed(what);
    if (this.#storageFailure) throw this.#storageFailure;
  }

  /** For the calls a lost storage leaves working (pause, resume, resource): only a closed client refuses them. */
  #assertNotClosed(what: string): void {
    if (this.#closedError) throw new ClosedError(what);
  }

  /** A storage failure the client lives on with: reported, nothing stopped. */
  #storageFault(error: StorageError): void {
    this.emit({ type: 'storageError', at: this.env.clock.now(), error });
    this.#patchStatus({ lastError: error });
  }

  /**
   * A connection opened. A database created although this origin had one (noted outside
   * IndexedDB, or open earlier in this session) was deleted behind the app's back, and the
   * changes it held with it: reported, never a silent empty start.
   */
  #opened(created: boolean, reopened: boolean): void {
    const noted = this.#marker.present();
    if (!noted) this.#marker.set();
    if (!created) return;
    // Asked once, with the database (Firefox prompts for it); a refusal or a failure changes nothing.
    const storage = this.env.storageManager;
    void Promise.resolve()
      .then(() => storage?.persist?.())
      .catch(() => undefined);
    if (!noted && !reopened) return;
    this.#storageFault(this.#evicted());
    if (reopened) this.#forgetLocalData('evicted');
    // The other tabs open the database this one created without a sign of what went with it.
    this.#announcer.post({ t: 'cleared', at: this.env.clock.now(), by: 'evicted' });
  }

  #evicted(): StorageError {
    return new StorageError(
      `"harborsync:${this.store.namespace}" was missing and has been created empty: the browser evicted it or the site's data was cleared; changes not yet sent when it went are lost`,
    );
  }

  #storageLost(error: StorageError): void {
    if (this.#closedError) return;
    this.#storageFailure = error;
    this.emit({ type: 'storageError', at: this.env.clock.now(), error });
    this.#patchStatus({ lastError: error });
    // This tab can no longer read an answer: its waits end here alone (the change goes on, sent by the newer tab).
    this.#serverWaits.rejectAll(() => error);
    // This tab can no longer commit an answer: let a tab that can (the newer one) replay.
    this.#releaseLeadership();
    this.#releaseLeadership = () => undefined;
    void this.#replayer.stop();
  }

  emit(event: SyncEvent): void {
    this.#eventsSubject.next(event);
  }

  #patchStatus(patch: Partial<SyncStatus>): void {
    const current = this.#statusSubject.value;
    const next = { ...current, ...patch };
    const keys = Object.keys(patch) as Array<keyof SyncStatus>;
    if (keys.every((k) => current[k] === next[k])) return;
    this.#statusSubject.next(next);
  }

  #pausedReason(): SyncStatus['paused'] {
    if (this.#manualPause) return 'manual';
    if (this.#unauthorized) return 'unauthorized';
    if (!this.#online) return 'offline';
    return null;
  }

  #updatePaused(): void {
    const before = this.#statusSubject.value.paused;
    const paused = this.#pausedReason();
    this.#patchStatus({ paused, online: this.#online });
    if (before === paused) return;
    const at = this.env.clock.now();
    this.emit(paused ? { type: 'paused', at, reason: paused } : { type: 'resumed', at });
    // The loop looks again: paused, it sends nothing when a retry falls due, so status$ names none.
    this.#replayer.wake();
  }

  #setOnline(online: boolean): void {
    // A source may repeat itself (two 'online' events); only a change counts.
    if (online === this.#onlineSeen) return;
    this.#onlineSeen = online;
    const cameBack = online && !this.#online;
    this.#online = online;
    this.#updatePaused();
    // Offline, no failed pull is made again: coming back online pulls what is shown anyway.
    if (!online) this.#pullRetries.stop();
    if (!cameBack) return;
    this.#replayer.cameOnline();
    this.#refreshShown(() => true);
  }

  /**
   * Pulls (or refetches the queries of) every resource matching `which` that something shows. A
   * pull in flight went out before the call (perhaps on a connection that died since, to fail only
   * later): one more follows it, as for refresh(). An on-demand reload fetches again at once anyway.
   */
  #refreshShown(which: (def: Def) => boolean): void {
    for (const [name, mirror] of this.#mirrors) {
      const def = this.defs.get(name);
      if (def && which(def) && mirror.hasListeners) void this.refreshResource(def, def.load !== 'on-demand').catch((error: unknown) => this.#pullRetries.failed(def, error));
    }
  }

  /**
   * Back from a suspension, an on-demand resource's shown queries are fetched again: its cache
   * holds what was fetched, not all there is, so only the server can say whether an entity gone
   * from it while no hint was heard was evicted by another tab or deleted.
   */
  #refetchOnDemand(): void {
    if (this.#online) this.#refreshShown((def) => def.load === 'on-demand');
  }

  #setLeader(leader: boolean, stillLeads: () => boolean = () => true): void {
    this.#stillLeads = stillLeads;
    this.#patchStatus({ leader });
    this.emit({ type: 'leader', at: this.env.clock.now(), leader });
    // Resigned: the loop sees it may no longer send (canSend) and goes idle.
    if (!leader) return this.#replayer.standDown();
    // A flush() waiting for another tab goes on here, as this tab's own.
    this.#followerFlushes.endAll();
    if (this.#closedError || this.#storageFailure) return;
    // A follower may have missed messages (the last leader may have died between a commit and
    // its message): replay what IndexedDB holds, not what this tab last heard, and show it.
    void this.#catchUpOnOutbox().then(() => {
      if (this.#closedError || this.#storageFailure) return;
      this.outboxChanged();
      this.#replayer.start();
      this.#replayer.wake();
      // Asked of the last leader, which closed or resigned before answering: served here.
      const tokens = [...this.#unansweredFlushes];
      this.#unansweredFlushes.clear();
      for (const token of tokens) this.#flushFor(token);
    });
  }

  /**
   * A hint may be lost (or sent before this tab listened): in the foreground again, the tab reads
   * the outbox again, and the leader sends what it finds and what fell due. Reading every loaded
   * resource whole is not free and a lost hint is rare: that, at most once per staleTimeMs. Seen
   * again, perhaps after hours, what the page shows is revalidated as for a new subscriber.
   */
  #toForeground(): void {
    for (const [name, mirror] of this.#mirrors) {
      const def = this.defs.get(name)!;
      if (!mirror.hasListeners) continue;
      if (def.load === 'on-demand') void this.onDemand.revalidate(def).catch((error: unknown) => this.#pullRetries.failed(def, error));
      else this.revalidate(def);
    }
    const now = this.env.clock.now();
    if (Math.abs(now - this.#foregroundReadAt) < this.staleTimeMs) return this.#enqueue({ t: 'outbox' });
    this.#foregroundReadAt = now;
    this.#catchUp();
  }

  /**
   * Reads again, as after a hint, everything this tab shows: the outbox and every loaded resource
   * whole; the leader then sends what fell due meanwhile (its timers may have been throttled). A
   * call while one is queued adds nothing (a suspension ends as the page is shown): that one's
   * reads of the resources come after both.
   */
  #catchUp(): void {
    if (this.#closedError || this.#catchUpQueued) return;
    this.#catchUpQueued = true;
    for (const r of this.#hydrating.keys()) this.#rereadWhole.add(r);
    this.#enqueue({ t: 'outbox' });
  }

  /** #reloadOutbox, then the entities of the entries gone re-read (queued in the inbox); true when some went. */
  async #catchUpOnOutbox(): Promise<boolean> {
    const stale = await this.#reloadOutbox();
    if (stale.length === 0 || this.#closedError) return stale.length > 0;
    // Queued together, they are read back in one batch: a renamed entity leaves its temporary id
    // in the frame that shows it under the new one.
    for (const { r, id } of stale) this.#inbox.push({ t: 'changed', r, ids: [id], outbox: true });
    if (!this.#draining) void this.#drainInbox();
    return true;
  }

  /**
   * Reads the outbox again; returns the entries gone from it since this tab last read it. Another
   * tab settled them, and its message about their entities may be on its way, or lost with it
   * (the tab died right after its commit): their views are to be read again, so none shows
   * confirmed-but-stale. A temporary id renamed with no word of it here has no record left to
   * read: its rename, stored with it and read with the outbox, says where the entity is now, and
   * the resources naming it are re-read whole (their references were rewritten). One renamed
   * with no rename stored was dropped, or renamed by a release that did not store renames: the
   * next re-read takes its resource whole, which finds it under its new id if it has one.
   * Returns the entities to read again: those of the entries gone, and the new ids of the renamed.
   */
  async #reloadOutbox(): Promise<Array<{ r: string; id: string }>> {
    const before = [...this.store.outbox.values()];
    const heard = new Set(this.store.renames.keys());
    await this.store.reloadOutbox().catch(() => undefined);
    const gone = before.filter((entry) => !this.store.outbox.get(entry.seq));
    const stale = gone.map(({ r, id }) => ({ r, id }));
    for (const entry of gone) {
      this.#serverWaits.gone(entry.seq, entry.lastSeq ?? entry.seq);
      if (!entry.id.startsWith(TEMP_ID_PREFIX)) continue;
      const key = entityKey(entry.r, entry.id);
      this.#settledTemporary.add(key);
      if (entry.op !== 'create' || heard.has(key)) continue;
      const to = this.store.renames.get(key);
      if (to === undefined) {
        this.#rereadWhole.add(entry.r);
        continue;
      }
      this.#remapped(entry.r, entry.id, to);
      stale.push({ r: entry.r, id: String(to) });
      for (const referrer of referrersOf(this.defs.values(), entry.r)) this.#rereadWhole.add(referrer.r);
    }
    return stale;
  }

  pause(): void {
    this.#assertNotClosed('pause()');
    this.#paused('manual');
    this.#announcer.post({ t: 'paused', reason: 'manual' });
  }

  #paused(reason: 'manual' | 'unauthorized'): void {
    if (reason === 'manual') this.#manualPause = true;
    else this.#unauthorized = true;
    this.#updatePaused();
  }

  /**
   * A read the token refresh did not cure (401): the session is over for writes too, so replay
   * pauses as unauthorized, as after a refused write, and status$ says so to an app that only reads.
   */
  #readFailed(error: Error): void {
    if (!(error instanceof HttpError) || error.status !== 401) return;
    this.#patchStatus({ lastError: error });
    this.#paused('unauthorized');
    // The tab that sends can send no more: every tab says so. Another tab's own read says so
    // there alone: the tab that sends may hold a token that still works.
    if (this.#statusSubject.value.leader) this.#announcer.post({ t: 'paused', reason: 'unauthorized' });
  }

  resume(): void {
    this.#assertNotClosed('resume()');
    this.#resumed();
    this.#announcer.post({ t: 'resumed' });
  }

  #resumed(): void {
    const signedInAgain = this.#unauthorized;
    this.#manualPause = false;
    this.#unauthorized = false;
    this.#updatePaused();
    this.#replayer.wake();
    // What the refused session left in error is read again: nothing else would, until another trigger.
    if (signedInAgain && this.#online) this.#refreshShown((def) => this.#mirrors.get(def.name)?.flags.error != null);
  }

  async flush(): Promise<void> {
    this.assertOpen('flush()');
    // What close() abandons was not sent: a flush() under way rejects then, as the calls after it
    // do, rather than resolve as if nothing more could be sent (or wait for a leader that is gone).
    await orClosed(this.#flushed(), this.lifetime);
  }

  async #flushed(): Promise<void> {
    // A write called before flush() is sent with the rest, though its transaction is still under way.
    await Promise.all([...this.#handles.values()].map((handle) => handle.stored()));
    await this.store.outboxLoaded();
    if (!this.#statusSubject.value.leader) {
      // Another tab sends: wait for what IndexedDB holds now, not only what this tab heard of;
      // what left the queue unheard of (its tab closed before telling) is shown as stored now.
      if (await this.#catchUpOnOutbox()) await this.#inboxHandled();
      if (this.#closedError) return;
      this.outboxChanged();
    }
    // A conflict decided as the strategy would have (see ParkedChanges) may have more to send.
    await this.#parked.decided();
    if (!this.#statusSubject.value.leader) await this.#followerFlushes.wait();
    if (!this.#statusSubject.value.leader) return;
    await this.#replayer.flush();
    // The replay read a queue another tab's hint re-read, whose entities may still be being read
    // (they count it after): status$ counts it when flush() resolves.
    if (!this.#closedError) this.outboxChanged();
  }

  async clear(options: ClearOptions = {}): Promise<void> {
    this.assertOpen('clear()');
    // Read as a flag, a truthy 'false' (a setting read as text) would delete unsent changes.
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) throw new TypeError(`harborsync: clear(): options must be an object, got ${String(given)}`);
    const { discardPending } = given as { discardPending?: unknown };
    if (discardPending !== undefined && typeof discardPending !== 'boolean') {
      throw new TypeError(`harborsync: clear(): options.discardPending must be true or false, got ${typeof discardPending === 'string' ? JSON.stringify(discardPending) : String(discardPending)}`);
    }
    // A write called before clear() but not stored yet (waiting for its resource to load, for an
    // async validation, or in its transaction) is pending too: refused here, or discarded (it is
    // refused when it comes to be stored) rather than stored in the fresh database and sent.
    // Not waited for: a validation may never answer.
    const unstored = [...this.#handles.values()].reduce((sum, handle) => sum + handle.unstored, 0);
    if (unstored > 0 && !options.discardPending) throw new PendingMutationsError(this.store.outbox.size + unstored);
    if (options.discardPending) {
      this.discards++;
      // The writes discarded are refused when they come to be stored: the writes made from now on
      // do not wait for them (an async validation among them may never answer).
      this.writeTurn.current = null;
    }
    await this.store.open();
    // A decision under way would put its entry back in the emptied queue once its write commits.
    await this.#parked.decided();
    const at = this.env.clock.now();
    // Counted once the writes already started are stored: one whose promise has not resolved yet is pending too.
    await this.store.destroy(() => {
      const pending = this.store.outbox.size;
      if (pending > 0 && !options.discardPending) throw new PendingMutationsError(pending);
    });
    // Deleted on purpose: the next start of a fresh database is not an eviction.
    this.#marker.remove();
    this.#forgetLocalData('cleared');
    this.#announcer.post({ t: 'cleared', at });
  }

  async close(): Promise<void> {
    if (this.#closedError) return;
    this.#closedError = new ClosedError('close()');
    this.#startRetry?.cancel();
    this.#releaseLeadership();
    this.#replayer.stop();
    this.#pullRetries.stop();
    // Their answers would be dropped: the entries stay queued and go out again under their keys.
    this.#lifetime.abort(this.#closedError);
    this.#writes.abort(this.#closedError);
    for (const s of this.#subscriptions) s.unsubscribe();
    this.#announcer.close();
    this.#inbox.length = 0;
    this.#serverWaits.rejectAll(() => new ClosedError('a write waiting for the server'));
    this.#followerFlushes.endAll();
    for (const look of [...this.#othersCreatesWaits]) look();
    this.store.close(this.#closedError);
    // Nothing more comes: the subscribers are told so, and let go (an answer abandoned above no longer reaches them).
    for (const complete of [...this.subscribers]) complete();
    this.#statusSubject.complete();
    this.#parked.complete();
    this.#eventsSubject.complete();
  }

  // ---- resources -------------------------------------------------------------------------

  resource<T extends object, K extends string = 'id', V extends string = 'version', I = unknown>(
    definition: ResourceDefinition<T, K, V, I>,
  ): ResourceHandle<T, K, V, KnownInput<T, I>>;
  resource(name: string): ResourceHandle<Entity>;
  resource(definition: ResourceDefinition<object> | string): ResourceHandle<object> {
    const given: unknown = definition;
    const name: unknown = typeof given === 'string' ? given : typeof given === 'object' && given !== null ? (given as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') {
      const received = typeof given === 'object' && given !== null ? 'an object with no name' : String(given);
      throw new TypeError(`resource(): takes a defineResource() definition or the name of one, received ${received}`);
    }
    this.#assertNotClosed(`resource("${name}")`);
    const def = this.defs.get(name);
    if (!def) throw new TypeError(`resource("${name}"): not one of this client's resources (${[...this.defs.keys()].join(', ')})`);
    let handle = this.#handles.get(name);
    if (!handle) this.#handles.set(name, (handle = new ResourceHandleImpl(this, def)));
    return handle;
  }

  mirror(def: Def): ResourceMirror<object> {
    let mirror = this.#mirrors.get(def.name);
    if (!mirror) {
      const current = (field: string, value: unknown) => this.#currentValue(def, field, value);
      this.#mirrors.set(def.name, (mirror = new ResourceMirror(def.name, def.key, current)));
      mirror.trackShown = def.load === 'on-demand';
    }
    return mirror;
  }

  /** Loads the resource from IndexedDB into its mirror, once. */
  hydrate(def: Def, revalidating = false): Promise<void> {
    let done = this.#hydrating.get(def.name);
    if (!done) {
      const mirror = this.mirror(def);
      const shownMeanwhile = new Set<string>();
      this.#shownWhileLoading.set(def.name, shownMeanwhile);
      done = (async () => {
        const deletions = this.store.deletions;
        // Read from a database deleted since (another tab's clear() while the read ran): its records
        // and cursor would bring the deleted data back. Loaded again, from the fresh one.
        const loadAgain = () => {
          if (this.#hydrating.get(def.name) === done) this.#hydrating.delete(def.name);
          return this.hydrate(def, revalidating);
        };
        const { records: stored, meta } = await this.store.loadResource(def.name, def.delta ? [syncedAtKey(def.name), cursorKey(def.name)] : [syncedAtKey(def.name)]);
        if (this.store.deletions !== deletions) return loadAgain();
        // A corrupted row (NaN, ±Infinity) is no sync time: NaN would never count as stale.
        let syncedAt = Number.isFinite(meta[0]) ? (meta[0] as number) : null;
        // Read with the records: the views shown reflect the feed up to it.
        if (def.delta) this.#knownCursors.set(def.name, typeof meta[1] === 'string' ? meta[1] : null);
        let refetch = false;
        // A stored view that fails the schema (corrupted, or cached under an older schema) is
        // reported like invalid server data and not shown; its queued changes stay in the outbox.
        // A synchronous schema is answered in the loop, without a promise per record.
        const records: typeof stored = [];
        const refused = new Set<string>();
        this.#refusedAtLoad.set(def.name, refused);
        for (const record of stored) {
          if (record.view === null) {
            records.push(record);
            continue;
          }
          // Unconfirmed creates have no version yet.
          const checked = this.parse(def, record.view, record.id, true);
          const parsed = checked instanceof Promise ? await checked : checked;
          if (parsed !== undefined && this.#namesItsRecord(def, parsed, record.id)) {
            records.push(record);
            const reshaped = reshapedFields(record.view, parsed);
            if (reshaped) mirror.reshape(record.id, reshaped);
          } else {
            refused.add(record.id);
            refetch ||= record.base !== null;
          }
        }
        // A server copy skipped here is fetched again at once: the feed from its start, as the
        // stored cursor is past it and the feed would not name it again until it changes.
        if (refetch && def.load !== 'on-demand') {
          syncedAt = null;
          if (def.delta) this.#knownCursors.set(def.name, null);
        }
        // Deleted while an async schema checked the records: the same.
        if (this.store.deletions !== deletions) return loadAgain();
        const { outbox } = this.store;
        mirror.batch(() => {
          for (const record of records) {
            // Shown since by a commit (a server answer stored while an async schema checked
            // these): newer than the copy read here.
            if (shownMeanwhile.has(record.id)) continue;
            const pending = outbox.size > 0 && outbox.isPending(def.name, record.id);
            mirror.set(record.id, (record.view ?? undefined) as object | undefined, pending);
          }
          // A subscriber that will revalidate, or a refresh() waiting for this load, sees "fetching"
          // from the first state, not an empty success. An on-demand query fetches its pages
          // whatever its resource's age (none are loaded yet).
          const revalidates = this.#revalidateOnLoad.delete(def.name) || revalidating;
          const stale = def.load === 'on-demand' ? this.#online : this.#needsPull(syncedAt);
          const fetching = mirror.flags.isFetching || this.#pulling.has(def.name) || (revalidates && stale);
          // Loaded: the error a failed load (or a pull of the data since deleted) left is over.
          mirror.setFlags({ hydrated: true, lastSyncedAt: syncedAt, isFetching: fetching, error: null });
        });
        // The cache served was confirmed then, in an earlier session too: the status is not "never".
        const { lastSyncedAt } = this.#statusSubject.value;
        if (syncedAt !== null && (lastSyncedAt === null || syncedAt > lastSyncedAt)) this.#patchStatus({ lastSyncedAt: syncedAt });
      })().finally(() => {
        if (this.#shownWhileLoading.get(def.name) === shownMeanwhile) this.#shownWhileLoading.delete(def.name);
      });
      done.catch((error: unknown) => {
        this.#hydrating.delete(def.name);
        this.#revalidateOnLoad.delete(def.name);
        mirror.setFlags({ error: error instanceof Error ? error : new Error(String(error)) });
      });
      this.#hydrating.set(def.name, done);
    }
    return done;
  }

  /**
   * Whether a view of an entity the load skipped may be shown: once one passes the schema (or is
   * gone), the entity is shown as any other. One an async schema would judge is shown: it cannot
   * be judged in the call that shows it.
   */
  #passesNow(def: Def, refused: Set<string>, id: string, view: Rec | null): boolean {
    const checked = view === null ? null : validate(def.schema, view, def.version);
    if (checked !== null && !(checked instanceof Promise) && !checked.ok) return false;
    refused.delete(id);
    return true;
  }

  /** Whether a stored view names the entity it is stored under; one naming another (shown, it would show that one twice) is reported. */
  #namesItsRecord(def: Def, view: Rec, id: string): boolean {
    if (normalizeId(view[def.key]) === id) return true;
    const error = new SchemaError([{ field: def.key, message: `names ${def.name}/${String(view[def.key])}, not the entity it is stored under` }], { resource: def.name, id });
    this.emit({ type: 'schemaError', at: this.env.clock.now(), resource: def.name, id, error });
    return false;
  }

  /** An on-demand live query: fetches what it shows while subscribed. */
  watchQuery(def: Def, query: Query<object> | undefined, setServerHasMore: (hasMore: boolean) => void): { fill(): void; stop(): void } {
    return this.onDemand.watch({ def, query, setServerHasMore });
  }

  /** Online and the cache is older than staleTimeMs (or from the future: a clock that jumped back). */
  #needsPull(lastSyncedAt: number | null): boolean {
    if (!this.#online) return false;
    // Never synced is stale under any staleTimeMs, Infinity included.
    if (lastSyncedAt === null) return true;
    const age = this.env.clock.now() - lastSyncedAt;
    return age > this.staleTimeMs || age < 0;
  }

  /** A subscriber arrives: serve the cache, and revalidate when it is stale. Offline, the cache answers. */
  revalidate(def: Def): void {
    const mirror = this.mirror(def);
    if (!mirror.flags.hydrated && this.#hydrating.has(def.name)) this.#revalidateOnLoad.add(def.name);
    // On-demand resources load per query (watchQuery), never whole.
    if (def.load === 'on-demand') {
      void this.hydrate(def, true).catch(() => undefined);
      return;
    }
    if (mirror.flags.hydrated) {
      if (this.#needsPull(mirror.flags.lastSyncedAt)) void this.refreshResource(def).catch((error: unknown) => this.#pullRetries.failed(def, error));
      return;
    }
    void this.hydrate(def, true)
      .then(() => (this.#needsPull(mirror.flags.lastSyncedAt) ? this.refreshResource(def) : undefined))
      .catch((error: unknown) => this.#pullRetries.failed(def, error));
  }

  /**
   * Pulls the resource, sharing a pull already running. `sinceNow` (refresh()): a pull running was
   * sent before the call and may miss what changed since, so one more follows it, shared by every
   * such call meanwhile.
   */
  refreshResource(def: Def, sinceNow = false): Promise<void> {
    if (def.load === 'on-demand') return this.onDemand.reload(def, sinceNow);
    let running = this.#pulling.get(def.name);
    // A pull started before the local data was deleted (clear()) stores nothing: one follows it.
    const discarded = running !== undefined && this.#pullingAt.get(def.name) !== this.store.deletions;
    if (running && (sinceNow || discarded)) {
      let next = this.#pullingNext.get(def.name);
      if (!next) {
        next = running
          .catch(() => undefined)
          .then(() => {
            this.#pullingNext.delete(def.name);
            return this.refreshResource(def);
          });
        this.#pullingNext.set(def.name, next);
      }
      return next;
    }
    if (!running) {
      const mirror = this.mirror(def);
      if (mirror.flags.hydrated) mirror.setFlags({ isFetching: true });
      running = this.hydrate(def)
        .then(
          () => pull(this.#pullHost(), def, mirror),
          (error: unknown) => {
            // Not loaded, so nothing was fetched: the flag set above comes down (the load's error shows).
            mirror.setFlags({ isFetching: this.#pullingNext.has(def.name) });
            throw error;
          },
        )
        .then(({ stored }) => {
          this.#pullRetries.stop(def.name);
          // An answer discarded (requested before a clear()) confirmed nothing now held.
          if (stored) this.#patchStatus({ lastSyncedAt: this.env.clock.now() });
        })
        .finally(() => this.#pulling.delete(def.name));
      this.#pulling.set(def.name, running);
      this.#pullingAt.set(def.name, this.store.deletions);
    }
    return running;
  }

  /**
   * Parses an entity with the resource's schema; an invalid one is reported on events$ (and to
   * `refused`) and comes back undefined. A `stored` view may lack its version (an unconfirmed create) and needs no depth
   * check (it was stored). Synchronous when the schema is: a list of thousands is parsed without a
   * promise per item.
   */
  parse(def: Def, value: unknown, id: string | undefined, stored = false, refused?: (error: SchemaError) => void): Rec | undefined | Promise<Rec | undefined> {
    const judge = (result: Validation<unknown>): Rec | undefined => {
      const key = result.ok ? normalizeId((result.value as Rec)[def.key]) : undefined;
      // Too deep to store, it would fail the transaction caching the valid rest with it.
      const deep = result.ok && key !== undefined && !stored ? nestedTooDeep(result.value) : null;
      if (result.ok && key !== undefined && deep === null) return result.value as Rec;
      const rawId = typeof value === 'object' && value !== null ? (value as Rec)[def.key] : undefined;
      const entityId = id ?? (typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : undefined);
      const issues = !result.ok
        ? result.issues
        : deep === null
          ? [{ field: def.key, message: 'is not a valid id (a non-empty string or a finite number)' }]
          : [{ field: deep, message: `nests deeper than ${MAX_DEPTH} levels` }];
      const error = new SchemaError(issues, { resource: def.name, id: entityId });
      this.emit({ type: 'schemaError', at: this.env.clock.now(), resource: def.name, id: entityId, error });
      refused?.(error);
      return undefined;
    };
    // A schema that throws refuses that item alone (validate() makes the throw an issue): the valid rest is kept.
    const result = validate(def.schema, value, stored ? def.version : null);
    return result instanceof Promise ? result.then(judge) : judge(result);
  }


  /** Committed view changes reach the mirrors; entities with a local write still committing keep their optimistic view. */
  applied(changes: ViewChange | readonly ViewChange[], from: 'here' | 'server-read' | 'tab' | 'evicted' = 'here'): void {
    const list = Array.isArray(changes) ? changes : [changes as ViewChange];
    // What this tab committed, the other tabs learn (a pull's changes leave the outbox alone,
    // but for a parked conflict given the newer server state).
    // An eviction is this tab's cache policy, not a change of the data: another tab may show
    // what this one dropped, and reads it again only on its next load.
    if (from === 'here' || from === 'server-read') {
      for (const change of list) {
        if (change.unchanged) continue;
        this.#announcer.changed(change.r, change.id, from === 'here' || change.outbox === true, this.defs.get(change.r)?.load === 'on-demand' ? change.view : undefined);
      }
    }
    const byResource = new Map<string, ViewChange[]>();
    for (const change of list) {
      const group = byResource.get(change.r);
      if (group) group.push(change);
      else byResource.set(change.r, [change]);
    }
    for (const [r, group] of byResource) {
      const def = this.defs.get(r);
      if (!def) continue;
      const mirror = this.mirror(def);
      const handle = this.#handles.get(r);
      const shownMeanwhile = this.#shownWhileLoading.get(r);
      const refused = this.#refusedAtLoad.get(r);
      mirror.batch(() => {
        for (const { id, view: stored, unchanged } of group) {
          shownMeanwhile?.add(id);
          if (refused?.has(id) && !this.#passesNow(def, refused, id, stored)) continue;
          // As the mirror shows it: compared with what it shows, a view it completes is no change.
          const view = stored === null ? null : (mirror.shown(id, stored, true) as Rec);
          const pending = this.store.outbox.isPending(r, id);
          // Shown as it is already: the same objects stay, and no subscriber is told anything new.
          if (unchanged && !pending && !mirror.isPending(id) && mirror.entities.has(id) && deepEqual(mirror.entities.get(id), view)) continue;
          // Shown once the write committing lands on it; should the write fail, shown then.
          if (handle?.isWriting(id)) handle.storedMeanwhile(id, view ?? undefined, pending);
          // Stored as shown (a local write's commit, after its change was shown at its call): the
          // same object stays, and no subscriber is told it again.
          else if (mirror.isPending(id) !== pending || !deepEqual(mirror.entities.get(id), view ?? undefined)) {
            mirror.set(id, (view ?? undefined) as object | undefined, pending);
          }
          if (from === 'tab' && view == null) mirror.setGone(id);
        }
      });
    }
    this.outboxChanged();
  }

  /** Recomputes status counts, conflicts$ and failed$ from the outbox. */
  outboxChanged(): void {
    // Runs after every commit: the queue is counted as it changes.
    const parked = this.#parked.read();
    this.#patchStatus({ pending: this.store.outbox.queuedCount, conflicts: parked.conflicts.length, failed: parked.failed.length });
    this.#followerFlushes.outboxChanged();
    for (const look of [...this.#othersCreatesWaits]) look();
    this.#parked.publish(parked);
  }

  strategy(def: Def): ConflictStrategy<Rec> {
    return (def.conflicts ?? this.#strategyDefault) as ConflictStrategy<Rec>;
  }

  /** A temporary id now names a server id; `get$(from)` subscribers move along, for the client's lifetime. */
  #remapped(r: string, from: string, to: string | number): void {
    this.store.renames.set(entityKey(r, from), to);
    const def = this.defs.get(r);
    if (def) this.mirror(def).follow(from, String(to));
  }

  /**
   * The renames stored by earlier sessions are read with the outbox: `get$(tempId)` called before
   * that (a page rendering as it reloads) follows its entity to the server's id, as it does a
   * rename heard later. Run before any resource is loaded, so its subscribers hear the entity set.
   */
  #followStoredRenames(): void {
    for (const [key, to] of this.store.renames) {
      const [r, id] = splitEntityKey(key);
      this.#mirrors.get(r)?.follow(id, String(to));
    }
  }

  /**
   * The query with each `where` value naming an entity by a temporary id the server renamed (in a
   * `references` field, or the key) naming it by the server's: an on-demand query pushes its
   * filter to the server, which knows no temporary id.
   */
  currentQuery(def: Def, query: Query<object> | undefined): Query<object> | undefined {
    const where: unknown = query?.where;
    if (!isPlainObject(where)) return query;
    let out: Rec | null = null;
    for (const [field, value] of Object.entries(where)) {
      const current = this.#currentValue(def, field, value);
      if (current === value) continue;
      out ??= { ...where };
      out[field] = current;
    }
    return out ? { ...query, where: out } : query;
  }

  /** A `where` value of `field` (the key, or a `references` field) naming an entity by its current id; any other as it is. */
  #currentValue(def: Def, field: string, value: unknown): unknown {
    const r = field === def.key ? def.name : def.references[field];
    return r !== undefined && typeof value === 'string' ? this.currentReference(r, value) : value;
  }

  /** The id an entity has now: a temporary id the server renamed resolves to the server's. */
  currentId(r: string, id: string): string {
    return String(this.currentReference(r, id));
  }

  /** currentId, as a field referring to the entity holds it: the server's id as its answer wrote it (a number stays one). */
  currentReference(r: string, id: string): string | number {
    return this.store.renames.get(entityKey(r, id)) ?? id;
  }

  // ---- writes ------------------------------------------------------------------------------

  /** A local write committed: tell the other tabs and the replay loop. */
  written(r: string, id: string): void {
    this.outboxChanged();
    this.#announcer.changed(r, id, true);
    this.#replayer.wake();
  }

  /** The outbox changed: tell the other tabs (with the entities changed before it, first). */
  announce(): void {
    this.#announcer.post({ t: 'outbox' });
  }

  /** Resolves with the server's answer to the entry `seq` (or rejects with what it ended in). */
  waitFor(seq: number, signal: AbortSignal | undefined): Promise<Rec | null> {
    // A write that committed as the client closed: close() has settled the waits it knew of.
    if (this.#closedError) return Promise.reject(new ClosedError('a write waiting for the server'));
    // One that committed as another tab's upgrade came: #storageLost has settled the waits it knew of.
    if (this.#storageFailure) return Promise.reject(this.#storageFailure);
    return this.#serverWaits.wait(seq, this.store.outbox.get(seq), signal);
  }

  settled(seq: number, outcome: ServerOutcome, fromTab = false): void {
    this.#serverWaits.settle(seq, outcome);
    if (fromTab) return;
    this.#announcer.post('error' in outcome ? { t: 'settled', seq, error: toTabError(outcome.error) } : { t: 'settled', seq, value: outcome.value });
  }

  /** The entry `seq` was folded into the entry `into`: its waits, in every tab, settle with that one. */
  folded(seq: number, into: number, fromTab = false): void {
    this.#serverWaits.fold(seq, into);
    if (!fromTab) this.#announcer.post({ t: 'folded', seq, into });
  }

  /** Another tab's message: queued and handled in arrival order, runs of change hints at once. */
  #onTabMessage(message: TabMessage): void {
    if (this.#closedError) return;
    this.#followerFlushes.heard();
    this.#enqueue(message);
  }

  reread(r: string, id: string): void {
    if (this.#closedError) return;
    this.#enqueue({ t: 'changed', r, ids: [id], outbox: true });
  }

  #enqueue(message: TabMessage): void {
    this.#inbox.push(message);
    if (!this.#draining) void this.#drainInbox();
  }

  /** Resolves once every message queued so far is handled (or the client closed). */
  #inboxHandled(): Promise<void> {
    if (!this.#draining && this.#inbox.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#inboxWaiters.push(resolve));
  }

  async #drainInbox(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#inbox.length > 0 && !this.#closedError) {
        const message = this.#inbox.shift()!;
        if (message.t === 'settled') {
          const outcome = message.error ? { error: fromTabError(message.error) } : { value: message.value ?? null };
          this.settled(message.seq, outcome, true);
        } else if (message.t === 'folded') {
          this.folded(message.seq, message.into, true);
        } else if (message.t === 'remapped') {
          if (isRename(message)) this.#remapped(message.r, message.from, message.to);
        } else if (message.t === 'paused') {
          this.#paused(message.reason === 'unauthorized' ? 'unauthorized' : 'manual');
        } else if (message.t === 'resumed') {
          this.#resumed();
        } else if (message.t === 'flush') {
          this.#flushFor(message.token);
        } else if (message.t === 'flushed') {
          // In arrival order: the hints before it are re-read when this tab's flush() resolves.
          this.#unansweredFlushes.delete(message.token);
          this.#followerFlushes.answered(message.token);
        } else if (message.t === 'cleared') {
          // Its connection heard the deletion first (versionchange): what it wrote since stays.
          if (typeof message.at !== 'number' || this.#deletionHeardAt < message.at) {
            this.store.deletedElsewhere();
            const by = message.by === 'evicted' ? 'evicted' : 'cleared';
            if (by === 'evicted') this.#storageFault(this.#evicted());
            this.#forgetLocalData(by);
          }
          await this.store.reloadOutbox().catch(() => undefined);
          this.outboxChanged();
        } else {
          const run: TabMessage[] = [message];
          while (this.#inbox[0]?.t === 'changed' || this.#inbox[0]?.t === 'outbox') run.push(this.#inbox.shift()!);
          await this.#reread(run);
        }
      }
    } catch (error) {
      this.emit({ type: 'error', at: this.env.clock.now(), resource: undefined, error: error instanceof HarborSyncError ? error : new StorageError(String(error)) });
    } finally {
      this.#draining = false;
    }
    if (this.#inbox.length > 0 && !this.#closedError) return this.#drainInbox();
    for (const resolve of this.#inboxWaiters.splice(0)) resolve();
  }

  /** A follower's flush(): the leader sends what is queued at once, and says when nothing more can be sent. */
  #flushFor(token: string): void {
    if (!this.#statusSubject.value.leader) {
      // Kept for if this tab leads next. Only a leader gone before answering leaves one: a few at most.
      if (this.#unansweredFlushes.size >= MAX_UNANSWERED_FLUSHES) this.#unansweredFlushes.delete(this.#unansweredFlushes.values().next().value!);
      this.#unansweredFlushes.add(token);
      return;
    }
    void this.#replayer.flush().then(() => {
      // Resigned or closed meanwhile: the next leader sends the rest; the follower sees it settle.
      if (this.#statusSubject.value.leader) this.#announcer.post({ t: 'flushed', token });
    });
  }

  /** Change hints from other tabs: re-read the outbox and the named entities from IndexedDB, once. */
  async #reread(run: readonly TabMessage[]): Promise<void> {
    const deletions = this.store.deletions;
    const ids = new Map<string, Set<string>>();
    const reread = (r: string, id: string) => {
      let set = ids.get(r);
      if (!set) ids.set(r, (set = new Set()));
      set.add(id);
    };
    const outbox = run.some((message) => message.t === 'outbox' || (message.t === 'changed' && message.outbox));
    if (outbox) for (const stale of await this.#reloadOutbox()) reread(stale.r, stale.id);
    const whole = new Set([...this.#rereadWhole].filter((r) => this.#hydrating.has(r)));
    this.#rereadWhole.clear();
    this.#catchUpQueued = false;
    const settledTemporary = new Set(this.#settledTemporary);
    this.#settledTemporary.clear();
    for (const r of whole) {
      if (!ids.has(r)) ids.set(r, new Set());
      // Loaded (hydrate() keys #hydrating by its definition's name): defined here.
      for (const id of this.mirror(this.defs.get(r)!).entities.keys()) reread(r, id);
    }
    // What the senders committed, for records evicted from storage before this tab reads them.
    const told = new Map<string, Rec | null>();
    const moves: Array<{ r: string; from: string | null; to: string | null }> = [];
    for (const message of run) {
      if (message.t !== 'changed') continue;
      // A commit made in the database deleted since (its hint delayed, or repeated) moved a cursor of that one.
      const { cursor } = message;
      if (isCursorMove(cursor) && !(typeof cursor.at === 'number' && cursor.at <= this.#forgottenAt)) moves.push({ r: message.r, from: cursor.from, to: cursor.to });
      const views = Array.isArray(message.views) && message.views.length === message.ids.length ? message.views : null;
      message.ids.forEach((id, i) => {
        reread(message.r, id);
        const view = views?.[i];
        if (view !== undefined) told.set(entityKey(message.r, id), typeof view === 'object' ? view : null);
        else told.delete(entityKey(message.r, id));
      });
    }
    /**
     * A record not in storage: deleted, or evicted by another tab's cache while this one still
     * shows it. Only an entity this tab shows keeps the told view: one it dropped since (its own
     * delete, or a page of its own that found it gone, neither told to itself) stays dropped.
     */
    const missing = (r: string, id: string) => {
      const def = this.defs.get(r);
      return def && this.mirror(def).entities.has(id) ? (told.get(entityKey(r, id)) ?? null) : null;
    };
    // Unchanged (a hint repeated, or about a change this tab shows already): left as shown, the
    // same objects, so no subscriber is told anything new.
    const shownAsIs = (mirror: ResourceMirror<object>, r: string, record: EntityRecord) =>
      deepEqual(mirror.entities.get(record.id) ?? null, record.view) && mirror.isPending(record.id) === this.store.outbox.isPending(r, record.id);
    // Not stored, though the outbox read before it holds its changes: a commit in between moved it
    // (its create's answer re-keyed it to the server's id). Left as shown: that commit's own hint
    // follows, and shows it under the new id in the same emission that takes it from the old one.
    const movedSinceRead = (r: string, id: string) => this.store.outbox.entriesOf(r, id).length > 0;
    const changes: ViewChange[] = [];
    const unread = new Set<string>();
    for (const [r, set] of ids) {
      const loading = this.#hydrating.get(r);
      if (!loading) continue; // never loaded here: it will be read whole when first used
      await loading.catch(() => undefined);
      // Loaded here, so defined.
      const mirror = this.mirror(this.defs.get(r)!);
      if (set.size > REREAD_WHOLE_ABOVE || whole.has(r)) {
        // A big pull in another tab, or a page back from suspension: one read of the resource
        // beats thousands of single gets. What is unchanged is left as shown.
        const all = await this.store.loadResource(r).then(({ records }) => records, () => null);
        if (!all) {
          unread.add(r);
          continue;
        }
        const present = new Set<string>();
        for (const record of all) {
          present.add(record.id);
          if (!shownAsIs(mirror, r, record)) changes.push({ r, id: record.id, view: record.view });
        }
        // Gone from an on-demand cache with no hint saying how: shown until the refetch on return
        // says. Not a temporary id whose changes another tab settled unheard of: it is on no
        // server, so it was renamed (or its create dropped), not evicted.
        const onDemand = this.defs.get(r)?.load === 'on-demand';
        for (const id of set) {
          const key = entityKey(r, id);
          if (present.has(id) || movedSinceRead(r, id) || (onDemand && !told.has(key) && !settledTemporary.has(key))) continue;
          changes.push({ r, id, view: missing(r, id) });
        }
        continue;
      }
      const records = await this.store.loadRecords(r, [...set]).catch(() => null);
      if (!records) {
        unread.add(r);
        continue;
      }
      for (const id of set) {
        // A stored record with a null view is a delete still queued: shown as deleted, never as told.
        const record = records.get(id);
        if ((record && record.view !== null && shownAsIs(mirror, r, record)) || (!record && movedSinceRead(r, id))) continue;
        changes.push({ r, id, view: record ? record.view : missing(r, id) });
      }
    }
    // Stored or told by a tab under another schema (a newer release of the app): shown only if it
    // passes this one's, as when the resource loads; unconfirmed creates have no version yet.
    for (const [i, change] of changes.entries()) {
      if (change.view === null) continue;
      const def = this.defs.get(change.r)!;
      const checked = this.parse(def, change.view, change.id, true);
      const parsed = checked instanceof Promise ? await checked : checked;
      if (parsed === undefined || !this.#namesItsRecord(def, parsed, change.id)) changes[i] = { ...change, view: null };
    }
    if (this.#closedError) return;
    // Read, in part, from a database deleted since (another tab's clear() while the read waited):
    // shown, it would bring the deleted data back. Read again, from the fresh one.
    if (this.store.deletions !== deletions) return this.#reread(run);
    // The views now hold what those pulls brought: a cursor followed link by link. A link missed
    // (its tab died before telling) leaves this tab's cursor behind, and its next pull brings again
    // what it missed.
    for (const { r, from, to } of moves) {
      if (!unread.has(r) && this.#knownCursors.has(r) && this.#knownCursors.get(r) === from) this.#knownCursors.set(r, to);
    }
    if (changes.length) this.applied(changes, 'tab');
    else this.outboxChanged();
    if (outbox) await this.#answerVanishedWaits();
    this.#replayer.wake();
  }

  /**
   * A write waiting for the server whose entry is gone from the outbox, or parked since it was
   * seen queued, with no 'settled' message (the tab that sent it closed in between, or the
   * message was lost): the stored server state, or the stored conflict or failure, is its answer.
   */
  async #answerVanishedWaits(): Promise<void> {
    for (const [seq, waited] of this.#serverWaits.waited()) {
      const { r, id } = waited;
      const entry = this.store.outbox.get(seq);
      if (entry?.state === 'queued') waited.queued = true;
      if (entry && (entry.state === 'queued' || !waited.queued)) continue;
      // Its 'settled' (or 'folded') message may be right behind the hint: let it answer first.
      if (this.#inbox.some((m) => (m.t === 'settled' || m.t === 'folded') && m.seq === seq)) continue;
      if (entry) {
        this.settled(seq, { error: parkedError(entry) }, true);
        continue;
      }
      // This tab's rename took it away (folded, or stored anew behind another change): it moves its wait itself.
      if (this.#replayer.renaming(r, id)) continue;
      const current = this.currentId(r, id);
      const entries = this.store.outbox.entriesOf(r, current);
      // An entry holding its newest change (stored anew there by another tab's rename, whose
      // 'folded' message has not come yet) answers it. Else, an entity's changes are sent in order:
      // gone while an earlier one is still queued or parked, it was folded into that one (a
      // decision, a retry), whose 'folded' message was lost.
      const into = entries.find((e) => (e.lastSeq ?? e.seq) === waited.made) ?? entries.find((e) => e.seq < seq);
      if (into) {
        this.folded(seq, into.seq, true);
        continue;
      }
      const record = (await this.store.loadRecords(r, [current]).catch(() => null))?.get(current);
      if (this.#serverWaits.has(seq)) this.settled(seq, { value: record?.base ?? null }, true);
    }
  }

  /**
   * The namespace's data was deleted (clear() here or in another tab): every view empties, and
   * each loaded resource is read again from the fresh database, so later changes (of any tab)
   * keep reaching it; on-demand queries fetch their pages again.
   */
  #forgetLocalData(by: 'cleared' | 'evicted'): void {
    if (this.#closedError) return;
    this.#forgottenAt = this.env.clock.now();
    // The changes waited for are gone; and a fresh database numbers its entries past the seqs this
    // tab knew, not past every tab's, so a wait left keyed by an old seq could meet another change.
    this.#serverWaits.rejectAll((entity) => new PendingMutationsError(1, { by, resource: entity?.r, id: entity?.id }));
    this.#replayer.databaseDeleted();
    // A logout (clear(), in any tab): the next user is never sent the token refreshed for the last.
    if (by === 'cleared') this.#forgetToken();
    this.#writes.abort();
    this.#writes = new AbortController();
    this.#pullRetries.stop();
    const loaded = [...this.#hydrating.keys()];
    this.#hydrating.clear();
    this.#knownCursors.clear();
    for (const [name, mirror] of this.#mirrors) {
      const handle = this.#handles.get(name);
      mirror.batch(() => {
        // A pending delete is pending and absent: it stops being pending too.
        for (const id of new Set([...mirror.entities.keys(), ...mirror.pendingIds()])) {
          mirror.set(id, undefined, false);
          // Nothing is stored now: a write still committing that fails shows that, not what was deleted.
          handle?.storedMeanwhile(id, undefined, false);
        }
        mirror.setFlags({ lastSyncedAt: null });
      });
    }
    // The server confirmed none of what the fresh database holds.
    this.#patchStatus({ lastSyncedAt: null });
    for (const name of loaded) void this.hydrate(this.defs.get(name)!).catch(() => undefined);
    this.onDemand.forget();
    this.outboxChanged();
  }

  // ---- seams for the loops -------------------------------------------------------------

  #replayHostBase() {
    return {
      env: this.env,
      store: this.store,
      applied: (change: ViewChange) => this.applied(change),
      emit: (event: SyncEvent) => this.emit(event),
      settled: (seq: number, outcome: ServerOutcome) => this.settled(seq, outcome),
      folded: (seq: number, into: number) => this.folded(seq, into),
      announce: () => this.announce(),
    };
  }

  #replayHost(options: ReplayHost['options']): ReplayHost {
    return {
      ...this.#replayHostBase(),
      transport: this.transport,
      options,
      definition: (r) => this.defs.get(r),
      definitions: () => this.defs.values(),
      remapped: (r, from, to) => {
        // Dropped since it was stored (an answer stored meanwhile named `from` again): stale.
        if (this.store.renames.get(entityKey(r, from)) !== to) return;
        this.#remapped(r, from, to);
        this.#announcer.post({ t: 'remapped', r, from, to });
      },
      currentReference: (r, id) => this.currentReference(r, id),
      reread: (r, id) => this.reread(r, id),
      strategy: (def) => this.strategy(def),
      parse: (def, value, id, refused) => this.parse(def, value, id, false, refused),
      refetch: (def) => void this.refreshResource(def).catch((error: unknown) => this.#pullRetries.failed(def, error)),
      online: () => this.#online,
      // A tab that resigned (another one leads now) finishes a request in flight, then sends no more.
      canSend: () =>
        this.#statusSubject.value.leader && this.#stillLeads() && this.#pausedReason() === null && !this.#closedError && !this.#storageFailure,
      pauseUnauthorized: () => {
        this.#paused('unauthorized');
        this.#announcer.post({ t: 'paused', reason: 'unauthorized' });
      },
      setSyncing: (syncing, nextRetryAt, lastError) => {
        this.#patchStatus(lastError === undefined ? { syncing, nextRetryAt } : { syncing, nextRetryAt, lastError });
      },
    };
  }

  #createsStored(def: Def): Promise<void> | undefined {
    if (def.ids !== 'server') return undefined;
    return this.#statusSubject.value.leader ? this.#replayer.createsStored(def.name) : this.#othersCreatesStored(def.name);
  }

  /**
   * A follower's read: the leader freezes a create in IndexedDB before its request leaves, so those
   * frozen there as the answer came are the ones whose entity it may hold. It is stored once they
   * have left the queue as this tab heard it (their renames shown here), or a request's timeout on:
   * a leader gone meanwhile holds no read for longer.
   */
  async #othersCreatesStored(r: string): Promise<void> {
    if (await this.#catchUpOnOutbox()) await this.#inboxHandled();
    const now = this.env.clock.now();
    const out = [...this.store.outbox.values()].filter((entry) => entry.r === r && entry.op === 'create' && isOut(entry, now)).map((entry) => entry.seq);
    if (out.length === 0 || this.#closedError) return;
    await new Promise<void>((resolve) => {
      const end = () => {
        cancel();
        this.#othersCreatesWaits.delete(look);
        resolve();
      };
      const look = () => {
        const later = this.env.clock.now();
        if (this.#closedError || !out.some((seq) => isOut(this.store.outbox.get(seq), later))) end();
      };
      const cancel = this.env.clock.setTimer(end, this.#timeoutMs);
      this.#othersCreatesWaits.add(look);
    });
    // Heard gone with the outbox read again: the views of their entities are read (and shown) first.
    await this.#inboxHandled();
  }

  #pullHost() {
    return {
      store: this.store,
      transport: this.transport,
      now: () => this.env.clock.now(),
      parse: (def: Def, value: unknown, id: string | undefined) => this.parse(def, value, id),
      applied: (changes: readonly ViewChange[]) => this.applied(changes, 'server-read'),
      emit: (event: SyncEvent) => this.emit(event),
      knownCursor: (def: Def) => this.#knownCursors.get(def.name),
      movedCursor: (def: Def, from: string | null, to: string | null) => {
        this.#knownCursors.set(def.name, to);
        this.#announcer.cursorMoved(def.name, from, to, this.env.clock.now());
      },
      readFailed: (error: Error) => this.#readFailed(error),
      followed: (def: Def) => this.#pullingNext.has(def.name),
      createsStored: (def: Def) => this.#createsStored(def),
    };
  }
}
