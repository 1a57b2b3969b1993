import { ClosedError, HarborSyncError, HttpError, SchemaError } from '../errors.js';
import type { LocalStore, ViewChange } from '../store/local-store.js';
import type { ResourceMirror } from '../store/mirror.js';
import { compileQuery, queryKey, type CompiledQuery } from '../store/query.js';
import type { Query, ResourceDefinition, SyncEvent, Transport } from '../types.js';
import { inScope, pickEvictions, pushDown, type PageScope } from './on-demand-scope.js';
import { afterThisRequest, oneCopyEach, parseAll, syncedAtKey } from './pull.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** Rows asked for when a query has no limit. */
export const DEFAULT_PAGE = 50;

export interface OnDemandHost {
  store: LocalStore;
  transport: Transport;
  now(): number;
  online(): boolean;
  staleTimeMs: number;
  mirror(def: Def): ResourceMirror<object>;
  /** The query naming by the server's id each entity its `where` names by a temporary id the server renamed. */
  currentQuery(def: Def, query: Query<object> | undefined): Query<object> | undefined;
  hydrate(def: Def): Promise<void>;
  parse(def: Def, value: unknown, id: string | undefined): Rec | undefined | Promise<Rec | undefined>;
  applied(changes: readonly ViewChange[]): void;
  /** Entities dropped from this tab's cache: its views only (another tab may still show them). */
  evicted(changes: readonly ViewChange[]): void;
  emit(event: SyncEvent): void;
  /** A page's answer is committed at `at`: the server confirmed the resource then (status$.lastSyncedAt). */
  synced(at: number): void;
  /** A page's fetch failed with `error` (a 401 the refresh did not cure pauses sync as unauthorized). */
  readFailed(error: Error): void;
  /** A watched query's load failed with `error`: the client may load it again later. */
  loadFailed(def: Def, error: unknown): void;
  /** See PullHost.createsStored: a page's answer waits for them too. */
  createsStored(def: Def): Promise<void> | undefined;
}

/** What is loaded of one (filter, order): how many rows, up to which cursor. */
interface Pages {
  loaded: number;
  cursor: string | null;
  exhausted: boolean;
  last: object | null;
  /** Ids of the loaded pages' items that failed the schema: present there, their cached copies stay. */
  invalid: ReadonlySet<string>;
  fetchedAt: number;
  /** Tells these pages from those they replaced (refetched from the start): each has its own requests. */
  readonly generation: number;
  /** What the server's answers speak for: the pushed equality, in the pushed order. */
  readonly scope: Pick<CompiledQuery<object>, 'matches' | 'compare'>;
}

/** Rows a query asks the server for. */
function rowsWanted(def: Def, query: Query<object> | undefined): number {
  const { limit } = compileQuery(query, def.key);
  return limit === Infinity ? DEFAULT_PAGE : limit;
}

/** Whether the rows loaded of `pages` take in `entity`: it matches, up to their last row (to the end once exhausted). */
function holds(pages: Pages, entity: object): boolean {
  if (pages.exhausted) return pages.scope.matches(entity);
  // Rows loaded, none of them valid: none says how far they reach.
  if (pages.last === null) return pages.loaded > 0;
  return inScope(entity, { after: null, last: pages.last }, pages.scope);
}

/**
 * Whether a query matches `entity`; a predicate that throws on it does not (its live query leaves
 * the entity out and carries the error): thrown here, it would fail another query's fetch.
 */
function matchesUnlessThrown(matches: (entity: object) => boolean, entity: object): boolean {
  try {
    return matches(entity);
  } catch {
    return false;
  }
}

export interface WatchedQuery {
  def: Def;
  query: Query<object> | undefined;
  setServerHasMore(hasMore: boolean): void;
}

/**
 * Identifies what a query asks the server for, whatever its limit. A predicate is never sent: its
 * query loads what the same order unfiltered does, whichever function it is.
 */
function pagesKey(def: Def, query: Query<object> | undefined): string {
  const sent = typeof query?.where === 'function' ? { orderBy: query.orderBy } : { ...query, limit: undefined };
  return `${def.name}|${queryKey(sent, def.key)}`;
}

/**
 * `load: 'on-demand'`: each live query fetches what it shows, with the filter, order and page
 * pushed to the server. An answer is authoritative inside its own scope only.
 */
