/**
 * Local writes to a resource whose schema validates asynchronously (`~standard.validate` answers
 * with a promise; RELIABILITY #43): each write of an entity is made on the view the one before it
 * left, in call order, whatever order the validations answer in, and the validation still ends
 * before the write's transaction opens.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ClosedError, defineResource, PendingMutationsError, ValidationError, type StandardSchemaV1 } from '../../src/index.js';
import { closeDevices, device, outcomeOf, until, type Device } from '../helpers/harness.js';
import { settle } from '../helpers/manual-clock.js';

const API = 'http://api.test/api';
type Todo = { id: string; title: string; done: boolean; version?: number };

/**
 * A schema that answers with a promise: a microtask later by default; while `hold` is on, when
 * the test calls `answer()` on what it was `asked`. An empty title is refused.
 */
function asyncSchema() {
  const asked: Array<{ title: unknown; answer: () => void }> = [];
  const control: { hold: boolean | ((value: Record<string, unknown>) => boolean); asked: typeof asked } = { hold: false, asked };
  const schema: StandardSchemaV1<unknown, Todo> = {
    '~standard': {
      version: 1,
      vendor: 'test',
      async validate(value) {
        const v = value as Record<string, unknown>;
        const held = typeof control.hold === 'function' ? control.hold(v) : control.hold;
        await (held ? new Promise<void>((resolve) => asked.push({ title: v['title'], answer: resolve })) : Promise.resolve());
        if (typeof v['title'] !== 'string' || v['title'] === '') return { issues: [{ message: 'a non-empty string', path: ['title'] }] };
        if (typeof v['done'] !== 'boolean') return { issues: [{ message: 'a boolean', path: ['done'] }] };
        if (typeof v['version'] !== 'number') return { issues: [{ message: 'a number', path: ['version'] }] };
        return { value: v as Todo };
      },
    },
  };
  return { schema, control };
}

/** A server for `todos` that keeps what it is sent and answers with it, versioned. */
function todosApi() {
  const rows = new Map<string, Todo>();
  const fetchImpl: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const id = decodeURIComponent(new URL(request.url).pathname.split('/')[3] ?? '');
    if (request.method === 'GET') return new Response(JSON.stringify([...rows.values()]), { status: 200 });
    if (request.method === 'DELETE') {
      rows.delete(id);
      return new Response(null, { status: 204 });
    }
    const body = (await request.json()) as Record<string, unknown>;
    const row = (request.method === 'POST' ? { ...body, version: 1 } : { ...rows.get(id)!, ...body, version: rows.get(id)!.version! + 1 }) as Todo;
    rows.set(row.id, row);
    return new Response(JSON.stringify(row), { status: request.method === 'POST' ? 201 : 200 });
  };
  return { fetch: fetchImpl, rows };
}

/** Answers the newest validation asked, again and again, until every write has settled. */
async function answerNewestFirst(asked: Array<{ answer: () => void }>, writes: Array<Promise<unknown>>): Promise<void> {
  let settled = 0;
  for (const write of writes) void write.then(() => settled++, () => settled++);
  for (let round = 0; settled < writes.length; round++) {
    if (round === 20) throw new Error(`${writes.length - settled} writes still unsettled`);
    await until(() => asked.length > 0 || settled === writes.length, 'a validation asked');
    asked.pop()?.answer();
  }
  await Promise.all(writes);
}

const open: Device[] = [];
afterEach(() => closeDevices(open));

/** A client on a stub server, with `a` (title A, not done) created and confirmed. */
async function setUp() {
  const { schema, control } = asyncSchema();
  const todos = defineResource({ name: 'todos', schema });
  const server = todosApi();
  const d = device(API, { fetch: server.fetch, resources: [todos] });
  open.push(d);
  const h = d.client.resource(todos);
  await h.create({ id: 'a', title: 'A', done: false });
  await d.client.flush();
  // Each view of `a` shown, in turn.
  const shown: Array<Pick<Todo, 'title' | 'done'> | undefined> = [];
  let fetching = true;
  h.get$('a').subscribe(({ data, isFetching }) => {
    fetching = isFetching;
    const view = data && { title: data.title, done: data.done };
    if (JSON.stringify(view) !== JSON.stringify(shown.at(-1))) shown.push(view);
  });
  // The pull a first subscriber starts is over: its validations are not the writes'.
  await until(() => !fetching, 'the pull done');
  return { d, h, server, control, shown };
}

