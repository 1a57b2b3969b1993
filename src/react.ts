import { createContext, createElement, useContext, useMemo, useSyncExternalStore } from 'react';
import type { ReactElement, ReactNode } from 'react';
import { NEVER, type Observable } from 'rxjs';
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

const ABSENT_CLIENT = /* @__PURE__ */ absentClient<SyncClient>('harborsync/react');

/** undefined: no SyncProvider above; null: one given no client (a server render). */
const ClientContext = /* @__PURE__ */ createContext<SyncClient | null | undefined>(undefined);

export interface SyncProviderProps {
  /**
   * The client; null where there is none (a server render, since createSyncClient needs
   * IndexedDB, or a page that has not made it yet): the hooks then give the loading state.
   */
  client: SyncClient | null;
  children?: ReactNode;
}

/**
 * Makes a client available to the hooks below it.
 *
 * @example
 * const client = createSyncClient({ baseUrl: '/api', resources: [todos] });
 * createRoot(el).render(<SyncProvider client={client}><App /></SyncProvider>);
 * // Rendered on the server too: a client in the browser only, made at a module's top level, not
 * // in a render (StrictMode runs a useState initializer twice: the second client would stay open).
 * export const client = typeof window === 'undefined' ? null : createSyncClient(options);
 */
export function SyncProvider({ client, children }: SyncProviderProps): ReactElement {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/**
 * The client from the nearest `SyncProvider`.
 *
 * @example
 * const client = useSyncClient();
 * const onToggle = (t: Todo) => client.resource(todos).update(t.id, { done: !t.done });
 */
export function useSyncClient(): SyncClient {
  return useProvidedClient() ?? ABSENT_CLIENT;
}

/** The provider's client; null where it was given none (the hooks then stay at their initial state). */
function useProvidedClient(): SyncClient | null {
  const client = useContext(ClientContext);
  if (client === undefined) throw new Error('harborsync/react: no <SyncProvider client={...}> above this component');
  return client;
}

/**
 * A live query. Re-renders only when its result changes; the query is compared by value (a
 * predicate `where` by identity), so an inline object does not resubscribe. On the server and
 * before the first result: `status: 'loading'`, `data: []`.
 *
 * @example
 * const { data, status, pendingIds } = useQuery(todos, { where: { done: false }, orderBy: 'title' });
 */
export function useQuery<T extends object>(resource: ResourceDefinition<T>, query?: Query<T>): QueryState<T>;
export function useQuery(resource: string, query?: Query<Entity>): QueryState<Entity>;
export function useQuery(resource: ResourceDefinition<Entity> | string, query?: Query<Entity>): QueryState<Entity> {
  const client = useProvidedClient();
  const key = queryKey(query);
  const predicate = queryPredicate(query);
  // `query` itself is not a dependency: one equal by key and predicate selects the same rows.
  return useStore(
    () => (client ? handle(client, resource).query$(query) : NEVER),
    LOADING_QUERY,
    [client, resource, key, predicate],
  );
}

/**
 * One entity, live. On the server and before the first result: `status: 'loading'`, `data: undefined`.
 *
 * @example
 * const { data: todo, pending } = useEntity(todos, id);
 */
export function useEntity<T extends object>(resource: ResourceDefinition<T>, id: EntityKey): EntityState<T>;
export function useEntity(resource: string, id: EntityKey): EntityState<Entity>;
export function useEntity(resource: ResourceDefinition<Entity> | string, id: EntityKey): EntityState<Entity> {
  const client = useProvidedClient();
  return useStore(() => (client ? handle(client, resource).get$(id) : NEVER), LOADING_ENTITY, [client, resource, id]);
}

/**
 * The client's sync status: online, pending count, paused reason, next retry.
 *
 * @example
 * const { online, pending } = useSyncStatus();
 * return <span>{online ? `${pending} to send` : 'offline'}</span>;
 */
export function useSyncStatus(): SyncStatus {
  const client = useProvidedClient();
  return useStore(() => client?.status$ ?? NEVER, INITIAL_STATUS, [client]);
}

/**
 * Conflicts awaiting a decision.
 *
 * @example
 * const conflicts = useConflicts();
 * conflicts.map((c) => <button onClick={() => c.resolve('local')}>Keep mine</button>);
 */
export function useConflicts(): Conflict[] {
  const client = useProvidedClient();
  return useStore(() => client?.conflicts$ ?? NEVER, EMPTY_LIST, [client]);
}

/**
 * Changes the server rejected, kept until retried or discarded.
 *
 * @example
 * const failed = useFailed();
 * failed.map((f) => <p>{f.error.message} <button onClick={() => f.discard()}>Undo</button></p>);
 */
export function useFailed(): FailedMutation[] {
  const client = useProvidedClient();
  return useStore(() => client?.failed$ ?? NEVER, EMPTY_LIST, [client]);
}

function handle(client: SyncClient, resource: ResourceDefinition<Entity> | string): ResourceHandle<Entity> {
  return typeof resource === 'string' ? client.resource(resource) : client.resource(resource);
}

/** `deps` are the store's identity: `open` is the one from the render that created it. */
function useStore<T>(open: () => Observable<T>, initial: T, deps: readonly unknown[]): T {
  const store = useMemo(() => createExternalStore(open, initial, true), deps);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, () => initial);
}
