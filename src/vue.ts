import {
  getCurrentInstance,
  getCurrentScope,
  hasInjectionContext,
  inject,
  onMounted,
  onScopeDispose,
  shallowReadonly,
  shallowRef,
  ssrContextKey,
  toRaw,
  toValue,
  watch,
} from 'vue';
import type { InjectionKey, MaybeRefOrGetter, Plugin, Ref, WatchSource } from 'vue';
import type { Observable } from 'rxjs';
import type {
  Conflict,
  Entity,
  EntityKey,
  EntityState,
  FailedMutation,
  Query,
  QueryState,
  ResourceDefinition,
  ResourceHandle,
  SyncClient,
  SyncStatus,
} from './index.js';
import {
  EMPTY_LIST,
  INITIAL_STATUS,
  LOADING_ENTITY,
  LOADING_QUERY,
  absentClient,
  createExternalStore,
  queryKey,
  queryPredicate,
} from './internal/external-store.js';

const CLIENT: InjectionKey<SyncClient | null> = /* @__PURE__ */ Symbol('harborsync');
const ABSENT_CLIENT = /* @__PURE__ */ absentClient<SyncClient>('harborsync/vue');

/**
 * The plugin that provides a client to every component's composables. `null` where there is
 * none, as in a server render (createSyncClient needs IndexedDB): the composables then give the
 * loading state.
 *
 * @example
 * const client = createSyncClient({ baseUrl: '/api', resources: [todos] });
 * createApp(App).use(harborSync(client)).mount('#app');
 * // Rendered on the server too (createSSRApp): a client in the browser only.
 * app.use(harborSync(import.meta.env.SSR ? null : createSyncClient(options)));
 */
export function harborSync(client: SyncClient | null): Plugin {
  return {
    install(app) {
      app.provide(CLIENT, client);
    },
  };
}

/**
 * The client the app was given with `harborSync(client)`. Call it in `setup()`.
 *
 * @example
 * const client = useSyncClient();
 * const toggle = (t: Todo) => client.resource(todos).update(t.id, { done: !t.done });
 */
export function useSyncClient(): SyncClient {
  return providedClient() ?? ABSENT_CLIENT;
}

/** The plugin's client; null where it was given none (the composables then stay at their initial state). */
function providedClient(): SyncClient | null {
  // Outside setup() inject() finds no app at all, installed plugin or not: name that cause.
  if (!hasInjectionContext()) {
    throw new Error('harborsync/vue: call useSyncClient() and the composables in setup() (or app.runWithContext()), not later in a handler or a callback');
  }
  const client = inject(CLIENT, undefined);
  if (client === undefined) throw new Error('harborsync/vue: no client; install it with app.use(harborSync(client))');
  return client;
}

/**
 * A live query as a readonly ref. The resource and the query may be plain values, refs or
 * getters; a change of value (a predicate `where`: of identity) resubscribes. Before the first
 * result, and in a server render: `status: 'loading'`, `data: []`.
 *
 * @example
 * const filter = ref(false);
 * const todosState = useQuery(todos, () => ({ where: { done: filter.value }, orderBy: 'title' }));
 * // template: <li v-for="t in todosState.data" :key="t.id">{{ t.title }}</li>
 */
export function useQuery<T extends object>(
  resource: MaybeRefOrGetter<ResourceDefinition<T>>,
  query?: MaybeRefOrGetter<Query<T> | undefined>,
): Readonly<Ref<QueryState<T>>>;
export function useQuery(
  resource: MaybeRefOrGetter<string>,
  query?: MaybeRefOrGetter<Query<Entity> | undefined>,
): Readonly<Ref<QueryState<Entity>>>;
export function useQuery(
  resource: MaybeRefOrGetter<ResourceDefinition<Entity> | string>,
  query?: MaybeRefOrGetter<Query<Entity> | undefined>,
): Readonly<Ref<QueryState<Entity>>> {
  const client = providedClient();
  return follow(
    client,
    [() => toValue(resource), () => queryKey(toValue(query)), () => queryPredicate(toValue(query))],
    (c) => handle(c, toValue(resource)).query$(rawQuery(toValue(query))),
    LOADING_QUERY,
  );
}

/**
 * One entity as a readonly ref; the id may be a ref or a getter. Before the first result, and
 * in a server render: `status: 'loading'`, `data: undefined`.
 *
 * @example
 * const props = defineProps<{ id: string }>();
 * const todo = useEntity(todos, () => props.id);
 */
