import { isRolledBack, type OutboxEntry } from './entry.js';

/** One string per entity, for maps keyed by entity. */
export const entityKey = (r: string, id: string) => `${r}\u0000${id}`;

/**
 * The outbox as this tab last read or wrote it, indexed by entity. IndexedDB stays the truth;
 * this copy answers "what is pending" without a transaction per question.
 */
export class OutboxMemory {
  readonly #byEntity = new Map<string, OutboxEntry[]>();
  readonly #bySeq = new Map<number, OutboxEntry>();

  get size(): number {
    return this.#bySeq.size;
  }

  replaceAll(entries: readonly OutboxEntry[]): void {
    this.#byEntity.clear();
    this.#bySeq.clear();
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  #add(entry: OutboxEntry): void {
    this.#bySeq.set(entry.seq, entry);
    const key = entityKey(entry.r, entry.id);
    const list = this.#byEntity.get(key);
    if (list) list.push(entry);
    else this.#byEntity.set(key, [entry]);
  }

  /** Replaces what is known of one entity with what its transaction committed. */
  setEntity(r: string, id: string, entries: readonly OutboxEntry[]): void {
    const key = entityKey(r, id);
    for (const old of this.#byEntity.get(key) ?? []) this.#bySeq.delete(old.seq);
    this.#byEntity.delete(key);
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) this.#add(entry);
  }

  /** One entry changed in place (same seq), as its transaction committed it. */
  replaceEntry(entry: OutboxEntry): void {
    const list = this.#byEntity.get(entityKey(entry.r, entry.id));
    const at = list?.findIndex((e) => e.seq === entry.seq) ?? -1;
    if (!list || at < 0) return;
    list[at] = entry;
    this.#bySeq.set(entry.seq, entry);
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

  /** Every entry, in no particular order (cheaper than all() when order does not matter). */
  values(): IterableIterator<OutboxEntry> {
    return this.#bySeq.values();
  }

  /** Every entry in global order. */
  all(): OutboxEntry[] {
    return [...this.#bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The first entry of each entity, in global order: the only ones that may be sent. */
  heads(): OutboxEntry[] {
    const heads: OutboxEntry[] = [];
    for (const list of this.#byEntity.values()) if (list[0]) heads.push(list[0]);
    return heads.sort((a, b) => a.seq - b.seq);
  }

  count(state: OutboxEntry['state']): number {
    let n = 0;
    for (const list of this.#byEntity.values()) if (list.some((e) => e.state === state)) n++;
    return n;
  }
}
