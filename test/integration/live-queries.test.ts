/**
 * Live queries through a device's whole life, property-based: random creates, updates and deletes
 * (of the same few ids, so an entity is deleted and created again, updated while deleted, written
 * while its earlier change is out), another user's edits and deletions on the server, sends and
 * pulls. After every step each live query shows what a straightforward recompute over list()
 * shows (where, orderBy ties, limit; nulls, missing fields, -0, emoji and fullwidth text), its
 * pendingIds name only pending rows it shows or pending deletes, and an entity shows as the same
 * object in every query and entity watch. In the end, the conflicts taken as the server's, the
 * device holds what the server holds. The server is a small stub of DESIGN section 2 (versions
 * never reused, If-Match, Idempotency-Key), fast enough for hundreds of runs.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource, type Conflict, type EntityState, type Query, type QueryState } from '../../src/index.js';
import { compileQuery } from '../../src/store/query.js';
import { trackedDevices } from '../helpers/harness.js';

const { open, make } = trackedDevices();
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close()));
});

const rowSchema = z.object({ id: z.string(), title: z.string(), n: z.number().nullable().optional(), done: z.boolean(), version: z.number().int() });
type Row = z.infer<typeof rowSchema>;
const rows = defineResource({ name: 'rows', schema: rowSchema });
const IDS = ['a', 'b', 'c', 'd'] as const;

/** DESIGN section 2 for one resource, in memory: a version is never reused for an id, even once deleted. */
function stubServer() {
  const held = new Map<string, Row>();
  const answered = new Map<string, { status: number; body: string | null }>();
  const versions = new Map<string, number>();
  const nextVersion = (id: string) => {
    const version = (versions.get(id) ?? 0) + 1;
    versions.set(id, version);
    return version;
  };
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const segment = new URL(request.url).pathname.split('/')[3];
    const id = segment === undefined ? undefined : decodeURIComponent(segment);
    if (request.method === 'GET') return id === undefined ? json([...held.values()]) : held.has(id) ? json(held.get(id)) : json({}, 404);
    const key = request.headers.get('Idempotency-Key')!;
    const first = answered.get(key);
    if (first) return new Response(first.body, { status: first.status, headers: { 'content-type': 'application/json' } });
    const applied = (status: number, row: Row | null) => {
      answered.set(key, { status, body: row && JSON.stringify(row) });
      return row ? json(row, status) : new Response(null, { status });
    };
    if (request.method === 'POST') {
      const body = (await request.json()) as Row;
      if (held.has(body.id)) return json(held.get(body.id), 409);
      const row = { ...body, version: nextVersion(body.id) };
      held.set(row.id, row);
      return applied(201, row);
    }
    const current = id === undefined ? undefined : held.get(id);
    if (!current) return json({}, 404);
    if (request.headers.get('If-Match') !== `"${current.version}"`) return json(current, 412);
    if (request.method === 'DELETE') {
      held.delete(current.id);
      return applied(204, null);
    }
    const row = { ...current, ...((await request.json()) as Partial<Row>), version: nextVersion(current.id) };
    held.set(row.id, row);
    return applied(200, row);
  };
  /** Another user's edit (or deletion, or creation) of `id`. */
  const edit = (id: string, title: string, remove: boolean) => {
    const current = held.get(id);
    if (current && remove) held.delete(id);
    else held.set(id, { ...(current ?? { id, done: false }), title, version: nextVersion(id) });
  };
  return { held, fetch: fetchImpl, edit };
}

const idArb = fc.constantFrom(...IDS);
const titleArb = fc.constantFrom('', 'x', 'X', 'xx', 'é', '\u{1F600}', '\uff5e');
const nArb = fc.constantFrom(null, 0, -0, 1, -1, 2.5);
const stepArb = fc.oneof(
  fc.record({ op: fc.constant('create' as const), id: idArb, title: titleArb, n: fc.option(nArb, { nil: undefined }), done: fc.boolean() }),
  fc.record(
    { op: fc.constant('update' as const), id: idArb, patch: fc.record({ title: titleArb, n: nArb, done: fc.boolean() }, { requiredKeys: [] }) },
  ),
  fc.record({ op: fc.constant('delete' as const), id: idArb }),
  fc.record({ op: fc.constant('remote' as const), id: idArb, title: titleArb, remove: fc.boolean() }),
  fc.record({ op: fc.constantFrom('send' as const, 'pull' as const) }),
);
const queries: Array<Query<Row>> = [
  {},
  { orderBy: 'title', limit: 2 },
  { where: { done: false }, orderBy: [['n', 'desc'], 'title'] },
  { where: (row) => row.title.length > 0, orderBy: 'n', limit: 3 },
  { where: { n: 0 } },
];

