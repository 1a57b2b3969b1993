import { describe, expect, it } from 'vitest';
import { Announcer } from './announcer.js';
import type { TabChannel, TabMessage } from './broadcast.js';

function recording() {
  const posted: TabMessage[] = [];
  let closed = false;
  const channel: TabChannel = {
    shared: true,
    post: (message) => (posted.push(message), true),
    close: () => void (closed = true),
  };
  return { channel, posted, closed: () => closed };
}

const microtasks = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('Announcer', () => {
  it("tells one run's changes in one message per resource, in a microtask, the latest change of an id last", async () => {
    const { channel, posted } = recording();
    const announcer = new Announcer(channel);
    announcer.changed('todos', 'a', false);
    announcer.changed('notes', 'n', true);
    announcer.changed('todos', 'b', false);
    announcer.changed('todos', 'a', true);
    expect(posted).toEqual([]);
    await microtasks();
    expect(posted).toEqual([
      { t: 'changed', r: 'todos', ids: ['b', 'a'], outbox: true },
      { t: 'changed', r: 'notes', ids: ['n'], outbox: true },
    ]);
  });

  it('sends the views of on-demand entities, the latest told, and the cursor moved from the first to the last, with when the first moved it', async () => {
    const { channel, posted } = recording();
    const announcer = new Announcer(channel);
    announcer.changed('todos', 'a', false, { id: 'a', n: 1 });
    announcer.changed('todos', 'b', false);
    announcer.changed('todos', 'a', false);
    announcer.cursorMoved('todos', 'c1', 'c2', 10);
    announcer.cursorMoved('todos', 'c2', 'c3', 20);
    await microtasks();
    expect(posted).toEqual([{ t: 'changed', r: 'todos', ids: ['b', 'a'], outbox: false, views: [null, { id: 'a', n: 1 }], cursor: { from: 'c1', to: 'c3', at: 10 } }]);
  });

  it('posts the changes not yet told before any other message', () => {
    const { channel, posted } = recording();
    const announcer = new Announcer(channel);
    announcer.changed('todos', 'a', true);
    announcer.post({ t: 'outbox' });
    expect(posted).toEqual([{ t: 'changed', r: 'todos', ids: ['a'], outbox: true }, { t: 'outbox' }]);
  });

  it('tells what was committed when it closes, then nothing more', async () => {
    const { channel, posted, closed } = recording();
    const announcer = new Announcer(channel);
    announcer.changed('todos', 'a', false);
    announcer.close();
    expect(closed()).toBe(true);
    announcer.changed('todos', 'b', false);
    await microtasks();
    expect(posted).toEqual([{ t: 'changed', r: 'todos', ids: ['a'], outbox: false }]);
  });
});
