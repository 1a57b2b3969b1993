import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource } from '../resource.js';
import type { SyncClientOptions, Transport } from '../types.js';
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

  it('says why a relative baseUrl is refused where there is no page to resolve it against (a Node test)', () => {
    expect(() => resolveOptions({ baseUrl: '/api', resources: [todos] }, undefined)).toThrow(
      new TypeError(`createSyncClient: baseUrl "/api" is relative, and there is no page here to resolve it against: give an absolute URL ('http://localhost:8787/api')`),
    );
    expect(() => resolveOptions({ baseUrl: 'localhost:8787/api', resources: [todos] }, undefined)).toThrow(
      `baseUrl must be an absolute URL, or relative to the page (like '/api'), got "localhost:8787/api"`,
    );
  });

  it('names the option that is wrong', () => {
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos], maxInFlight: 0 }, undefined)).toThrow(
      new TypeError('createSyncClient: maxInFlight must be a whole number of at least 1, got 0'),
    );
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos, todos] }, undefined)).toThrow('resource "todos" is listed twice');
  });

  it('names a hook that is not a function, or an object without the function it needs', () => {
    const base = { baseUrl: 'https://api.example', resources: [todos] };
    const thrown = (extra: object) => {
      try {
        resolveOptions({ ...base, ...extra } as SyncClientOptions, undefined);
      } catch (error) {
        return error instanceof TypeError ? error.message : error;
      }
      return 'nothing thrown';
    };
    expect(thrown({ auth: () => 'token' })).toBe(
      'createSyncClient: auth must be an object with a getToken() function (and optionally refreshToken(), namespaceOf()), got a function',
    );
    expect(thrown({ auth: { getToken: 'token' } })).toMatch(/^createSyncClient: auth must be an object with a getToken\(\) function/);
    expect(thrown({ auth: { getToken: () => 't', refreshToken: 'again' } })).toBe('createSyncClient: auth.refreshToken must be a function, got again');
    expect(thrown({ transport: {} })).toBe('createSyncClient: transport.list must be a function, got undefined');
    expect(thrown({ transport: 'rest' })).toBe('createSyncClient: transport.list must be a function, got rest');
    expect(thrown({ fetch: 'fetch' })).toBe('createSyncClient: fetch must be a function, got fetch');
    expect(thrown({ now: 0 })).toBe('createSyncClient: now must be a function, got 0');
    expect(thrown({ online: true })).toBe('createSyncClient: online must be an Observable, got true');
    expect(thrown({ indexedDB: {} })).toBe('createSyncClient: indexedDB must be an IDBFactory, got an object');
    expect(thrown({ locks: {} })).toBe('createSyncClient: locks must be a LockManager or null, got an object');
    expect(thrown({ BroadcastChannel: {} })).toBe('createSyncClient: BroadcastChannel must be a BroadcastChannel constructor or null, got an object');
  });

  it('asks a transport for delta and query only when a resource pulls deltas or loads on demand', () => {
    const call = () => Promise.resolve(null);
    const transport = { list: call, one: call, create: call, update: call, remove: call } as unknown as Transport;
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos], transport }, undefined)).not.toThrow();
    const feed = defineResource({ name: 'feed', schema: todos.schema, delta: true });
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [feed], transport }, undefined)).toThrow(
      new TypeError('createSyncClient: transport.delta must be a function, got undefined'),
    );
    const pages = defineResource({ name: 'pages', schema: todos.schema, load: 'on-demand' });
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [pages], transport }, undefined)).toThrow(
      new TypeError('createSyncClient: transport.query must be a function, got undefined'),
    );
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [feed, pages], transport: { ...transport, delta: call, query: call } }, undefined)).not.toThrow();
  });

  it('refuses an option name it does not know, at the top level, in retry and in auth, listing the known ones', () => {
    const base = { baseUrl: 'https://api.example', resources: [todos] };
    expect(() => resolveOptions({ ...base, staleTime: 5 } as SyncClientOptions, undefined)).toThrow(
      /^createSyncClient: staleTime is not an option \(baseUrl, resources, namespace, auth, .*, setTimer\)$/,
    );
    expect(() => resolveOptions({ ...base, retry: { maxAttempt: 3 } } as SyncClientOptions, undefined)).toThrow(
      new TypeError('createSyncClient: retry.maxAttempt is not an option (baseDelayMs, maxDelayMs, maxAttempts, maxAgeMs)'),
    );
    expect(() => resolveOptions({ ...base, retry: 3 } as unknown as SyncClientOptions, undefined)).toThrow(new TypeError('createSyncClient: retry must be an object, got 3'));
    expect(() => resolveOptions({ ...base, auth: { getToken: () => 't', token: 't' } } as SyncClientOptions, undefined)).toThrow(
      new TypeError('createSyncClient: auth.token is not an option (getToken, refreshToken, namespaceOf)'),
    );
  });

  it('takes null for locks and BroadcastChannel (none: election over BroadcastChannel, or none at all)', () => {
    expect(() => resolveOptions({ baseUrl: 'https://api.example', resources: [todos], locks: null, BroadcastChannel: null }, undefined)).not.toThrow();
  });
});