export function useEntity<T extends object>(
  resource: MaybeRefOrGetter<ResourceDefinition<T>>,
  id: MaybeRefOrGetter<EntityKey>,
): Readonly<Ref<EntityState<T>>>;
export function useEntity(
  resource: MaybeRefOrGetter<string>,
  id: MaybeRefOrGetter<EntityKey>,
): Readonly<Ref<EntityState<Entity>>>;
export function useEntity(
  resource: MaybeRefOrGetter<ResourceDefinition<Entity> | string>,
  id: MaybeRefOrGetter<EntityKey>,
): Readonly<Ref<EntityState<Entity>>> {
  const client = providedClient();
  return follow(
    client,
    [() => toValue(resource), () => toValue(id)],
    (c) => handle(c, toValue(resource)).get$(toValue(id)),
    LOADING_ENTITY,
  );
}

/**
 * The client's sync status as a readonly ref.
 *
 * @example
 * const status = useSyncStatus();
 * // template: <span v-if="!status.online">offline, {{ status.pending }} to send</span>
 */
export function useSyncStatus(): Readonly<Ref<SyncStatus>> {
  const client = providedClient();
  return follow(client, [], (c) => c.status$, INITIAL_STATUS);
}

/**
 * Conflicts awaiting a decision, as a readonly ref.
 *
 * @example
 * const conflicts = useConflicts();
 * // template: <button v-for="c in conflicts" @click="c.resolve('local')">Keep mine</button>
 */
export function useConflicts(): Readonly<Ref<Conflict[]>> {
  const client = providedClient();
  return follow(client, [], (c) => c.conflicts$, EMPTY_LIST);
}

/**
 * Changes the server rejected, kept until retried or discarded, as a readonly ref.
 *
 * @example
 * const failed = useFailed();
 * // template: <p v-for="f in failed">{{ f.error.message }} <button @click="f.discard()">Undo</button></p>
 */
export function useFailed(): Readonly<Ref<FailedMutation[]>> {
  const client = providedClient();
  return follow(client, [], (c) => c.failed$, EMPTY_LIST);
}

function handle(client: SyncClient, resource: ResourceDefinition<Entity> | string): ResourceHandle<Entity> {
  return typeof resource === 'string' ? client.resource(resource) : client.resource(resource);
}

/** A reactive query as the plain object the client keeps (nested objects of a proxy are raw already). */
function rawQuery(query: Query<Entity> | undefined): Query<Entity> | undefined {
  return query && toRaw(query);
}

/**
 * A shallow ref following `open(client)`'s latest value; `open` runs again (from `initial`)
 * whenever a source changes, and the subscription ends with the enclosing scope. In a server
 * render (the renderer provides its context), or with no client, it stays at `initial` and
 * never reaches the client; while hydrating one, it stays there until mounted.
 */
function follow<T>(client: SyncClient | null, sources: WatchSource[], open: (client: SyncClient) => Observable<T>, initial: T): Readonly<Ref<T>> {
  const state = shallowRef(initial);
  if (!client || inject(ssrContextKey, null)) return shallowReadonly(state);
  let close: (() => void) | undefined;
  const subscribe = () => {
    close?.();
    // Should the new source fail to open (its error goes to Vue's handlers), the ref must not
    // keep showing the old one's value, as if it were the new arguments'.
    state.value = initial;
    const store = createExternalStore(() => open(client), initial);
    close = store.subscribe(() => {
      state.value = store.getSnapshot();
    });
    state.value = store.getSnapshot();
  };
  // Vue 3.4 runs an `immediate` watch callback only when some source has a value: with no
  // sources it would never subscribe.
  const start = () => {
    if (sources.length) watch(sources, subscribe, { immediate: true });
    else subscribe();
  };
  // Hydrating a server render (the component's vnode has its element, still in the page, before
  // it renders; a vnode mounted again keeps its removed one): the first render must match the
  // server's initial state, so the client's values come once mounted. Started in the caller's
  // scope, which may be a store's rather than the component's.
  const scope = getCurrentScope();
  if (getCurrentInstance()?.vnode.el?.parentNode && scope) onMounted(() => scope.run(start));
  else start();
  onScopeDispose(() => {
    close?.();
    close = undefined;
  });
  return shallowReadonly(state);
}
