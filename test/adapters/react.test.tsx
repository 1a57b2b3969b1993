// @vitest-environment happy-dom
import { Activity, StrictMode, useState, version as reactVersion } from 'react';
import type { ReactNode } from 'react';
import { version as reactDomVersion } from 'react-dom';
import { renderToString } from 'react-dom/server';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SyncProvider,
  useConflicts,
  useEntity,
  useFailed,
  useQuery,
  useSyncClient,
  useSyncStatus,
} from '../../src/react.js';
import type { Conflict, EntityState, Query, QueryState, SyncClient } from '../../src/types.js';
import { STATUS, createFakeClient, todos, untouchableClient } from './fake-client.js';
import type { Todo } from './fake-client.js';
import { realClient, serverTodos } from './stub-api.js';
import { pinned } from '../helpers/pinned.js';

// React warns unless told that the test environment flushes with act().
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

afterEach(cleanup);

const t1: Todo = { id: 't1', title: 'Milk', done: false, version: 1 };
const t2: Todo = { id: 't2', title: 'Bread', done: true, version: 1 };

function wrap(client: SyncClient, children: ReactNode) {
  return (
    <StrictMode>
      <SyncProvider client={client}>{children}</SyncProvider>
    </StrictMode>
  );
}

// The suite runs twice: on the root's React 19, and on React 18 (the `react18` project in
// vitest.config.ts), which must not quietly fall back to 19.
/** A screen showing `children` under React's <Activity>, and `show` to hide or show them again. */
function activityScreen(children: ReactNode, visibleAtFirst = true) {
  let setShown = (_visible: boolean): void => {};
  function Screen() {
    const [visible, setVisible] = useState(visibleAtFirst);
    setShown = setVisible;
    return <Activity mode={visible ? 'visible' : 'hidden'}>{children}</Activity>;
  }
  return { Screen, show: (visible: boolean) => setShown(visible) };
}

const expectedMajor = process.env['HARBORSYNC_REACT_MAJOR'] ?? pinned('react').split('.')[0]!;

