import { SortedChunks } from '../store/sorted-chunks.js';
import { isRolledBack, type OutboxEntry } from './entry.js';

/** One string per entity, for maps keyed by entity. */
export const entityKey = (r: string, id: string) => `${r}\u0000${id}`;

/** The resource and id an entityKey names (resource names hold no NUL; an id may). */
export function splitEntityKey(key: string): [r: string, id: string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

/** By seq; two entities' rows may share one for a moment (a row moving to another entity), told apart by entity. */
function inGlobalOrder(a: OutboxEntry, b: OutboxEntry): number {
  if (a.seq !== b.seq) return a.seq - b.seq;
  const [ka, kb] = [entityKey(a.r, a.id), entityKey(b.r, b.id)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * The outbox as this tab last read or wrote it, indexed by entity. IndexedDB stays the truth;
 * this copy answers "what is pending" without a transaction per question, and keeps the tallies
 * the status shows as entries come and go: a commit costs what it changed, not the queue's length.
 */
export class OutboxMemory {
  readonly #byEntity = new Map<string, OutboxEntry[]>();
  readonly #bySeq = new Map<number, OutboxEntry>();
  #queued = 0;
  /** Queued entries that failed before (attempts > 0): a retry to wait for. */
  #retried = 0;
  /** The first entry of each entity, in global order: a drain of thousands re-sorts nothing per pass. */
  readonly #heads = new SortedChunks<OutboxEntry>(inGlobalOrder);
  /** Entries in conflict or failed: few, and listed on every change. */
  readonly #parked = new Map<number, OutboxEntry>();
  /** The highest seq this tab has known, kept when the outbox empties (a database deleted). */
  #highestSeq = 0;

  get highestSeq(): number {
    return this.#highestSeq;
  }

  get size(): number {
    return this.#bySeq.size;
  }

  /** Entries still to be sent (state 'queued'). */
  get queuedCount(): number {
    return this.#queued;
  }

  /** Queued entries that failed before: while any is past the first heads looked at, the rest are looked at too. */
  get retriedCount(): number {
    return this.#retried;
  }

  /** Entries in conflict or failed, in no particular order. */
  parked(): IterableIterator<OutboxEntry> {
    return this.#parked.values();
  }

  replaceAll(entries: readonly OutboxEntry[]): void {
    this.#byEntity.clear();
    this.#bySeq.clear();
    this.#parked.clear();
    this.#queued = 0;
    this.#retried = 0;
    this.#heads.reset([]);
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  #add(entry: OutboxEntry): void {
    this.#track(entry);
    const key = entityKey(entry.r, entry.id);
    const list = this.#byEntity.get(key);
    if (list) list.push(entry);
    else {
      this.#byEntity.set(key, [entry]);
      this.#heads.insert(entry);
    }
  }

  #track(entry: OutboxEntry): void {
    // The tallies follow #bySeq: an entry known under this seq already is counted out first.
    const known = this.#bySeq.get(entry.seq);
    if (known) this.#untrack(known);
    this.#bySeq.set(entry.seq, entry);
    if (entry.seq > this.#highestSeq) this.#highestSeq = entry.seq;
    if (entry.state === 'queued') {
      this.#queued++;
      if (entry.attempts > 0) this.#retried++;
    } else this.#parked.set(entry.seq, entry);
  }

  #untrack(entry: OutboxEntry): void {
    // Already replaced under its seq (an entry that moved to another entity): nothing to count out.
    if (this.#bySeq.get(entry.seq) !== entry) return;
    this.#bySeq.delete(entry.seq);
    if (entry.state === 'queued') {
      this.#queued--;
      if (entry.attempts > 0) this.#retried--;
    } else this.#parked.delete(entry.seq);
  }

  /** Replaces what is known of one entity with what its transaction committed. */
  setEntity(r: string, id: string, entries: readonly OutboxEntry[]): void {
    const key = entityKey(r, id);
    const list = this.#byEntity.get(key) ?? [];
    if (list[0]) this.#heads.remove(list[0]);
    for (const old of list) this.#untrack(old);
    this.#byEntity.delete(key);
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  /** One entry changed in place (same seq), as its transaction committed it. */
  replaceEntry(entry: OutboxEntry): void {
    const list = this.#byEntity.get(entityKey(entry.r, entry.id));
    const at = list?.findIndex((e) => e.seq === entry.seq) ?? -1;
    if (!list || at < 0) return;
    this.#untrack(list[at]!);
    if (at === 0) this.#heads.insert(entry);
    list[at] = entry;
    this.#track(entry);
  }

  entriesOf(r: string, id: string): readonly OutboxEntry[] {
    return this.#byEntity.get(entityKey(r, id)) ?? [];
  }

  get(seq: number): OutboxEntry | undefined {
    return this.#bySeq.get(seq);
  }

  /** Pending in the view's sense: some change not rolled back is unconfirmed. */
  isPending(r: string, id: string): boolean {
    return this.entriesOf(r, id).some((e) => !isRolledBack(e));
  }

  /** Every entry, in no particular order. */
  values(): IterableIterator<OutboxEntry> {
    return this.#bySeq.values();
  }

  /** The first entry of each entity, in global order: the only ones that may be sent. Read it before the next commit. */
  heads(): Iterable<OutboxEntry> {
    return this.#heads;
  }
}
