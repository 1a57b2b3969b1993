/**
 * A new release of the app ships a new schema for a resource while the device holds entities
 * cached, and changes queued, under the old one: what the reloaded app (a second client on the
 * same namespace and IndexedDB) shows and sends, offline and once online.
 */
import { IDBIndex } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
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

const shortTitles = v1Schema.extend({ title: z.string().max(5) });

describe('changes queued under the old schema that the new one refuses', () => {
  it('an update whose field the new schema refuses is kept in failed$, never sent, and the rest goes out; the view shows the server copy', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, shortTitles);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    // Offline: the view the queued change makes fails the schema, so it is skipped and reported.
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t2', 't3']);
    expect(r.schemaErrors().map((e) => [e.id, e.error.issues.map((i) => i.field)])).toEqual([['t1', ['title']]]);
    r.again.online.next(true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => [e.op, e.entityId]);
    expect(sent).toEqual([['create', 't3']]);
    expect(r.failed.value!.map((f) => [f.id, f.op, f.payload])).toEqual([['t1', 'update', { title: 'oat milk' }]]);
    expect(r.failed.value![0]!.error.message).toMatch(/todos\/t1.*title/);
    expect(r.status.value).toMatchObject({ pending: 0, failed: 1 });
    await until(() => r.query.value!.data.length === 3, 'the server copy of t1 shown');
    expect(r.query.value!.data.find((t) => t['id'] === 't1')).toEqual({ id: 't1', title: 'milk', done: false, version: 1 });
    // Retried as it is, it is refused again, unsent; discarded, it is gone.
    await r.failed.value![0]!.retry();
    await r.again.client.flush();
    expect(r.failed.value!.map((f) => f.id)).toEqual(['t1']);
    await r.failed.value![0]!.discard();
    expect(r.failed.value).toEqual([]);
    expect((await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice')).toHaveLength(1);
  });

  it('under an async schema too: the update waits for its verdict, then is kept in failed$, unsent', async () => {
    const d = await cachedUnderV1();
    const asyncShort = { '~standard': { ...shortTitles['~standard'], validate: (value: unknown) => Promise.resolve(shortTitles['~standard'].validate(value)) } };
    const r = reopenedWith(d, asyncShort as never, true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => [e.op, e.entityId]);
    expect(sent).toEqual([['create', 't3']]);
    expect(r.failed.value!.map((f) => [f.id, f.op])).toEqual([['t1', 'update']]);
  });

  it('a create the new schema refuses (with the update made on it before it went out) is kept in failed$, never sent; discarded, it is gone', async () => {
    const d = await cachedUnderV1();
    const before = suite.make(suite.server.apiUrl, { resources: [v1] }, d.indexedDB, d.clock);
    before.online.next(false);
    await before.client.resource(v1).create({ id: 't4', title: 'scrambled eggs', done: false });
    await before.client.resource(v1).update('t4', { done: true });
    await before.client.close();
    const r = reopenedWith(d, shortTitles, true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => [e.op, e.entityId]);
    expect(sent).toEqual([['create', 't3']]);
    expect(r.failed.value!.map((f) => [f.id, f.op, f.payload])).toEqual([
      ['t1', 'update', { title: 'oat milk' }],
      ['t4', 'create', { id: 't4', title: 'scrambled eggs', done: true }],
    ]);
    await until(() => r.query.value!.data.length === 3, 'the server copy of t1 shown');
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t1', 't2', 't3']);
    await r.failed.value![1]!.discard();
    expect(r.status.value).toMatchObject({ pending: 0, failed: 1 });
    expect(await r.h.get('t4')).toBeUndefined();
  });
});

