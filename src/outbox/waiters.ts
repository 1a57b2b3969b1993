import type { HarborSyncError } from '../errors.js';
import type { OutboxEntry } from './entry.js';

type Rec = Record<string, unknown>;

/** The server's answer to an entry, or what it ended in. */
export type ServerOutcome = { value: Rec | null } | { error: HarborSyncError };

/**
 * The entity a wait is about, to answer it from storage if its 'settled' message never comes.
 * `queued`: its entry was seen queued since the wait began, so its parking is the answer (a wait
 * made on a parked entry waits for its retry or decision). `made`: where its newest change stood
 * (lastSeq) when the entry was last seen, once it is gone.
 */
export interface WaitedEntity {
  r: string;
  id: string;
  queued: boolean;
  made?: number;
}

/** The `{ wait: 'server' }` promises, keyed by the seq of the entry they wait for. */
export class ServerWaits {
  readonly #listeners = new Map<number, Array<(outcome: ServerOutcome) => void>>();
  readonly #entities = new Map<number, WaitedEntity>();

  /** Resolves with the server's answer to the entry `seq` (or rejects with what it ended in); `entry`: it as the outbox holds it now. */
  wait(seq: number, entry: Pick<OutboxEntry, 'r' | 'id' | 'state'> | undefined, signal: AbortSignal | undefined): Promise<Rec | null> {
    return new Promise<Rec | null>((resolve, reject) => {
      const onAbort = () => {
        remove();
        reject(signal?.reason instanceof DOMException ? signal.reason : new DOMException('The wait was aborted', 'AbortError'));
      };
      const listener = (outcome: ServerOutcome) => {
        signal?.removeEventListener('abort', onAbort);
        if ('error' in outcome) reject(outcome.error);
        else resolve(outcome.value);
      };
      const remove = () => {
        // Looked for under every seq: fold() may have moved it to the entry its change went into.
        for (const [key, list] of this.#listeners) {
          if (!list.includes(listener)) continue;
          const rest = list.filter((l) => l !== listener);
          if (rest.length) this.#listeners.set(key, rest);
          else {
            this.#listeners.delete(key);
            this.#entities.delete(key);
          }
          return;
        }
      };
      if (signal?.aborted) return onAbort();
      if (!entry) return resolve(null);
      signal?.addEventListener('abort', onAbort, { once: true });
      const list = this.#listeners.get(seq);
      if (list) list.push(listener);
      else this.#listeners.set(seq, [listener]);
      this.#entities.set(seq, { r: entry.r, id: entry.id, queued: entry.state === 'queued' });
    });
  }

  settle(seq: number, outcome: ServerOutcome): void {
    const list = this.#listeners.get(seq);
    this.#entities.delete(seq);
    if (!list) return;
    this.#listeners.delete(seq);
    for (const listener of list) listener(outcome);
  }

  /** The entry `seq` was folded into the entry `into`: its waits settle with that one. */
  fold(seq: number, into: number): void {
    const list = this.#listeners.get(seq);
    const entity = this.#entities.get(seq);
    this.#listeners.delete(seq);
    this.#entities.delete(seq);
    if (!list) return;
    this.#listeners.set(into, [...(this.#listeners.get(into) ?? []), ...list]);
    // The entry folded into is queued again, to be sent.
    if (entity) this.#entities.set(into, { ...entity, queued: true });
  }

  /** Rejects every wait, each with the error made for its entity. */
  rejectAll(error: (entity: WaitedEntity | undefined) => HarborSyncError): void {
    for (const seq of [...this.#listeners.keys()]) this.settle(seq, { error: error(this.#entities.get(seq)) });
  }

  has(seq: number): boolean {
    return this.#listeners.has(seq);
  }

  /** The entry `seq` is gone from the outbox; `made`: where its newest change stood. */
  gone(seq: number, made: number): void {
    const waited = this.#entities.get(seq);
    if (waited) waited.made = made;
  }

  /** The waits whose entry was seen in the outbox, by seq, with their (live) entities. */
  waited(): Array<[number, WaitedEntity]> {
    return [...this.#entities];
  }
}
