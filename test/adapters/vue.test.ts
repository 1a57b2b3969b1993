// @vitest-environment happy-dom
import { createApp, createSSRApp, defineComponent, effectScope, h, isReadonly, nextTick, ref, version as vueVersion } from 'vue';
import type { Ref } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { mount } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import { harborSync, useConflicts, useEntity, useFailed, useQuery, useSyncClient, useSyncStatus } from '../../src/vue.js';
import type { Query, SyncClient } from '../../src/types.js';
import { STATUS, createFakeClient, todos, untouchableClient } from './fake-client.js';
import type { Todo } from './fake-client.js';
import { realClient } from './stub-api.js';
import { pinned } from '../helpers/pinned.js';

const t1: Todo = { id: 't1', title: 'Milk', done: false, version: 1 };
const t2: Todo = { id: 't2', title: 'Bread', done: true, version: 1 };

/** Runs composables inside an app's injection context and an effect scope, as `setup()` would. */
function inScope<T>(client: SyncClient, run: () => T) {
  const app = createApp({});
  app.use(harborSync(client));
  const scope = effectScope();
  const result = app.runWithContext(() => scope.run(run)) as T;
  return { result, stop: () => scope.stop() };
}

// The suite runs twice: on the root's Vue 3.5, and on Vue 3.4 (the `vue34` project in
// vitest.config.ts), the oldest the peer dependency allows, which must not quietly fall back to 3.5.
const expectedMinor = process.env['HARBORSYNC_VUE_MINOR'] ?? pinned('vue').split('.').slice(0, 2).join('.');

