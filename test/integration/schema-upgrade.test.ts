/**
 * A new release of the app ships a new schema for a resource while the device holds entities
 * cached, and changes queued, under the old one: what the reloaded app (a second client on the
 * same namespace and IndexedDB) shows and sends, offline and once online.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, type FailedMutation, type QueryState, type ResourceHandle, type SyncClientOptions, type SyncEvent, type SyncStatus } from '../../src/index.js';
import { referenceServer, until, type Device } from '../helpers/harness.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';
import { seededRandom } from '../helpers/manual-clock.js';

const suite = referenceServer();

const v1Schema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
const v1 = defineResource({ name: 'todos', schema: v1Schema, delta: true });

function latest<T>(source: { subscribe(next: (value: T) => void): unknown }): { readonly value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  source.subscribe((value) => (box.value = value));
  return box;
}

/** A device on v1 that pulled t1 and t2, then, offline, updated t1 and created t3; closed. */
async function cachedUnderV1(): Promise<Device> {
  await suite.server.admin.edit({ resource: 'todos', create: { id: 't1', title: 'milk', done: false } });
  await suite.server.admin.edit({ resource: 'todos', create: { id: 't2', title: 'bread', done: true } });
  const d = suite.make(suite.server.apiUrl, { resources: [v1] });
  const h = d.client.resource(v1);
  await h.refresh();
  d.online.next(false);
  await h.update('t1', { title: 'oat milk' });
  await h.create({ id: 't3', title: 'eggs', done: false });
  await d.client.close();
  return d;
}

function reopenedWith<S extends z.ZodType>(d: Device, schema: S, online = false, overrides: Partial<SyncClientOptions> = {}) {
  const def = defineResource({ name: 'todos', schema: schema as never, delta: true });
  const again = suite.make(suite.server.apiUrl, { resources: [def], ...overrides }, d.indexedDB, d.clock);
  again.online.next(online);
  const h = again.client.resource(def) as unknown as ResourceHandle<Record<string, unknown>>;
  const query = latest<QueryState<Record<string, unknown>>>(h.query$({ orderBy: 'id' }));
  const failed = latest<FailedMutation[]>(again.client.failed$);
  const status = latest<SyncStatus>(again.client.status$);
  return { again, def, h, query, failed, status, schemaErrors: () => again.events.filter((e): e is Extract<SyncEvent, { type: 'schemaError' }> => e.type === 'schemaError') };
}

const withPriority = v1Schema.extend({ priority: z.number().default(0) });

describe('a field added with a default', () => {
  it('cached records show it from the start, offline, and an update neither drops it nor sends it; the changes queued before go out as made', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, withPriority);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    expect(r.query.value!.data).toEqual([
      { id: 't1', title: 'oat milk', done: false, priority: 0, version: 1 },
      { id: 't2', title: 'bread', done: true, priority: 0, version: 1 },
      { id: 't3', title: 'eggs', done: false, priority: 0 },
    ]);
    expect(r.schemaErrors()).toEqual([]);
    const shown: unknown[] = [];
    r.h.get$('t2').subscribe(({ data }) => shown.push(data));
    const updated = await r.h.update('t2', { title: 'rye' });
    expect(updated).toEqual({ id: 't2', title: 'rye', done: true, priority: 0, version: 1 });
    expect(await r.h.get('t2')).toEqual(updated);
    expect(shown.filter((view) => !(typeof view === 'object' && view !== null && 'priority' in view))).toEqual([]);
    expect(await r.h.list({ where: { priority: 0 } })).toHaveLength(3);
    r.again.online.next(true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => [e.op, e.body]);
    expect(sent).toEqual([
      ['update', { title: 'oat milk' }],
      ['create', { id: 't3', title: 'eggs', done: false }],
      ['update', { title: 'rye' }],
    ]);
    await r.h.refresh();
    expect(r.query.value!.data.map((t) => t['priority'])).toEqual([0, 0, 0]);
    expect(r.query.value!.pendingIds.size).toBe(0);
  });

  it('a change merged with another writer\'s meets no conflict over the default it showed: the value the server gained since wins', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, withPriority);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    await r.h.update('t2', { title: 'rye' });
    await suite.server.admin.edit({ resource: 'todos', id: 't2', patch: { done: false, priority: 5 } });
    const conflicts = latest<unknown[]>(r.again.client.conflicts$);
    r.again.online.next(true);
    await r.again.client.flush();
    expect(conflicts.value).toEqual([]);
    expect(r.failed.value).toEqual([]);
    expect(await r.h.get('t2')).toEqual({ id: 't2', title: 'rye', done: false, priority: 5, version: 3 });
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice' && e.entityId === 't2').map((e) => e.body);
    expect(sent).toEqual([{ title: 'rye' }]);
  });

  it('a conflict over another field names that field alone, not the default shown', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, withPriority);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    await r.h.update('t2', { title: 'rye' });
    await suite.server.admin.edit({ resource: 'todos', id: 't2', patch: { title: 'spelt', priority: 5 } });
    const conflicts = latest<Array<{ id: string; fields: string[] }>>(r.again.client.conflicts$ as never);
    r.again.online.next(true);
    await r.again.client.flush();
    expect(conflicts.value!.map((c) => [c.id, c.fields])).toEqual([['t2', ['title']]]);
  });

  it('another tab\'s change to a record cached before the field existed leaves it shown here', async () => {
    const d = await cachedUnderV1();
    const tabs = { locks: new FakeLocks(), BroadcastChannel: new BroadcastHub().Channel };
    const a = reopenedWith(d, withPriority, false, { ...tabs, random: seededRandom(101) });
    const b = reopenedWith(d, withPriority, false, { ...tabs, random: seededRandom(102) });
    await until(() => a.query.value?.status === 'success' && b.query.value?.status === 'success', 'both caches loaded');
    const shown: unknown[] = [];
    a.h.get$('t2').subscribe(({ data }) => shown.push(data));
    await b.h.update('t2', { title: 'rye' });
    await until(() => (shown.at(-1) as { title?: string } | undefined)?.title === 'rye', 'the change shown in the other tab');
    expect(shown.at(-1)).toEqual({ id: 't2', title: 'rye', done: true, priority: 0, version: 1 });
    expect(shown.filter((view) => !(typeof view === 'object' && view !== null && 'priority' in view))).toEqual([]);
  });
});