export class OnDemandLoader {
  readonly #pages = new Map<string, Pages>();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #watched = new Set<WatchedQuery>();
  /** Per resource, its refetch made at once (reload()) still out, and the one to follow it. */
  readonly #reloads = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();
  #generation = 0;

  readonly #host: OnDemandHost;

  constructor(host: OnDemandHost) {
    this.#host = host;
  }

  /** @internal The pages kept, each query's (filter, order): tests see those no query needs let go. */
  get pageCount(): number {
    return this.#pages.size;
  }

  /** Loads what the query shows; `fill()` loads it again (rows left it), `stop()` ends the watch. */
  watch(query: WatchedQuery): { fill(): void; stop(): void } {
    this.#watched.add(query);
    this.#foretell(query);
    // One load at a time: rows leaving one after another while it runs (deleted one by one) are
    // asked for once it ends, not each by a request from the same cursor.
    let loading = false;
    let again = false;
    const fill = (): void => {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      void this.load(query)
        .catch((error: unknown) => this.#host.loadFailed(query.def, error))
        .finally(() => {
          const more = again && this.#watched.has(query);
          loading = again = false;
          if (more) fill();
        });
    };
    fill();
    return { fill, stop: () => this.#watched.delete(query) };
  }

  /**
   * What the query's first state says, before its load runs: 'fetching' when a fetch follows,
   * otherwise whether the server has more, as the pages loaded say (it said neither until the
   * load ended: an empty success, or hasMore: false). Before the cache is loaded, hydrate() says it.
   */
  #foretell(watched: WatchedQuery): void {
    const { def } = watched;
    const host = this.#host;
    const mirror = host.mirror(def);
    if (!mirror.flags.hydrated) return;
    const query = host.currentQuery(def, watched.query);
    const pages = this.#pages.get(pagesKey(def, query));
    if (!host.online()) {
      if (pages && pages.loaded > 0) watched.setServerHasMore(!pages.exhausted);
    } else if (this.#served(def, query, pages)) {
      // Pages started afresh (a limit of 0) say it once load() has started them.
      if (pages && !this.#stale(pages)) watched.setServerHasMore(!pages.exhausted);
    } else {
      mirror.setFlags({ isFetching: true });
    }
  }

  /**
   * Whether load() serves the query from `pages` without a fetch: they hold every row it wants,
   * or all there are. Pages not found, or stale, are started afresh (none loaded).
   */
  #served(def: Def, query: Query<object> | undefined, pages: Pages | undefined): boolean {
    const fresh = pages !== undefined && !this.#stale(pages);
    return (fresh && pages.exhausted) || rowsWanted(def, query) <= (fresh ? this.#held(def, pages) : 0);
  }

  /**
   * The rows of `pages` the cache holds now: a change that moved one out of the filter, or deleted
   * it, leaves fewer than were loaded, and the rows after the last one fill the query again.
   */
  #held(def: Def, pages: Pages): number {
    if (pages.exhausted || pages.last === null) return pages.loaded;
    const { entities } = this.#host.mirror(def);
    let held = 0;
    for (const entity of entities.values()) if (holds(pages, entity)) held++;
    // An item that failed the schema takes its place all the same: fetched again, it fails again,
    // and the rows after it would be asked for page after page, to the end of the table.
    for (const id of pages.invalid) if (!entities.has(id)) held++;
    return held;
  }

  /** Pages to fetch again from the start: older than staleTimeMs, or fetched "in the future" (the clock stepped back since), as #needsPull has it. */
  #stale(pages: Pages): boolean {
    const age = this.#host.now() - pages.fetchedAt;
    return age > this.#host.staleTimeMs || age < 0;
  }