describe(`harborsync/vue on Vue ${vueVersion}`, () => {
  it(`runs on Vue ${expectedMinor}`, () => {
    expect(vueVersion.split('.').slice(0, 2).join('.')).toBe(expectedMinor);
  });

  it('shows the loading state, then the query result, in a component', async () => {
    const fake = createFakeClient();
    const Listing = defineComponent({
      setup() {
        const state = useQuery(todos, { orderBy: 'title' });
        return () =>
          h('p', state.value.status === 'loading' ? 'loading' : state.value.data.map((t) => t.title).join(','));
      },
    });
    const wrapper = mount(Listing, { global: { plugins: [harborSync(fake.client)] } });
    expect(wrapper.text()).toBe('loading');

    fake.load('todos', [t1, t2]);
    await nextTick();
    expect(wrapper.text()).toBe('Bread,Milk');
    wrapper.unmount();
    expect(fake.counts.active).toBe(0);
  });

  it('re-renders only the components whose data changed', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const renders = { open: 0, t2: 0 };
    const Open = defineComponent({
      setup() {
        const state = useQuery(todos, { where: { done: false } });
        return () => {
          renders.open += 1;
          return h('p', state.value.data.map((t) => t.title).join(','));
        };
      },
    });
    const Second = defineComponent({
      setup() {
        const state = useEntity(todos, 't2');
        return () => {
          renders.t2 += 1;
          return h('p', state.value.data?.title);
        };
      },
    });
    const wrapper = mount(
      defineComponent({ setup: () => () => h('div', [h(Open), h(Second)]) }),
      { global: { plugins: [harborSync(fake.client)] } },
    );
    const before = { ...renders };

    await fake.client.resource(todos).update('t1', { title: 'Oat milk' });
    await nextTick();
    expect(renders).toEqual({ open: before.open + 1, t2: before.t2 });
    expect(wrapper.text()).toContain('Oat milk');
    wrapper.unmount();
  });

  it('returns readonly refs that keep the same object while nothing changes', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const { result, stop } = inScope(fake.client, () => ({
      query: useQuery(todos, { where: { done: false } }),
      status: useSyncStatus(),
    }));
    expect(isReadonly(result.query)).toBe(true);
    const first = result.query.value;
    expect(first.data).toEqual([t1]);

    await fake.client.resource(todos).update('t2', { title: 'Rye' });
    expect(result.query.value).toBe(first);

    fake.status.next({ ...STATUS, pending: 3 });
    expect(result.status.value.pending).toBe(3);
    stop();
  });

  it('resubscribes when a ref or getter argument changes', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const id = ref('t1');
    const done = ref(false);
    const { result, stop } = inScope(fake.client, () => ({
      entity: useEntity(todos, id),
      query: useQuery(todos, () => ({ where: { done: done.value } })),
    }));
    expect(result.entity.value.data).toEqual(t1);
    expect(result.query.value.data).toEqual([t1]);
    expect(fake.counts.active).toBe(2);

    id.value = 't2';
    done.value = true;
    await nextTick();
    expect(result.entity.value.data).toEqual(t2);
    expect(result.query.value.data).toEqual([t2]);
    expect(fake.counts.active).toBe(2);
    stop();
  });

  it('compares the query by value, and a predicate by identity', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const isDone = (t: Todo) => t.done;
    const query = ref<Query<Todo>>({ where: { done: false } });
    const { result, stop } = inScope(fake.client, () => useQuery(todos, query));
    const opened = fake.counts.opened;

    query.value = { where: { done: false } };
    await nextTick();
    expect(fake.counts.opened).toBe(opened);

    query.value = { where: isDone };
    await nextTick();
    expect(result.value.data).toEqual([t2]);
    const withPredicate = fake.counts.opened;
    query.value = { where: isDone };
    await nextTick();
    expect(fake.counts.opened).toBe(withPredicate);
    stop();
  });

  it('ends every subscription when the scope is disposed', () => {
    const fake = createFakeClient();
    const { result, stop } = inScope(fake.client, () => ({
      query: useQuery('todos'),
      entity: useEntity('todos', 't1'),
      status: useSyncStatus(),
      conflicts: useConflicts(),
      failed: useFailed(),
      client: useSyncClient(),
    }));
    expect(result.client).toBe(fake.client);
    expect(result.query.value.status).toBe('loading');
    expect(result.conflicts.value).toEqual([]);
    expect(fake.counts.active).toBe(5);
    stop();
    expect(fake.counts.active).toBe(0);
  });

  it('renders the loading state on the server without touching the client', async () => {
    const Screen = defineComponent({
      setup() {
        const query = useQuery(todos, { where: { done: false } });
        const entity = useEntity(todos, 't1');
        const status = useSyncStatus();
        const lists = useConflicts().value.length + useFailed().value.length;
        return () =>
          h('p', `${query.value.status}:${query.value.data.length}/${entity.value.status}/${status.value.online}/${lists}`);
      },
    });
    const html = await renderToString(createSSRApp(Screen).use(harborSync(untouchableClient())));
    expect(html).toBe('<p>loading:0/loading/true/0</p>');
  });

  it('renders the loading state on the server with harborSync(null), and says why the client is absent when used', async () => {
    let used: unknown;
    const Screen = defineComponent({
      setup() {
        const query = useQuery(todos, { where: { done: false } });
        const status = useSyncStatus();
        const client = useSyncClient();
        try {
          client.resource(todos);
        } catch (error) {
          used = error;
        }
        return () => h('p', `${query.value.status}:${query.value.data.length}/${status.value.pending}`);
      },
    });
    const html = await renderToString(createSSRApp(Screen).use(harborSync(null)));
    expect(html).toBe('<p>loading:0/0</p>');
    expect(String(used)).toMatch(/harborsync\/vue: the client given is null \(a server render, or a page that has not made it yet\); "resource" needs a client/);
  });

  it('with harborSync(null) in the browser too, the composables stay at the loading state; the absent client is safe to hold in state', async () => {
    let client: SyncClient | undefined;
    const Screen = defineComponent({
      setup() {
        const query = useQuery(todos, { where: { done: false } });
        const entity = useEntity(todos, 't1');
        const status = useSyncStatus();
        const lists = useConflicts().value.length + useFailed().value.length;
        client = useSyncClient();
        const held = ref(client);
        return () => h('p', `${query.value.status}:${query.value.data.length}/${entity.value.status}/${status.value.pending}/${lists}/${held.value === undefined}`);
      },
    });
    const wrapper = mount(Screen, { global: { plugins: [harborSync(null)] } });
    expect(wrapper.text()).toBe('loading:0/loading/0/0/false');
    await expect(Promise.resolve(client)).resolves.toBe(client);
    expect(() => client!.status$).toThrow(/harborsync\/vue: the client given is null/);
  });

  it('hydrates a server render without a mismatch, then shows the client values once mounted', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    fake.status.next({ ...STATUS, pending: 2 });
    const Screen = defineComponent({
      setup() {
        const query = useQuery(todos, { orderBy: 'title' });
        const entity = useEntity(todos, 't1');
        const status = useSyncStatus();
        return () =>
          h('p', `${query.value.status}:${query.value.data.map((t) => t.title).join(',')}/${entity.value.data?.title ?? '-'}/${status.value.pending}`);
      },
    });
    const root = document.createElement('div');
    root.innerHTML = await renderToString(createSSRApp(Screen).use(harborSync(null)));
    expect(root.textContent).toBe('loading:/-/0');

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const app = createSSRApp(Screen).use(harborSync(fake.client));
    try {
      app.mount(root);
      const logged = [...warn.mock.calls, ...error.mock.calls].map((call) => String(call[0]));
      expect(logged.filter((message) => /hydration/i.test(message))).toEqual([]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
    await nextTick();
    expect(root.textContent).toBe('success:Bread,Milk/Milk/2');
    app.unmount();
    expect(fake.counts.active).toBe(0);
  });

  it('a component mounted again from a kept vnode is not taken for a hydration: its first render shows the values', async () => {
    const fake = createFakeClient();
    fake.load('todos', [t1, t2]);
    const frames: string[] = [];
    const Child = defineComponent({
      setup() {
        const state = useQuery(todos);
        return () => {
          frames.push(state.value.status);
          return h('i', state.value.status);
        };
      },
    });
    const shown = ref(true);
    const kept = h(Child);
    const wrapper = mount(defineComponent({ setup: () => () => h('div', shown.value ? [kept] : []) }), {
      global: { plugins: [harborSync(fake.client)] },
    });
    shown.value = false;
    await nextTick();
    frames.length = 0;
    shown.value = true;
    await nextTick();
    expect(frames).toEqual(['success']);
    wrapper.unmount();
  });

  it('says when the plugin is missing', () => {
    const Orphan = defineComponent({
      setup() {
        useSyncClient();
      },
      render: () => null,
    });
    expect(() => mount(Orphan)).toThrow(/harborSync\(client\)/);
  });

  it('says to call the composables in setup() when called outside it, rather than blame the installed plugin', () => {
    const fake = createFakeClient();
    let onClick = (): unknown => undefined;
    const Screen = defineComponent({
      setup() {
        onClick = () => useSyncClient().resource(todos);
        return () => h('button');
      },
    });
    const wrapper = mount(Screen, { global: { plugins: [harborSync(fake.client)] } });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(() => onClick()).toThrow(/harborsync\/vue: call useSyncClient\(\) and the composables in setup\(\)/);
      expect(() => useQuery(todos)).toThrow(/in setup\(\)/);
    } finally {
      warn.mockRestore();
    }
    expect(fake.counts.opened).toBe(0);
    wrapper.unmount();
  });

  it('with the real client closed under a mounted component, its composables keep their last values through later renders', async () => {
    const { client } = realClient([t1, t2]);
    const renders = ref(0);
    const Listing = defineComponent({
      setup() {
        const state = useQuery(todos, { where: { done: false } });
        const status = useSyncStatus();
        return () => h('p', `${state.value.data.map((t) => t.title).join(',')} (${status.value.pending} pending) #${renders.value}`);
      },
    });
    const wrapper = mount(Listing, { global: { plugins: [harborSync(client)] } });
    await vi.waitFor(() => expect(wrapper.text()).toBe('Milk (0 pending) #0'));
    await client.close();
    renders.value++;
    await nextTick();
    expect(wrapper.text()).toBe('Milk (0 pending) #1');
    wrapper.unmount();
  });

  it('an argument changed to one the client refuses (an id set to undefined, a limit to NaN): the error goes to Vue, and the last value is not shown as the new one', async () => {
    const { client } = realClient([t1, t2]);
    const id = ref<string | undefined>('t1');
    const limit = ref(5);
    const errors: unknown[] = [];
    const Detail = defineComponent({
      setup() {
        const entity = useEntity(todos, id as Ref<string>);
        const list = useQuery(todos, () => ({ limit: limit.value }));
        return () => h('p', `${entity.value.status}:${entity.value.data?.title ?? '-'} ${list.value.status}:${list.value.data.length}`);
      },
    });
    const wrapper = mount(Detail, { global: { plugins: [harborSync(client)], config: { errorHandler: (error) => void errors.push(error) } } });
    await vi.waitFor(() => expect(wrapper.text()).toBe('success:Milk success:2'));
    id.value = undefined;
    limit.value = Number('x');
    await nextTick();
    expect(errors.map((error) => (error as Error).name)).toEqual(['ValidationError', 'TypeError']);
    expect(wrapper.text()).toBe('loading:- loading:0');
    id.value = 't2';
    limit.value = 1;
    await vi.waitFor(() => expect(wrapper.text()).toBe('success:Bread success:1'));
    wrapper.unmount();
    await client.close();
  });

  it('works with the real client: cached, fetched, written, unsubscribed', async () => {
    const { client, table } = realClient([t1, t2]);
    const Listing = defineComponent({
      setup() {
        const state = useQuery(todos, { where: { done: false } });
        const status = useSyncStatus();
        return () =>
          h(
            'p',
            state.value.status === 'loading'
              ? 'loading'
              : `${state.value.data.map((t) => t.title).join(',')} (${status.value.pending} pending)`,
          );
      },
    });
    const wrapper = mount(Listing, { global: { plugins: [harborSync(client)] } });
    expect(wrapper.text()).toBe('loading');
    await vi.waitFor(() => expect(wrapper.text()).toBe('Milk (0 pending)'));

    await client.resource(todos).update('t1', { title: 'Oat milk' });
    await vi.waitFor(() => expect(wrapper.text()).toMatch(/^Oat milk/));
    await vi.waitFor(() => expect(table.get('t1')).toMatchObject({ title: 'Oat milk', version: 2 }));
    await vi.waitFor(() => expect(wrapper.text()).toBe('Oat milk (0 pending)'));

    wrapper.unmount();
    await client.close();
  });
});
