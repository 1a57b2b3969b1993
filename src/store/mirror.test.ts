import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EntityState, Query, QueryState } from '../types.js';
import { ResourceMirror, reshapedFields } from './mirror.js';
import { compileQuery } from './query.js';

interface Todo {
  id: string;
  title: string;
  done: boolean;
  n: number;
}

const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const todoArb = (id: string) =>
  fc.record({ id: fc.constant(id), title: fc.constantFrom('x', 'y', 'z'), done: fc.boolean(), n: fc.integer({ min: 0, max: 4 }) });
const stepArb = fc.constantFrom(...ids).chain((id) =>
  fc.record({ id: fc.constant(id), value: fc.option(todoArb(id), { nil: undefined }), pending: fc.boolean() }),
);
const queryArb: fc.Arbitrary<Query<Todo>> = fc.record(
  {
    where: fc.oneof(fc.constant(undefined), fc.record({ done: fc.boolean() }), fc.record({ title: fc.constantFrom('x', 'y') })),
    orderBy: fc.oneof(
      fc.constant(undefined),
      fc.constantFrom<Query<Todo>['orderBy']>('title', [['n', 'desc'], 'title'], [['done', 'asc'], ['n', 'asc']]),
    ),
    limit: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 4 })),
  },
  { requiredKeys: [] },
);

function recompute(all: Map<string, Todo>, query: Query<Todo>): Todo[] {
  const { matches, compare, limit } = compileQuery(query, 'id');
  const out = [...all.values()].filter(matches).sort(compare);
  return limit === Infinity ? out : out.slice(0, limit);
}

