/**
 * A clock the test drives: timers fire only when `advance` passes their deadline. Between timers,
 * pending promise callbacks and IndexedDB work get real event-loop turns, so async work settles.
 */
export class ManualClock {
  private time: number;
  private timers: Array<{ at: number; seq: number; fn: () => void }> = [];
  private seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  readonly setTimer = (fn: () => void, ms: number): (() => void) => {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  };

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting their work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      await settle();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
    await settle();
  }

  /** Jumps the wall clock without firing timers (clock skew). */
  jump(ms: number): void {
    this.time += ms;
  }

  /**
   * The wall clock steps (NTP, the user) while pending timers keep their remaining delay, as
   * setTimeout's do: `now()` jumps by `ms`, nothing fires or waits longer for it.
   */
  step(ms: number): void {
    this.time += ms;
    for (const timer of this.timers) timer.at += ms;
  }

  /** The longest remaining delay among pending timers (0 when none). */
  get longestTimerMs(): number {
    return Math.max(0, ...this.timers.map((t) => t.at - this.time));
  }
}

/** A few real macrotask turns: enough for IndexedDB (fake-indexeddb uses setImmediate) and promise chains. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A seeded PRNG (mulberry32) for reproducible ids and jitter. */
export function seededRandom(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seeded PRNG drawing from [0.5, 1): every full-jitter backoff is then at least half its cap.
 * For tests that act between a failure and its re-send: a draw near 0 gives a 0 ms backoff, a
 * re-send at once that no manual clock holds back.
 */
export function upperHalfRandom(seed = 7): () => number {
  const draw = seededRandom(seed);
  return () => 0.5 + draw() / 2;
}