  /**
   * Refetches every watched query from its first page (refresh(), or back online). `sinceNow`
   * (refresh()): requests in flight were sent before the call, so their answers are waited for
   * and the queries fetched again after them, never shared. Otherwise at once: a request hung on
   * a connection that died holds nothing up; but asked again while a refetch of the resource so
   * made is out (the network flapping), once more after it, shared by every such call meanwhile,
   * as a whole-list pull is: not one request per flip.
   */
  reload(def?: Def, sinceNow = false): Promise<void> {
    if (!def || sinceNow) return this.#reload(def, sinceNow);
    const out = this.#reloads.get(def.name);
    // Offline again by then: coming back online refetches.
    if (out) return (out.next ??= out.running.catch(() => undefined).then(() => (this.#host.online() ? this.reload(def) : undefined)));
    const running = this.#reload(def, false).finally(() => this.#reloads.delete(def.name));
    this.#reloads.set(def.name, { running, next: null });
    return running;
  }

  async #reload(def: Def | undefined, sinceNow: boolean): Promise<void> {
    if (sinceNow) {
      const sent = [...this.#inflight].filter(([key]) => !def || key.startsWith(`${def.name}|`)).map(([, request]) => request.catch(() => undefined));
      await Promise.all(sent);
    }
    const targets = [...this.#watched].filter((w) => !def || w.def.name === def.name);
    // The pages no query watches now are out of date too: the next subscriber fetches them again.
    for (const key of [...this.#pages.keys()]) if (!def || key.startsWith(`${def.name}|`)) this.#pages.delete(key);
    // refresh() asks the server whatever the online source says, as a whole resource's pull does.
    await Promise.all(targets.map((w) => this.load(w, sinceNow)));
  }

  /**
   * Loads what each watched query of `def` lacks: pages older than staleTimeMs, fetched again from
   * their first row, and rows still missing (a fetch failed, rows left the query). Fresh pages
   * holding every row wanted are served as they are (the retry of a failed load relies on this).
   */
  async revalidate(def: Def): Promise<void> {
    await Promise.all([...this.#watched].filter((w) => w.def.name === def.name).map((w) => this.load(w)));
  }

  /** The local data was deleted (clear(), here or in another tab): nothing is loaded any more. */
  forget(): void {
    this.#pages.clear();
    void this.reload().catch(() => undefined);
  }

  /** Loads what the query shows and is not loaded yet (offline, only when `evenOffline`); identical requests in flight are shared. */
  async load(watched: WatchedQuery, evenOffline = false): Promise<void> {
    const { def } = watched;
    const host = this.#host;
    await host.hydrate(def);
    // Stopped while the cache loaded (a search typed on): nothing would show what it fetched. A
    // query still watched settles the flag hydrate() set; with none, nothing is fetching.
    if (!this.#watched.has(watched)) {
      if (![...this.#watched].some((w) => w.def === def)) host.mirror(def).setFlags({ isFetching: false });
      return;
    }
    // Named anew at each load: a query made with a temporary id asks for the server's once it is known.
    const query = host.currentQuery(def, watched.query);
    const key = pagesKey(def, query);
    if (!host.online() && !evenOffline) {
      // Offline, what was loaded still says whether the server has more.
      const known = this.#pages.get(key);
      if (known && known.loaded > 0) watched.setServerHasMore(!known.exhausted);
      // Gone offline since watch() foretold a fetch: none is made.
      if (!this.#fetching(def)) host.mirror(def).setFlags({ isFetching: false });
      return;
    }
    const found = this.#pages.get(key);
    const fresh = found !== undefined && !this.#stale(found);
    const pages = fresh ? found : this.#startPages(def, query, key);
    const missing = rowsWanted(def, query) - this.#held(def, pages);
    // As #served() judges it, the cache counted once (pages started afresh hold none).
    if ((fresh && pages.exhausted) || missing <= 0) {
      watched.setServerHasMore(!pages.exhausted);
      if (!this.#fetching(def)) host.mirror(def).setFlags({ isFetching: false });
      return;
    }
    // A request in flight for the pages these replaced fills those, not these: it is not shared.
    const requestKey = `${key}|${pages.generation}|${pages.cursor ?? ''}|${missing}`;
    let running = this.#inflight.get(requestKey);
    if (!running) {
      running = this.#fill(def, query, key, pages, missing, requestKey).finally(() => {
        this.#inflight.delete(requestKey);
        // The last request of the resource to end says it no longer fetches: one that answered
        // while this one was still running (evicting after its answer) left the flag set.
        if (!this.#fetching(def)) host.mirror(def).setFlags({ isFetching: false });
      });
      this.#inflight.set(requestKey, running);
    }
    await running;
  }

  /** Pages of the query's (filter, order) loading from its first row, in place of those before them. */
  #startPages(def: Def, query: Query<object> | undefined, key: string): Pages {
    // Only what is pushed: the server's answers hold every row it matches, wanted by the query or not.
    // Compared as the query compares them: a Date was pushed as its text.
    const compiled = compileQuery(query, def.key);
    const pushed = Object.keys(pushDown(compiled, def.key, 0, null).where).map((field) => [field, compiled.equality![field]]);
    const scope = compileQuery<object>({ where: Object.fromEntries(pushed) as Query<object>['where'], orderBy: query?.orderBy }, def.key);
    const pages: Pages = { loaded: 0, cursor: null, exhausted: false, last: null, invalid: new Set(), fetchedAt: this.#host.now(), generation: this.#generation++, scope };
    this.#forgetStale();
    this.#pages.set(key, pages);
    return pages;
  }

  /**
   * Lets go of the stale pages no watched query shows: subscribed again, the query fetches them
   * afresh anyway. Kept, a search typed letter by letter would keep one per keystroke for the
   * session. Done as pages are added, online: offline, what they loaded still says whether the
   * server has more.
   */
  #forgetStale(): void {
    const watched = new Set([...this.#watched].map((w) => pagesKey(w.def, this.#host.currentQuery(w.def, w.query))));
    for (const [key, pages] of this.#pages) if (!watched.has(key) && this.#stale(pages)) this.#pages.delete(key);
  }

  /**
   * Fetches `count` rows after what `pages` holds. A server may answer fewer rows than asked with
   * more to come: the rest is asked for, page after page, until an answer brings none. A cursor
   * the server no longer knows drops the pages: the rows the query wants are fetched again from
   * the first, once.
   */
  async #fill(def: Def, query: Query<object> | undefined, key: string, pages: Pages, count: number, requestKey: string): Promise<void> {
    let restarted = false;
    for (let missing = count; ; ) {
      const before = { loaded: pages.loaded, cursor: pages.cursor, last: pages.last };
      if (!(await this.#fetchPage(def, query, pages, missing, requestKey, !restarted))) {
        if (this.#pages.get(key) !== pages) return;
        restarted = true;
        pages = this.#startPages(def, query, key);
        missing = rowsWanted(def, query);
        continue;
      }
      const got = pages.loaded - before.loaded;
      // A page of rows the query does not want still moves on: its last row is further.
      if ((got <= 0 && pages.last === before.last) || pages.exhausted || pages.cursor === before.cursor || this.#pages.get(key) !== pages) return;
      // Counted on the cache, not on the answer: a row it holds that was deleted here is not shown.
      missing = rowsWanted(def, query) - this.#held(def, pages);
      if (missing <= 0) return;
    }
  }

  /**
   * Whether a request of the resource other than `except` is in flight for pages a watched query
   * shows: one for a query no longer watched (a search typed on) holds no view up.
   */
  #fetching(def: Def, except?: string): boolean {
    const shown = [...this.#watched].filter((w) => w.def === def).map((w) => `${pagesKey(def, this.#host.currentQuery(def, w.query))}|`);
    for (const key of this.#inflight.keys()) if (key !== except && shown.some((prefix) => key.startsWith(prefix))) return true;
    return false;
  }

  /**
   * Fetches one page and commits it. With `restartable`, a cursor the server no longer knows (410:
   * expired; 400: not one it can read, as a delta pull takes them) is not reported: false, for the
   * caller to fetch from the first row instead.
   */
  async #fetchPage(def: Def, query: Query<object> | undefined, pages: Pages, count: number, requestKey: string, restartable: boolean): Promise<boolean> {
    const host = this.#host;
    const mirror = host.mirror(def);
    const compiled = compileQuery(query, def.key);
    // Where this request starts: another request of the same (filter, order) with another limit
    // may be in flight from the same start and commit first, so the answer's scope and reach are
    // measured from here, not from what `pages` says when it arrives.
    const from = { loaded: pages.loaded, cursor: pages.cursor, last: pages.last, invalid: pages.invalid };
    mirror.setFlags({ isFetching: true });
    const deletions = host.store.deletions;
    const key = pagesKey(def, query);
    try {
      const answeredSinceRequest = afterThisRequest(host);
      const pushed = pushDown(compiled as never, def.key, count, from.cursor);
      let answer: Rec | null;
      try {
        answer = (await host.transport.query(def, pushed)) as Rec | null;
      } catch (error) {
        if (restartable && from.cursor !== null && error instanceof HttpError && (error.status === 410 || error.status === 400)) return false;
        throw error;
      }
      if (typeof answer !== 'object' || answer === null || !Array.isArray(answer['items'])) {
        throw new SchemaError([{ field: '', message: 'the query answer is not { items, cursor }' }], { resource: def.name });
      }
      const cursor = answer['cursor'];
      if (cursor !== null && typeof cursor !== 'string') {
        throw new SchemaError([{ field: 'cursor', message: 'must be a string or null' }], { resource: def.name });
      }
      const { valid: items, invalidIds } = await parseAll(host, def, answer['items']);
      await host.createsStored(def);
      const scopeQuery = pages.scope;
      const last = items.at(-1) ?? null;
      // A page with no valid item and more to come covers no range of the order (a null `last`
      // would read as "to the end"); with no more, it covers all that follows the previous page.
      const scope: PageScope<object> | null = last === null && cursor !== null ? null : { after: from.last, last: cursor === null ? null : last };
      // An item that failed the schema is in the page all the same, here or in an earlier page of
      // the query (this page's range may reach back to it): its cached copy stays (RELIABILITY 44).
      const invalid = new Set([...from.invalid, ...invalidIds]);
      const answered = new Set([...items.map((item) => String(item[def.key])), ...invalid]);
      const removed: string[] = [];
      // Judged on this tab's views: a version another answer (or tab) stored before this one
      // commits is judged again on what it is, never removed for what another one was.
      const judgedAt = new Map<string, unknown>();
      for (const [id, entity] of mirror.entities) {
        if (scope !== null && !answered.has(id) && !mirror.isPending(id) && inScope(entity, scope, scopeQuery)) {
          removed.push(id);
          judgedAt.set(id, (entity as Rec)[def.version]);
        }
      }
      // A copy of a removed entity is still gone if it is the version judged, or another one still in the scope.
      const stillGone = (id: string, copy: Rec) => Object.is(copy[def.version], judgedAt.get(id)) || (scope !== null && inScope(copy as object, scope, scopeQuery));
      // Stored with the answer, as a pull's is: a reopened client says when its cache was confirmed.
      const at = host.now();
      const result = await host.store.applyPull(def, oneCopyEach(host, def, items).items, {
        authoritative: false,
        deleted: removed,
        stillGone,
        answeredSinceRequest,
        meta: { [syncedAtKey(def.name)]: at },
        deletions,
      });
      // Requested before the local data was deleted (clear()): it is not brought back.
      if (result.discarded) return true;
      // A removal of what is not in storage (another tab evicted it) is this tab's judgment of the
      // copy its views hold: they drop it unless they have heard of another version since, out of
      // the scope; the other tabs are not told (they may show a newer version, out of the scope).
      const unstored = new Set(result.unstored);
      host.applied(result.changes.filter((change) => !unstored.has(change.id)));
      host.evicted(
        result.changes.filter((change) => {
          if (!unstored.has(change.id)) return false;
          const now = mirror.entities.get(change.id) as Rec | undefined;
          return !now || stillGone(change.id, now);
        }),
      );
      // Of two answers from the same start (limits 3 and 5, say), the one reaching further says
      // what is loaded: the shorter one committing last would say the server has more than the
      // longer one found (and count its rows twice).
      // Rows the server's filter takes in and the pushed equality does not (it compares values as
      // text: the number 1 and the string '1' alike) are not rows the query wants: more are fetched
      // for them. What is not pushed filters what is loaded, as a predicate does.
      const counted = answer['items'].length - items.filter((item) => !scopeQuery.matches(item)).length;
      const reach = from.loaded + counted;
      if (reach >= pages.loaded) {
        pages.loaded = reach;
        pages.cursor = cursor;
        pages.exhausted = cursor === null;
        pages.last = last ?? from.last;
        pages.invalid = invalid;
      }
      // The pages are as old as their first rows: a later page confirms only its own.
      if (from.loaded === 0) pages.fetchedAt = at;
      this.#tellHasMore(def, key, pages);
      // A short answer with more to come is followed by the next page (#fill): still fetching.
      const short = answer['items'].length > 0 && cursor !== null && rowsWanted(def, query) > this.#held(def, pages);
      // Pages no query watches any more (a search typed on) clear no failure of a query shown.
      const watched = this.#watching(def, key).length > 0;
      mirror.setFlags({ isFetching: short || this.#fetching(def, requestKey), ...(watched ? { error: null } : {}), lastSyncedAt: at });
      host.synced(at);
      host.emit({ type: 'pulled', at, resource: def.name, count: items.length, removed: result.removed });
      // Trimming the cache is no part of this page, stored already: its failure is reported, not
      // the query's; the next page trims again.
      await this.#evict(def).catch((error: unknown) => {
        if (error instanceof HarborSyncError) host.emit({ type: 'error', at: host.now(), resource: def.name, error });
      });
      return true;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // Abandoned by close(): nothing failed, and the views keep their last state.
      if (failure instanceof ClosedError) throw failure;
      // Another query's request of the resource may still be in flight. Pages replaced since
      // (refetched from the start, after clear()) are not what the queries show: their
      // replacement's answer, maybe in already, says whether the fetch failed. Pages only
      // forgotten (an eviction) have none: the failure shows. Pages no query watches any more (a
      // search typed on) are not what the views show either: their failure is no query's error.
      const current = this.#pages.get(key);
      const replaced = (current !== undefined && current !== pages) || this.#watching(def, key).length === 0;
      mirror.setFlags(replaced ? { isFetching: this.#fetching(def, requestKey) } : { isFetching: this.#fetching(def, requestKey), error: failure });
      // Logged as a pull's failure is: an answer the client cannot read is on events$ too.
      if (failure instanceof HarborSyncError) host.emit({ type: 'error', at: host.now(), resource: def.name, error: failure });
      // Requested before the local data was deleted (a logout's clear()): a 401 to the token of
      // the session that ended does not pause the one signed in since.
      if (host.store.deletions === deletions) this.#host.readFailed(failure);
      throw error;
    }
  }

  /**
   * Tells the queries watching `pages` whether the server has more, before they hear that the
   * fetch is over. Pages replaced since (refetched from the start, clear()) say nothing: their
   * replacement's answer does.
   */
  #tellHasMore(def: Def, key: string, pages: Pages): void {
    if (this.#pages.get(key) !== pages) return;
    for (const { watched } of this.#watching(def, key)) watched.setServerHasMore(!pages.exhausted);
  }

  /** The queries watching the pages of `key`, each as named now. */
  #watching(def: Def, key: string): Array<{ watched: WatchedQuery; query: Query<object> | undefined }> {
    const found: Array<{ watched: WatchedQuery; query: Query<object> | undefined }> = [];
    for (const watched of this.#watched) {
      if (watched.def !== def) continue;
      const query = this.#host.currentQuery(def, watched.query);
      if (pagesKey(def, query) === key) found.push({ watched, query });
    }
    return found;
  }

  /** Keeps at most `cacheLimit` entities beyond what live queries show and pending changes hold. */
  async #evict(def: Def): Promise<void> {
    const mirror = this.#host.mirror(def);
    if (mirror.entities.size <= def.cacheLimit) return;
    const shown = mirror.shownIds();
    const candidates: Array<{ id: string; lastShown: number }> = [];
    for (const id of mirror.entities.keys()) {
      if (!shown.has(id) && !mirror.isPending(id)) candidates.push({ id, lastShown: mirror.lastShown(id) });
    }
    const evicted = pickEvictions(candidates, def.cacheLimit);
    if (evicted.length === 0) return;
    const copies = evicted.map((id) => mirror.entities.get(id)!);
    const result = await this.#host.store.applyPull(def, [], { authoritative: false, deleted: evicted, evicting: true });
    // Picked on what the views showed before the eviction committed: an answer that committed
    // meanwhile (queued before it) may show one of them now. Its record is gone from storage, as
    // when another tab evicts what this one shows; this tab's views keep it.
    const shownNow = mirror.shownIds();
    for (const id of evicted) {
      const now = mirror.entities.get(id);
      if (now !== undefined && !copies.includes(now)) copies.push(now);
    }
    this.#host.evicted(result.changes.filter((change) => change.view !== null || !shownNow.has(change.id)));
    // A loaded range an evicted entity was in (as picked, or as an answer stored it since) has a
    // hole: the next query that needs it fetches it again. The others stay loaded.
    for (const [key, pages] of this.#pages) {
      if (!key.startsWith(`${def.name}|`)) continue;
      const held = copies.filter((copy) => holds(pages, copy));
      if (held.length === 0) continue;
      this.#pages.delete(key);
      // One of them a query matches and does not show is past its limit: the server still has
      // more (the query said it had no more once the cache held no more than it shows).
      const unshown = held.filter((copy) => !shownNow.has(mirror.idOf(copy)));
      for (const { watched, query } of this.#watching(def, key)) {
        const { matches } = compileQuery(query, def.key);
        if (unshown.some((copy) => matchesUnlessThrown(matches, copy))) watched.setServerHasMore(true);
      }
    }
  }
}