describe('ResourceMirror live queries', () => {
  it('stay equal to a full recompute after any sequence of changes, and emit only on visible changes', () => {
    fc.assert(
      fc.property(fc.array(queryArb, { minLength: 1, maxLength: 3 }), fc.array(stepArb, { maxLength: 40 }), (queries, steps) => {
        const mirror = new ResourceMirror<Todo>('todos', 'id');
        mirror.setFlags({ hydrated: true });
        const model = new Map<string, Todo>();
        const pending = new Set<string>();
        const last: Array<QueryState<Todo>> = [];
        const emissions = queries.map(() => 0);
        queries.forEach((q, i) =>
          mirror.createQuery(q).subscribe((state) => {
            last[i] = state;
            emissions[i]!++;
          }),
        );
        for (const step of steps) {
          const before = last.map((s) => s);
          const countsBefore = [...emissions];
          mirror.set(step.id, step.value, step.pending);
          if (step.value) model.set(step.id, step.value);
          else model.delete(step.id);
          if (step.pending) pending.add(step.id);
          else pending.delete(step.id);
          queries.forEach((q, i) => {
            const expected = recompute(model, q);
            expect(last[i]!.data).toEqual(expected);
            expect(last[i]!.hasMore).toBe(recompute(model, { ...q, limit: undefined }).length > expected.length);
            for (const id of last[i]!.pendingIds) expect(pending.has(id)).toBe(true);
            for (const row of expected) expect(last[i]!.pendingIds.has(row.id)).toBe(pending.has(row.id));
            // Pending: a row shown, or a pending delete (of a row shown before).
            for (const id of last[i]!.pendingIds) expect(expected.some((row) => row.id === id) || !model.has(id)).toBe(true);
            if (emissions[i] === countsBefore[i]) expect(before[i]!.data).toEqual(expected);
            else {
              expect(emissions[i]).toBe(countsBefore[i]! + 1);
              // Emitted only for what it shows.
              const same = (a: QueryState<Todo>, b: QueryState<Todo>) =>
                a.hasMore === b.hasMore && a.data.length === b.data.length && a.data.every((row, k) => row === b.data[k]) && [...a.pendingIds].sort().join() === [...b.pendingIds].sort().join();
              expect(same(before[i]!, last[i]!)).toBe(false);
            }
          });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('recomputes a batch too large to splice and emits once', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    const states: Array<QueryState<Todo>> = [];
    mirror.createQuery({ where: { done: false }, orderBy: [['n', 'desc']], limit: 5 }).subscribe((s) => states.push(s));
    mirror.batch(() => {
      for (let i = 0; i < 1000; i++) mirror.set(`t${i}`, { id: `t${i}`, title: 't', done: i % 2 === 0, n: i }, false);
    });
    expect(states).toHaveLength(2);
    expect(states[1]!.data.map((t) => t.n)).toEqual([999, 997, 995, 993, 991]);
    expect(states[1]!.hasMore).toBe(true);
  });

  it('a batch too large to splice keeps in pendingIds the pending deletes it showed, not a pending entity that left the query', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    mirror.set('kept', { id: 'kept', title: 'x', done: false, n: 0 }, true);
    mirror.set('left', { id: 'left', title: 'x', done: false, n: 0 }, true);
    mirror.set('gone', { id: 'gone', title: 'x', done: false, n: 0 }, true);
    const states: Array<QueryState<Todo>> = [];
    mirror.createQuery({ where: { done: false } }).subscribe((s) => states.push(s));
    expect([...states.at(-1)!.pendingIds].sort()).toEqual(['gone', 'kept', 'left']);
    mirror.batch(() => {
      // A pull: the server finished `left` (its local change still pending), `gone` is deleted here.
      for (let i = 0; i < 300; i++) mirror.set(`t${i}`, { id: `t${i}`, title: 'x', done: true, n: i }, false);
      mirror.set('left', { id: 'left', title: 'x', done: true, n: 0 }, true);
      mirror.set('gone', undefined, true);
    });
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['kept']);
    expect([...states.at(-1)!.pendingIds].sort()).toEqual(['gone', 'kept']);
  });

  it('emits hasMore anew when a change beyond the window moves the count of matches across the limit', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    mirror.set('a', { id: 'a', title: 'x', done: false, n: 1 }, false);
    mirror.set('b', { id: 'b', title: 'x', done: false, n: 2 }, false);
    const states: Array<QueryState<Todo>> = [];
    mirror.createQuery({ orderBy: 'n', limit: 2 }).subscribe((s) => states.push(s));
    expect(states.at(-1)!.hasMore).toBe(false);
    mirror.set('c', { id: 'c', title: 'x', done: false, n: 3 }, false);
    expect(states.at(-1)!.hasMore).toBe(true);
    mirror.set('c', undefined, false);
    expect(states.at(-1)!.hasMore).toBe(false);
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['a', 'b']);
  });

  it('replays the latest state to a late subscriber and shares one live query', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    const live = mirror.createQuery({ orderBy: 'title' });
    const first: Array<QueryState<Todo>> = [];
    live.subscribe((s) => first.push(s));
    mirror.set('a', { id: 'a', title: 'b', done: false, n: 1 }, true);
    const late: Array<QueryState<Todo>> = [];
    live.subscribe((s) => late.push(s));
    expect(late).toEqual([first.at(-1)]);
    expect(late[0]!.pendingIds.has('a')).toBe(true);
  });

  it('a local change beyond a limited query\'s window emits nothing: pendingIds names only the rows it shows and the pending deletes of rows it showed', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    for (let i = 0; i < 10; i++) mirror.set(`t${i}`, { id: `t${i}`, title: 't', done: false, n: i }, false);
    const states: Array<QueryState<Todo>> = [];
    mirror.createQuery({ orderBy: 'n', limit: 3 }).subscribe((s) => states.push(s));
    mirror.set('t5', { id: 't5', title: 'edited', done: false, n: 5 }, true);
    mirror.set('t3', { id: 't3', title: 'edited', done: false, n: 3 }, true);
    mirror.set('t9', undefined, true);
    mirror.set('t5', { id: 't5', title: 'edited', done: false, n: 5 }, false);
    expect(states).toHaveLength(1);
    // t0 deleted on the server: t3 comes into the window, with its pending change.
    mirror.set('t0', undefined, false);
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['t1', 't2', 't3']);
    expect([...states.at(-1)!.pendingIds]).toEqual(['t3']);
    mirror.set('t1', undefined, true);
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['t2', 't3', 't4']);
    expect([...states.at(-1)!.pendingIds].sort()).toEqual(['t1', 't3']);
    const shown = states.at(-1)!;
    mirror.set('t9', undefined, false);
    mirror.set('t6', { id: 't6', title: 'edited', done: false, n: 6 }, true);
    expect(states.at(-1)).toBe(shown);
    // The deleted row created again, beyond the window: no pending delete any more.
    mirror.set('t1', { id: 't1', title: 'again', done: false, n: 99 }, true);
    expect(states.at(-1)!.data.map((t) => t.id)).toEqual(['t2', 't3', 't4']);
    expect([...states.at(-1)!.pendingIds]).toEqual(['t3']);
  });

  it('does not emit to a query whose window the change does not reach', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    for (let i = 0; i < 10; i++) mirror.set(`t${i}`, { id: `t${i}`, title: 't', done: false, n: i }, false);
    let emissions = 0;
    mirror.createQuery({ orderBy: 'n', limit: 3 }).subscribe(() => emissions++);
    mirror.set('t9', { id: 't9', title: 'u', done: false, n: 9 }, false);
    mirror.set('t8', { id: 't8', title: 'u', done: true, n: 8 }, false);
    expect(emissions).toBe(1);
    mirror.set('t9', { id: 't9', title: 'u', done: false, n: -1 }, false);
    expect(emissions).toBe(2);
  });
});