/** What the query shows of `all`, recomputed. */
function recompute(all: readonly Row[], query: Query<Row>): Row[] {
  const { matches, compare, limit } = compileQuery(query as Query<object>, 'id');
  const sorted = all.filter(matches as (row: Row) => boolean).sort(compare as (a: Row, b: Row) => number);
  return sorted.slice(0, limit);
}

describe('live queries through writes, pulls and sends', () => {
  it('equal a recompute after every step, and the device ends holding what the server holds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 10, maxLength: 40 }), async (steps) => {
        const server = stubServer();
        const d = make('http://api.test/api', { fetch: server.fetch, resources: [rows] });
        const h = d.client.resource(rows);
        await h.refresh();
        // Sent only when a step says so.
        d.online.next(false);
        const online = async (run: () => Promise<unknown>) => {
          d.online.next(true);
          await run();
          d.online.next(false);
        };
        const shown = queries.map(() => ({ state: undefined as QueryState<Row> | undefined }));
        queries.forEach((query, i) => h.query$(query).subscribe((state) => (shown[i]!.state = state)));
        const watched = new Map<string, EntityState<Row>>();
        for (const id of IDS) h.get$(id).subscribe((state) => watched.set(id, state));
        for (const step of steps) {
          const write =
            step.op === 'create'
              ? h.create({ id: step.id, title: step.title, n: step.n, done: step.done })
              : step.op === 'update'
                ? h.update(step.id, step.patch)
                : step.op === 'delete'
                  ? h.delete(step.id)
                  : null;
          // Refused only for what the view shows: a create of an id shown, a change of none.
          if (write) await write.catch((error: unknown) => expect(String(error)).toMatch(/already exists|no entity with this id/));
          if (step.op === 'remote') server.edit(step.id, step.title, step.remove);
          if (step.op === 'send') await online(() => d.client.flush());
          if (step.op === 'pull') await online(() => h.refresh().catch(() => undefined));
          const all = await h.list();
          queries.forEach((query, i) => {
            const { state } = shown[i]!;
            expect(state!.data).toEqual(recompute(all, query));
            // The same objects as list() gives.
            for (const row of state!.data) expect(all.find((x) => x.id === row.id)).toBe(row);
            for (const id of state!.pendingIds) expect(watched.get(id)!.pending && (state!.data.some((row) => row.id === id) || !all.some((row) => row.id === id))).toBe(true);
          });
          for (const id of IDS) expect(watched.get(id)!.data).toBe(all.find((row) => row.id === id));
        }
        d.online.next(true);
        for (let round = 0; round < 3; round++) {
          // A change re-sent after a conflict waits its backoff, which flush() does not skip.
          await d.clock.advance(60_000);
          await d.client.flush();
          let conflicts: Conflict[] = [];
          d.client.conflicts$.subscribe((list) => (conflicts = list)).unsubscribe();
          for (const conflict of conflicts) await conflict.resolve('remote');
        }
        await h.refresh();
        let failed: unknown[] = [];
        d.client.failed$.subscribe((list) => (failed = list)).unsubscribe();
        expect(failed).toEqual([]);
        let pending = -1;
        d.client.status$.subscribe((status) => (pending = status.pending)).unsubscribe();
        expect(pending).toBe(0);
        const byId = (a: Row, b: Row) => (a.id < b.id ? -1 : 1);
        expect(await h.list({ orderBy: 'id' })).toEqual([...server.held.values()].sort(byId));
      }),
      { numRuns: 80 },
    );
  });
});
