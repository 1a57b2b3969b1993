import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource } from '../resource.js';
import { resolveOptions } from './options.js';

const todos = defineResource({ name: 'todos', schema: z.object({ id: z.string(), title: z.string(), version: z.number() }) });

describe('resolveOptions', () => {
  it('fills in every default and makes baseUrl absolute against the page', () => {
    const resolved = resolveOptions({ baseUrl: '/api', resources: [todos] }, 'https://app.example/some/page');
    expect(resolved).toEqual({
      defs: new Map([['todos', todos]]),
      namespace: 'default',
      baseUrl: 'https://app.example/api',
      staleTimeMs: 30_000,
      sendDelayMs: 0,
      timeoutMs: 30_000,
      conflicts: 'merge',
      retry: { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 10, maxAgeMs: 86_400_000 },
      maxInFlight: 1,
    });
    expect(Object.isFrozen(resolved) && Object.isFrozen(resolved.retry)).toBe(true);
  });

  it('keeps every value given, zeros included', () => {
    const resolved = resolveOptions(
      {
        baseUrl: 'https://api.example/v1',
        resources: [todos],
        namespace: 'shop',
        staleTimeMs: 0,
        sendDelayMs: 0,
        timeoutMs: 5,
        conflicts: 'server-wins',
        retry: { baseDelayMs: 0, maxDelayMs: 7, maxAttempts: 1, maxAgeMs: Infinity },
        maxInFlight: 4,
      },
      undefined,
    );
    expect(resolved).toMatchObject({
      namespace: 'shop',
      baseUrl: 'https://api.example/v1',
      staleTimeMs: 0,
      timeoutMs: 5,
      conflicts: 'server-wins',
      retry: { baseDelayMs: 0, maxDelayMs: 7, maxAttempts: 1, maxAgeMs: Infinity },
      maxInFlight: 4,
    });
  });

  it('fills in the retry settings left out of a partial retry option', () => {
    expect(resolveOptions({ baseUrl: 'https://api.example', resources: [todos], retry: { maxAttempts: 3 } }, undefined).retry).toEqual({
      baseDelayMs: 1_000,
      maxDelayMs: 60_000,
      maxAttempts: 3,
      maxAgeMs: 86_400_000,
    });
  });

  it('names the option that is wrong', () => {
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos], maxInFlight: 0 }, undefined)).toThrow(
      new TypeError('createSyncClient: maxInFlight must be a whole number of at least 1, got 0'),
    );
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos, todos] }, undefined)).toThrow('resource "todos" is listed twice');
  });
});
