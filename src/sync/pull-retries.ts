import type { Clock } from '../env.js';
import type { BackoffOptions } from '../outbox/backoff.js';
import type { ResourceDefinition } from '../types.js';
import { pullRetryDelay } from './pull.js';

type Def = ResourceDefinition<object>;

export interface PullRetryHost {
  clock: Clock;
  random(): number;
  backoff: BackoffOptions;
  /** Whether a failed pull may be made again (asked at the failure and again when its retry falls due). */
  mayRetry(def: Def): boolean;
  /** Makes the pull again. */
  again(def: Def): Promise<void>;
}

/**
 * A pull (or an on-demand page) the client made itself failed: one that failed for a passing
 * reason is made again after a backoff (pullRetryDelay), while the host says it may be. A retry
 * already waiting is the one: each failure does not add its own.
 */
export class PullRetries {
  readonly #host: PullRetryHost;
  /** Per resource, the retries made: how many were made, and the one waiting. */
  readonly #retries = new Map<string, { attempts: number; cancel: (() => void) | null }>();

  constructor(host: PullRetryHost) {
    this.#host = host;
  }

  failed(def: Def, error: unknown): void {
    const host = this.#host;
    const retry = this.#retries.get(def.name) ?? { attempts: 0, cancel: null };
    if (retry.cancel) return;
    const delayMs = host.mayRetry(def) ? pullRetryDelay(error, retry.attempts + 1, host.random(), host.backoff, host.clock.now()) : null;
    if (delayMs === null) return void this.#retries.delete(def.name);
    retry.attempts++;
    retry.cancel = host.clock.setTimer(() => {
      retry.cancel = null;
      if (!host.mayRetry(def)) return void this.#retries.delete(def.name);
      void host.again(def).then(
        () => {
          // Loaded: the count starts afresh, unless another failure meanwhile set a retry waiting.
          if (!retry.cancel && this.#retries.get(def.name) === retry) this.#retries.delete(def.name);
        },
        (failure: unknown) => this.failed(def, failure),
      );
    }, delayMs);
    this.#retries.set(def.name, retry);
  }

  /** No failed pull is made again (of `name`, or of any resource): one succeeded, or the client closed, went offline, or was cleared. */
  stop(name?: string): void {
    for (const [key, retry] of this.#retries) {
      if (name !== undefined && key !== name) continue;
      retry.cancel?.();
      this.#retries.delete(key);
    }
  }
}
