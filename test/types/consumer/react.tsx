// @ts-nocheck -- checked by test/types/consumer.test.ts against the built package (the root typecheck has no dist/)
import type { ReactElement } from 'react';
import { createSyncClient } from 'harborsync';
import type { Conflict, Entity, EntityState, FailedMutation, QueryState, SyncStatus } from 'harborsync';
import { SyncProvider, useConflicts, useEntity, useFailed, useQuery, useSyncClient, useSyncStatus } from 'harborsync/react';
import { todos } from './shared.js';
import type { Equal, Todo } from './shared.js';
import { expectType } from './shared.js';

function Todos(): ReactElement {
  const state = useQuery(todos, { where: { done: false }, orderBy: 'title' });
  expectType<Equal<typeof state, QueryState<Todo>>>();
  const one = useEntity(todos, 't1');
  expectType<Equal<typeof one, EntityState<Todo>>>();
  const loose = useQuery('todos');
  expectType<Equal<typeof loose, QueryState<Entity>>>();
  expectType<Equal<ReturnType<typeof useSyncStatus>, SyncStatus>>();
  expectType<Equal<ReturnType<typeof useConflicts>, Conflict[]>>();
  expectType<Equal<ReturnType<typeof useFailed>, FailedMutation[]>>();
  const client = useSyncClient();

  // @ts-expect-error done is a boolean
  useQuery(todos, { where: { done: 'no' } });
  // @ts-expect-error ids are strings or numbers
  useEntity(todos, { id: 't1' });

  return (
    <ul>
      {state.data.map((todo) => (
        <li key={todo.id} onClick={() => client.resource(todos).update(todo.id, { done: !todo.done })}>
          {todo.title}
        </li>
      ))}
    </ul>
  );
}

export function App(): ReactElement {
  const client = createSyncClient({ baseUrl: '/api', resources: [todos] });
  return (
    <SyncProvider client={client}>
      <Todos />
    </SyncProvider>
  );
}

// @ts-expect-error the provider needs a client
export const missing = <SyncProvider>{null}</SyncProvider>;
