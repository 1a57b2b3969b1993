/**
 * What a resource's schema does to local writes, on whichever zod this suite runs: zod 4 in the
 * `node` project, zod 3.25's own API in the `zod3` project (vitest.config.ts). The client reads
 * schemas through Standard Schema only, so both must behave alike. A write keeps what the schema
 * outputs (its defaults and transforms), in the entity and in the request, also before the server
 * has confirmed a create and the version field is still missing (DESIGN section 3).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, ValidationError, type StandardSchemaV1 } from '../../src/index.js';
import { closeDevices, device, type Device } from '../helpers/harness.js';
import { pinned } from '../helpers/pinned.js';
import { getAllRaw, openRaw } from '../helpers/raw-idb.js';

const API = 'http://api.test/api';
const expectedMajor = process.env['HARBORSYNC_ZOD_MAJOR'] ?? pinned('zod').split('.')[0]!;

const items = defineResource({
  name: 'items',
  schema: z.object({
    id: z.string(),
    title: z.string().trim().min(1),
    done: z.boolean().default(false),
    tags: z.array(z.string()).default([]),
    version: z.number().int().positive(),
  }),
});
type Item = { id: string; title: string; done: boolean; tags: string[]; version: number };

/** A schema of one's own whose output leaves out the keys set to undefined (zod keeps them). */
type Memo = { id: string; note?: string; version: number };
const memoSchema: StandardSchemaV1<unknown, Memo> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate(value) {
      const record = value as Record<string, unknown>;
      if (typeof record['version'] !== 'number') return { issues: [{ message: 'a number', path: ['version'] }] };
      return { value: Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Memo };
    },
  },
};
const memos = defineResource({ name: 'items', schema: memoSchema });

/** Items whose schema normalizes the key. */
const slugged = defineResource({
  name: 'items',
  schema: z.object({ id: z.string().trim().toLowerCase(), title: z.string(), version: z.number().int().positive() }),
});
/** Items whose schema derives a field from the whole entity. */
const labelled = defineResource({
  name: 'items',
  schema: z
    .object({ id: z.string(), title: z.string(), version: z.number().int().positive() })
    .transform((item) => ({ ...item, label: item.title.toUpperCase() })),
});

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A server for `items` that keeps what it is sent and answers with it, versioned. */
function itemsApi() {
  const rows = new Map<string, Item>();
  const writes: Array<{ method: string; body: Record<string, unknown> }> = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const id = decodeURIComponent(url.pathname.split('/')[3] ?? '');
    if (request.method === 'GET') return json([...rows.values()]);
    const body = (await request.json()) as Record<string, unknown>;
    writes.push({ method: request.method, body });
    if (request.method === 'POST') {
      const row = { ...body, version: 1 } as Item;
      rows.set(row.id, row);
      return json(row, 201);
    }
    const row = { ...rows.get(id)!, ...body, version: rows.get(id)!.version + 1 } as Item;
    rows.set(id, row);
    return json(row);
  };
  return { fetch: fetchImpl, writes, rows };
}

/** Changes queued and not yet confirmed, as status$ says now. */
function pending(d: Device): number {
  let count = -1;
  d.client.status$.subscribe((status) => (count = status.pending)).unsubscribe();
  return count;
}

const open: Device[] = [];
afterEach(async () => {
  await closeDevices(open);
});
function make() {
  const api = itemsApi();
  const d = device(API, { fetch: api.fetch, resources: [items] });
  open.push(d);
  return { api, d, h: d.client.resource(items) };
}

