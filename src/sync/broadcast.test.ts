import { describe, expect, it } from 'vitest';
import { BroadcastHub } from '../../test/helpers/tabs.js';
import { ConflictError, HttpError, NetworkError, SchemaError, StorageError, isHarborSyncError } from '../errors.js';
import { fromTabError, openTabChannel, toTabError, type TabMessage } from './broadcast.js';

const tasks = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

function tab(hub: BroadcastHub, namespace = 'ns') {
  const received: TabMessage[] = [];
  const channel = openTabChannel(hub.Channel, namespace, (m) => received.push(m));
  return { channel, received };
}

describe('openTabChannel', () => {
  it('delivers to the other tabs of the namespace, later, in order; never to the sender or another namespace', async () => {
    const hub = new BroadcastHub();
    const a = tab(hub);
    const b = tab(hub);
    const c = tab(hub);
    const other = tab(hub, 'other');
    a.channel.post({ t: 'changed', r: 'todos', ids: ['1'], outbox: true });
    a.channel.post({ t: 'outbox' });
    expect(b.received).toEqual([]); // asynchronous, like the browser
    await tasks();
    for (const receiver of [b, c]) {
      expect(receiver.received).toEqual([{ t: 'changed', r: 'todos', ids: ['1'], outbox: true }, { t: 'outbox' }]);
    }
    expect(a.received).toEqual([]);
    expect(other.received).toEqual([]);
    expect(hub.posted.map((p) => p.name)).toEqual(['harborsync:ns', 'harborsync:ns']);
  });

  it('after close: nothing arrives, posting is a no-op, and the channel is released', async () => {
    const hub = new BroadcastHub();
    const a = tab(hub);
    const b = tab(hub);
    a.channel.post({ t: 'outbox' });
    b.channel.close();
    b.channel.close();
    await tasks();
    expect(b.received).toEqual([]);
    a.channel.close();
    expect(() => a.channel.post({ t: 'outbox' })).not.toThrow();
    expect(hub.open()).toBe(0);
  });

  it('not listening (a page in the back/forward cache): no channel of it is open to be reached, what it posts still goes out; listening again, it hears', async () => {
    const hub = new BroadcastHub();
    const a = tab(hub);
    const b = tab(hub);
    b.channel.listen(false);
    b.channel.listen(false);
    expect(hub.open()).toBe(1);
    a.channel.post({ t: 'outbox' });
    expect(b.channel.post({ t: 'resumed' })).toBe(true);
    await tasks();
    expect(b.received).toEqual([]);
    expect(a.received).toEqual([{ t: 'resumed' }]);
    expect(hub.open()).toBe(1);
    b.channel.listen(true);
    a.channel.post({ t: 'outbox' });
    await tasks();
    expect(b.received).toEqual([{ t: 'outbox' }]);
    b.channel.close();
    b.channel.listen(true);
    expect(hub.open()).toBe(1);
  });

  it('without BroadcastChannel (or when it cannot be made) a tab stays alone, silently', () => {
    const alone = openTabChannel(undefined, 'ns', () => undefined);
    expect(() => alone.post({ t: 'outbox' })).not.toThrow();
    alone.close();
    const Broken = class {
      constructor() {
        throw new Error('not here');
      }
    } as unknown as new (name: string) => never;
    const broken = openTabChannel(Broken, 'ns', () => undefined);
    expect(() => broken.post({ t: 'outbox' })).not.toThrow();
  });

  it('a message that cannot be cloned never throws into the write that caused it; a settled one becomes an outbox hint', async () => {
    const hub = new BroadcastHub();
    const a = tab(hub);
    const b = tab(hub);
    const value = { id: '1', oops: () => 1 } as unknown as Record<string, unknown>;
    expect(() => a.channel.post({ t: 'settled', seq: 1, value })).not.toThrow();
    await tasks();
    expect(b.received).toEqual([{ t: 'outbox' }]);
  });

  it('a change hint whose views cannot be cloned goes out without them, as a bare hint', async () => {
    const hub = new BroadcastHub();
    const a = tab(hub);
    const b = tab(hub);
    const view = { id: '1', oops: () => 1 } as unknown as Record<string, unknown>;
    expect(a.channel.post({ t: 'changed', r: 'orders', ids: ['1', '2'], outbox: false, views: [view, null] })).toBe(true);
    await tasks();
    expect(b.received).toEqual([{ t: 'changed', r: 'orders', ids: ['1', '2'], outbox: false }]);
  });

  it('ignores foreign messages on the channel name', async () => {
    const hub = new BroadcastHub();
    const b = tab(hub);
    const stranger = new hub.Channel('harborsync:ns');
    stranger.postMessage('hello');
    stranger.postMessage(null);
    stranger.postMessage({ nope: true });
    await tasks();
    expect(b.received).toEqual([]);
    stranger.close();
  });
});

describe('errors across tabs', () => {
  const roundTrip = <E extends Error>(error: Parameters<typeof toTabError>[0]) =>
    fromTabError(structuredClone(toTabError(error))) as unknown as E;

  it('an HttpError keeps its class, status, body and message', () => {
    const original = new HttpError(
      { status: 422, body: { error: 'title too long' }, method: 'POST', url: 'http://x/api/todos', detail: 'title too long' },
      { resource: 'todos', id: 't1' },
    );
    const copy = roundTrip<HttpError>(original);
    expect(copy).toBeInstanceOf(HttpError);
    expect(copy).toMatchObject({ name: 'HttpError', code: 'HTTP', status: 422, body: { error: 'title too long' }, resource: 'todos', id: 't1' });
    expect(copy.message).toBe(original.message);
  });

  it('a ConflictError keeps its fields; a SchemaError its issues; a NetworkError and a StorageError their class', () => {
    const conflict = roundTrip<ConflictError>(new ConflictError(['title', 'meta.tag'], { resource: 'todos', id: 't1' }));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict.fields).toEqual(['title', 'meta.tag']);
    expect(conflict.message).toBe('todos/t1: conflict on "title", "meta.tag"');
    const schema = roundTrip<SchemaError>(new SchemaError([{ field: 'done', message: 'expected boolean' }], { resource: 'todos', id: 't1' }));
    expect(schema).toBeInstanceOf(SchemaError);
    expect(schema.issues).toEqual([{ field: 'done', message: 'expected boolean' }]);
    const network = roundTrip<NetworkError>(new NetworkError({ method: 'PATCH', url: 'http://x/api/todos/1', reason: 'timed out' }));
    expect(network).toBeInstanceOf(NetworkError);
    expect(network.message).toBe('PATCH http://x/api/todos/1 failed: timed out');
    expect(roundTrip(new StorageError('quota', { resource: 'todos' }))).toBeInstanceOf(StorageError);
  });

  it('an unknown name still arrives as a harborsync error with its message', () => {
    const copy = fromTabError({ name: 'SomethingNew', code: 'HTTP', message: 'what happened' });
    expect(isHarborSyncError(copy)).toBe(true);
    expect(copy.message).toBe('what happened');
  });
});
