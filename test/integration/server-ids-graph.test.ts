import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IDBFactory } from 'fake-indexeddb';
import type { LedgerEntry } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { type Device, referenceServer, until } from '../helpers/harness.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const projects = defineResource({
  name: 'projects',
  schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  ids: 'server',
});
const tasks = defineResource({
  name: 'tasks',
  schema: z.object({ id: z.string(), title: z.string(), projectId: z.string(), version: z.number().int() }),
  ids: 'server',
  references: { projectId: 'projects' },
});
const comments = defineResource({
  name: 'comments',
  schema: z.object({ id: z.string(), text: z.string(), taskId: z.string(), version: z.number().int() }),
  ids: 'server',
  references: { taskId: 'tasks' },
});
type Task = { id: string; title: string; projectId: string; version: number };
type Comment = { id: string; text: string; taskId: string; version: number };

const suite = referenceServer({ serverIds: true, resources: [{ name: 'projects' }, { name: 'tasks' }, { name: 'comments' }] });
const { make, kept } = suite;

const api = async <T,>(path: string): Promise<T> =>
  (await (await fetch(`${suite.server.apiUrl}${path}`, { headers: { Authorization: 'Bearer demo-alice' } })).json()) as T;
const applied = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger();

/** Offline: a project, two tasks in it, comments on them, then edits and a deletion. */
async function offlineGraph(d: Device) {
  d.online.next(false);
  const p = d.client.resource(projects);
  const t = d.client.resource(tasks);
  const c = d.client.resource(comments);
  const project = await p.create({ name: 'Site visit' });
  const t1 = await t.create({ title: 'pump', projectId: project.id });
  const t2 = await t.create({ title: 'valve', projectId: project.id });
  const c1 = await c.create({ text: 'rusty', taskId: t1.id });
  const c2 = await c.create({ text: 'replace', taskId: t1.id });
  const c3 = await c.create({ text: 'ok', taskId: t2.id });
  await p.update(project.id, { name: 'Site visit 2' });
  await t.update(t1.id, { title: 'pump!' });
  await c.update(c1.id, { text: 'very rusty' });
  await c.delete(c2.id);
  return { project, t1, t2, c1, c2, c3 };
}

async function expectGraphDelivered() {
  const rows = await applied();
  const creates = rows.filter((r) => r.op === 'create');
  expect(creates.map((r) => r.resource)).toEqual(['projects', 'tasks', 'tasks', 'comments', 'comments']);
  expect(rows.filter((r) => r.op !== 'create')).toEqual([]);
  const [project] = await api<Array<{ id: string; name: string }>>('/projects');
  expect(project!.name).toBe('Site visit 2');
  const serverTasks = await api<Task[]>('/tasks');
  expect(serverTasks.map((t) => [t.title, t.projectId]).sort()).toEqual([['pump!', project!.id], ['valve', project!.id]]);
  const byTitle = Object.fromEntries(serverTasks.map((t) => [t.title, t.id]));
  const serverComments = await api<Comment[]>('/comments');
  expect(serverComments.map((c) => [c.text, c.taskId]).sort()).toEqual([['ok', byTitle['valve']], ['very rusty', byTitle['pump!']]]);
  return { projectId: project!.id, byTitle };
}