describe('other schema changes', () => {
  it('a field added as optional: every record loads as stored, and the changes queued go out as made', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, v1Schema.extend({ note: z.string().optional() }));
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t1', 't2', 't3']);
    expect(r.query.value!.data.some((t) => 'note' in t)).toBe(false);
    expect(r.schemaErrors()).toEqual([]);
    r.again.online.next(true);
    await r.again.client.flush();
    expect(r.status.value).toMatchObject({ pending: 0, failed: 0 });
  });

  it('a field removed: records load, still holding it until the server\'s copy replaces them; a queued create still sends it', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, v1Schema.omit({ done: true }));
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    expect(r.query.value!.data.map((t) => t['done'])).toEqual([false, true, false]);
    expect(r.schemaErrors()).toEqual([]);
    r.again.online.next(true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => e.body);
    expect(sent).toEqual([{ title: 'oat milk' }, { id: 't3', title: 'eggs', done: false }]);
  });

  it('a field narrowed: a stored view it refuses is skipped and reported, the rest loads; online, the server\'s copy is fetched again (reported too while it still fails)', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, v1Schema.extend({ done: z.literal(false) }));
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t1', 't3']);
    expect(r.schemaErrors().map((e) => [e.id, e.error.issues.map((i) => i.field)])).toEqual([['t2', ['done']]]);
    expect(r.query.value!.status).toBe('success');
    r.again.online.next(true);
    await r.again.client.flush();
    await until(() => r.schemaErrors().length === 2, 'the server copy fetched again');
    expect(r.schemaErrors()[1]!.id).toBe('t2');
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t1', 't3']);
    await suite.server.admin.edit({ resource: 'todos', id: 't2', patch: { done: false } });
    await r.h.refresh();
    expect(r.query.value!.data.map((t) => t['id'])).toEqual(['t1', 't2', 't3']);
  });

  it('a string field made a Date by a transform: the cached string is shown as the Date the schema makes of it, offline too, and sent only once changed', async () => {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 't1', title: 'milk', done: false, due: '2026-01-15T12:00:00.000Z' } });
    const withDue = v1Schema.extend({ due: z.string() });
    const before = suite.make(suite.server.apiUrl, { resources: [defineResource({ name: 'todos', schema: withDue, delta: true })] });
    await before.client.resource('todos').refresh();
    await before.client.close();
    const r = reopenedWith(before, v1Schema.extend({ due: z.string().transform((s) => new Date(s)) }));
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    const due = new Date('2026-01-15T12:00:00.000Z');
    expect(r.query.value!.data).toEqual([{ id: 't1', title: 'milk', done: false, due, version: 1 }]);
    expect(await r.h.update('t1', { title: 'oat milk' })).toEqual({ id: 't1', title: 'oat milk', done: false, due, version: 1 });
    const later = new Date('2026-02-01T00:00:00.000Z');
    expect(await r.h.update('t1', { due: later })).toEqual({ id: 't1', title: 'oat milk', done: false, due: later, version: 1 });
    expect(await r.h.get('t1')).toEqual({ id: 't1', title: 'oat milk', done: false, due: later, version: 1 });
    r.again.online.next(true);
    await r.again.client.flush();
    const sent = (await suite.server.admin.ledger('todos')).filter((e) => e.user === 'alice').map((e) => e.body);
    expect(sent).toEqual([{ title: 'oat milk', due: '2026-02-01T00:00:00.000Z' }]);
    await r.h.refresh();
    expect(await r.h.get('t1')).toEqual({ id: 't1', title: 'oat milk', done: false, due: later, version: 2 });
  });

  it('a string field made a Date, then cleared here: the null is shown, not the Date the load made', async () => {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 't1', title: 'milk', done: false, due: '2026-01-15T12:00:00.000Z' } });
    const withDue = v1Schema.extend({ due: z.string().nullable() });
    const before = suite.make(suite.server.apiUrl, { resources: [defineResource({ name: 'todos', schema: withDue, delta: true })] });
    await before.client.resource('todos').refresh();
    await before.client.close();
    const r = reopenedWith(before, v1Schema.extend({ due: z.string().transform((s) => new Date(s)).nullable() }));
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    expect(await r.h.update('t1', { due: null })).toMatchObject({ due: null });
    expect(await r.h.get('t1')).toMatchObject({ due: null });
  });
});

