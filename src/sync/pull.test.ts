import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpError, NetworkError, SchemaError } from '../errors.js';
import { defineResource } from '../resource.js';
import { oneCopyPerId, pullRetryDelay, PULL_RETRIES } from './pull.js';

const todos = defineResource({ name: 'todos', schema: z.object({ id: z.string(), title: z.string(), version: z.number() }), delta: true });

describe('oneCopyPerId', () => {
  it('keeps the newest copy of an id named twice, the later one on equal versions, and says which', () => {
    const answer = oneCopyPerId(todos, [
      { id: 'x', title: 'second', version: 2 },
      { id: 'x', title: 'first', version: 1 },
      { id: 'y', title: 'one', version: 3 },
      { id: 'y', title: 'two', version: 3 },
      { id: 'z', title: 'z', version: 1 },
    ]);
    expect(answer.items).toEqual([
      { id: 'x', title: 'second', version: 2 },
      { id: 'y', title: 'two', version: 3 },
      { id: 'z', title: 'z', version: 1 },
    ]);
    expect(answer.notes.map((e) => [e.name, e.resource, e.id, e.message])).toEqual([
      ['SchemaError', 'todos', 'x', 'todos/x: named 2 times in one answer: the copy of version 2 is kept'],
      ['SchemaError', 'todos', 'y', 'todos/y: named 2 times in one answer: the copy of version 3 is kept'],
    ]);
  });

  it('deletes an id named both in items and in deleted, and says so; a repeated deletion counts once', () => {
    const answer = oneCopyPerId(todos, [{ id: 'y', title: 'Y', version: 1 }, { id: 'z', title: 'Z', version: 1 }], ['y', 'gone', 'gone']);
    expect(answer.items).toEqual([{ id: 'z', title: 'Z', version: 1 }]);
    expect(answer.deleted).toEqual(['y', 'gone']);
    expect(answer.notes.map((e) => e.message)).toEqual(['todos/y: named both in items and in deleted of one answer: deleted']);
  });

  it('passes an answer that names each id once through untouched, with nothing to report', () => {
    const items = [{ id: 'a', title: 'A', version: 1 }];
    const deleted = ['b'];
    const answer = oneCopyPerId(todos, items, deleted);
    expect(answer.items).toBe(items);
    expect(answer.deleted).toBe(deleted);
    expect(answer.notes).toEqual([]);
  });

  it('in any order of copies: one per id, of the highest version, none deleted, and a note per id set aside', () => {
    const copy = fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd'), version: fc.integer({ min: 1, max: 4 }), title: fc.string() });
    fc.assert(
      fc.property(fc.array(copy, { maxLength: 12 }), fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e')), (items, deleted) => {
        const answer = oneCopyPerId(todos, items, deleted);
        const ids = answer.items.map((i) => i['id'] as string);
        expect(new Set(ids).size).toBe(ids.length);
        for (const kept of answer.items) {
          expect(deleted).not.toContain(kept['id']);
          const same = items.filter((i) => i.id === kept['id']);
          expect(kept['version']).toBe(Math.max(...same.map((i) => i.version)));
          // Among the newest copies, the last one.
          expect(kept).toBe(same.filter((i) => i.version === kept['version']).at(-1));
        }
        const named = new Set(items.map((i) => i.id));
        expect(new Set(ids)).toEqual(new Set([...named].filter((id) => !deleted.includes(id))));
        const repeated = [...named].filter((id) => items.filter((i) => i.id === id).length > 1);
        const contradicted = [...named].filter((id) => deleted.includes(id));
        expect(answer.notes).toHaveLength(repeated.length + contradicted.length);
      }),
    );
  });
});

describe('pullRetryDelay', () => {
  const options = { baseDelayMs: 1000, maxDelayMs: 60_000 };
  const now = 1_700_000_000_000;
  const http = (status: number, retryAfter: string | null = null) => new HttpError({ status, method: 'GET', url: '/todos', retryAfter });
  const network = new NetworkError({ method: 'GET', url: '/todos', reason: 'connection reset' });

  it('retries no answer, a timeout, 408, 425, 429 and a passing 5xx, with the outbox backoff (full jitter, doubling)', () => {
    for (const error of [network, http(408), http(425), http(429), http(500), http(502), http(503), http(504), http(507)]) {
      expect(pullRetryDelay(error, 1, 0.5, options, now)).toBe(500);
    }
    expect(pullRetryDelay(network, 2, 0.5, options, now)).toBe(1000);
    expect(pullRetryDelay(network, 3, 0.5, options, now)).toBe(2000);
  });

  it('gives up after PULL_RETRIES retries', () => {
    expect(PULL_RETRIES).toBe(3);
    expect(pullRetryDelay(network, PULL_RETRIES, 1, options, now)).not.toBeNull();
    expect(pullRetryDelay(network, PULL_RETRIES + 1, 1, options, now)).toBeNull();
  });

  it('waits as long as a Retry-After asks, in seconds or as a date, never less than the backoff', () => {
    expect(pullRetryDelay(http(429, '5'), 1, 0.5, options, now)).toBe(5000);
    expect(pullRetryDelay(http(503, new Date(now + 7000).toUTCString()), 1, 0.5, options, now)).toBe(7000);
    expect(pullRetryDelay(http(503, '0'), 1, 0.5, options, now)).toBe(500);
  });

  it('does not retry what asking again cannot cure: a 4xx (401 included), a 5xx that says so, an unreadable answer, anything else', () => {
    for (const error of [http(400), http(401), http(403), http(404), http(409), http(410), http(501), http(505)]) {
      expect(pullRetryDelay(error, 1, 0.5, options, now)).toBeNull();
    }
    expect(pullRetryDelay(new SchemaError([{ field: '', message: 'not JSON' }]), 1, 0.5, options, now)).toBeNull();
    expect(pullRetryDelay(new TypeError('boom'), 1, 0.5, options, now)).toBeNull();
  });
});
