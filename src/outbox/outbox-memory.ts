import { isRolledBack, type OutboxEntry } from './entry.js';

/** One string per entity, for maps keyed by entity. */
export const entityKey = (r: string, id: string) => `${r}\u0000${id}`;

/**
 * The outbox as this tab last read or wrote it, indexed by entity. IndexedDB stays the truth;
 * this copy answers "what is pending" without a transaction per question, and keeps the tallies
 * the status shows as entries come and go: a commit costs what it changed, not the queue's length.
 */
export class OutboxMemory {
  readonly #byEntity = new Map<string, OutboxEntry[]>();
  readonly #bySeq = new Map<number, OutboxEntry>();
  #queued = 0;
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

  /** Entries in conflict or failed, in no particular order. */
  parked(): IterableIterator<OutboxEntry> {
    return this.#parked.values();
  }

  replaceAll(entries: readonly OutboxEntry[]): void {
    this.#byEntity.clear();
    this.#bySeq.clear();
    this.#parked.clear();
    this.#queued = 0;
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  #add(entry: OutboxEntry): void {
    this.#track(entry);
    const key = entityKey(entry.r, entry.id);
    const list = this.#byEntity.get(key);
    if (list) list.push(entry);
    else this.#byEntity.set(key, [entry]);
  }

  #track(entry: OutboxEntry): void {
    // The tallies follow #bySeq: an entry known under this seq already is counted out first.
    const known = this.#bySeq.get(entry.seq);
    if (known) this.#untrack(known);
    this.#bySeq.set(entry.seq, entry);
    if (entry.seq > this.#highestSeq) this.#highestSeq = entry.seq;
    if (entry.state === 'queued') this.#queued++;
    else this.#parked.set(entry.seq, entry);
  }

  #untrack(entry: OutboxEntry): void {
    // Already replaced under its seq (an entry that moved to another entity): nothing to count out.
    if (this.#bySeq.get(entry.seq) !== entry) return;
    this.#bySeq.delete(entry.seq);
    if (entry.state === 'queued') this.#queued--;
    else this.#parked.delete(entry.seq);
  }

  /** Replaces what is known of one entity with what its transaction committed. */
  setEntity(r: string, id: string, entries: readonly OutboxEntry[]): void {
    const key = entityKey(r, id);
    for (const old of this.#byEntity.get(key) ?? []) this.#untrack(old);
    this.#byEntity.delete(key);
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  /** One entry changed in place (same seq), as its transaction committed it. */
  replaceEntry(entry: OutboxEntry): void {
    const list = this.#byEntity.get(entityKey(entry.r, entry.id));
    const at = list?.findIndex((e) => e.seq === entry.seq) ?? -1;
    if (!list || at < 0) return;
    this.#untrack(list[at]!);
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

  /** The first entry of each entity, in global order: the only ones that may be sent. */
  heads(): OutboxEntry[] {
    const heads: OutboxEntry[] = [];
    for (const list of this.#byEntity.values()) if (list[0]) heads.push(list[0]);
    return heads.sort((a, b) => a.seq - b.seq);
  }
}