describe('writes to a resource whose schema validates asynchronously (RELIABILITY #43)', () => {
  it('a double toggle made before the first validation answered: the last write decides, locally and on the server', async () => {
    const { d, h, server } = await setUp();
    await Promise.all([h.update('a', { done: true }), h.update('a', { done: false })]);
    await d.client.flush();
    expect((await h.get('a'))?.done).toBe(false);
    expect(server.rows.get('a')?.done).toBe(false);
  });

  it('three writes whose validations answer newest first are shown and resolve in call order', async () => {
    const { d, h, server, control, shown } = await setUp();
    // Offline, nothing is sent or pulled: every validation asked is a write's.
    d.online.next(false);
    control.hold = true;
    const resolved: string[] = [];
    const writes = ['one', 'two', 'three'].map((title) => h.update('a', { title }).then(() => void resolved.push(title)));
    await answerNewestFirst(control.asked, writes);
    control.hold = false;
    expect(resolved).toEqual(['one', 'two', 'three']);
    expect(shown.map((view) => view?.title)).toEqual(['A', 'one', 'two', 'three']);
    d.online.next(true);
    await d.client.flush();
    expect(server.rows.get('a')?.title).toBe('three');
  });

  it('writes to two entities are queued in call order, whatever order their validations answer in', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const writes = [h.create({ id: 'b', title: 'B', done: false }), h.create({ id: 'c', title: 'C', done: false })];
    await answerNewestFirst(control.asked, writes);
    control.hold = false;
    const enqueued = d.events.flatMap((e) => (e.type === 'enqueued' && e.id !== 'a' ? [e.id] : []));
    expect(enqueued).toEqual(['b', 'c']);
  });

  it('a write refused by the validation in between changes nothing and holds back none of the writes after it', async () => {
    const { d, h, server, shown } = await setUp();
    const first = h.update('a', { done: true });
    const refused = outcomeOf(h.update('a', { title: '' }));
    const third = h.update('a', { title: 'three' });
    await Promise.all([first, third]);
    const outcome = await refused;
    expect('error' in outcome && outcome.error).toBeInstanceOf(ValidationError);
    expect(shown).toEqual([
      { title: 'A', done: false },
      { title: 'A', done: true },
      { title: 'three', done: true },
    ]);
    await d.client.flush();
    expect(server.rows.get('a')).toMatchObject({ title: 'three', done: true });
  });

  it('a create, an update and a delete of one entity in a row each apply to the one before: nothing is left or sent', async () => {
    const { d, h, server } = await setUp();
    const writes = [h.create({ id: 'b', title: 'B', done: false }), h.update('b', { done: true }), h.delete('b')];
    await Promise.all(writes);
    expect(await h.get('b')).toBeUndefined();
    await d.client.flush();
    expect(server.rows.has('b')).toBe(false);
  });

  it('an update and then a delete: the entity stays deleted once the update is validated', async () => {
    const { d, h, server } = await setUp();
    await Promise.all([h.update('a', { title: 'late' }), h.delete('a')]);
    expect(await h.get('a')).toBeUndefined();
    await d.client.flush();
    expect(server.rows.has('a')).toBe(false);
  });

  it('an update whose validation answers after a pull brought a newer version is made on that version: the entity returned and the view agree, and never go back to the old one', async () => {
    const { h, server, control, shown } = await setUp();
    server.rows.set('a', { id: 'a', title: 'B', done: false, version: 2 });
    control.hold = true;
    const write = h.update('a', { done: true });
    await until(() => control.asked.length === 1, 'the write asked to validate');
    const pulled = h.refresh();
    await until(() => control.asked.length === 2, 'the pulled entity asked to validate');
    control.asked.pop()!.answer();
    await pulled;
    expect(await h.get('a')).toEqual({ id: 'a', title: 'B', done: false, version: 2 });
    control.hold = false;
    control.asked.pop()!.answer();
    const updated = await write;
    expect(updated).toEqual({ id: 'a', title: 'B', done: true, version: 2 });
    expect(await h.get('a')).toEqual(updated);
    expect(shown).toEqual([
      { title: 'A', done: false },
      { title: 'B', done: false },
      { title: 'B', done: true },
    ]);
  });

  it('an update whose validation answers after a pull found the entity deleted on the server is refused with a ValidationError: nothing is brought back, queued or sent', async () => {
    const { d, h, server, control, shown } = await setUp();
    server.rows.delete('a');
    control.hold = true;
    const write = outcomeOf(h.update('a', { done: true }), 'the update');
    await until(() => control.asked.length === 1, 'the write asked to validate');
    await h.refresh();
    expect(await h.get('a')).toBeUndefined();
    control.hold = false;
    control.asked.pop()!.answer();
    const outcome = await write;
    expect('error' in outcome && outcome.error).toBeInstanceOf(ValidationError);
    expect((outcome as { error: Error }).error.message).toBe('todos/a: field "id" no entity with this id');
    expect(await h.get('a')).toBeUndefined();
    expect(shown).toEqual([{ title: 'A', done: false }, undefined]);
    expect(d.events.filter((e) => e.type === 'enqueued' && e.op === 'update')).toEqual([]);
    await d.client.flush();
    expect(server.rows.has('a')).toBe(false);
  });

  /** The client closed and opened again, watching todo 'a', its stored view (version 1) held in validation. */
  async function reopenedValidating(d: Device, resource: string, control: ReturnType<typeof asyncSchema>['control']) {
    await d.client.close();
    control.hold = (value) => value['version'] === 1;
    const again = d.reopen();
    open.push(again);
    const views: Array<Todo | undefined> = [];
    again.client.resource(resource).get$('a').subscribe(({ data }) => views.push(data as Todo | undefined));
    await until(() => control.asked.length === 1, 'the stored view asked to validate');
    return { again, views };
  }

  it('a server answer stored while the cache loads, its stored views still validating, is what the view shows, not the copy read before it', async () => {
    const { d, h, server, control } = await setUp();
    d.online.next(false);
    await h.update('a', { title: 'B' });
    // Reopened: the cache is fresh (no pull), the queued change goes out at once; the stored view
    // (version 1) validates only once the answer (version 2) is stored.
    const { again, views } = await reopenedValidating(d, h.name, control);
    let pending = -1;
    again.client.status$.subscribe((status) => (pending = status.pending));
    await until(() => server.rows.get('a')?.version === 2 && pending === 0, 'the answer stored');
    control.hold = false;
    control.asked.pop()!.answer();
    const confirmed = { id: 'a', title: 'B', done: false, version: 2 };
    await until(() => views.at(-1) !== undefined, 'the cache loaded');
    expect(await again.client.resource(h.name).get('a')).toEqual(confirmed);
    expect(views.at(-1)).toEqual(confirmed);
  });

  it('close() while the cache loads, a stored view never validated: list(), get() and refresh() waiting for the load reject with ClosedError', async () => {
    const { d, h, control } = await setUp();
    const { again } = await reopenedValidating(d, h.name, control);
    const handle = again.client.resource(h.name);
    const calls = [handle.list(), handle.get('a'), handle.refresh()].map((call: Promise<unknown>) => outcomeOf(call, 'the call'));
    await again.client.close();
    for (const call of calls) expect(await call).toEqual({ error: expect.any(ClosedError) });
  });

  it('clear() while the cache loads, its stored views still validating: what the load read is not shown once the data is deleted', async () => {
    const { d, h, control } = await setUp();
    const { again, views } = await reopenedValidating(d, h.name, control);
    await again.client.clear();
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await again.client.resource(h.name).list()).toEqual([]);
    await settle();
    expect(views.at(-1)).toBeUndefined();
  });

  it('a create whose validation answers after a pull brought an entity of its id is refused, as one made after the pull is: the pulled entity stays, nothing is queued or sent', async () => {
    const { d, h, server, control } = await setUp();
    const theirs = { id: 'b', title: 'theirs', done: false, version: 1 };
    server.rows.set('b', theirs);
    control.hold = true;
    const create = outcomeOf(h.create({ id: 'b', title: 'mine', done: false }), 'the create');
    await until(() => control.asked.length === 1, 'the create asked to validate');
    let pulled = false;
    const pull = h.refresh().then(() => void (pulled = true));
    // The pull's items are validated one by one: each answered as asked, the create's held.
    for (let round = 0; !pulled; round++) {
      if (round === 10) throw new Error('the pull never ended');
      await until(() => control.asked.length > 1 || pulled, "the pull's validation asked");
      control.asked.splice(1).forEach((asked) => asked.answer());
    }
    await pull;
    expect(await h.get('b')).toEqual(theirs);
    control.hold = false;
    control.asked.pop()!.answer();
    const outcome = await create;
    expect('error' in outcome && outcome.error).toBeInstanceOf(ValidationError);
    expect(await h.get('b')).toEqual(theirs);
    expect(d.events.filter((e) => e.type === 'enqueued' && e.id === 'b')).toEqual([]);
    await d.client.flush();
    expect(server.rows.get('b')).toEqual(theirs);
  });

  it('clear({ discardPending: true }) while a write waits for its validation discards it with the rest: its wait rejects, nothing reaches the fresh database', async () => {
    const { d, h, server, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const created = outcomeOf(h.create({ id: 'b', title: 'B', done: false }, { wait: 'server' }), 'the create');
    await until(() => control.asked.length === 1, 'the create asked to validate');
    const cleared = outcomeOf(d.client.clear({ discardPending: true }), 'clear()');
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await cleared).toEqual({ value: undefined });
    expect(await created).toEqual({ error: expect.any(PendingMutationsError) });
    expect(await h.list()).toEqual([]);
    d.online.next(true);
    await d.client.flush();
    expect(server.rows.has('b')).toBe(false);
  });

  it('a task naming a project whose create still waits for its validation is queued after it: the project is sent first', async () => {
    const { schema: projectSchema, control } = asyncSchema();
    const projects = defineResource({ name: 'projects', schema: projectSchema });
    type Task = { id: string; projectId: string; version?: number };
    const taskSchema: StandardSchemaV1<unknown, Task> = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value: value as Task }) } };
    const tasks = defineResource({ name: 'tasks', schema: taskSchema, references: { projectId: 'projects' } });
    const sent: string[] = [];
    const fetchImpl: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const path = new URL(request.url).pathname;
      if (request.method === 'GET') return new Response('[]', { status: 200 });
      sent.push(`${request.method} ${path}`);
      return new Response(JSON.stringify({ ...((await request.json()) as object), version: 1 }), { status: 201 });
    };
    const d = device(API, { fetch: fetchImpl, resources: [projects, tasks] });
    open.push(d);
    d.online.next(false);
    await Promise.all([d.client.resource(projects).list(), d.client.resource(tasks).list()]);
    control.hold = true;
    const project = d.client.resource(projects).create({ id: 'p1', title: 'Launch', done: false });
    await until(() => control.asked.length === 1, 'the project asked to validate');
    const task = d.client.resource(tasks).create({ id: 't1', projectId: 'p1' });
    control.hold = false;
    control.asked.pop()!.answer();
    await Promise.all([project, task]);
    d.online.next(true);
    await d.client.flush();
    expect(sent).toEqual(['POST /api/projects', 'POST /api/tasks']);
  });

  it("an update of create()'s temporary id whose validation answers after the server renamed the entity is made under the server's id, not refused", async () => {
    const { schema, control } = asyncSchema();
    const todos = defineResource({ name: 'todos', schema, ids: 'server' });
    const rows = new Map<string, Todo>();
    const fetchImpl: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const id = decodeURIComponent(new URL(request.url).pathname.split('/')[3] ?? '');
      if (request.method === 'GET') return new Response(JSON.stringify([...rows.values()]), { status: 200 });
      const body = (await request.json()) as Todo;
      const row = request.method === 'POST' ? { ...body, id: 'srv-1', version: 1 } : { ...rows.get(id)!, ...body, version: rows.get(id)!.version! + 1 };
      rows.set(row.id, row);
      return new Response(JSON.stringify(row), { status: request.method === 'POST' ? 201 : 200 });
    };
    const d = device(API, { fetch: fetchImpl, resources: [todos] });
    open.push(d);
    const h = d.client.resource(todos);
    await h.list();
    d.online.next(false);
    const created = await h.create({ title: 'A', done: false });
    // Only the update's validation is held: the create's answer is validated as it comes.
    control.hold = (value) => value['title'] === 'B';
    const updated = outcomeOf(h.update(created.id, { title: 'B' }), 'the update');
    await until(() => control.asked.length === 1, 'the update asked to validate');
    d.online.next(true);
    await until(async () => (await h.get('srv-1')) !== undefined, 'the rename shown');
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await updated).toEqual({ value: { id: 'srv-1', title: 'B', done: false, version: 1 } });
    await d.client.flush();
    expect(rows.get('srv-1')).toMatchObject({ title: 'B', version: 2 });
  });

  type Project = { id: string; name: string; version?: number };
  type Task = { id: string; projectId: string | null; title: string; done: boolean; version?: number };

  /**
   * Projects named by the server ('p-srv') and tasks referring to them, validated asynchronously;
   * every request the server answers is in `sent`. Both resources loaded.
   */
  async function projectsAndTasks() {
    const projectSchema: StandardSchemaV1<unknown, Project> = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value: value as Project }) } };
    const { schema: taskSchema, control } = asyncSchema();
    const projects = defineResource({ name: 'projects', schema: projectSchema, ids: 'server' });
    const tasks = defineResource({ name: 'tasks', schema: taskSchema as unknown as StandardSchemaV1<unknown, Task>, references: { projectId: 'projects' } });
    const sent: Array<Record<string, unknown>> = [];
    const fetchImpl: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method === 'GET') return new Response('[]', { status: 200 });
      const body = (await request.json()) as Record<string, unknown>;
      const path = new URL(request.url).pathname;
      const row = path.endsWith('/projects') ? { ...body, id: 'p-srv', version: 1 } : request.method === 'POST' ? { ...body, version: 1 } : { id: 't1', projectId: null, title: 'T', done: false, ...body, version: 2 };
      sent.push(row);
      return new Response(JSON.stringify(row), { status: request.method === 'POST' ? 201 : 200 });
    };
    const d = device(API, { fetch: fetchImpl, resources: [projects, tasks] });
    open.push(d);
    await Promise.all([d.client.resource(projects).list(), d.client.resource(tasks).list()]);
    return { d, projects: d.client.resource(projects), tasks: d.client.resource(tasks), control, sent };
  }

  it("a task naming a project's temporary id, whose validation answers after the project's create was answered, is stored, shown and resolved naming the server's id", async () => {
    const { d, projects, tasks, control, sent } = await projectsAndTasks();
    d.online.next(false);
    const project = await projects.create({ name: 'P' });
    control.hold = true;
    const task = outcomeOf(tasks.create({ id: 't1', projectId: project.id, title: 'T', done: false }), 'the task');
    await until(() => control.asked.length === 1, 'the task asked to validate');
    // The project is sent and renamed; the task, still validating, is not stored yet.
    d.online.next(true);
    await until(async () => (await projects.get('p-srv')) !== undefined, 'the rename shown');
    d.online.next(false);
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await task).toEqual({ value: { id: 't1', projectId: 'p-srv', title: 'T', done: false } });
    expect(await tasks.list({ where: { projectId: 'p-srv' } })).toEqual([{ id: 't1', projectId: 'p-srv', title: 'T', done: false }]);
    d.online.next(true);
    await d.client.flush();
    expect(sent.at(-1)).toMatchObject({ id: 't1', projectId: 'p-srv' });
  });

  it("an update setting a project's temporary id, whose validation answers after the project's create was answered and renamed, is stored, shown and resolved naming the server's id", async () => {
    const { d, projects, tasks: h, control, sent } = await projectsAndTasks();
    await h.create({ id: 't1', projectId: null, title: 'T', done: false });
    await d.client.flush();
    d.online.next(false);
    const project = await projects.create({ name: 'P' });
    control.hold = true;
    const updated = outcomeOf(h.update('t1', { projectId: project.id }), 'the update');
    await until(() => control.asked.length === 1, 'the update asked to validate');
    d.online.next(true);
    await until(async () => (await projects.get('p-srv')) !== undefined, 'the rename shown');
    d.online.next(false);
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await updated).toEqual({ value: { id: 't1', projectId: 'p-srv', title: 'T', done: false, version: 1 } });
    expect(await h.list({ where: { projectId: 'p-srv' } })).toEqual([{ id: 't1', projectId: 'p-srv', title: 'T', done: false, version: 1 }]);
    d.online.next(true);
    await d.client.flush();
    expect(sent.at(-1)).toMatchObject({ id: 't1', projectId: 'p-srv' });
  });

  it('clear({ discardPending: true }) while a validation has not answered resolves without waiting for it; the write answered later is discarded, not stored in the fresh database', async () => {
    const { d, h, server, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const created = outcomeOf(h.create({ id: 'b', title: 'B', done: false }), 'the create');
    await until(() => control.asked.length === 1, 'the create asked to validate');
    expect(await outcomeOf(d.client.clear({ discardPending: true }), 'clear()')).toEqual({ value: undefined });
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await created).toEqual({ error: expect.any(PendingMutationsError) });
    expect(await h.list()).toEqual([]);
    d.online.next(true);
    await d.client.flush();
    expect(server.rows.has('b')).toBe(false);
  });

  it('a write made after clear({ discardPending: true }) does not wait for the validation of a write it discarded', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = (value) => value['title'] === 'B';
    const discarded = h.create({ id: 'b', title: 'B', done: false });
    discarded.catch(() => undefined);
    await until(() => control.asked.length === 1, 'the create asked to validate');
    await d.client.clear({ discardPending: true });
    expect(await outcomeOf(h.create({ id: 'c', title: 'C', done: false }), 'the create after clear()')).toMatchObject({ value: { id: 'c', title: 'C' } });
    expect((await h.list()).map((todo) => todo.id)).toEqual(['c']);
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await outcomeOf(discarded, 'the discarded create')).toEqual({ error: expect.any(PendingMutationsError) });
    expect((await h.list()).map((todo) => todo.id)).toEqual(['c']);
  });

  it('clear() while a validation has not answered refuses at once, counting that write', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const created = outcomeOf(h.create({ id: 'b', title: 'B', done: false }), 'the create');
    await until(() => control.asked.length === 1, 'the create asked to validate');
    expect(await outcomeOf(d.client.clear(), 'clear()')).toEqual({ error: expect.any(PendingMutationsError) });
    control.hold = false;
    control.asked.pop()!.answer();
    expect(await created).toMatchObject({ value: { id: 'b', title: 'B' } });
    expect(await h.get('b')).toMatchObject({ id: 'b', title: 'B' });
  });

  it('writes queued behind validations leave nothing listening on the client once they are done', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const writes = Array.from({ length: 10 }, (_, i) => h.update('a', { title: `t${i}` }));
    await answerNewestFirst(control.asked, writes);
    control.hold = false;
    const lifetime = (d.client as unknown as { lifetime: AbortSignal }).lifetime;
    expect(getEventListeners(lifetime, 'abort')).toHaveLength(0);
  });

  it('a validation that never answers holds the writes after it until close(), which rejects them with ClosedError', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    void h.update('a', { title: 'never validated' });
    await until(() => control.asked.length === 1, 'the validation asked');
    const behind = outcomeOf(h.update('a', { done: true }), 'the write behind it');
    await d.client.close();
    expect(await behind).toEqual({ error: expect.any(ClosedError) });
    expect(control.asked).toHaveLength(1);
  });

  it('close() rejects the write whose own validation never answers with ClosedError, and a flush() waiting for it ends', async () => {
    const { d, h, control } = await setUp();
    d.online.next(false);
    control.hold = true;
    const held = outcomeOf(h.update('a', { title: 'never validated' }), 'the write');
    await until(() => control.asked.length === 1, 'the validation asked');
    const flushing = outcomeOf(d.client.flush(), 'flush()');
    await d.client.close();
    expect(await held).toEqual({ error: expect.any(ClosedError) });
    expect(await flushing).toEqual({ error: expect.any(ClosedError) });
  });
});
