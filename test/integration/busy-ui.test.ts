import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../server/index.mjs';
import { ValidationError } from '../../src/index.js';
import { heldAnswers, outcomeOf, referenceServer, todos, until } from '../helpers/harness.js';

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

  it("under 'client-wins', an undo made before the change went out leaves alone what another user changed meanwhile", async () => {
    const d = make(suite.server.apiUrl, { conflicts: 'client-wins' });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    d.online.next(false);
    await h.update('a', { title: 'B' });
    await h.update('a', { title: 'A' });
    await suite.server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'Theirs' } });
    d.online.next(true);
    await d.client.flush();
    await h.refresh();
    expect(await h.get('a')).toEqual({ id: 'a', title: 'Theirs', done: false, version: 2 });
    expect((await ledger()).map((e) => e.body)).toEqual([{ id: 'a', title: 'A', done: false }, { title: 'Theirs' }]);
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

describe('a busy UI: keystrokes and double clicks', () => {
  it('keystrokes made while the first one’s request is out: two requests, the last text on the server, and the field never shows an older text when that answer lands', async () => {
    const held = heldAnswers((request) => request.method === 'PATCH');
    const d = make(suite.server.apiUrl, { fetch: held.fetch });
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: '', done: false }, { wait: 'server' });
    const shown: string[] = [];
    const listed: string[] = [];
    const watching = [
      h.get$('a').subscribe(({ data }) => data && shown.at(-1) !== data.title && shown.push(data.title)),
      h.query$().subscribe(({ data }) => data[0] && listed.at(-1) !== data[0].title && listed.push(data[0].title)),
    ];
    const first = await held.heldRequest(() => h.update('a', { title: 'h' }, { wait: 'server' }), d.clock);
    const later = ['he', 'hel', 'hell', 'hello'].map((title) => h.update('a', { title }, { wait: 'server' }));
    await first.landed();
    const confirmed = { id: 'a', title: 'hello', done: false, version: 3 };
    for (const write of later) expect(await outcomeOf(write)).toEqual({ value: confirmed });
    for (const subscription of watching) subscription.unsubscribe();
    expect(shown).toEqual(['', 'h', 'he', 'hel', 'hell', 'hello']);
    expect(listed).toEqual(shown);
    expect((await ledger()).map((e) => e.body)).toEqual([{ id: 'a', title: '', done: false }, { title: 'h' }, { title: 'hello' }]);
  });

  it('double clicks: a second create() of the id given, or a second delete(), is refused by name: one create and one delete go out', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    const created = [h.create({ id: 'x', title: 'X', done: false }), h.create({ id: 'x', title: 'X', done: false })].map((write) => outcomeOf(write));
    expect(await created[0]).toEqual({ value: { id: 'x', title: 'X', done: false } });
    expect((await created[1]) as { error: unknown }).toEqual({ error: expect.any(ValidationError) });
    const deleted = [h.delete('x'), h.delete('x')].map((write) => outcomeOf(write));
    expect(await deleted[0]).toEqual({ value: undefined });
    expect((await deleted[1]) as { error: unknown }).toEqual({ error: expect.any(ValidationError) });
    await d.client.flush();
    expect((await ledger()).map((e) => `${e.op} ${e.entityId}`)).toEqual(['create x', 'delete x']);
  });

  it('update, delete and create again of one id before anything was sent: the delete, then the create; the update’s wait ends with the delete’s', async () => {
    const d = make(suite.server.apiUrl);
    const h = d.client.resource(todos);
    await h.create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    d.online.next(false);
    const updated = outcomeOf(h.update('a', { title: 'B' }, { wait: 'server' }));
    const deleted = outcomeOf(h.delete('a', { wait: 'server' }));
    const again = outcomeOf(h.create({ id: 'a', title: 'C', done: true }, { wait: 'server' }));
    d.online.next(true);
    expect(await updated).toEqual({ value: undefined });
    expect(await deleted).toEqual({ value: undefined });
    expect(await again).toEqual({ value: { id: 'a', title: 'C', done: true, version: 3 } });
    expect((await ledger()).map((e) => e.op)).toEqual(['create', 'delete', 'create']);
  });
});
