import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import { outcomeOf, referenceServer, todos, until } from '../helpers/harness.js';

const suite = referenceServer();
const { make } = suite;

const ledger = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger('todos');
const pendingIds = (d: ReturnType<typeof make>): string[] => {
  let ids: string[] = [];
  d.client.resource(todos).query$().subscribe((s) => (ids = [...s.pendingIds])).unsubscribe();
  return ids;
};

describe('a busy UI: changes set back before they were sent', () => {
  it('an undo made before the change went out sends nothing: the entity is no longer pending, and the waits resolve with the server’s entity', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    const confirmed = await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    d.online.next(false);
    const edit = outcomeOf(h.update('a', { title: 'B' }, { wait: 'server' }));
    const undo = outcomeOf(h.update('a', { title: 'A' }, { wait: 'server' }));
    expect(await undo).toEqual({ value: confirmed });
    expect(await edit).toEqual({ value: confirmed });
    expect(pendingIds(d)).toEqual([]);
    d.online.next(true);
    await d.client.flush();
    expect((await ledger()).map((e) => e.op)).toEqual(['create']);
    expect(await h.get('a')).toEqual(confirmed);
  });

  it('a toggle clicked four times fast sends nothing, five times one PATCH of the value it was left on; a field set back is left out of the patch', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'even', title: 'E', done: false }, { wait: 'server' });
    await h.create({ id: 'odd', title: 'O', done: false }, { wait: 'server' });
    await h.create({ id: 'both', title: 'B', done: false }, { wait: 'server' });
    d.online.next(false);
    const clicks: Promise<unknown>[] = [];
    for (const [id, times] of [['even', 4], ['odd', 5]] as const) {
      let done = false;
      for (let i = 0; i < times; i++) clicks.push(h.update(id, { done: (done = !done) }));
    }
    clicks.push(h.update('both', { title: 'typed', done: true }), h.update('both', { title: 'B' }));
    await Promise.all(clicks);
    expect(pendingIds(d).sort()).toEqual(['both', 'odd']);
    d.online.next(true);
    await d.client.flush();
    const writes = (await ledger()).filter((e) => e.op !== 'create');
    expect(writes.map((e) => [e.entityId, e.body])).toEqual([
      ['odd', { done: true }],
      ['both', { done: true }],
    ]);
    expect(await h.list({ orderBy: 'id' })).toEqual([
      { id: 'both', title: 'B', done: true, version: 2 },
      { id: 'even', title: 'E', done: false, version: 1 },
      { id: 'odd', title: 'O', done: true, version: 2 },
    ]);
  });

  it('an undo of a change already out is sent after it: the server ends on the old value', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    const sent = h.update('a', { title: 'B' }, { wait: 'server' });
    await until(() => d.calls.includes('PATCH /api/todos/a'), 'the change to go out');
    const undo = h.update('a', { title: 'A' }, { wait: 'server' });
    expect(await sent).toMatchObject({ title: 'B', version: 2 });
    expect(await undo).toMatchObject({ title: 'A', version: 3 });
    expect((await ledger()).map((e) => e.body)).toEqual([{ id: 'a', title: 'A', done: false }, { title: 'B' }, { title: 'A' }]);
  });
});