describe('ResourceMirror entity watches', () => {
  it('a watch moved to the server id by follow() is removed by its own unsubscribe', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    mirror.set('tmp:1', { id: 'tmp:1', title: 'x', done: false, n: 1 }, true);
    const seen: Array<EntityState<Todo>> = [];
    const stop = mirror.watchEntity('tmp:1', (state) => seen.push(state));
    mirror.follow('tmp:1', 's1');
    mirror.batch(() => {
      mirror.set('tmp:1', undefined, false);
      mirror.set('s1', { id: 's1', title: 'x', done: false, n: 1 }, false);
    });
    expect(seen.at(-1)!.data).toMatchObject({ id: 's1' });
    const heard = seen.length;
    stop();
    // Nothing watches the resource any more: no refetch on reconnect, nothing held from eviction.
    expect(mirror.hasListeners).toBe(false);
    expect(mirror.shownIds().size).toBe(0);
    mirror.set('s1', { id: 's1', title: 'y', done: false, n: 1 }, false);
    expect(seen).toHaveLength(heard);
  });

  it('a watch moved by follow() is told the state under the new id when that id is set to nothing new: taken out under the old one, absent under the new', () => {
    const view = { id: 'tmp:1', title: 'x', done: false, n: 1 };
    const told = (order: 'before' | 'after') => {
      const mirror = new ResourceMirror<Todo>('todos', 'id');
      mirror.setFlags({ hydrated: true });
      mirror.set('tmp:1', view, true);
      const seen: Array<EntityState<Todo>> = [];
      mirror.watchEntity('tmp:1', (state) => seen.push(state));
      // The entity deleted on the server meanwhile: a pull takes it out before or after the rename moves the watch.
      if (order === 'before') mirror.set('tmp:1', undefined, true);
      mirror.follow('tmp:1', 's1');
      mirror.batch(() => {
        mirror.set('tmp:1', undefined, false);
        mirror.set('s1', undefined, false);
      });
      return seen.at(-1);
    };
    expect(told('before')).toMatchObject({ data: undefined, pending: false });
    expect(told('after')).toMatchObject({ data: undefined, pending: false });
  });

  it('a change made by one subscriber as it is told of another leaves every subscriber on the newer state, never the older one after it', () => {
    // A get$() subscriber that marks what it is shown (an update() in its callback) changes the
    // entity while the others of the same get$() are still to be told of the first state.
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    const first: Array<Todo | undefined> = [];
    const second: Array<Todo | undefined> = [];
    mirror.watchEntity('a', (state) => {
      first.push(state.data);
      if (state.data?.done === false) mirror.set('a', { ...state.data, done: true }, true);
    });
    mirror.watchEntity('a', (state) => second.push(state.data));
    mirror.set('a', { id: 'a', title: 'x', done: false, n: 1 }, false);
    expect(first.map((t) => t?.done)).toEqual([undefined, false, true]);
    expect(second.at(-1)).toMatchObject({ done: true });
    expect(second.map((t) => t?.done)).toEqual([undefined, true]);
  });

  it('a flag change that leaves a watched entity\'s state as it was (a lastSyncedAt) tells its watchers nothing: the state they hold stays the same object', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    mirror.set('a', { id: 'a', title: 'x', done: false, n: 1 }, false);
    const seen: Array<EntityState<Todo>> = [];
    mirror.watchEntity('a', (state) => seen.push(state));
    mirror.setFlags({ lastSyncedAt: 5 });
    mirror.setFlags({ lastSyncedAt: 6 });
    expect(seen).toHaveLength(1);
    mirror.setFlags({ isFetching: true });
    expect(seen.map((state) => state.isFetching)).toEqual([false, true]);
  });
});