describe(`a resource's schema in local writes, on zod ${expectedMajor}`, () => {
  it(`runs on zod ${expectedMajor}`, () => {
    // zod 4's schemas carry `_zod`; zod 3's API does not.
    expect('_zod' in z.string() ? '4' : '3').toBe(expectedMajor);
  });

  it('a create keeps the schema output (defaults, transforms) though it has no version yet, and sends it', async () => {
    const { api, d, h } = make();
    const created = await h.create({ id: 'a', title: '  Milk  ' } as never);
    expect(created).toEqual({ id: 'a', title: 'Milk', done: false, tags: [] });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Milk', done: false, tags: [] });
    await d.client.flush();
    expect(api.writes).toEqual([{ method: 'POST', body: { id: 'a', title: 'Milk', done: false, tags: [] } }]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Milk', done: false, tags: [], version: 1 });
  });

  it('a create under a schema that gives the version a default has no version until the server confirms it, and sends none', async () => {
    const api = itemsApi();
    const defaulted = defineResource({ name: 'items', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int().default(0) }) });
    const d = device(API, { fetch: api.fetch, resources: [defaulted] });
    open.push(d);
    const h = d.client.resource(defaulted);
    d.online.next(false);
    expect(await h.create({ id: 'a', title: 'Milk' })).toEqual({ id: 'a', title: 'Milk' });
    expect(await h.update('a', { title: 'Bread' })).toEqual({ id: 'a', title: 'Bread' });
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Bread' });
    d.online.next(true);
    await d.client.flush();
    expect(api.writes).toEqual([{ method: 'POST', body: { id: 'a', title: 'Bread' } }]);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Bread', version: 1 });
  });

  it('a create whose key the schema normalizes is kept under the id the entity names: found by it, after a reload too, and sent with it', async () => {
    const api = itemsApi();
    const d = device(API, { fetch: api.fetch, resources: [slugged] });
    open.push(d);
    d.online.next(false);
    const created = await d.client.resource(slugged).create({ id: ' Milk ', title: 'x' });
    expect(created).toEqual({ id: 'milk', title: 'x' });
    expect(await d.client.resource(slugged).get(created.id)).toEqual(created);
    await expect(d.client.resource(slugged).create({ id: 'MILK', title: 'y' })).rejects.toThrow(ValidationError);
    await d.client.close();
    const again = d.reopen();
    open.push(again);
    const h = again.client.resource(slugged);
    expect(await h.list()).toEqual([created]);
    await again.client.flush();
    expect(api.writes).toEqual([{ method: 'POST', body: { id: 'milk', title: 'x' } }]);
    expect(await h.get('milk')).toEqual({ id: 'milk', title: 'x', version: 1 });
  });

  it('a create that fails the schema is a ValidationError naming the field, and nothing is kept or queued', async () => {
    const { d, h } = make();
    const refused = await h.create({ id: 'a', title: '   ' } as never).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues.map((i) => i.field)).toEqual(['title']);
    expect(await h.get('a')).toBeUndefined();
    expect(await h.list()).toEqual([]);
    expect(pending(d)).toBe(0);
  });

  it('a create (or an update of it) that fails a refinement naming no field is a ValidationError though it has no version yet; nothing is kept or queued', async () => {
    const api = itemsApi();
    const spans = defineResource({
      name: 'items',
      schema: z.object({ id: z.string(), start: z.number(), end: z.number(), version: z.number().int().positive() }).refine((span) => span.end > span.start, 'end must be after start'),
    });
    const d = device(API, { fetch: api.fetch, resources: [spans] });
    open.push(d);
    d.online.next(false);
    const h = d.client.resource(spans);
    const refused = await h.create({ id: 'a', start: 5, end: 1 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([{ field: '', message: 'end must be after start' }]);
    expect(await h.list()).toEqual([]);
    expect(pending(d)).toBe(0);
    await h.create({ id: 'b', start: 1, end: 5 });
    await expect(h.update('b', { start: 9 })).rejects.toThrow(/^items\/b: end must be after start/);
    expect(await h.get('b')).toEqual({ id: 'b', start: 1, end: 5 });
    d.online.next(true);
    await d.client.flush();
    expect(api.writes).toEqual([{ method: 'POST', body: { id: 'b', start: 1, end: 5 } }]);
  });

  it('a write the schema throws on (a transform given what it cannot read) is a ValidationError saying so; nothing is kept or queued', async () => {
    const api = itemsApi();
    const dated = defineResource({
      name: 'items',
      schema: z.object({ id: z.string(), due: z.string().transform((text) => new Date(text).toISOString()), version: z.number().int().positive() }),
    });
    const d = device(API, { fetch: api.fetch, resources: [dated] });
    open.push(d);
    d.online.next(false);
    const h = d.client.resource(dated);
    const refused = await h.create({ id: 'a', due: 'someday' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).message).toMatch(/^items\/a: the schema threw: RangeError: Invalid time value/);
    await h.create({ id: 'b', due: '2024-01-15' });
    await expect(h.update('b', { due: 'never' })).rejects.toThrow(ValidationError);
    expect(await h.list()).toEqual([{ id: 'b', due: '2024-01-15T00:00:00.000Z' }]);
    expect(pending(d)).toBe(1);
  });

  it('an update sends what the schema makes of the change, and nothing when that equals the stored value', async () => {
    const { api, d, h } = make();
    await h.create({ id: 'a', title: 'Milk' } as never);
    await d.client.flush();
    await h.update('a', { title: '  Bread ' });
    expect(await h.get('a')).toMatchObject({ title: 'Bread' });
    await d.client.flush();
    expect(api.writes.at(-1)).toEqual({ method: 'PATCH', body: { title: 'Bread' } });
    const sent = api.writes.length;
    expect(await h.update('a', { title: 'Bread  ' })).toMatchObject({ title: 'Bread', version: 2 });
    await d.client.flush();
    expect(api.writes).toHaveLength(sent);
  });

  it('an update keeps what a transform of the whole entity derives from the change: the entity returned, the cache and the request agree', async () => {
    const api = itemsApi();
    const d = device(API, { fetch: api.fetch, resources: [labelled] });
    open.push(d);
    const h = d.client.resource(labelled);
    await h.create({ id: 'a', title: 'milk' } as never);
    await d.client.flush();
    d.online.next(false);
    const updated = await h.update('a', { title: 'eggs' });
    expect(updated).toEqual({ id: 'a', title: 'eggs', label: 'EGGS', version: 1 });
    expect(await h.get('a')).toEqual(updated);
    d.online.next(true);
    await d.client.flush();
    expect(api.writes.at(-1)).toEqual({ method: 'PATCH', body: { title: 'eggs', label: 'EGGS' } });
    expect(api.rows.get('a')).toMatchObject({ label: 'EGGS' });
  });

  it('an update sends no field the schema only filled with its default (a record cached before the field existed): the server keeps its value', async () => {
    const api = itemsApi();
    const plain = defineResource({ name: 'items', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int().positive() }) });
    const before = device(API, { fetch: api.fetch, resources: [plain] });
    open.push(before);
    await before.client.resource(plain).create({ id: 'a', title: 'milk' } as never);
    await before.client.flush();
    await before.client.resource(plain).refresh();
    // Another client set it on the server; this cache was written before the schema knew the field.
    api.rows.set('a', { ...api.rows.get('a')!, priority: 5 } as never);
    await before.client.close();
    const ranked = defineResource({
      name: 'items',
      schema: z.object({ id: z.string(), title: z.string(), priority: z.number().default(0), version: z.number().int().positive() }),
    });
    const d = before.reopen({ fetch: api.fetch, resources: [ranked], staleTimeMs: Infinity });
    open.push(d);
    d.online.next(false);
    await d.client.resource(ranked).update('a', { title: 'eggs' });
    d.online.next(true);
    await d.client.flush();
    expect(api.writes.at(-1)).toEqual({ method: 'PATCH', body: { title: 'eggs' } });
    expect(api.rows.get('a')).toMatchObject({ title: 'eggs', priority: 5 });
  });

  it('an update of a record cached before the schema had a defaulted field shows and returns one view, with the default, and stores it without: the field never flickers out', async () => {
    const api = itemsApi();
    const plain = defineResource({ name: 'items', schema: z.object({ id: z.string(), title: z.string(), version: z.number().int().positive() }) });
    const before = device(API, { fetch: api.fetch, resources: [plain] });
    open.push(before);
    await before.client.resource(plain).create({ id: 'a', title: 'milk' } as never);
    await before.client.flush();
    await before.client.close();
    const ranked = defineResource({
      name: 'items',
      schema: z.object({ id: z.string(), title: z.string(), priority: z.number().default(0), version: z.number().int().positive() }),
    });
    const d = before.reopen({ fetch: api.fetch, resources: [ranked], staleTimeMs: Infinity });
    open.push(d);
    d.online.next(false);
    const h = d.client.resource(ranked);
    await h.list();
    const shown: unknown[] = [];
    h.get$('a').subscribe(({ data }) => shown.push(data));
    const updated = await h.update('a', { title: 'eggs' });
    const view = { id: 'a', title: 'eggs', priority: 0, version: 1 };
    expect(updated).toEqual(view);
    expect(await h.get('a')).toBe(updated);
    expect(shown.at(-1)).toBe(updated);
    expect(shown.filter((entity) => !(typeof entity === 'object' && entity !== null && 'priority' in entity))).toEqual([]);
    await d.client.close();
    const db = await openRaw(d.indexedDB, 'harborsync:default');
    const records = await getAllRaw<{ view: unknown }>(db, 'entities');
    db.close();
    expect(records.map((record) => record.view)).toEqual([{ id: 'a', title: 'eggs', version: 1 }]);
  });

  it('a field the schema reads from its wire form (an ISO string made a Date) is read back from the cache, and updated, as the server sends it', async () => {
    const api = itemsApi();
    const dated = defineResource({
      name: 'items',
      schema: z.object({ id: z.string(), title: z.string(), due: z.string().transform((text) => new Date(text)), version: z.number().int().positive() }),
    });
    const d = device(API, { fetch: api.fetch, resources: [dated] });
    open.push(d);
    const h = d.client.resource(dated);
    await h.create({ id: 'a', title: 'milk', due: '2024-01-15T12:00:00.000Z' } as never);
    await d.client.flush();
    d.online.next(false);
    expect(await h.update('a', { title: 'eggs' })).toEqual({ id: 'a', title: 'eggs', due: new Date('2024-01-15T12:00:00.000Z'), version: 1 });
    await h.update('a', { due: new Date('2024-02-01T00:00:00.000Z') });
    await d.client.close();
    const again = d.reopen();
    open.push(again);
    const reopened = again.client.resource(dated);
    expect(await reopened.list()).toEqual([{ id: 'a', title: 'eggs', due: new Date('2024-02-01T00:00:00.000Z'), version: 1 }]);
    expect(again.events.filter((e) => e.type === 'schemaError')).toEqual([]);
    await again.client.flush();
    expect(api.writes.at(-1)).toEqual({ method: 'PATCH', body: { title: 'eggs', due: '2024-02-01T00:00:00.000Z' } });
    expect(await reopened.get('a')).toEqual({ id: 'a', title: 'eggs', due: new Date('2024-02-01T00:00:00.000Z'), version: 2 });
  });

  it('an update that breaks the entity is a ValidationError naming the field; the view stays', async () => {
    const { d, h } = make();
    await h.create({ id: 'a', title: 'Milk' } as never);
    await d.client.flush();
    const refused = await h.update('a', { title: ' ' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues.map((i) => i.field)).toEqual(['title']);
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Milk', done: false, tags: [], version: 1 });
  });

  it('an update that clears a field with undefined is refused, naming it (a request cannot carry undefined); null is sent', async () => {
    const api = itemsApi();
    const d = device(API, { fetch: api.fetch, resources: [memos] });
    open.push(d);
    const h = d.client.resource(memos);
    await h.create({ id: 'a', note: 'x' } as never);
    await d.client.flush();
    const refused = await h.update('a', { note: undefined }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([{ field: 'note', message: expect.stringMatching(/undefined.*null/) }]);
    expect(await h.get('a')).toEqual({ id: 'a', note: 'x', version: 1 });
    expect(pending(d)).toBe(0);
    await h.update('a', { note: null } as never);
    await d.client.flush();
    expect(api.writes.at(-1)).toEqual({ method: 'PATCH', body: { note: null } });
  });
});
