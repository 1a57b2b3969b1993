// @ts-nocheck -- checked by test/types/consumer.test.ts against the built package (the root typecheck has no dist/)
import { createApp, defineComponent, ref } from 'vue';
import type { Ref } from 'vue';
import { createSyncClient } from 'harborsync';
import type { Conflict, EntityState, FailedMutation, QueryState, SyncStatus } from 'harborsync';
import { harborSync, useConflicts, useEntity, useFailed, useQuery, useSyncClient, useSyncStatus } from 'harborsync/vue';
import { todos } from './shared.js';
import type { Equal, Todo } from './shared.js';
import { expectType } from './shared.js';

export const Todos = defineComponent({
  setup() {
    const done = ref(false);
    const id = ref('t1');
    const state = useQuery(todos, () => ({ where: { done: done.value } }));
    expectType<Equal<typeof state, Readonly<Ref<QueryState<Todo>>>>>();
    const titles: string[] = state.value.data.map((todo) => todo.title);
    const one = useEntity(todos, id);
    expectType<Equal<typeof one, Readonly<Ref<EntityState<Todo>>>>>();
    useEntity(todos, () => id.value);
    expectType<Equal<ReturnType<typeof useSyncStatus>, Readonly<Ref<SyncStatus>>>>();
    expectType<Equal<ReturnType<typeof useConflicts>, Readonly<Ref<Conflict[]>>>>();
    expectType<Equal<ReturnType<typeof useFailed>, Readonly<Ref<FailedMutation[]>>>>();
    const client = useSyncClient();

    // @ts-expect-error the ref is readonly
    state.value = state.value;
    // @ts-expect-error done is a boolean
    useQuery(todos, { where: { done: 1 } });
    // @ts-expect-error a getter must return a query of this resource
    useQuery(todos, () => ({ where: { title: false } }));

    return { titles, one, toggle: (todo: Todo) => client.resource(todos).update(todo.id, { done: !todo.done }) };
  },
});

createApp(Todos).use(harborSync(createSyncClient({ baseUrl: '/api', resources: [todos] })));