describe('a three-level graph made offline under server ids', () => {
  it('goes out parents first, each create once, every reference rewritten on the server and locally', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments] });
    const { t1, c1 } = await offlineGraph(d);
    const shown: Array<QueryState<Comment>> = [];
    d.client.resource(comments).query$({ where: { taskId: t1.id } }).subscribe((s) => shown.push(s));
    d.online.next(true);
    await d.client.flush();
    const { byTitle } = await expectGraphDelivered();
    const local = await d.client.resource(comments).list();
    expect(local.every((c) => !c.id.startsWith('tmp:') && !c.taskId.startsWith('tmp:'))).toBe(true);
    expect(shown.at(-1)!.data.map((c) => [c.text, c.taskId])).toEqual([['very rusty', byTitle['pump!']]]);
    expect(await d.client.resource(comments).get(c1.id)).toMatchObject({ text: 'very rusty', taskId: byTitle['pump!'] });
    expect((await firstValueFrom(d.client.status$)).pending).toBe(0);
  });

  it("survives a task's create applied with its answer lost, then a reload: its comments go out naming its real id", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments], retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    await offlineGraph(d);
    let dropped = false;
    const fetchOnce: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const answer = await fetch(request);
      if (!dropped && request.method === 'POST' && new URL(request.url).pathname.endsWith('/tasks')) {
        dropped = true;
        throw new TypeError('network lost');
      }
      return answer;
    };
    await d.client.close();
    const lossy = kept(d.reopen({ fetch: fetchOnce }));
    lossy.online.next(true);
    await until(() => dropped, 'the task answer lost');
    await until(() => lossy.events.some((e) => e.type === 'retrying'), 'retrying');
    await lossy.client.close();
    const reopened = kept(d.reopen());
    await reopened.clock.advance(120_000);
    await reopened.client.flush();
    await expectGraphDelivered();
    expect((await firstValueFrom(reopened.client.status$)).pending).toBe(0);
  });

  it("a project's create parked after failing with 5xx: its tasks and their comments wait; retry() sends them all", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments], retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 10 } });
    await offlineGraph(d);
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'Site visit' } });
    d.online.next(true);
    for (let i = 0; i < 5; i++) {
      await d.clock.advance(1000);
      await d.client.flush();
    }
    const failed = await firstValueFrom(d.client.failed$);
    expect(failed.map((f) => f.resource)).toEqual(['projects']);
    expect(await api<Task[]>('/tasks')).toEqual([]);
    await suite.server.admin.faults({ failStatus: null });
    await failed[0]!.retry();
    await d.client.flush();
    await expectGraphDelivered();
  });

  /** The offline graph sent, its project's create refused once with 422: the device and what failed$ lists. */
  async function projectRefused() {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments] });
    await offlineGraph(d);
    await suite.server.admin.faults({ failStatus: { status: 422, match: 'Site visit', count: 1 } });
    d.online.next(true);
    await d.client.flush();
    return { d, failed: await firstValueFrom(d.client.failed$) };
  }

  it("a project's create refused with 422, then retried: its tasks and their comments follow", async () => {
    const { d, failed } = await projectRefused();
    expect(failed.map((f) => f.resource)).toEqual(['projects']);
    await failed[0]!.retry();
    await d.client.flush();
    await expectGraphDelivered();
  });

  it("a project's create refused with 422, then discarded: its tasks are parked, their comments once the tasks are discarded; nothing is sent", async () => {
    const { d, failed } = await projectRefused();
    await failed[0]!.discard();
    await d.client.flush();
    const next = await firstValueFrom(d.client.failed$);
    expect(next.map((f) => f.resource)).toEqual(['tasks', 'tasks']);
    for (const f of next) await f.discard();
    await d.client.flush();
    const last = await firstValueFrom(d.client.failed$);
    expect(last.map((f) => f.resource)).toEqual(['comments', 'comments']);
    expect(await applied()).toEqual([]);
  });

  it('a task deleted before it was sent, its comment queued: the comment is parked in failed$', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments] });
    const { t2 } = await offlineGraph(d);
    await d.client.resource(tasks).delete(t2.id);
    d.online.next(true);
    await d.client.flush();
    const failed = await firstValueFrom(d.client.failed$);
    expect(failed.map((f) => [f.resource, f.op])).toEqual([['comments', 'create']]);
  });

  it("a project deleted once its create was sent, its tasks and their comments still queued: all are created before the project is deleted", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks, comments] });
    const { project } = await offlineGraph(d);
    d.online.next(true);
    await until(async () => (await applied()).length >= 1, 'the project sent');
    await d.client.resource(projects).delete(project.id);
    await d.client.flush();
    const rows = (await applied()).map((r) => `${r.op} ${r.resource}`);
    expect(rows.slice(0, 3)).toEqual(['create projects', 'create tasks', 'create tasks']);
    expect(rows.filter((r) => r === 'delete projects')).toHaveLength(1);
    expect(rows.filter((r) => r === 'create comments')).toHaveLength(2);
    // Its tasks' comments, made before it was deleted, too: they wait for the tasks' ids, not its own.
    expect(rows.at(-1)).toBe('delete projects');
    expect((await firstValueFrom(d.client.status$)).pending).toBe(0);
  });

  it('a second tab that made the graph shows each comment once in every frame while the leader sends it, then under the real ids', async () => {
    const indexedDB = new IDBFactory();
    const hub = new BroadcastHub();
    const locks = new FakeLocks();
    const clock = new ManualClock();
    const tab = () => make(suite.server.apiUrl, { resources: [projects, tasks, comments], namespace: 'tabs', locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
    const leader = tab();
    await until(() => { let l = false; leader.client.status$.subscribe((s) => (l = s.leader)).unsubscribe(); return l; }, 'leader');
    const follower = tab();
    leader.online.next(false);
    follower.online.next(false);
    const { t1 } = await offlineGraph(follower);
    const shown: Array<QueryState<Comment>> = [];
    follower.client.resource(comments).query$({ where: { taskId: t1.id } }).subscribe((s) => shown.push(s));
    await until(() => shown.at(-1)?.data.length === 1, 'shown');
    const from = shown.length - 1;
    leader.online.next(true);
    follower.online.next(true);
    await until(async () => (await applied()).length === 5, 'all applied');
    const { byTitle } = await expectGraphDelivered();
    await until(() => shown.at(-1)?.data[0]?.taskId === byTitle['pump!'] && !shown.at(-1)!.data[0]!.id.startsWith('tmp:'), 'the follower shows the comment under its real id');
    // Every frame holds it once: never gone (as its own rename reaches this tab), never twice.
    expect(shown.slice(from).every((s) => s.data.length === 1)).toBe(true);
    await until(async () => (await firstValueFrom(leader.client.status$)).pending === 0, 'the leader done');
    await until(async () => (await follower.client.resource(comments).list()).every((c) => !c.id.startsWith('tmp:')), 'the comments renamed in the follower');
    const followerComments = await follower.client.resource(comments).list();
    expect(followerComments.every((c) => !c.id.startsWith('tmp:') && !c.taskId.startsWith('tmp:'))).toBe(true);
  });
});