describe('ResourceMirror shown tracking', () => {
  it('forgets when an entity was shown once it leaves the cache, so browsing many pages does not grow it without bound', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.trackShown = true;
    mirror.setFlags({ hydrated: true });
    const stop = mirror.createQuery({ orderBy: 'n', limit: 10 }).subscribe(() => undefined);
    for (let page = 0; page < 20; page++) {
      const ids = Array.from({ length: 10 }, (_, i) => `p${page}-${i}`);
      mirror.batch(() => {
        for (const [i, id] of ids.entries()) mirror.set(id, { id, title: 'x', done: false, n: page * 10 + i }, false);
      });
      for (const id of ids) expect(mirror.lastShown(id)).toBeGreaterThan(0);
      // The page scrolled away and was evicted, as an on-demand cache does past its cacheLimit.
      mirror.batch(() => {
        for (const id of ids) mirror.set(id, undefined, false);
      });
      for (const id of ids) expect(mirror.lastShown(id)).toBe(0);
    }
    stop();
  });

  it('remembers nothing for an entity watched while not cached: detail views of deleted or never-loaded ids come and go by the thousand', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.trackShown = true;
    mirror.setFlags({ hydrated: true });
    for (let i = 0; i < 300; i++) {
      // A detail view of an entity deleted while it was open, and one of an id never loaded.
      const deleted = `d${i}`;
      mirror.set(deleted, { id: deleted, title: 'x', done: false, n: i }, false);
      const stopDeleted = mirror.watchEntity(deleted, () => undefined);
      mirror.set(deleted, undefined, false);
      stopDeleted();
      mirror.watchEntity(`never${i}`, () => undefined)();
    }
    for (let i = 0; i < 300; i++) {
      expect(mirror.lastShown(`d${i}`)).toBe(0);
      expect(mirror.lastShown(`never${i}`)).toBe(0);
    }
  });
});

describe('ResourceMirror query peek', () => {
  const todo = (id: string, n: number): Todo => ({ id, title: 'x', done: false, n });

  it('gives the state a subscriber would get, computed once: the first subscriber takes it as it is', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    mirror.set('a', todo('a', 1), false);
    const query = mirror.createQuery({ orderBy: 'n' });
    const peeked = query.peek();
    expect(peeked.data.map((t) => t.id)).toEqual(['a']);
    expect(query.peek()).toBe(peeked);
    const seen: Array<QueryState<Todo>> = [];
    const stop = query.subscribe((state) => seen.push(state));
    expect(seen[0]).toBe(peeked);
    mirror.set('b', todo('b', 0), true);
    expect(seen.at(-1)!.data.map((t) => t.id)).toEqual(['b', 'a']);
    stop();
  });

  it('computes anew for a subscriber when the entities or flags changed since the peek', () => {
    const mirror = new ResourceMirror<Todo>('todos', 'id');
    mirror.setFlags({ hydrated: true });
    const query = mirror.createQuery({});
    const peeked = query.peek();
    mirror.set('a', todo('a', 1), false);
    const seen: Array<QueryState<Todo>> = [];
    query.subscribe((state) => seen.push(state));
    expect(seen[0]).not.toBe(peeked);
    expect(seen[0]!.data.map((t) => t.id)).toEqual(['a']);
    // A change is applied to the query the subscriber holds, not to the one peeked.
    mirror.set('b', todo('b', 2), false);
    expect(seen.at(-1)!.data.map((t) => t.id)).toEqual(['a', 'b']);
  });
});

describe('fields the schema reshapes in views cached under an older one', () => {
  it('reshapedFields names the output\'s fields the stored view lacks or holds as another kind, none holding undefined nor a forbidden key', () => {
    const parsed = JSON.parse('{"id":"a","title":"x","priority":0,"note":null,"tags":["t"],"__proto__":{"polluted":true}}') as Record<string, unknown>;
    parsed['gone'] = undefined;
    parsed['due'] = new Date(0);
    expect(reshapedFields({ id: 'a', title: 'x', tags: ['t'], due: '1970-01-01T00:00:00.000Z' }, parsed)).toEqual({
      priority: { stored: undefined, shown: 0 },
      note: { stored: undefined, shown: null },
      due: { stored: '1970-01-01T00:00:00.000Z', shown: new Date(0) },
    });
    expect(reshapedFields({ id: 'a', title: 'y', priority: 3, note: 'n', tags: [], due: new Date(5) }, { id: 'a', title: 'x', priority: 0, note: 'm', tags: ['t'], due: new Date(0) })).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('every view set for the entity shows them while it holds them as stored; other entities are left as they are', () => {
    const mirror = new ResourceMirror<Record<string, unknown>>('todos', 'id');
    mirror.reshape('a', { priority: { stored: undefined, shown: 0 }, due: { stored: '1970-01-01T00:00:00.000Z', shown: new Date(0) } });
    mirror.set('a', { id: 'a', title: 'x', due: '1970-01-01T00:00:00.000Z' }, false);
    expect(mirror.entities.get('a')).toEqual({ id: 'a', title: 'x', priority: 0, due: new Date(0) });
    mirror.set('a', { id: 'a', title: 'y', priority: 2, due: null }, true);
    expect(mirror.entities.get('a')).toEqual({ id: 'a', title: 'y', priority: 2, due: null });
    const b = { id: 'b', title: 'z' };
    mirror.set('b', b, false);
    expect(mirror.entities.get('b')).toBe(b);
    expect(mirror.shown('b', b)).toBe(b);
  });
});
