// The fault switch (POST /admin/faults): every fault the SDK must survive,
// made deterministic with counts and seeds.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createTestBackend, type RunningServer } from '../../server/index.mjs';
import { api, freshKey } from './api.js';

const backend = createTestBackend();
let server: RunningServer;
let alice: ReturnType<typeof api>;

beforeAll(async () => {
  server = await backend.start();
  alice = api(server.apiUrl);
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());

const statuses = async (count: number) => {
  const result: number[] = [];
  for (let i = 0; i < count; i += 1) result.push((await alice.get('/todos')).status);
  return result;
};

describe('drops', () => {
  it('dropBeforeApply: the connection dies, nothing is applied, the retry applies once', async () => {
    await server.admin.faults({ dropBeforeApply: { count: 1 } });
    const key = freshKey();
    await expect(alice.create('todos', { id: 't1', title: 'a' }, key)).rejects.toThrow();
    expect(await backend.ledger()).toEqual([]);
    const retry = await alice.create('todos', { id: 't1', title: 'a' }, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await backend.ledger()).toHaveLength(1);
  });

  it('dropAfterApply: applied and committed, the answer is lost, the retry gets the first answer', async () => {
    await server.admin.faults({ dropAfterApply: { count: 1 } });
    const key = freshKey();
    await expect(alice.create('todos', { id: 't1', title: 'a' }, key)).rejects.toThrow();
    expect(await backend.ledger()).toHaveLength(1);
    const retry = await alice.create('todos', { id: 't1', title: 'a' }, key);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual({ id: 't1', title: 'a', version: 1 });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await backend.ledger()).toHaveLength(1);
  });

  it('drops only writes, and counts down', async () => {
    await server.admin.faults({ dropBeforeApply: { count: 2 } });
    expect((await alice.get('/todos')).status).toBe(200);
    expect((await server.admin.faults()).dropBeforeApply).toEqual({ count: 2 });
    await expect(alice.create('todos', { id: 't1' })).rejects.toThrow();
    expect((await server.admin.faults()).dropBeforeApply).toEqual({ count: 1 });
    await expect(alice.create('todos', { id: 't1' })).rejects.toThrow();
    expect((await alice.create('todos', { id: 't1' })).status).toBe(201);
  });
});

describe('answers instead of the API', () => {
  it('rateLimit: 429 with Retry-After, exposed to browsers', async () => {
    await server.admin.faults({ rateLimit: { count: 1, retryAfter: '7' } });
    const limited = await alice.get('/todos');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect((await alice.get('/todos')).status).toBe(200);
  });

  it('errorRate with a count answers errorStatus (default 503), then recovers', async () => {
    await server.admin.faults({ errorRate: { count: 2 } });
    expect(await statuses(3)).toEqual([503, 503, 200]);
    await server.admin.faults({ errorRate: 1, errorStatus: 502 });
    expect(await statuses(2)).toEqual([502, 502]);
  });

  it('a rate draws from a seeded PRNG: the same seed repeats the same pattern', async () => {
    await server.admin.faults({ errorRate: 0.5, seed: 42 });
    const first = await statuses(16);
    await server.admin.faults({ seed: 42 });
    const second = await statuses(16);
    expect(second).toEqual(first);
    expect(first).toContain(503);
    expect(first).toContain(200);
  });

  it('a failed write is not applied', async () => {
    await server.admin.faults({ errorRate: { count: 1 } });
    expect((await alice.create('todos', { id: 't1' })).status).toBe(503);
    expect(await backend.ledger()).toEqual([]);
  });

  it('failStatus answers matching writes only', async () => {
    await server.admin.faults({ failStatus: { status: 422, match: 'poison' } });
    const poisoned = await alice.create('todos', { id: 't1', title: 'poison pill' });
    expect(poisoned.status).toBe(422);
    expect((await alice.create('todos', { id: 't2', title: 'fine' })).status).toBe(201);
    expect((await alice.get('/todos?since=')).status).toBe(200);
    expect((await backend.ledger()).map((entry) => entry.entityId)).toEqual(['t2']);
  });

  it('unauthorized: every API call 401 until switched off', async () => {
    await server.admin.faults({ unauthorized: true });
    expect((await alice.get('/todos')).status).toBe(401);
    expect((await alice.create('todos', { id: 't1' })).status).toBe(401);
    await server.admin.faults({ unauthorized: false });
    expect((await alice.get('/todos')).status).toBe(200);
  });
});

describe('connection', () => {
  it('offline: every API request fails at the network level; admin still answers', async () => {
    await server.admin.faults({ offline: true });
    await expect(alice.get('/todos')).rejects.toThrow();
    await expect(alice.create('todos', { id: 't1' })).rejects.toThrow();
    await server.admin.faults({ offline: false });
    expect((await alice.get('/todos')).body).toEqual([]);
  });

  it('latencyMs delays answers', async () => {
    await server.admin.faults({ latencyMs: 150 });
    const started = performance.now();
    expect((await alice.get('/todos')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('latencyMs holds many requests at once without a listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      await server.admin.faults({ latencyMs: 30 });
      const statuses = await Promise.all(Array.from({ length: 16 }, () => alice.get('/todos').then((r) => r.status)));
      expect(statuses).toEqual(Array(16).fill(200));
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });
});

describe('the switch itself', () => {
  it('merges fields, resets a field with null, and rejects unknown or invalid ones', async () => {
    const merged = await server.admin.faults({ latencyMs: 5, errorRate: { count: 3 } });
    expect(merged).toMatchObject({ latencyMs: 5, errorRate: { count: 3 }, errorStatus: 503, offline: false });
    expect(await server.admin.faults({ latencyMs: null })).toMatchObject({ latencyMs: 0, errorRate: { count: 3 } });
    await expect(server.admin.faults({ nonsense: true } as never)).rejects.toThrow(/unknown fault field nonsense/);
    await expect(server.admin.faults({ errorRate: 2 })).rejects.toThrow(/errorRate/);
    await expect(server.admin.faults({ failStatus: { status: 200 } })).rejects.toThrow(/failStatus/);
  });

  it('is per instance, and reset clears it', async () => {
    const other = await backend.start();
    try {
      await server.admin.faults({ errorRate: 1 });
      expect((await api(other.apiUrl).get('/todos')).status).toBe(200);
      await backend.reset();
      expect((await alice.get('/todos')).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
