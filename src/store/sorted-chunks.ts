/**
 * A sorted list kept as chunks of at most 2 × CHUNK items, so that inserting or removing one item
 * moves at most a chunk's worth of items, whatever the list's length: a live query's per-change
 * cost stays flat from 10,000 to 1,000,000 rows (one big array's splice moves the whole tail).
 * Order is the caller's total `compare` (0 only for the same item): each item has one position.
 */
const CHUNK = 256;

export class SortedChunks<T> {
  #chunks: T[][] = [];
  #size = 0;
  readonly #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get length(): number {
    return this.#size;
  }

  /** Replaces the content with `sorted` (already in order). */
  reset(sorted: readonly T[]): void {
    const chunks: T[][] = [];
    for (let i = 0; i < sorted.length; i += CHUNK) chunks.push(sorted.slice(i, i + CHUNK));
    this.#chunks = chunks;
    this.#size = sorted.length;
  }

  /** The chunk that holds `item`'s position: the first whose last item is not before it. */
  #chunkOf(item: T): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (this.#compare(chunk[chunk.length - 1]!, item) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the item in `chunk` comparing equal, else -(insertion point) - 1. */
  #search(chunk: readonly T[], item: T): number {
    let lo = 0;
    let hi = chunk.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.#compare(chunk[mid]!, item);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  }

  /** The global index of chunk `c`'s item `i`, counted only up to `cap` (enough to compare with a limit). */
  #indexOf(c: number, i: number, cap: number): number {
    let at = i;
    for (let k = 0; k < c && at < cap; k++) at += this.#chunks[k]!.length;
    return at;
  }

  /**
   * Inserts `item` (replacing the item comparing equal, if any). Returns its index, exact when
   * below `cap` (a query's limit), otherwise some number at least `cap`.
   */
  insert(item: T, cap = Infinity): number {
    if (this.#chunks.length === 0) {
      this.#chunks.push([item]);
      this.#size = 1;
      return 0;
    }
    const c = this.#chunkOf(item);
    const chunk = this.#chunks[c]!;
    const found = this.#search(chunk, item);
    if (found >= 0) {
      chunk[found] = item;
      return this.#indexOf(c, found, cap);
    }
    const i = -found - 1;
    chunk.splice(i, 0, item);
    this.#size++;
    const at = this.#indexOf(c, i, cap);
    if (chunk.length > 2 * CHUNK) this.#chunks.splice(c + 1, 0, chunk.splice(CHUNK));
    return at;
  }

  /** Removes the item comparing equal to `item` (look it up by its OLD value); its index (as insert), or -1. */
  remove(item: T, cap = Infinity): number {
    if (this.#chunks.length === 0) return -1;
    const c = this.#chunkOf(item);
    const chunk = this.#chunks[c]!;
    const i = this.#search(chunk, item);
    if (i < 0) return -1;
    const at = this.#indexOf(c, i, cap);
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    return at;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  /** The first `count` items (all of them for Infinity), as a new array. */
  head(count: number): T[] {
    const out: T[] = [];
    for (const chunk of this.#chunks) {
      if (out.length >= count) break;
      const need = count - out.length;
      if (chunk.length <= need) for (const item of chunk) out.push(item);
      else for (let i = 0; i < need; i++) out.push(chunk[i]!);
    }
    return out;
  }
}