describe('a record the new schema refuses, with a change queued on it that it takes', () => {
  it('the change goes out; its answer, failing the schema too, parks it in failed$, and the record stays hidden rather than shown as stored', async () => {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 't2', title: 'bread', done: true } });
    const d = suite.make(suite.server.apiUrl, { resources: [v1] });
    await d.client.resource(v1).refresh();
    d.online.next(false);
    await d.client.resource(v1).update('t2', { title: 'rye' });
    await d.client.close();
    const r = reopenedWith(d, v1Schema.extend({ done: z.literal(false) }), true);
    await r.again.client.flush();
    await until(() => r.failed.value!.length === 1, 'the change parked');
    expect(r.failed.value![0]!.error.message).toMatch(/todos\/t2/);
    expect(r.query.value!.data).toEqual([]);
    expect(await r.h.get('t2')).toBeUndefined();
    // Once the server's copy passes the schema, it is shown, with the change (applied there).
    await suite.server.admin.edit({ resource: 'todos', id: 't2', patch: { done: false } });
    await r.h.refresh();
    expect(r.query.value!.data).toEqual([{ id: 't2', title: 'rye', done: false, version: 3 }]);
  });
});

/** Runs `write` and checks it took the one-read path: it never read the entity's queued changes (the outbox's `entity` index). */
async function expectOneReadUpdate(write: () => Promise<unknown>): Promise<void> {
  const getAll = vi.spyOn(IDBIndex.prototype, 'getAll');
  try {
    await write();
    expect(getAll).not.toHaveBeenCalled();
  } finally {
    getAll.mockRestore();
  }
}

describe('a local write to a record whose fields the load reshaped', () => {
  it('takes the one-read path, as the stored record is what the view shows less the reshaped fields', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, withPriority);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    await expectOneReadUpdate(() => r.h.update('t2', { title: 'rye' }));
    expect(await r.h.get('t2')).toEqual({ id: 't2', title: 'rye', done: true, priority: 0, version: 1 });
  });
});

describe('a record reshaped at the load, once the server\'s copy is stored', () => {
  it('is shown as stored, and written on the one-read path again', async () => {
    const d = await cachedUnderV1();
    const r = reopenedWith(d, withPriority);
    await until(() => r.query.value?.status === 'success', 'the cache loaded');
    r.again.online.next(true);
    await r.again.client.flush();
    await suite.server.admin.edit({ resource: 'todos', id: 't2', patch: { priority: 0 } });
    await r.h.refresh();
    await until(() => r.query.value!.data.find((t) => t['id'] === 't2')?.['version'] === 2, 'the server copy stored');
    await expectOneReadUpdate(() => r.h.update('t2', { title: 'rye' }));
    expect(await r.h.get('t2')).toEqual({ id: 't2', title: 'rye', done: true, priority: 0, version: 2 });
  });
});

describe('a nested key the new schema strips (or defaults) in a record cached under the old one', () => {
  const withOwner = v1Schema.extend({ owner: z.object({ name: z.string(), phone: z.string() }) });
  /** t1 cached with its owner's phone under a schema that knows it; closed. */
  async function cachedWithOwner(): Promise<Device> {
    await suite.server.admin.edit({ resource: 'todos', create: { id: 't1', title: 'milk', done: false, owner: { name: 'Ann', phone: '555' } } });
    const d = suite.make(suite.server.apiUrl, { resources: [defineResource({ name: 'todos', schema: withOwner, delta: true })] });
    await d.client.resource('todos').refresh();
    await d.client.close();
    return d;
  }
  const ownerWithoutPhone = v1Schema.extend({ owner: z.object({ name: z.string(), country: z.string().default('NO') }) });
  const sentBy = async (user: string) => (await suite.server.admin.ledger('todos')).filter((e) => e.user === user).map((e) => e.body);
  const serverOwner = async () => {
    const response = await fetch(`${suite.server.apiUrl}/todos/t1`, { headers: { Authorization: 'Bearer demo-alice' } });
    return ((await response.json()) as { owner: unknown }).owner;
  };

  it('an update of another field sends only that field: the server keeps the whole nested object', async () => {
    const d = await cachedWithOwner();
    const r = reopenedWith(d, ownerWithoutPhone, false, { staleTimeMs: Infinity });
    await r.h.update('t1', { title: 'oat milk' });
    r.again.online.next(true);
    await r.again.client.flush();
    expect(await sentBy('alice')).toEqual([{ title: 'oat milk' }]);
    expect(await serverOwner()).toEqual({ name: 'Ann', phone: '555' });
  });
});
