// @ts-nocheck -- checked by test/types/consumer.test.ts against the built package (the root typecheck has no dist/)
import { createSyncClient, defineResource, isHarborSyncError, ValidationError } from 'harborsync';
import { z } from 'zod';
import type { Conflict, EntityOf, EntityState, QueryState, ResourceDefinition, ResourceHandle, SyncClient, SyncStatus } from 'harborsync';
import type { Observable } from 'rxjs';
import { todos } from './shared.js';
import type { Equal, Todo } from './shared.js';
import { expectType } from './shared.js';

expectType<Equal<EntityOf<typeof todos>, Todo>>();

const client: SyncClient = createSyncClient({ baseUrl: '/api', resources: [todos] });
const handle = client.resource(todos);

const query$ = handle.query$({ where: { done: false }, orderBy: [['title', 'asc']], limit: 10 });
expectType<Equal<typeof query$, Observable<QueryState<Todo>>>>();
expectType<Equal<ReturnType<typeof handle.get$>, Observable<EntityState<Todo>>>>();
handle.query$({ where: (todo) => todo.title.length > 3 });

export async function writes(): Promise<void> {
  const created = await handle.create({ title: 'Milk', done: false });
  expectType<Equal<typeof created, Todo>>();
  const updated = await handle.update('t1', { done: true }, { wait: 'server' });
  expectType<Equal<typeof updated, Todo>>();
  await handle.delete(created.id);

  // @ts-expect-error done is a boolean
  await handle.update('t1', { done: 'yes' });
  // @ts-expect-error title is required
  await handle.create({ done: false });
  // @ts-expect-error no such field
  handle.query$({ where: { priority: 1 } });
  // @ts-expect-error orderBy names fields
  handle.query$({ orderBy: 'priority' });
}

// A resource whose key and version fields have other names: create() needs neither, as with id and version.
const posts = defineResource({
  name: 'posts',
  key: 'slug',
  version: 'rev',
  schema: z.object({ slug: z.string(), title: z.string(), rev: z.number().int() }),
});
const postHandle = createSyncClient({ baseUrl: '/api', resources: [todos, posts] }).resource(posts);

export async function writesByOtherFieldNames(): Promise<void> {
  const post = await postHandle.create({ title: 'Hello' });
  expectType<Equal<typeof post, { slug: string; title: string; rev: number }>>();
  await postHandle.create({ slug: 'hello', title: 'Hello' });
  // @ts-expect-error title is required
  await postHandle.create({ slug: 'hello' });
}

// create() takes what the schema takes (its input): a field with a default may be left out, and a
// coerced one given as the server would send it; the entity returned is the schema's output.
const tasks = defineResource({
  name: 'tasks',
  schema: z.object({
    id: z.string(),
    title: z.string(),
    done: z.boolean().default(false),
    tags: z.array(z.string()).default([]),
    due: z.coerce.date(),
    version: z.number().int(),
  }),
});
const taskHandle = createSyncClient({ baseUrl: '/api', resources: [todos, tasks] }).resource(tasks);

export async function writesBySchemaInput(): Promise<void> {
  const task = await taskHandle.create({ title: 'Milk', due: '2024-01-15' });
  expectType<Equal<typeof task, { id: string; title: string; done: boolean; tags: string[]; due: Date; version: number }>>();
  await taskHandle.create({ title: 'Milk', done: true, due: new Date() });
  // @ts-expect-error title is required
  await taskHandle.create({ due: new Date() });
  // @ts-expect-error done is a boolean
  await taskHandle.create({ title: 'Milk', done: 'yes', due: new Date() });
}

// A discriminated union: create() takes one of its members, with that member's own fields.
const shapes = defineResource({
  name: 'shapes',
  schema: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('circle'), id: z.string(), radius: z.number(), version: z.number().int() }),
    z.object({ kind: z.literal('square'), id: z.string(), side: z.number(), version: z.number().int() }),
  ]),
});
const shapeHandle = createSyncClient({ baseUrl: '/api', resources: [todos, shapes] }).resource(shapes);

export async function writesOfAUnion(): Promise<void> {
  const circle = await shapeHandle.create({ kind: 'circle', radius: 2 });
  await shapeHandle.create({ kind: 'square', id: 's1', side: 3 });
  await shapeHandle.update(circle.id, { radius: 3 });
  // @ts-expect-error a circle has no side
  await shapeHandle.create({ kind: 'circle', side: 2 });
  // A query orders by any member's field; an entity without it sorts as one holding undefined.
  shapeHandle.query$({ where: { kind: 'circle' }, orderBy: [['radius', 'desc']] });
  shapeHandle.query$({ orderBy: 'side' });
  // @ts-expect-error no member has a colour
  shapeHandle.query$({ orderBy: 'colour' });
}

// Code generic over its entity orders by the fields its constraint names.
export function byTitle<T extends { id: string; title: string }>(handle: ResourceHandle<T>): void {
  handle.query$({ orderBy: 'title' });
  handle.query$({ orderBy: ['title', ['id', 'desc']] });
  // @ts-expect-error the constraint names no colour
  handle.query$({ orderBy: 'colour' });
}

// A definition typed by its entity alone (its input not known): it still fits, and create() takes that
// entity, less key and version.
type Task = EntityOf<typeof tasks>;
const typedTasks: ResourceDefinition<Task, 'id', 'version'> = tasks;
export async function writesByEntityType(): Promise<void> {
  const typedHandle = createSyncClient({ baseUrl: '/api', resources: [typedTasks] }).resource(typedTasks);
  const made = await typedHandle.create({ title: 'Milk', done: false, tags: [], due: new Date() });
  expectType<Equal<typeof made, Task>>();
  // @ts-expect-error done and tags are required: the entity type stands for the input
  await typedHandle.create({ title: 'Milk', due: new Date() });
}

const byName = client.resource('todos');
expectType<Equal<typeof byName.name, string>>();

client.status$.subscribe((status) => expectType<Equal<typeof status, SyncStatus>>());
client.conflicts$.subscribe((conflicts) => expectType<Equal<typeof conflicts, Conflict[]>>());

export function guard(error: unknown): string | undefined {
  if (error instanceof ValidationError) return error.message;
  return isHarborSyncError(error) ? error.name : undefined;
}
