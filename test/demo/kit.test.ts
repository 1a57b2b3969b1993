// The demo's shared words (demo/shared/kit.js, a classic script the three apps load).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type kitType from '../../demo/shared/kit.js';

type Kit = typeof kitType;

/** Runs the classic script as a bundler would: with a `module` to export to. */
function loadKit(): Kit {
  const module = { exports: {} as Kit };
  new Function('module', readFileSync(new URL('../../demo/shared/kit.js', import.meta.url), 'utf8'))(module);
  return module.exports;
}

const kit = loadKit();
const none = () => undefined;

describe('the activity line of a pull', () => {
  it('says plainly that todos were removed when the pull only removed', () => {
    const pulled = { type: 'pulled', resource: 'todos', count: 0, removed: 1, at: 0 } as const;
    expect(kit.describeEvent(pulled as never, none)?.text).toBe('1 todo removed on the server');
    expect(kit.describeEvent({ ...pulled, removed: 2 } as never, none)?.text).toBe('2 todos removed on the server');
  });

  it('names both what came and what went when a pull did both', () => {
    const pulled = { type: 'pulled', resource: 'todos', count: 3, removed: 1, at: 0 } as const;
    expect(kit.describeEvent(pulled as never, none)?.text).toBe('Pulled 3 todos from the server, 1 removed');
    expect(kit.describeEvent({ ...pulled, removed: 0 } as never, none)?.text).toBe('Pulled 3 todos from the server');
  });
});

describe('the status pill', () => {
  const status = {
    online: true,
    leader: true,
    syncing: false,
    pending: 0,
    failed: 0,
    conflicts: 0,
    paused: null,
    nextRetryAt: null,
    lastSyncedAt: null,
    lastError: null,
  };

  it('does not say all is saved before the server has answered once', () => {
    const error = new Error('GET /api/todos: 503');
    expect(kit.describeStatus({ ...status, lastError: error } as never, 0)).toEqual({
      state: 'loading',
      label: 'Not loaded yet',
      detail: 'nothing has come from the server yet: GET /api/todos: 503',
    });
    expect(kit.describeStatus(status as never, 0).state).toBe('loading');
    expect(kit.describeStatus({ ...status, lastSyncedAt: 1 } as never, 0).state).toBe('synced');
  });

  // lastError is the last one ever seen: after a network failure long since over, a conflict or a
  // rejected change would show "Last error: Failed to fetch" beside it, as if the network were down.
  it('shows the last error only where it explains the state: a retry waiting, a refused token', () => {
    const lastError = new Error('todos/t1: POST /api/todos failed: TypeError: Failed to fetch');
    const seen = { ...status, lastSyncedAt: 1, lastError };
    const shown = (patch: object) => {
      const now = { ...seen, ...patch };
      return kit.errorToShow(now as never, kit.describeStatus(now as never, 0).state);
    };
    expect(shown({ pending: 1, nextRetryAt: 5 })).toBe(lastError);
    expect(shown({ paused: 'unauthorized' })).toBe(lastError);
    expect(shown({ conflicts: 1 })).toBeNull();
    expect(shown({ failed: 1 })).toBeNull();
    expect(shown({ pending: 1, paused: 'manual' })).toBeNull();
    expect(shown({})).toBeNull();
  });

  it('says offline what happens to changes, in words that fit the count', () => {
    const offline = { ...status, online: false, paused: 'offline', lastSyncedAt: 1 };
    const detail = (pending: number) => kit.describeStatus({ ...offline, pending } as never, 0).detail;
    expect(detail(0)).toBe('nothing waiting; changes made now wait on this device until the network is back');
    expect(detail(1)).toBe('1 change kept on this device; it is sent when the network is back');
    expect(detail(2)).toBe('2 changes kept on this device; they are sent when the network is back');
  });
});

describe('the failed list', () => {
  const failed = (op: string, payload: unknown) => ({
    resource: 'todos',
    id: 't1',
    op,
    payload,
    error: { status: 422, message: 'todos/t1: PATCH /api/todos/t1 answered 422', body: { error: 'injected fault: 422' } },
  });

  // The rejected change is undone on screen: the list is the only place that still says what it was.
  it('says what a rejected change would have done, not only which todo it touched', () => {
    expect(kit.describeFailed(failed('update', { title: 'Buy oat milk' }) as never, 'Buy milk').what).toBe('Renaming “Buy milk” to “Buy oat milk”');
    expect(kit.describeFailed(failed('update', { done: true }) as never, 'Walk the dog').what).toBe('Marking “Walk the dog” done');
    expect(kit.describeFailed(failed('update', { done: false }) as never, 'Walk the dog').what).toBe('Marking “Walk the dog” not done');
    expect(kit.describeFailed(failed('update', { title: 'B', done: true }) as never, 'A').what).toBe('Changing “A”');
    expect(kit.describeFailed(failed('create', { id: 't1', title: 'A', done: false }) as never, 'A').what).toBe('Adding “A”');
    expect(kit.describeFailed(failed('delete', null) as never, 'A').what).toBe('Deleting “A”');
  });
});

describe('the conflict dialog headline', () => {
  // The user deleted the todo they knew; the other side's new title is in the table below.
  it('names a todo deleted here by the title it had when it was deleted', () => {
    const conflict = {
      resource: 'todos',
      id: 't1',
      fields: [],
      base: { id: 't1', title: 'Buy milk', done: false, version: 1 },
      local: null,
      remote: { id: 't1', title: 'Buy milk, says Mallory', done: false, version: 2 },
    };
    expect(kit.conflictTitle(conflict as never).text).toBe('You deleted “Buy milk” while someone else changed it.');
  });
});
