import type { Clock } from '../env.js';
import type { OutboxEntry } from '../outbox/entry.js';
import type { OutboxMemory } from '../outbox/outbox-memory.js';
import type { TabMessage } from './broadcast.js';

export interface FollowerFlushHost {
  /** This tab's id: requests are told apart by it. */
  tabId: string;
  clock: Clock;
  /** The outbox as this tab last read it (kept current by the other tabs' hints). */
  outbox: Pick<OutboxMemory, 'values' | 'get'>;
  post(message: TabMessage): void;
  /** With no word from any other tab for this long, the leader is taken to be frozen or gone. */
  quietMs: number;
}

interface Wait {
  seqs: readonly number[];
  end(): void;
}

/** Nothing more can be sent of it now: confirmed (gone), parked, or waiting for a retry. */
const isSettled = (entry: OutboxEntry | undefined, now: number) =>
  !entry || entry.state !== 'queued' || (entry.attempts > 0 && entry.nextAttemptAt > now);

/**
 * flush() in a tab that does not send. It asks the leader to send what is queued at once and to
 * answer when nothing more can be sent; it ends on that answer, or once every entry queued at the
 * call is settled here (the answer was lost, or another tab took over), or when no other tab has
 * said anything for `quietMs` (a frozen or vanished leader): never unbounded.
 */
export class FollowerFlushes {
  readonly #host: FollowerFlushHost;
  readonly #waits = new Map<string, Wait>();
  #nextToken = 0;
  #lastHeardAt = 0;
  #cancelQuiet: (() => void) | null = null;

  constructor(host: FollowerFlushHost) {
    this.#host = host;
  }

  /** Resolves when the entries queued now are sent, parked or waiting for a retry, or the wait is bounded out. */
  wait(): Promise<void> {
    const { outbox, clock } = this.#host;
    const now = clock.now();
    const seqs: number[] = [];
    for (const entry of outbox.values()) if (!isSettled(entry, now)) seqs.push(entry.seq);
    if (seqs.length === 0) return Promise.resolve();
    const token = `${this.#host.tabId}:${this.#nextToken++}`;
    return new Promise<void>((resolve) => {
      this.#waits.set(token, {
        seqs,
        end: () => {
          this.#waits.delete(token);
          if (this.#waits.size === 0) this.#stopQuietTimer();
          resolve();
        },
      });
      this.#lastHeardAt = now;
      if (!this.#cancelQuiet) this.#armQuietTimer(this.#host.quietMs);
      this.#host.post({ t: 'flush', token });
    });
  }

  /** Another tab said something: it is alive, so the quiet bound starts over. */
  heard(): void {
    this.#lastHeardAt = this.#host.clock.now();
  }

  /** The leader's answer to the request `token` (a request of another tab's is ignored). */
  answered(token: string): void {
    this.#waits.get(token)?.end();
  }

  /** The outbox was re-read or written: a wait whose entries are all settled ends. */
  outboxChanged(): void {
    if (this.#waits.size === 0) return;
    const now = this.#host.clock.now();
    for (const wait of [...this.#waits.values()]) {
      if (wait.seqs.every((seq) => isSettled(this.#host.outbox.get(seq), now))) wait.end();
    }
  }

  /** Ends every wait: this tab leads now (and flushes itself), or it closed. */
  endAll(): void {
    for (const wait of [...this.#waits.values()]) wait.end();
  }

  #armQuietTimer(ms: number): void {
    this.#cancelQuiet = this.#host.clock.setTimer(() => {
      this.#cancelQuiet = null;
      const quietFor = this.#host.clock.now() - this.#lastHeardAt;
      // Checked when due rather than re-armed on every message: hints come by the thousand.
      // A wall clock stepped back makes the quiet negative: count it as expired, never as fresh.
      if (quietFor >= 0 && quietFor < this.#host.quietMs) this.#armQuietTimer(this.#host.quietMs - quietFor);
      else this.endAll();
    }, ms);
  }

  #stopQuietTimer(): void {
    this.#cancelQuiet?.();
    this.#cancelQuiet = null;
  }
}
