// Shared by every benchmark page: the data set, the schema, timing and memory helpers, and the
// registry the runner (scripts/bench.mjs) calls through `window.__bench`.
import { z } from 'zod';

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  version: number;
}

/** The same schema harborsync's resource uses; the raw baseline validates with it too. */
export const todoSchema = z.object({
  id: z.string(),
  title: z.string(),
  done: z.boolean(),
  version: z.number().int(),
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** N todos, the same in every page and run: ids in key order, titles in random order, half done. */
export function makeTodos(n: number): Todo[] {
  const random = mulberry32(42);
  const out: Todo[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let word = '';
    for (let k = 0; k < 8; k++) word += LETTERS[Math.floor(random() * 26)];
    out[i] = { id: `t${String(i).padStart(7, '0')}`, title: `Todo ${word}`, done: random() < 0.5, version: 1 };
  }
  return out;
}

/**
 * The reaction scenario's updates: each moves a not-done todo to the top of the live query
 * (title sorted ascending), so every update changes what the query shows.
 */
export function reactionPlan(todos: readonly Todo[], count: number): Array<{ id: string; title: string }> {
  const open = todos.filter((t) => !t.done);
  const stride = Math.max(1, Math.floor(open.length / count));
  const plan: Array<{ id: string; title: string }> = [];
  for (let k = 0; k < count; k++) {
    const todo = open[(k * stride) % open.length]!;
    plan.push({ id: todo.id, title: `!${String(999_999 - k).padStart(6, '0')}` });
  }
  return plan;
}

/** The live query every library runs: not done, by title, first 50. */
export const LIMIT = 50;

export const now = (): number => performance.now();

/** Starts and stops the runner's CPU profile around the timed part (only under --profile). */
export async function mark(what: 'start' | 'stop'): Promise<void> {
  const hook = (globalThis as { __profileHook?: (what: string) => Promise<void> }).__profileHook;
  if (hook) await hook(what);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Used JS heap after a full collection (needs --js-flags=--expose-gc, --enable-precise-memory-info). */
export async function heapAfterGc(): Promise<number> {
  await collectGarbage();
  return (performance as unknown as { memory: { usedJSHeapSize: number } }).memory.usedJSHeapSize;
}

/**
 * Full collections until the heap settles: what a subject's setup left behind (a load of N
 * entities) is not collected during its timed part. Every library's reaction calls it at the
 * same point, after its setup and before its first timed update.
 */
export async function collectGarbage(): Promise<void> {
  const g = globalThis as { gc?: () => void };
  for (let i = 0; i < 3; i++) {
    g.gc?.();
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** Keeps what a measurement must not let the collector take. */
export const keep: unknown[] = [];

/** A promise with its resolve function, for "the emission that shows it". */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface ReactionResult {
  /** Call → emission that shows it, ms, one per sequential update. */
  single: number[];
  /** Burst of updates issued back to back → the emission showing the last one, ms. */
  burst: number;
}

export type Scenario = (params: Record<string, unknown>) => Promise<unknown>;

/** The page's scenarios, called by the runner through page.evaluate. */
export function register(subject: string, scenarios: Record<string, Scenario>): void {
  const all: Record<string, Scenario> = { warm, ...scenarios };
  (globalThis as { __bench?: unknown }).__bench = {
    subject,
    run: (name: string, params: Record<string, unknown>) => {
      const scenario = all[name];
      if (!scenario) throw new Error(`${subject}: no scenario "${name}"`);
      return scenario(params);
    },
  };
}

/** Awaits an IDB request. */
export function req<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

/**
 * What a page that ran before a reload leaves behind: the origin's databases opened once (the
 * browser keeps their backing store open for a while). Opens each without a version, closes it.
 */
async function warm(): Promise<unknown> {
  const names = (await indexedDB.databases()).map((d) => d.name).filter((n): n is string => !!n);
  for (const name of names) (await req(indexedDB.open(name))).close();
  return { databases: names.length };
}

/**
 * Records the durability every readwrite transaction of this page asks for (what a library does
 * not expose); 'default' when it passes none.
 */
export function recordDurability(): () => string {
  const seen = new Set<string>();
  const original = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (this: IDBDatabase, stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) {
    if (mode === 'readwrite') seen.add(options?.durability ?? 'default');
    return original.call(this, stores, mode, options);
  } as typeof original;
  return () => [...seen].sort().join('+') || 'none';
}
