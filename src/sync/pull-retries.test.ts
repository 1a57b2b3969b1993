import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { HttpError, NetworkError } from '../errors.js';
import { defineResource } from '../resource.js';
import type { ResourceDefinition } from '../types.js';
import { PullRetries } from './pull-retries.js';

type Def = ResourceDefinition<object>;

const schema = z.object({ id: z.string(), version: z.number() });
const todos = defineResource({ name: 'todos', schema }) as unknown as Def;
const orders = defineResource({ name: 'orders', schema }) as unknown as Def;
const network = new NetworkError({ method: 'GET', url: '/todos', reason: 'connection reset' });
const badRequest = new HttpError({ status: 400, method: 'GET', url: '/todos' });

/** Retries over a manual clock; with random 0.5 and a 1 s base, the n-th retry waits 500 ms · 2^(n-1). */
function retries() {
  const clock = new ManualClock();
  /** `error`: what the pulls made again fail with; null, they succeed. */
  const state: { may: boolean; error: Error | null } = { may: true, error: network };
  const pulls: string[] = [];
  const retries = new PullRetries({
    clock,
    random: () => 0.5,
    backoff: { baseDelayMs: 1000, maxDelayMs: 60_000 },
    mayRetry: () => state.may,
    again: (def) => {
      pulls.push(def.name);
      return state.error ? Promise.reject(state.error) : Promise.resolve();
    },
  });
  return { clock, state, pulls, retries };
}

describe('PullRetries', () => {
  it('keeps one retry waiting per resource, however many failures', async () => {
    const r = retries();
    r.retries.failed(todos, network);
    r.retries.failed(todos, network);
    r.retries.failed(todos, network);
    expect(r.clock.pendingTimers).toBe(1);
    r.retries.failed(orders, network);
    expect(r.clock.pendingTimers).toBe(2);
    r.state.error = null;
    await r.clock.advance(500);
    expect(r.pulls).toEqual(['todos', 'orders']);
    expect(r.clock.pendingTimers).toBe(0);
  });

  it('waits longer at each retry and gives up after the last', async () => {
    const r = retries();
    r.retries.failed(todos, network);
    expect(r.clock.longestTimerMs).toBe(500);
    await r.clock.advance(500);
    expect(r.clock.longestTimerMs).toBe(1000);
    await r.clock.advance(1000);
    expect(r.clock.longestTimerMs).toBe(2000);
    await r.clock.advance(2000);
    expect(r.pulls).toHaveLength(3);
    expect(r.clock.pendingTimers).toBe(0);
  });

  it('counts afresh after a retry succeeded, and after giving up', async () => {
    const r = retries();
    r.retries.failed(todos, network);
    await r.clock.advance(500);
    expect(r.clock.longestTimerMs).toBe(1000);
    r.state.error = null;
    await r.clock.advance(1000);
    expect(r.pulls).toHaveLength(2);
    r.retries.failed(todos, network);
    expect(r.clock.longestTimerMs).toBe(500);

    r.state.error = network;
    await r.clock.advance(500 + 1000 + 2000);
    expect(r.clock.pendingTimers).toBe(0);
    r.retries.failed(todos, network);
    expect(r.clock.longestTimerMs).toBe(500);
  });

  it('retries nothing once mayRetry says no: at the failure, or when the retry falls due', async () => {
    const r = retries();
    r.state.may = false;
    r.retries.failed(todos, network);
    expect(r.clock.pendingTimers).toBe(0);

    r.state.may = true;
    r.retries.failed(todos, network);
    expect(r.clock.pendingTimers).toBe(1);
    r.state.may = false;
    await r.clock.advance(60_000);
    expect(r.pulls).toEqual([]);

    // Dropped, not counted: the next failure waits as the first did.
    r.state.may = true;
    r.retries.failed(todos, network);
    expect(r.clock.longestTimerMs).toBe(500);
  });

  it('stop(name) cancels that resource\'s retry, stop() every one', async () => {
    const r = retries();
    r.retries.failed(todos, network);
    r.retries.failed(orders, network);
    r.retries.stop('todos');
    expect(r.clock.pendingTimers).toBe(1);
    await r.clock.advance(500);
    expect(r.pulls).toEqual(['orders']);

    r.retries.failed(todos, network);
    expect(r.clock.pendingTimers).toBe(2);
    r.retries.stop();
    expect(r.clock.pendingTimers).toBe(0);
    await r.clock.advance(60_000);
    expect(r.pulls).toEqual(['orders']);
  });

  it('does not retry what asking again cannot cure (a 400), at the first failure or at a retry', async () => {
    const r = retries();
    r.retries.failed(todos, badRequest);
    expect(r.clock.pendingTimers).toBe(0);

    r.retries.failed(todos, network);
    r.state.error = badRequest;
    await r.clock.advance(500);
    expect(r.pulls).toHaveLength(1);
    expect(r.clock.pendingTimers).toBe(0);
    // Dropped: a passing failure after it is retried as a first one.
    r.retries.failed(todos, network);
    expect(r.clock.longestTimerMs).toBe(500);
  });
});