describe(`harborsync/react on React ${reactVersion}`, () => {
  it(`runs on React ${expectedMajor}, with a react-dom of the same version`, () => {
    expect(reactVersion.split('.')[0]).toBe(expectedMajor);
    expect(reactDomVersion).toBe(reactVersion);
  });

  it('shows the loading state, then the query result', () => {
    const fake = createFakeClient();
    const states: QueryState<Todo>[] = [];
    function List() {
      const state = useQuery(todos, { orderBy: 'title' });
      states.push(state);
      return <p>{state.status === 'loading' ? 'loading' : state.data.map((t) => t.title).join(',')}</p>;
    }
    render(wrap(fake.client, <List />));
    expect(screen.getByText('loading')).toBeTruthy();
    expect(states[0]).toMatchObject({ status: 'loading', data: [], error: null, hasMore: false, lastSyncedAt: null });

    act(() => fake.load('todos', [t1, t2]));
    expect(screen.getByText('Bread,Milk')).toBeTruthy();
    expect(states.at(-1)?.status).toBe('success');
  });

  it('re-renders only the components whose data changed', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const renders = { open: 0, t2: 0, status: 0 };
    function Open() {
      renders.open += 1;
      return <p>{useQuery(todos, { where: { done: false } }).data.length}</p>;
    }
    function Second() {
      renders.t2 += 1;
      return <p>{useEntity(todos, 't2').data?.title}</p>;
    }
    function Status() {
      renders.status += 1;
      return <p>{useSyncStatus().pending}</p>;
    }
    render(
      <SyncProvider client={fake.client}>
        <Open />
        <Second />
        <Status />
      </SyncProvider>,
    );
    const before = { ...renders };

    await act(() => fake.client.resource(todos).update('t1', { title: 'Oat milk' }));
    expect(renders.open).toBe(before.open + 1);
    expect(renders.t2).toBe(before.t2);
    expect(renders.status).toBe(before.status);

    await act(() => fake.client.resource(todos).update('t2', { title: 'Rye' }));
    expect(renders.open).toBe(before.open + 1);
    expect(renders.t2).toBe(before.t2 + 1);
    expect(screen.getByText('Rye')).toBeTruthy();
  });

  it('returns the same object between renders and compares an inline query by value', () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const seen: Array<{ query: QueryState<Todo>; entity: EntityState<Todo> }> = [];
    let rerender = (): void => {};
    function Screen() {
      const [tick, setTick] = useState(0);
      rerender = () => setTick(tick + 1);
      seen.push({
        query: useQuery(todos, { where: { done: false }, orderBy: ['title'], limit: 10 }),
        entity: useEntity(todos, 't1'),
      });
      return <p>{tick}</p>;
    }
    render(wrap(fake.client, <Screen />));
    const opened = fake.counts.opened;
    act(() => rerender());
    act(() => rerender());

    // The first render (before the effect subscribes) shows the loading state.
    expect(seen[0]?.query.status).toBe('loading');
    const loaded = seen.filter((s) => s.query.status === 'success');
    expect(loaded.length).toBeGreaterThan(2);
    const last = loaded.at(-1);
    expect(loaded.every((s) => s.query === last?.query && s.entity === last?.entity)).toBe(true);
    expect(fake.counts.opened).toBe(opened);
  });

  it('resubscribes when the query changes, by value or by predicate identity', () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    function Screen({ query }: { query: Query<Todo> }) {
      return <p>{useQuery(todos, query).data.map((t) => t.id).join(',') || 'none'}</p>;
    }
    const isDone = (t: Todo) => t.done;
    const { rerender } = render(wrap(fake.client, <Screen query={{ where: { done: false } }} />));
    expect(screen.getByText('t1')).toBeTruthy();
    const opened = fake.counts.opened;

    rerender(wrap(fake.client, <Screen query={{ where: { done: true } }} />));
    expect(screen.getByText('t2')).toBeTruthy();
    expect(fake.counts.opened).toBeGreaterThan(opened);

    rerender(wrap(fake.client, <Screen query={{ where: isDone }} />));
    const withPredicate = fake.counts.opened;
    rerender(wrap(fake.client, <Screen query={{ where: isDone }} />));
    expect(fake.counts.opened).toBe(withPredicate);
    rerender(wrap(fake.client, <Screen query={{ where: (t) => !t.done }} />));
    expect(fake.counts.opened).toBeGreaterThan(withPredicate);
    expect(screen.getByText('t1')).toBeTruthy();
    expect(fake.queries.at(-1)?.where).toBeTypeOf('function');
  });

  it('tells NaN and Infinity in a query from null: each selects other rows', () => {
    const fake = createFakeClient();
    fake.load('items', [{ id: 'a', n: null }]);
    function Screen({ n }: { n: number | null }) {
      return <p>{useQuery('items', { where: { n } }).data.map((row) => row['id']).join(',') || 'none'}</p>;
    }
    const { rerender } = render(wrap(fake.client, <Screen n={null} />));
    expect(screen.getByText('a')).toBeTruthy();
    rerender(wrap(fake.client, <Screen n={NaN} />));
    expect(screen.getByText('none')).toBeTruthy();
    rerender(wrap(fake.client, <Screen n={null} />));
    expect(screen.getByText('a')).toBeTruthy();
    rerender(wrap(fake.client, <Screen n={Infinity} />));
    expect(screen.getByText('none')).toBeTruthy();
  });

  it('unsubscribes everything on unmount', () => {
    const fake = createFakeClient();
    fake.load('todos', [t1]);
    function Screen() {
      useQuery('todos', { where: { done: false } });
      useEntity('todos', 't1');
      useSyncStatus();
      useConflicts();
      useFailed();
      return null;
    }
    const { unmount } = render(wrap(fake.client, <Screen />));
    expect(fake.counts.active).toBe(5);
    unmount();
    expect(fake.counts.active).toBe(0);
  });

  it('follows status, conflicts and failed mutations', () => {
    const fake = createFakeClient();
    function Panel() {
      const status = useSyncStatus();
      const conflicts = useConflicts();
      const failed = useFailed();
      return <p>{`${status.online ? 'online' : 'offline'}/${conflicts.length}/${failed.length}`}</p>;
    }
    render(wrap(fake.client, <Panel />));
    expect(screen.getByText('online/0/0')).toBeTruthy();

    const conflict: Conflict = {
      resource: 'todos',
      id: 't1',
      base: null,
      local: null,
      remote: null,
      fields: [],
      resolve: async () => {},
    };
    act(() => {
      fake.status.next({ ...STATUS, online: false });
      fake.conflicts.next([conflict]);
    });
    expect(screen.getByText('offline/1/0')).toBeTruthy();
  });

  it('renders the loading state on the server without touching the client', () => {
    function Screen() {
      const query = useQuery(todos, { where: { done: false } });
      const entity = useEntity(todos, 't1');
      const status = useSyncStatus();
      const lists = useConflicts().length + useFailed().length;
      return <p>{`${query.status}:${query.data.length}/${entity.status}/${String(status.online)}/${lists}`}</p>;
    }
    const html = renderToString(
      <SyncProvider client={untouchableClient()}>
        <Screen />
      </SyncProvider>,
    );
    expect(html).toBe('<p>loading:0/loading/true/0</p>');
  });

  it('renders the loading state on the server with client={null}, and says why the client is absent when used', () => {
    let used: unknown;
    function Screen() {
      const query = useQuery(todos, { where: { done: false } });
      const status = useSyncStatus();
      const client = useSyncClient();
      try {
        client.resource(todos);
      } catch (error) {
        used = error;
      }
      return <p>{`${query.status}:${query.data.length}/${status.pending}`}</p>;
    }
    const html = renderToString(
      <SyncProvider client={null}>
        <Screen />
      </SyncProvider>,
    );
    expect(html).toBe('<p>loading:0/0</p>');
    expect(String(used)).toMatch(/harborsync\/react: the client given is null \(a server render, or a page that has not made it yet\); "resource" needs a client/);
  });

  it('with client={null} in the browser too, the hooks stay at the loading state; the absent client is safe to hold, await or inspect', async () => {
    let client: SyncClient | undefined;
    function Screen() {
      const query = useQuery(todos, { where: { done: false } });
      const entity = useEntity(todos, 't1');
      const status = useSyncStatus();
      const lists = useConflicts().length + useFailed().length;
      client = useSyncClient();
      return <p>{`${query.status}:${query.data.length}/${entity.status}/${status.pending}/${lists}`}</p>;
    }
    render(
      <SyncProvider client={null}>
        <Screen />
      </SyncProvider>,
    );
    expect(screen.getByText('loading:0/loading/0/0')).toBeTruthy();
    await expect(Promise.resolve(client)).resolves.toBe(client);
    expect((client as unknown as Record<symbol, unknown>)[Symbol.toStringTag]).toBeUndefined();
    expect(() => client!.status$).toThrow(/harborsync\/react: the client given is null/);
  });

  it("the README's client for an app rendered on the server too: StrictMode makes no second client, which nothing would close", async () => {
    const made: SyncClient[] = [];
    const createClient = (): SyncClient => {
      const { client } = realClient([t1, t2]);
      made.push(client);
      return client;
    };
    // As the README makes it: once, outside the components (at a module's top level).
    const client = typeof window === 'undefined' ? null : createClient();
    function App() {
      return (
        <SyncProvider client={client}>
          <List />
        </SyncProvider>
      );
    }
    function List() {
      const { data, status } = useQuery(todos, { where: { done: false } });
      return <p>{status === 'loading' ? 'loading' : data.map((t) => t.title).join(',')}</p>;
    }
    const { unmount } = render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
    await screen.findByText('Milk');
    unmount();
    await Promise.all(made.map((client) => client.close()));
    expect(made).toHaveLength(1);
  });

  it('gives the client to useSyncClient and says when there is no provider', () => {
    const fake = createFakeClient();
    let found: SyncClient | undefined;
    function Probe() {
      found = useSyncClient();
      return null;
    }
    render(wrap(fake.client, <Probe />));
    expect(found).toBe(fake.client);

    expect(() => renderToString(<Probe />)).toThrow(/SyncProvider/);
  });

  it('with the real client, a changed query renders its cached rows at once: no loading frame, no second render for the same rows', async () => {
    const { client } = realClient([t1, t2]);
    const seen: string[] = [];
    function Screen({ done }: { done: boolean }) {
      const { data, status } = useQuery(todos, { where: { done } });
      const entity = useEntity(todos, done ? 't2' : 't1');
      seen.push(`${status}:${data.map((t) => t.id).join(',')} ${entity.status}:${entity.data?.id ?? ''}`);
      return <p>{status === 'loading' ? 'loading' : data.map((t) => t.title).join(',')}</p>;
    }
    const { rerender, unmount } = render(
      <SyncProvider client={client}>
        <Screen done={false} />
      </SyncProvider>,
    );
    await screen.findByText('Milk');
    await waitFor(() => expect(seen.at(-1)).toBe('success:t1 success:t1'));
    seen.length = 0;

    rerender(
      <SyncProvider client={client}>
        <Screen done={true} />
      </SyncProvider>,
    );
    expect(screen.getByText('Bread')).toBeTruthy();
    expect(seen).toEqual(['success:t2 success:t2']);
    unmount();
    await client.close();
  });

  it('with the real client, status, conflicts and failed show their current values in the first render', async () => {
    const { client } = realClient([]);
    client.pause();
    await client.resource(todos).create({ id: 't3', title: 'Eggs', done: false });
    const seen: string[] = [];
    function Panel() {
      const { paused, pending } = useSyncStatus();
      const lists = `${useConflicts().length}/${useFailed().length}`;
      seen.push(`${paused}:${pending} ${lists}`);
      return <p>{`${paused}:${pending} ${lists}`}</p>;
    }
    const { unmount } = render(
      <SyncProvider client={client}>
        <Panel />
      </SyncProvider>,
    );
    expect(screen.getByText('manual:1 0/0')).toBeTruthy();
    expect(seen).toEqual(['manual:1 0/0']);
    unmount();
    await client.close();
  });

  // <Activity> (React 19.2) unsubscribes a hidden subtree and keeps its state; React 18 has none.
  it.skipIf(!Activity)('with the real client, a subtree shown again by <Activity> renders the rows of now, not those from before it was hidden', async () => {
    const { client } = realClient([t1, t2]);
    const seen: string[] = [];
    function List() {
      const { data, status } = useQuery(todos, { where: { done: false } });
      const text = status === 'loading' ? 'loading' : data.map((t) => t.title).join(',');
      seen.push(text);
      return <p>{text}</p>;
    }
    const { Screen, show } = activityScreen(<List />);
    const { unmount } = render(
      <SyncProvider client={client}>
        <Screen />
      </SyncProvider>,
    );
    await screen.findByText('Milk');
    act(() => show(false));
    await client.resource(todos).update('t1', { title: 'Oat milk' });
    seen.length = 0;

    act(() => show(true));
    expect(screen.getByText('Oat milk')).toBeTruthy();
    expect(seen).toEqual(['Oat milk']);
    unmount();
    await client.close();
  });

  it.skipIf(!Activity)("with the real client, an entity created under a temporary id (ids: 'server') and rendered hidden is still shown once visible after the server named it", async () => {
    const { client } = realClient([], serverTodos);
    const handle = client.resource(serverTodos);
    client.pause();
    const created = await handle.create({ title: 'Milk', done: false });
    function Detail() {
      const { data } = useEntity(serverTodos, created.id);
      return <p>{data ? `${data.title} (${data.id})` : 'missing'}</p>;
    }
    const { Screen, show } = activityScreen(<Detail />, false);
    const { unmount } = render(
      <SyncProvider client={client}>
        <Screen />
      </SyncProvider>,
    );
    client.resume();
    await client.flush();
    await waitFor(async () => expect(await handle.get('s1')).toBeDefined());

    act(() => show(true));
    await screen.findByText('Milk (s1)');
    unmount();
    await client.close();
  });

  it('with the real client closed under a mounted component, its hooks keep their last values through later renders', async () => {
    const { client } = realClient([t1, t2]);
    let rerender = (): void => {};
    function List() {
      const [renders, setRenders] = useState(0);
      rerender = () => setRenders((n) => n + 1);
      const { data, status } = useQuery(todos, { where: { done: false } });
      const { pending } = useSyncStatus();
      const text = status === 'loading' ? 'loading' : `${data.map((t) => t.title).join(',')} (${pending} pending)`;
      return <p>{`${text} #${renders}`}</p>;
    }
    const { unmount } = render(wrap(client, <List />));
    await screen.findByText('Milk (0 pending) #0');
    await act(() => client.close());
    act(() => rerender());
    expect(screen.getByText('Milk (0 pending) #1')).toBeTruthy();
    unmount();
  });

  it.skipIf(!Activity)('with the real client closed while a subtree is hidden by <Activity>, the subtree shown again keeps its last values', async () => {
    const { client } = realClient([t1, t2]);
    function List() {
      const { data, status } = useQuery(todos, { where: { done: false } });
      const { pending } = useSyncStatus();
      return <p>{status === 'loading' ? 'loading' : `${data.map((t) => t.title).join(',')} (${pending} pending)`}</p>;
    }
    const { Screen, show } = activityScreen(<List />);
    const { unmount } = render(wrap(client, <Screen />));
    await screen.findByText('Milk (0 pending)');
    act(() => show(false));
    await act(() => client.close());
    act(() => show(true));
    expect(screen.getByText('Milk (0 pending)')).toBeTruthy();
    unmount();
  });

  it('with the real client closed and another provided in its place (a logout), the hooks show the new client\'s data', async () => {
    const first = realClient([t1, t2]).client;
    const second = realClient([{ ...t1, title: 'Tea' }, t2]).client;
    function List() {
      const { data, status } = useQuery(todos, { where: { done: false } });
      const entity = useEntity(todos, 't1');
      const { pending } = useSyncStatus();
      return <p>{status === 'loading' ? 'loading' : `${data.map((t) => t.title).join(',')} ${entity.data?.title ?? '-'} (${pending} pending)`}</p>;
    }
    const { rerender, unmount } = render(wrap(first, <List />));
    await screen.findByText('Milk Milk (0 pending)');
    await act(() => first.close());
    rerender(wrap(second, <List />));
    await screen.findByText('Tea Tea (0 pending)');
    unmount();
    await second.close();
  });

  it('works with the real client: cached, fetched, written, unsubscribed', async () => {
    const { client, table } = realClient([t1, t2]);
    function List() {
      const { data, status } = useQuery(todos, { where: { done: false } });
      const { pending } = useSyncStatus();
      return <p>{status === 'loading' ? 'loading' : `${data.map((t) => t.title).join(',')} (${pending} pending)`}</p>;
    }
    const { unmount } = render(wrap(client, <List />));
    expect(screen.getByText('loading')).toBeTruthy();
    await screen.findByText('Milk (0 pending)');

    await act(() => client.resource(todos).update('t1', { title: 'Oat milk' }));
    await screen.findByText(/^Oat milk/);
    await waitFor(() => expect(table.get('t1')).toMatchObject({ title: 'Oat milk', version: 2 }));
    await screen.findByText('Oat milk (0 pending)');

    unmount();
    await client.close();
  });
});
