import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LedgerEntry } from '../../server/index.mjs';
import { defineResource, type EntityState, type QueryState } from '../../src/index.js';
import { LocalStore } from '../../src/store/local-store.js';
import { Replayer } from '../../src/outbox/replay.js';
import { ResourceMirror } from '../../src/store/mirror.js';
import { CURRENT, type WithCurrent } from '../../src/internal/current.js';
import { StorageError } from '../../src/errors.js';
import { IDBFactory } from 'fake-indexeddb';
import { ValidationError } from '../../src/errors.js';
import { device, type Device, heldAnswers, heldListAnswers, outcomeOf, referenceServer, until } from '../helpers/harness.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';
import { committed, openRaw } from '../helpers/raw-idb.js';
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
/** The same projects, followed through the delta feed. */
const deltaProjects = defineResource({
  name: 'projects',
  schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  ids: 'server',
  delta: true,
});
/** The same, its conflicts left to the app. */
const manualDeltaProjects = defineResource({
  name: 'projects',
  schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  ids: 'server',
  delta: true,
  conflicts: 'manual',
});
/** The same, loaded on demand. */
const onDemandProjects = defineResource({
  name: 'projects',
  schema: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  ids: 'server',
  load: 'on-demand',
});
/** The same, with a second field. */
const notedProjects = defineResource({
  name: 'projects',
  schema: z.object({ id: z.string(), name: z.string(), note: z.string().optional(), version: z.number().int() }),
  ids: 'server',
  delta: true,
});
type Project = { id: string; name: string; version: number };
type Task = { id: string; title: string; projectId: string; version: number };

const suite = referenceServer({ serverIds: true, resources: [{ name: 'projects', delta: true }, { name: 'tasks' }] });
const { make, kept } = suite;

const api = async <T,>(path: string): Promise<T> =>
  (await (await fetch(`${suite.server.apiUrl}${path}`, { headers: { Authorization: 'Bearer demo-alice' } })).json()) as T;
const applied = async (): Promise<LedgerEntry[]> => suite.server.admin.ledger();

/** Offline: a project, three tasks pointing at it, edits to both. */
async function offlineGraph(d: Device) {
  d.online.next(false);
  const p = d.client.resource(projects);
  const t = d.client.resource(tasks);
  const project = await p.create({ name: 'Launch' });
  expect(project.id).toMatch(/^tmp:/);
  const created = [];
  for (const title of ['one', 'two', 'three']) created.push(await t.create({ title, projectId: project.id }));
  await p.update(project.id, { name: 'Launch v2' });
  await t.update(created[0]!.id, { title: 'one!' });
  return { project, tasks: created };
}

async function expectDelivered(d: Device) {
  const serverProjects = await api<Project[]>('/projects');
  const serverTasks = await api<Task[]>('/tasks');
  expect(serverProjects).toHaveLength(1);
  expect(serverProjects[0]).toMatchObject({ name: 'Launch v2' });
  const realId = serverProjects[0]!.id;
  expect(realId).not.toMatch(/^tmp:/);
  expect(serverTasks.map((t) => t.title).sort()).toEqual(['one!', 'three', 'two']);
  expect(serverTasks.every((t) => t.projectId === realId)).toBe(true);
  const rows = await applied();
  expect(rows.filter((r) => r.op === 'create')).toHaveLength(4);
  const local = await d.client.resource(tasks).list();
  expect(local.every((t) => t.projectId === realId && !t.id.startsWith('tmp:'))).toBe(true);
  expect((await d.client.resource(projects).list()).map((p) => p.id)).toEqual([realId]);
  return realId;
}

/**
 * A device following projects through the delta feed, whose create was applied with its answer
 * lost: the change waits to be re-sent (a minute of backoff), under its temporary id.
 */
async function createWithItsAnswerLost(name: string, resource = deltaProjects, options: Parameters<typeof device>[1] = {}) {
  const d = make(suite.server.apiUrl, { resources: [resource], retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 }, ...options });
  const h = d.client.resource(resource);
  await h.refresh();
  await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
  const project = await h.create({ name });
  await until(() => d.events.some((e) => e.type === 'retrying'), 'the lost answer');
  const id = (await applied())[0]!.entityId!;
  return { d, h, project, id };
}

/**
 * Replays the create whose answer was lost; between the re-keying transaction and its views being
 * applied (while the outbox is read again), a pull commits what the server holds and applies it first.
 */
async function replayWithAPullWhileRekeying({ d, h }: Pick<Awaited<ReturnType<typeof createWithItsAnswerLost>>, 'd' | 'h'>) {
  const settle = LocalStore.prototype.settleRemapped;
  const reload = LocalStore.prototype.reloadOutbox;
  let armed = false;
  LocalStore.prototype.settleRemapped = function (...args) {
    armed = true;
    return settle.apply(this, args);
  };
  // This tab's own reads wait for a create's answer to be stored; one landing here stands for a
  // read that would not (should that order come back), so the wait is left out of it.
  const createsStored = Replayer.prototype.createsStored;
  LocalStore.prototype.reloadOutbox = async function () {
    if (armed) {
      armed = false;
      Replayer.prototype.createsStored = () => undefined;
      await h.refresh().finally(() => (Replayer.prototype.createsStored = createsStored));
    }
    return reload.apply(this);
  };
  try {
    await d.clock.advance(60_000);
    await d.client.flush();
  } finally {
    LocalStore.prototype.settleRemapped = settle;
    LocalStore.prototype.reloadOutbox = reload;
    Replayer.prototype.createsStored = createsStored;
  }
  expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
}

/** The entity `id` deleted on the server while this device changed it: the conflict that follows, for a decision. */
async function deletedByAnotherKeptHere(d: Device, id: string) {
  const h = d.client.resource(manualDeltaProjects);
  await h.refresh();
  await suite.server.admin.edit({ resource: 'projects', id, delete: true });
  await h.update(id, { name: 'kept under the server id' });
  await d.client.flush();
  const [gone] = await firstValueFrom(d.client.conflicts$);
  return gone!;
}

/** Tabs of one browser profile (one IndexedDB, Web Locks, BroadcastChannel and clock), each a device. */
function browserTabs(namespace: string) {
  const indexedDB = new IDBFactory();
  const hub = new BroadcastHub();
  const locks = new FakeLocks();
  const clock = new ManualClock();
  const tab = () => make(suite.server.apiUrl, { resources: [projects, tasks], namespace, locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
  return { hub, tab };
}

const leads = (d: Device) => {
  let leader = false;
  d.client.status$.subscribe((s) => (leader = s.leader)).unsubscribe();
  return leader;
};

/**
 * A leader and a follower of one profile: the follower creates a project under a temporary id,
 * and the leader sends it and stores its new id with its messages lost (from then on too).
 */
async function renamedUnheard(namespace: string, resource: typeof projects | typeof onDemandProjects, followerOptions: { fetch?: typeof fetch } = {}) {
  const indexedDB = new IDBFactory();
  const hub = new BroadcastHub();
  const locks = new FakeLocks();
  const clock = new ManualClock();
  const tab = (options = {}) => make(suite.server.apiUrl, { resources: [resource], namespace, locks, BroadcastChannel: hub.Channel, ...options }, indexedDB, clock);
  const leader = tab();
  await until(() => leads(leader), 'a leader');
  const follower = tab(followerOptions);
  const shown: Array<QueryState<Project>> = [];
  follower.client.resource(resource).query$({ orderBy: 'name', limit: 10 }).subscribe((s) => shown.push(s));
  leader.online.next(false);
  const project = await follower.client.resource(resource).create({ name: 'Home' });
  await until(() => shown.at(-1)?.data.length === 1, 'the create shown');
  await until(async () => (await leader.client.resource(resource).list()).length === 1, 'the create heard of by the leader');
  hub.drop = () => true;
  leader.online.next(true);
  await until(async () => (await applied()).length === 1, 'the create applied');
  const id = (await applied())[0]!.entityId!;
  await until(async () => (await leader.client.resource(resource).list()).some((p) => p.id === id), 'the create renamed in the leader');
  return { hub, leader, follower, shown, project, id };
}

/**
 * A leader and a follower of one profile, with projects and tasks: the follower creates a project
 * offline, and the leader sends it and stores its new id with the tab messages lost.
 */
async function projectRenamedUnheard(namespace: string) {
  const indexedDB = new IDBFactory();
  const hub = new BroadcastHub();
  const locks = new FakeLocks();
  const clock = new ManualClock();
  const tab = () => make(suite.server.apiUrl, { resources: [projects, tasks], namespace, locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
  const leader = tab();
  await until(() => leads(leader), 'a leader');
  const follower = tab();
  leader.online.next(false);
  const project = await follower.client.resource(projects).create({ name: 'Launch' });
  await until(async () => (await leader.client.resource(projects).list()).length === 1, 'the create heard of by the leader');
  hub.drop = () => true;
  leader.online.next(true);
  await until(async () => (await applied()).length === 1, 'the create applied');
  const realId = (await applied())[0]!.entityId!;
  await until(async () => (await leader.client.resource(projects).list()).some((p) => p.id === realId), 'the create renamed in the leader');
  return { indexedDB, hub, clock, tab, leader, follower, project, realId };
}

/**
 * A leader and a follower of one profile, both showing `resource`: the leader's create is applied
 * by the server with its answer held, and the follower reads meanwhile (its answer holds the entity
 * under the server's id). `pulled()` says whether that read is done.
 */
async function followerReadsWhileLeaderCreates(resource: typeof projects | typeof deltaProjects | typeof onDemandProjects) {
  const indexedDB = new IDBFactory();
  const hub = new BroadcastHub();
  const locks = new FakeLocks();
  const clock = new ManualClock();
  const posts = heldAnswers((request) => request.method === 'POST');
  const namespace = `follower-read-${resource.load ?? 'eager'}-${resource.delta === true}`;
  const leader = make(suite.server.apiUrl, { resources: [resource], namespace, locks, BroadcastChannel: hub.Channel, fetch: posts.fetch }, indexedDB, clock);
  await until(() => leads(leader), 'a leader');
  const follower = make(suite.server.apiUrl, { resources: [resource], namespace, locks, BroadcastChannel: hub.Channel }, indexedDB, clock);
  const frames = { leader: [] as string[][], follower: [] as string[][] };
  leader.client.resource(resource).query$().subscribe((s) => frames.leader.push(s.data.map((p) => p.name)));
  follower.client.resource(resource).query$().subscribe((s) => frames.follower.push(s.data.map((p) => p.name)));
  await leader.client.resource(resource).refresh();
  await follower.client.resource(resource).refresh();
  const { landed } = await posts.heldRequest(() => leader.client.resource(resource).create({ name: 'Home' }, { wait: 'server' }), clock);
  await until(() => frames.follower.at(-1)?.length === 1, 'the create shown in the follower');
  let pulled = false;
  const pulling = follower.client
    .resource(resource)
    .refresh()
    .catch(() => undefined)
    .finally(() => (pulled = true));
  // The read's answer has every chance to be stored before the create's.
  for (let turn = 0; turn < 50 && !pulled; turn++) await new Promise((resolve) => setTimeout(resolve, 2));
  return { clock, leader, follower, frames, landed, pulling, pulled: () => pulled };
}

describe("ids: 'server'", () => {
  it('creates offline under temporary ids, then re-keys everything once the server names them', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const projectStates: Array<QueryState<Project>> = [];
    const taskStates: Array<QueryState<Task>> = [];
    d.client.resource(projects).query$().subscribe((s) => projectStates.push(s));
    d.client.resource(tasks).query$({ orderBy: 'title' }).subscribe((s) => taskStates.push(s));
    const { project } = await offlineGraph(d);
    const followed: Array<EntityState<Project>> = [];
    d.client.resource(projects).get$(project.id).subscribe((s) => followed.push(s));
    d.online.next(true);
    await d.client.flush();
    const realId = await expectDelivered(d);
    const afterFirst = projectStates.slice(projectStates.findIndex((s) => s.data.length === 1));
    expect(afterFirst.every((s) => s.data.length === 1)).toBe(true);
    const tasksAfter = taskStates.slice(taskStates.findIndex((s) => s.data.length === 3));
    expect(tasksAfter.every((s) => s.data.length === 3)).toBe(true);
    expect(followed.at(-1)!.data).toMatchObject({ id: realId, name: 'Launch v2' });
    expect(followed.every((s, i) => i === 0 || s.data !== undefined)).toBe(true);
    expect(await d.client.resource(projects).get(project.id)).toMatchObject({ id: realId });
    await d.client.resource(projects).update(project.id, { name: 'renamed' });
    await d.client.flush();
    expect((await api<Project[]>('/projects'))[0]).toMatchObject({ id: realId, name: 'renamed' });
    expect(d.events.filter((e) => e.type === 'idRemapped').map((e) => e.type === 'idRemapped' && e.from)).toContain(project.id);
  });

  it('an update or a delete under a temporary id the leader renamed, before this tab heard, is refused with a ValidationError; nothing more is sent', async () => {
    const { hub, tab } = browserTabs('renamed');
    const pending = (d: Device) => {
      let count = 0;
      d.client.status$.subscribe((s) => (count = s.pending)).unsubscribe();
      return count;
    };
    const leader = tab();
    await until(() => leads(leader), 'a leader');
    const follower = tab();
    for (const d of [leader, follower]) d.online.next(false);
    const project = await follower.client.resource(projects).create({ name: 'Home' });
    expect(project.id).toMatch(/^tmp:/);
    await until(() => pending(leader) === 1, 'the create heard of by the leader');
    hub.drop = () => true;
    leader.online.next(true);
    await until(async () => (await applied()).length === 1 && pending(leader) === 0, 'the create sent and renamed');

    const h = follower.client.resource(projects);
    await expect(h.update(project.id, { name: 'Renamed' })).rejects.toBeInstanceOf(ValidationError);
    await expect(h.delete(project.id)).rejects.toThrow('no entity with this id here (deleted, renamed or evicted since this tab last heard)');
    hub.drop = () => false;
    follower.online.next(true);
    await leader.client.flush();
    expect((await applied()).map((r) => r.op)).toEqual(['create']);
  });

  it("a get$() of the temporary id subscribed in another tab once it heard of the rename, before it read the entity anew, never shows it missing", async () => {
    const { tab } = browserTabs('subscribed-between-shown');
    const leader = tab();
    await until(() => leads(leader), 'a leader');
    const follower = tab();
    leader.online.next(false);
    const h = follower.client.resource(projects);
    const project = await h.create({ name: 'Home' });
    await until(async () => (await leader.client.resource(projects).list()).length === 1, 'the create heard of by the leader');
    // Peeked and subscribed right after the follower moved its get$() subscribers to the new id
    // (the leader's own move comes first), before it reads the entity under that id.
    const follow = ResourceMirror.prototype.follow;
    let moves = 0;
    const followed: Array<EntityState<Project>> = [];
    let peeked: EntityState<Project> | undefined;
    ResourceMirror.prototype.follow = function (this: ResourceMirror<object>, from: string, to: string) {
      follow.call(this, from, to);
      if (++moves !== 2) return;
      const entity$ = h.get$(project.id);
      peeked = (entity$ as WithCurrent<EntityState<Project>>)[CURRENT]?.();
      entity$.subscribe((state) => followed.push(state));
    };
    try {
      leader.online.next(true);
      await until(() => moves >= 2, 'the rename heard of by the follower');
    } finally {
      ResourceMirror.prototype.follow = follow;
    }
    await follower.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    await until(() => followed.at(-1)?.data?.id === realId, 'the entity shown under its new id', 100).catch(() => undefined);
    expect(followed.map((state) => state.data?.name)).not.toContain(undefined);
    expect(peeked?.data?.name).toBe('Home');
    expect(followed.at(-1)!.data).toEqual({ id: realId, name: 'Home', version: 1 });
  });

  it('a leader that renames a temporary id and closes before telling: the tab that leads next shows the entity under its new id only', async () => {
    const { hub, leader, follower, shown, project, id } = await renamedUnheard('untold', projects);
    await leader.client.close();
    hub.drop = () => false;

    await until(() => leads(follower), 'the follower to lead');
    await until(() => shown.at(-1)?.data[0]?.id === id, 'the entity shown under its new id');
    expect(shown.at(-1)!.data).toEqual([{ id, name: 'Home', version: 1 }]);
    expect(project.id).not.toBe(id);
    await follower.client.flush();
    expect((await applied()).map((r) => r.op)).toEqual(['create']);
  });

  it('a rename unheard and not stored (made by a release that did not store renames): the tab that leads next reads the resource whole and shows the entity under its new id', async () => {
    const { hub, leader, follower, shown, project, id } = await renamedUnheard('untold-unstored', projects);
    await leader.client.close();
    // The rename's row, as an older release left the database: not there.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = follower.indexedDB.open('harborsync:untold-unstored');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('meta', 'readwrite');
      tx.objectStore('meta').delete(`renamed:projects\u0000${project.id}`);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    hub.drop = () => false;

    await until(() => leads(follower), 'the follower to lead');
    await until(() => shown.at(-1)?.data[0]?.id === id, 'the entity shown under its new id');
    expect(shown.at(-1)!.data).toEqual([{ id, name: 'Home', version: 1 }]);
  });

  it('a task shown naming a project by its temporary id, renamed unheard and its task not sent yet: the tab that leads next shows the real id', async () => {
    const indexedDB = new IDBFactory();
    const hub = new BroadcastHub();
    const locks = new FakeLocks();
    const clock = new ManualClock();
    const options = { resources: [projects, tasks], namespace: 'unheard-referrer', locks, BroadcastChannel: hub.Channel, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } };
    const tab = () => make(suite.server.apiUrl, options, indexedDB, clock);
    const leader = tab();
    await until(() => leads(leader), 'a leader');
    const follower = tab();
    await follower.client.resource(tasks).create({ title: 'notes', projectId: 'elsewhere' });
    await follower.client.flush();
    const taskId = (await api<Task[]>('/tasks'))[0]!.id;
    const shown: Array<QueryState<Task>> = [];
    follower.client.resource(tasks).query$({}).subscribe((state) => shown.push(state));
    await until(() => shown.at(-1)?.data[0]?.id === taskId, 'the task shown under its server id');
    leader.online.next(false);
    const project = await follower.client.resource(projects).create({ name: 'Home' });
    await follower.client.resource(tasks).update(taskId, { projectId: project.id });
    await until(async () => (await leader.client.resource(tasks).list())[0]?.projectId === project.id, 'the update heard of by the leader');
    // The project is named by the server; the task's update gets a 503 and waits a minute.
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'projectId', count: 1 } });
    hub.drop = () => true;
    leader.online.next(true);
    await until(() => leader.events.some((e) => e.type === 'retrying' && e.resource === 'tasks'), 'the update refused once');
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    await leader.client.close();
    hub.drop = () => false;

    await until(() => leads(follower), 'the follower to lead');
    await until(() => shown.at(-1)?.data[0]?.projectId === realId, 'the task shown naming the real id');
    expect(shown.at(-1)!.data).toEqual([{ id: taskId, title: 'notes', projectId: realId, version: 1 }]);
  });

  it("a follower's flush() after the leader renamed a temporary id without telling: the follower shows the entity under its new id only, on demand too", async () => {
    const { hub, follower, shown, id } = await renamedUnheard('untold-flush', onDemandProjects);
    hub.drop = () => false;
    expect(shown.at(-1)!.data.map((p) => p.id)).not.toContain(id);

    await follower.client.flush();
    expect(shown.at(-1)!.data.map((p) => p.id)).toEqual([id]);
    expect(shown.at(-1)!.pendingIds.size).toBe(0);
    expect(leads(follower)).toBe(false);
  });

  it.each([
    ["a follower's flush()", 'flush'],
    ["another tab's hint", 'hint'],
  ] as const)('a rename this tab never heard of, found by %s: the entity switches ids with no frame showing it twice or not at all', async (_, how) => {
    const { hub, leader, follower, shown, id } = await renamedUnheard(`untold-frames-${how}`, projects);
    hub.drop = () => false;
    const from = shown.length;
    if (how === 'flush') await follower.client.flush();
    else {
      // A change of another entity: its hint makes the follower read the outbox again.
      await leader.client.resource(projects).create({ name: 'Other' });
      await until(() => shown.at(-1)?.data.some((p) => p.name === 'Other') === true, 'the other create shown');
    }
    await until(() => shown.at(-1)?.data.some((p) => p.id === id) === true, 'the entity shown under its new id');
    const homes = shown.slice(from).map((state) => state.data.filter((p) => p.name === 'Home').length);
    expect(homes).toEqual(homes.map(() => 1));
    expect(shown.at(-1)!.data.filter((p) => p.name === 'Home')).toEqual([{ id, name: 'Home', version: 1 }]);
  });

  it('a whole-list answer older than what another tab stored since, after a rename this tab never heard of: the entity stays shown, under its new id', async () => {
    // Holds the follower's list answer, once computed, until the leader has stored a newer version.
    let hold: Promise<void> | null = null;
    let release = () => {};
    let computed = false;
    const heldFetch: typeof fetch = async (input, init) => {
      const answer = await fetch(input, init);
      if (hold) {
        computed = true;
        await hold;
      }
      return answer;
    };
    const { leader, follower, shown, id } = await renamedUnheard('older-answer', projects, { fetch: heldFetch });
    hold = new Promise((resolve) => (release = resolve));
    const refreshing = follower.client.resource(projects).refresh();
    await until(() => computed, 'the list answer computed');
    await leader.client.resource(projects).update(id, { name: 'Home, renamed' }, { wait: 'server' });
    hold = null;
    release();
    await refreshing;
    expect(shown.at(-1)!.data.map((p) => [p.id, p.name])).toEqual([[id, 'Home, renamed']]);
  });

  it('a create renamed while a whole list computed before it landed was on its way: the answer does not remove it under its new id', async () => {
    const lists = heldListAnswers();
    const d = make(suite.server.apiUrl, { resources: [projects], fetch: lists.fetch });
    const h = d.client.resource(projects);
    await h.refresh();
    const { landed } = await lists.heldRequest(() => h.refresh(), d.clock);
    const created = await h.create({ name: 'Home' }, { wait: 'server' });
    expect(created.id).not.toMatch(/^tmp:/);
    await landed();
    expect(await h.list()).toEqual([created]);
  });

  it.each([
    ['a whole list', projects],
    ['a delta page', deltaProjects],
    ['an on-demand page', onDemandProjects],
  ] as const)("%s answered while a create's request is out, the server having made the entity: stored after the create's answer, it never shows the entity twice", async (_, resource) => {
    const posts = heldAnswers((request) => request.method === 'POST');
    const d = make(suite.server.apiUrl, { resources: [resource], fetch: posts.fetch });
    const h = d.client.resource(resource);
    const frames: string[][] = [];
    h.query$().subscribe((s) => frames.push(s.data.map((p) => p.name)));
    await h.refresh();
    const { landed } = await posts.heldRequest(() => h.create({ name: 'Home' }, { wait: 'server' }), d.clock);
    let pulled = false;
    const pulling = h.refresh().finally(() => (pulled = true));
    // The read's answer, which holds the entity under the server's id, has every chance to be stored first.
    for (let turn = 0; turn < 50 && !pulled; turn++) await new Promise((resolve) => setTimeout(resolve, 2));
    await landed();
    await pulling;
    expect(frames.filter((names) => names.length > 1)).toEqual([]);
    expect((await h.list()).map((p) => p.name)).toEqual(['Home']);
    expect((await h.list())[0]!.id).not.toMatch(/^tmp:/);
  });

  it.each([
    ['a whole list', projects],
    ['a delta page', deltaProjects],
    ['an on-demand page', onDemandProjects],
  ] as const)("a follower's read (%s) answered while the leader's create is out, the server having made the entity: stored after the leader stores the create's answer, no tab shows the entity twice", async (_, resource) => {
    const { leader, follower, frames, landed, pulling, pulled } = await followerReadsWhileLeaderCreates(resource);
    const storedFirst = pulled();
    await landed();
    await pulling;
    expect(storedFirst).toBe(false);
    for (const tab of [leader, follower]) {
      await until(async () => (await tab.client.resource(resource).list()).every((p) => !p.id.startsWith('tmp:')), 'the rename shown');
    }
    expect(frames.follower.filter((names) => names.length > 1)).toEqual([]);
    expect(frames.leader.filter((names) => names.length > 1)).toEqual([]);
    for (const tab of [leader, follower]) expect((await tab.client.resource(resource).list()).map((p) => p.name)).toEqual(['Home']);
  });

  it("a follower's read waits for the leader's create a request's timeout at most", async () => {
    const { clock, landed, pulling, pulled } = await followerReadsWhileLeaderCreates(projects);
    await clock.advance(30_000);
    await outcomeOf(pulling, 'the read stored');
    expect(pulled()).toBe(true);
    await landed();
  });

  it("a follower's read waiting for the leader's create is let go by the follower's close()", async () => {
    const { clock, follower, landed, pulling } = await followerReadsWhileLeaderCreates(projects);
    const timers = clock.pendingTimers;
    await follower.client.close();
    const left = clock.pendingTimers;
    await outcomeOf(pulling, 'the read let go');
    await landed();
    // The wait's bound, the follower's one timer, went with it.
    expect(left).toBe(timers - 1);
  });

  it('a deletion pulled while a create may be at the server with its answer lost is named again by the next pull: the replayed answer does not bring the entity back', async () => {
    const { d, h, project, id } = await createWithItsAnswerLost('Gone soon');
    await suite.server.admin.edit({ resource: 'projects', id, delete: true });
    // The deletion names an id this device does not know yet: its create is still under a temporary one.
    await h.refresh();
    expect((await h.list()).map((p) => p.id)).toEqual([project.id]);

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    await h.refresh();
    expect(await h.list()).toEqual([]);
  });

  it("a get$() of the temporary id, when a pull deletes the entity while the re-keying is still being applied: moved to the new id, it is told the deletion", async () => {
    const { d, h, project, id } = await createWithItsAnswerLost('Gone soon');
    let seen: EntityState<Project> | undefined;
    h.get$(project.id).subscribe((state) => (seen = state));
    await suite.server.admin.edit({ resource: 'projects', id, delete: true });
    await h.refresh();
    await replayWithAPullWhileRekeying({ d, h });
    const fresh = await firstValueFrom(h.get$(project.id));
    expect(fresh).toMatchObject({ data: undefined, pending: false, status: 'success' });
    expect(seen).toEqual(fresh);
  });

  it("a pull that deletes the entity while the re-keying is still being applied: the view shows the deletion, not the replayed answer", async () => {
    const { d, h, id } = await createWithItsAnswerLost('Gone soon');
    await suite.server.admin.edit({ resource: 'projects', id, delete: true });
    await h.refresh();
    await replayWithAPullWhileRekeying({ d, h });
    expect(await h.list()).toEqual([]);
  });

  it('a create whose answer was lost, pulled meanwhile in a newer state under its server id: the replayed answer does not take it back', async () => {
    const { d, h, id } = await createWithItsAnswerLost('Mine');
    await suite.server.admin.edit({ resource: 'projects', id, patch: { name: 'Renamed by another' } });
    // Pulled under its server id while this device still knows it by its temporary one: shown twice.
    await h.refresh();
    expect((await h.list()).map((p) => p.name).sort()).toEqual(['Mine', 'Renamed by another']);

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(await h.list()).toEqual([{ id, name: 'Renamed by another', version: 2 }]);
    await h.refresh();
    expect(await h.list()).toEqual([{ id, name: 'Renamed by another', version: 2 }]);
  });

  it.each([
    ['a second apart', 1_000],
    // Then only the order IndexedDB numbered the changes in tells which came last.
    ['in the same millisecond', 0],
  ])('changes made under both ids before the re-keying, %s: each field ends on the value written last, whatever the outbox order', async (_, stepMs) => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects);
    await h.refresh();
    await suite.server.admin.edit({ resource: 'projects', id, patch: { name: 'Renamed by another' } });
    // Queued behind the create, which backs off.
    await h.update(project.id, { name: 'first, under the temporary id' });
    await d.clock.advance(stepMs);
    // Sent at once, it meets the other rename and is parked.
    await h.update(id, { name: 'second, under the server id' });
    await d.client.flush();
    expect(await firstValueFrom(d.client.conflicts$)).toHaveLength(1);
    await d.clock.advance(stepMs);
    // Coalesced into the temporary id's entry, which sits before the server id's in the outbox.
    await h.update(project.id, { name: 'third, under the temporary id' });

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    expect((await h.list()).map((p) => [p.id, p.name])).toEqual([[id, 'third, under the temporary id']]);
    for (const conflict of await firstValueFrom(d.client.conflicts$)) await conflict.resolve('local');
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((p) => p.name)).toEqual(['third, under the temporary id']);
  });

  it('a change left with nothing to send (a change made after it under the other id sets its field first) waits for that one: { wait: "server" } gets the entity', async () => {
    const { d, project, id } = await createWithItsAnswerLost('Mine', notedProjects);
    const h = d.client.resource(notedProjects);
    await h.refresh();
    await h.update(project.id, { name: 'first, under the temporary id' });
    // Sent, refused for now, backing off a minute: the changes after it under the server id wait.
    await suite.server.admin.faults({ failStatus: { status: 503, count: 1 } });
    await h.update(id, { note: 'a note' });
    await until(() => d.events.some((e) => e.type === 'retrying' && e.op === 'update'), 'the note backing off');
    const waited = outcomeOf(h.update(id, { name: 'second, under the server id' }, { wait: 'server' }));
    await until(() => d.events.filter((e) => e.type === 'enqueued' && e.op === 'update').length === 3, 'the second queued');
    // Coalesced into the first: made last, it sits before the second in the outbox.
    await h.update(project.id, { name: 'third, under the temporary id' });

    await d.clock.advance(60_000);
    await d.client.flush();
    // The answer of the change carrying its value. The note's own change goes before or after that
    // one, as the retry's timing falls (after, it meets a 412, is merged and goes out again), so the
    // answer may not hold it yet.
    expect(await waited).toMatchObject({ value: { id, name: 'third, under the temporary id', version: expect.any(Number) } });
    await d.clock.advance(60_000);
    await d.client.flush();
    expect((await api<Array<Project & { note?: string }>>('/projects')).map((p) => [p.name, p.note])).toEqual([['third, under the temporary id', 'a note']]);
  });

  it.each([
    ['', []],
    [' and another queued behind it', [{ name: 'queued, under the server id' }]],
  ])('a change made last under one id, queued before a change already sent under the other id%s, goes out once, after them: its value ends on the server', async (_, queued) => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine');
    await h.refresh();
    await h.update(project.id, { name: 'first, under the temporary id' });
    // Sent under its key and told to come back in an hour: its payload can no longer change.
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '3600' } });
    await h.update(id, { name: 'sent, under the server id' });
    await until(() => d.events.some((e) => e.type === 'retrying' && e.op === 'update'), 'the sent one backing off');
    // Behind the sent one: left in place, the change made last would have to be carried past it by this one too.
    for (const change of queued) await h.update(id, change);
    // Coalesced into the first: made last, it sits before the sent one in the outbox.
    await h.update(project.id, { name: 'last, under the temporary id' });

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    await d.clock.advance(3_600_000);
    await d.client.flush();
    const updates = (await applied()).filter((row) => row.op === 'update').map((row) => row.body);
    expect(updates).toEqual([{ name: 'sent, under the server id' }, ...queued, { name: 'last, under the temporary id' }]);
    expect((await api<Project[]>('/projects')).map((p) => p.name)).toEqual(['last, under the temporary id']);
    expect((await h.list()).map((p) => [p.id, p.name])).toEqual([[id, 'last, under the temporary id']]);
  });

  it("a { wait: 'server' } on a change the rename moves behind one sent under the server id, when another tab's hint arrives before the wait is moved: it gets the entity the server confirmed last", async () => {
    const hub = new BroadcastHub();
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', deltaProjects, { BroadcastChannel: hub.Channel, locks: new FakeLocks() });
    await h.refresh();
    const waited = outcomeOf(h.update(project.id, { name: 'first, under the temporary id' }, { wait: 'server' }));
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '3600' } });
    await h.update(id, { name: 'sent, under the server id' });
    await until(() => d.events.some((e) => e.type === 'retrying' && e.op === 'update'), 'the sent one backing off');
    // Coalesced into the waited entry, which the rename then stores anew behind the sent one.
    await h.update(project.id, { name: 'last, under the temporary id' });
    // Once the rename committed, before its waits are moved: another tab's outbox hint is handled.
    const otherTab = new hub.Channel('harborsync:default');
    const settleRemapped = LocalStore.prototype.settleRemapped;
    const reload = LocalStore.prototype.reloadOutbox;
    let armed = false;
    let reread = false;
    LocalStore.prototype.settleRemapped = function (...args) {
      armed = true;
      return settleRemapped.apply(this, args);
    };
    LocalStore.prototype.reloadOutbox = async function () {
      if (!armed) return reload.apply(this);
      armed = false;
      LocalStore.prototype.reloadOutbox = async function () {
        await reload.apply(this);
        reread = true;
      };
      otherTab.postMessage({ t: 'outbox' });
      await until(() => reread, "the other tab's hint read");
      await settle(20);
      return reload.apply(this);
    };
    try {
      await d.clock.advance(60_000);
      await d.client.flush();
    } finally {
      LocalStore.prototype.settleRemapped = settleRemapped;
      LocalStore.prototype.reloadOutbox = reload;
      otherTab.close();
    }
    expect(reread).toBe(true);
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    await d.clock.advance(3_600_000);
    await d.client.flush();
    expect(await waited).toEqual({ value: { id, name: 'last, under the temporary id', version: expect.any(Number) } });
  });

  it("a { wait: 'server' } made in a follower on a change the leader's rename moves behind one sent under the server id, when another tab's hint reaches the follower before the leader's messages: it gets the entity the server confirmed last", async () => {
    const indexedDB = new IDBFactory();
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    const options = { resources: [deltaProjects], namespace: 'moved-in-follower', locks: new FakeLocks(), BroadcastChannel: hub.Channel, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } };
    const leader = make(suite.server.apiUrl, options, indexedDB, clock);
    await until(() => leads(leader), 'a leader');
    const follower = make(suite.server.apiUrl, options, indexedDB, clock);
    const h = leader.client.resource(deltaProjects);
    const f = follower.client.resource(deltaProjects);
    await h.refresh();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    const project = await h.create({ name: 'Mine' });
    await until(() => leader.events.some((e) => e.type === 'retrying'), 'the lost answer');
    const id = (await applied())[0]!.entityId!;
    await h.refresh();
    await until(async () => (await f.list()).length === 2, 'the follower showing both ids');
    let waited: { value: unknown } | { error: unknown } | undefined;
    f.update(project.id, { name: 'first, under the temporary id' }, { wait: 'server' }).then(
      (value) => (waited = { value }),
      (error: unknown) => (waited = { error }),
    );
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '3600' } });
    await h.update(id, { name: 'sent, under the server id' });
    await until(() => leader.events.some((e) => e.type === 'retrying' && e.op === 'update'), 'the sent one backing off');
    // Coalesced into the waited entry, which the rename then stores anew behind the sent one.
    await f.update(project.id, { name: 'last, under the temporary id' });
    // Once the leader stored the rename, its messages are held; another tab's outbox hint reaches the follower first.
    const settleRemapped = LocalStore.prototype.settleRemapped;
    let stored = false;
    LocalStore.prototype.settleRemapped = async function (...args) {
      const remapped = await settleRemapped.apply(this, args);
      stored = true;
      return remapped;
    };
    hub.hold = (data) => stored && (data as { t?: unknown }).t !== 'outbox';
    const otherTab = new hub.Channel('harborsync:moved-in-follower');
    try {
      await clock.advance(60_000);
      await until(() => stored && leader.events.some((e) => e.type === 'idRemapped'), 'the rename stored');
      const pending = () => {
        let n = -1;
        follower.client.status$.subscribe((s) => (n = s.pending)).unsubscribe();
        return n;
      };
      expect(pending()).toBe(3);
      otherTab.postMessage({ t: 'outbox' });
      // The follower read the outbox anew (the create gone, the waited entry stored anew), then answered what vanished.
      await until(() => pending() === 2, "the other tab's hint read");
      await settle(50);
      expect(waited).toBeUndefined();
    } finally {
      LocalStore.prototype.settleRemapped = settleRemapped;
      hub.hold = () => false;
      hub.release();
      otherTab.close();
    }
    await clock.advance(3_600_000);
    await leader.client.flush();
    await until(() => waited !== undefined, 'the wait answered');
    expect(waited).toEqual({ value: { id, name: 'last, under the temporary id', version: expect.any(Number) } });
  });

  it("a conflict's re-send counts as made when the newest change it folded in was: it beats an older change under the other id", async () => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects);
    await h.refresh();
    await suite.server.admin.edit({ resource: 'projects', id, patch: { name: 'Renamed by another' } });
    // No clock step from here on: every change shares one millisecond.
    await h.update(id, { name: 'first, under the server id' });
    await d.client.flush();
    const [conflict] = await firstValueFrom(d.client.conflicts$);
    d.online.next(false);
    await h.update(project.id, { name: 'second, under the temporary id' });
    await h.update(id, { name: 'third, under the server id' });
    // Folds the third change into the re-send, which keeps the first's place in the outbox.
    await conflict!.resolve('local');

    await d.clock.advance(60_000);
    d.online.next(true);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    expect((await h.list()).map((p) => [p.id, p.name])).toEqual([[id, 'third, under the server id']]);
    expect((await api<Project[]>('/projects')).map((p) => p.name)).toEqual(['third, under the server id']);
  });

  it('a create whose replayed answer names an id this device since re-created under another (deleted by another, kept by a decision): a conflict on it is decided, not refused as changing the key', async () => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects);
    const gone = await deletedByAnotherKeptHere(d, id);
    // Kept: created again, under an id the server names anew.
    await gone.resolve('local');
    await d.client.flush();
    expect(d.events.filter((e) => e.type === 'idRemapped')).toEqual([expect.objectContaining({ from: id })]);
    // Queued behind the create, whose re-send the server answers with its first answer (the id deleted since).
    await h.update(project.id, { name: 'second, under the temporary id' });
    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.filter((e) => e.type === 'idRemapped')).toEqual([expect.objectContaining({ from: id }), expect.objectContaining({ from: project.id, to: id })]);
    const [again] = await firstValueFrom(d.client.conflicts$);
    expect(again!.id).toBe(id);
    await again!.resolve('local');
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((p) => p.name).sort()).toEqual(['kept under the server id', 'second, under the temporary id']);
  });

  it('a create whose replayed answer names an id this device re-created under another: get$() of that id, subscribed after, shows the entity it names again', async () => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects);
    const gone = await deletedByAnotherKeptHere(d, id);
    await gone.resolve('local');
    await d.client.flush();
    const [recreated] = d.events.flatMap((e) => (e.type === 'idRemapped' && e.from === id ? [e.to] : []));
    await h.update(project.id, { name: 'second, under the temporary id' });
    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped' && e.from === project.id && e.to === id)).toBe(true);
    expect((await firstValueFrom(h.get$(id))).data).toMatchObject({ id, name: 'second, under the temporary id' });
    expect((await firstValueFrom(h.get$(recreated!))).data).toMatchObject({ id: recreated, name: 'kept under the server id' });
  });

  it('a create whose replayed answer names an id the leader re-created under another: get$() of that id in another tab shows the entity it names again', async () => {
    const indexedDB = new IDBFactory();
    const hub = new BroadcastHub();
    const locks = new FakeLocks();
    const clock = new ManualClock();
    const options = { resources: [manualDeltaProjects], namespace: 'named-again', locks, BroadcastChannel: hub.Channel, retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } };
    const d = make(suite.server.apiUrl, options, indexedDB, clock);
    await until(() => leads(d), 'a leader');
    const other = make(suite.server.apiUrl, options, indexedDB, clock).client.resource(manualDeltaProjects);
    const h = d.client.resource(manualDeltaProjects);
    await h.refresh();
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    const project = await h.create({ name: 'Mine' });
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the lost answer');
    const id = (await applied())[0]!.entityId!;
    const gone = await deletedByAnotherKeptHere(d, id);
    await gone.resolve('local');
    await d.client.flush();
    await until(async () => (await other.list()).some((p) => p.name === 'kept under the server id' && p.id !== id), 'the re-creation renamed in the other tab');
    await h.update(project.id, { name: 'second, under the temporary id' });
    await clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped' && e.from === project.id && e.to === id)).toBe(true);
    await until(async () => (await other.list()).some((p) => p.id === id), 'the create renamed in the other tab');
    expect((await firstValueFrom(other.get$(id))).data).toMatchObject({ id, name: 'second, under the temporary id' });
  });

  it("a create whose replayed answer names an id this device re-created under another, stored while that re-creation's answer is still being applied: the id names the entity again, a conflict on it is decided", async () => {
    const posts = heldAnswers((request) => request.method === 'POST');
    // The re-creation's answer is held across the create's backoff, which must not time it out.
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects, { fetch: posts.fetch, timeoutMs: 120_000 });
    const gone = await deletedByAnotherKeptHere(d, id);
    posts.hold();
    await gone.resolve('local');
    await until(() => d.events.some((e) => e.type === 'sent' && e.op === 'create' && e.id === id), 'the re-creation sent');
    await h.update(project.id, { name: 'second, under the temporary id' });
    // The create's re-send is answered and stored while the re-creation's rename is being
    // applied (its transaction committed, the outbox being read again).
    const settle = LocalStore.prototype.settleRemapped;
    const reload = LocalStore.prototype.reloadOutbox;
    let renamingId = false;
    let createStored = false;
    LocalStore.prototype.settleRemapped = async function (def, entry, ...rest) {
      if (entry.id === id) renamingId = true;
      const stored = await settle.call(this, def, entry, ...rest);
      if (entry.id === project.id) createStored = true;
      return stored;
    };
    LocalStore.prototype.reloadOutbox = async function () {
      if (renamingId) {
        renamingId = false;
        await until(() => createStored, 'the create re-sent and stored');
      }
      return reload.apply(this);
    };
    try {
      await d.clock.advance(60_000);
      posts.release();
      await d.client.flush();
    } finally {
      LocalStore.prototype.settleRemapped = settle;
      LocalStore.prototype.reloadOutbox = reload;
    }
    // Told once each rename is applied: the re-creation's last.
    expect(d.events.filter((e) => e.type === 'idRemapped')).toEqual([expect.objectContaining({ from: project.id, to: id }), expect.objectContaining({ from: id })]);
    const [again] = await firstValueFrom(d.client.conflicts$);
    expect(again!.id).toBe(id);
    await again!.resolve('local');
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((p) => p.name).sort()).toEqual(['kept under the server id', 'second, under the temporary id']);
  });

  it.each([
    ['a second later', (d: Device) => d.clock.advance(1_000)],
    // Its time is then earlier than the delete's: the order the outbox numbered them in says which came last (RELIABILITY #57).
    ['the clock stepping back an hour in between', (d: Device) => void d.clock.step(-3_600_000)],
  ])('a change made under the server id after a delete under the temporary one, %s, keeps the entity: the change made last decides', async (_, between) => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine', manualDeltaProjects);
    await h.refresh();
    await suite.server.admin.edit({ resource: 'projects', id, patch: { name: 'Renamed by another' } });
    // Queued behind the create, which backs off.
    let deleteSettled = false;
    const deleting = h.delete(project.id, { wait: 'server' }).then(() => (deleteSettled = true));
    await until(() => d.events.some((e) => e.type === 'enqueued' && e.op === 'delete'), 'the delete queued');
    await between(d);
    await h.update(id, { name: 'changed after the delete' });
    await d.client.flush();
    expect(await firstValueFrom(d.client.conflicts$)).toHaveLength(1);

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped')).toBe(true);
    expect((await h.list()).map((p) => [p.id, p.name])).toEqual([[id, 'changed after the delete']]);
    // The dropped delete's wait ends: there is nothing more to send for it.
    await deleting;
    expect(deleteSettled).toBe(true);
    for (const conflict of await firstValueFrom(d.client.conflicts$)) await conflict.resolve('local');
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((p) => p.name)).toEqual(['changed after the delete']);
    expect((await applied()).filter((row) => row.op === 'delete')).toEqual([]);
  });

  it.each([
    ['queued after the delete', false],
    ['coalesced into a change queued before the delete, so it sits in front of it', true],
  ])('a change made under the temporary id after a delete already sent under the server id, %s, brings the entity back with it', async (_, queuedBefore) => {
    const { d, h, project, id } = await createWithItsAnswerLost('Mine');
    // The create is out, so this waits in an entry of its own.
    if (queuedBefore) await h.update(project.id, { name: 'before the delete' });
    await h.refresh();
    // The delete goes out and is told to come back in an hour: sent under its key, it stays as it is.
    await suite.server.admin.faults({ rateLimit: { count: 1, retryAfter: '3600' } });
    await h.delete(id);
    await until(() => d.events.some((e) => e.type === 'retrying' && e.op === 'delete'), 'the delete backing off');
    await d.clock.advance(1_000);
    await h.update(project.id, { name: 'changed after the delete' });

    await d.clock.advance(60_000);
    await d.client.flush();
    expect(d.events.some((e) => e.type === 'idRemapped' && e.to === id)).toBe(true);
    expect((await h.list()).map((p) => p.name)).toEqual(['changed after the delete']);
    await d.clock.advance(3_600_000);
    await d.client.flush();
    const rows = await api<Project[]>('/projects');
    expect(rows.map((p) => p.name)).toEqual(['changed after the delete']);
    expect(rows[0]!.id).not.toBe(id);
    expect((await applied()).map((row) => row.op)).toEqual(['create', 'delete', 'create']);
    expect((await h.list()).map((p) => [p.id, p.name])).toEqual([[rows[0]!.id, 'changed after the delete']]);
  });

  it('a reference given as the temporary id create() returned, after the server renamed it, is stored and sent as the real id', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    const task = await d.client.resource(tasks).create({ title: 'notes', projectId: project.id });
    expect(task.projectId).toBe(realId);
    const other = await d.client.resource(tasks).create({ title: 'other', projectId: 'elsewhere' });
    await d.client.resource(tasks).update(other.id, { projectId: project.id });
    await d.client.flush();
    expect((await api<Task[]>('/tasks')).map((t) => t.projectId)).toEqual([realId, realId]);
    expect((await d.client.resource(tasks).list()).map((t) => t.projectId)).toEqual([realId, realId]);
  });

  it("a query filtering on a project's temporary id keeps showing its tasks once the server renames it, with no frame without them", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const t = d.client.resource(tasks);
    for (const title of ['one', 'two']) await t.create({ title, projectId: project.id });
    const shown: Array<QueryState<Task>> = [];
    t.query$({ where: { projectId: project.id }, orderBy: 'title' }).subscribe((s) => shown.push(s));
    await until(() => shown.at(-1)?.data.length === 2, 'the tasks shown');
    const from = shown.length - 1;
    d.online.next(true);
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(shown.at(-1)!.data.map((task) => [task.title, task.projectId])).toEqual([['one', realId], ['two', realId]]);
    expect(shown.slice(from).every((s) => s.data.length === 2)).toBe(true);
    expect((await t.list({ where: { projectId: project.id } })).map((task) => task.title)).toEqual(['one', 'two']);
  });

  it("a query filtering on a project's temporary id, made once the rename committed but before its views are applied: its first frame shows the project's tasks", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const t = d.client.resource(tasks);
    for (const title of ['one', 'two']) await t.create({ title, projectId: project.id });
    const settle = LocalStore.prototype.settleRemapped;
    const reload = LocalStore.prototype.reloadOutbox;
    let armed = false;
    const shown: Array<QueryState<Task>> = [];
    LocalStore.prototype.settleRemapped = function (...args) {
      armed = true;
      return settle.apply(this, args);
    };
    LocalStore.prototype.reloadOutbox = function () {
      if (armed) {
        armed = false;
        t.query$({ where: { projectId: project.id }, orderBy: 'title' }).subscribe((state) => shown.push(state));
      }
      return reload.apply(this);
    };
    try {
      d.online.next(true);
      await until(() => shown.length > 0, 'the rename committed');
    } finally {
      LocalStore.prototype.settleRemapped = settle;
      LocalStore.prototype.reloadOutbox = reload;
    }
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(shown.map((state) => state.data.map((task) => task.title))).toEqual(shown.map(() => ['one', 'two']));
    expect(shown.at(-1)!.data.map((task) => task.projectId)).toEqual([realId, realId]);
  });

  it("tasks naming a project, not sent while the project's new id is still being stored and shown: their answers cannot be shown first, no frame lacks them", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const t = d.client.resource(tasks);
    const one = await t.create({ title: 'one', projectId: project.id });
    await t.create({ title: 'two', projectId: project.id });
    const shown: Array<QueryState<Task>> = [];
    t.query$({ orderBy: 'title' }).subscribe((state) => shown.push(state));
    const followed: Array<EntityState<Task>> = [];
    t.get$(one.id).subscribe((state) => followed.push(state));
    await until(() => shown.at(-1)?.data.length === 2, 'the tasks shown');
    const from = shown.length - 1;
    // The project's views are read back slowly (storage busy) while flush() is called; any task
    // sent meanwhile has its answer stored then, and shown after the project's.
    const settle = LocalStore.prototype.settleRemapped;
    const load = LocalStore.prototype.loadRecords;
    const reload = LocalStore.prototype.reloadOutbox;
    let projectArmed = false;
    let tasksArmed = 0;
    LocalStore.prototype.settleRemapped = function (...args) {
      if (args[0].name === 'projects') projectArmed = true;
      else tasksArmed++;
      return settle.apply(this, args);
    };
    LocalStore.prototype.loadRecords = async function (this: LocalStore, ...args) {
      if (projectArmed) {
        projectArmed = false;
        void d.client.flush();
        const renamed = () => [...this.renames.keys()].filter((key) => key.startsWith('tasks')).length === 2;
        await until(renamed, 'the tasks renamed', 60).catch(() => undefined);
      }
      return load.apply(this, args);
    };
    LocalStore.prototype.reloadOutbox = async function (this: LocalStore) {
      if (tasksArmed > 0) {
        tasksArmed--;
        await until(() => d.events.some((e) => e.type === 'idRemapped' && e.resource === 'projects'), "the project's new id shown");
      }
      return reload.apply(this);
    };
    try {
      d.online.next(true);
      await d.client.flush();
    } finally {
      LocalStore.prototype.settleRemapped = settle;
      LocalStore.prototype.loadRecords = load;
      LocalStore.prototype.reloadOutbox = reload;
    }
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(shown.at(-1)!.data.map((task) => [task.title, task.projectId])).toEqual([['one', realId], ['two', realId]]);
    expect(shown.slice(from).map((state) => state.data.map((task) => task.title))).toEqual(shown.slice(from).map(() => ['one', 'two']));
    expect(followed.every((state) => state.data !== undefined)).toBe(true);
  });

  it('a server that names its entities with numbers: a reference to a project made offline is sent and shown with the number the server answered', async () => {
    const numericProjects = defineResource({ name: 'projects', schema: z.object({ id: z.union([z.string(), z.number()]), name: z.string(), version: z.number().int() }), ids: 'server' });
    const numericTasks = defineResource({
      name: 'tasks',
      schema: z.object({ id: z.union([z.string(), z.number()]), title: z.string(), projectId: z.union([z.string(), z.number()]), version: z.number().int() }),
      ids: 'server',
      references: { projectId: 'projects' },
    });
    // The reference server names entities '1', '2', ...: this one answers them as numbers.
    const numeric = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(numeric);
      if (typeof value !== 'object' || value === null) return value;
      const out: Record<string, unknown> = { ...value };
      for (const field of ['id', 'projectId']) if (typeof out[field] === 'string' && /^\d+$/.test(out[field])) out[field] = Number(out[field]);
      return out;
    };
    const sent: unknown[] = [];
    const numericFetch: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (request.method === 'POST' && new URL(request.url).pathname.endsWith('/tasks')) sent.push(await request.clone().json());
      const answer = await fetch(request);
      const text = await answer.text();
      if (!text || !answer.headers.get('content-type')?.includes('json')) return new Response(text || null, answer);
      return new Response(JSON.stringify(numeric(JSON.parse(text))), answer);
    };
    const d = make(suite.server.apiUrl, { resources: [numericProjects, numericTasks], fetch: numericFetch });
    d.online.next(false);
    const project = await d.client.resource(numericProjects).create({ name: 'Launch' });
    const task = await d.client.resource(numericTasks).create({ title: 'notes', projectId: project.id });
    // Held back once the project is named: the task is shown, still pending, with the project's new id.
    await suite.server.admin.faults({ failStatus: { status: 503, match: 'notes', count: 1 } });
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'retrying' && e.resource === 'tasks'), 'the task held back');
    const realId = (await applied())[0]!.entityId!;
    expect(await d.client.resource(numericProjects).get(project.id)).toMatchObject({ id: Number(realId) });
    expect(await d.client.resource(numericTasks).get(task.id)).toMatchObject({ projectId: Number(realId) });
    await d.client.flush();
    expect(sent.at(-1)).toMatchObject({ title: 'notes', projectId: Number(realId) });
    // Given the temporary id after the rename: stored and sent with the number too, and found by it.
    expect(await d.client.resource(numericTasks).create({ title: 'more', projectId: project.id })).toMatchObject({ projectId: Number(realId) });
    await d.client.flush();
    expect(sent.at(-1)).toMatchObject({ title: 'more', projectId: Number(realId) });
    expect((await d.client.resource(numericTasks).list({ where: { projectId: project.id }, orderBy: 'title' })).map((t) => t.title)).toEqual(['more', 'notes']);
  });

  /** Tasks naming several projects: a `references` field holding an array of ids. */
  const taggedTasks = defineResource({
    name: 'tasks',
    schema: z.object({ id: z.string(), title: z.string(), projectIds: z.array(z.string()), version: z.number().int() }),
    ids: 'server',
    references: { projectIds: 'projects' },
  });
  type TaggedTask = { id: string; title: string; projectIds: string[]; version: number };

  it('a references field holding an array of ids: a task naming two projects made offline is sent, stored and shown with their real ids', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, taggedTasks] });
    d.online.next(false);
    const p = d.client.resource(projects);
    const t = d.client.resource(taggedTasks);
    const home = await p.create({ name: 'Home' });
    const work = await p.create({ name: 'Work' });
    const task = await t.create({ title: 'notes', projectIds: [home.id, work.id] });
    d.online.next(true);
    await d.client.flush();
    const realIds = (await api<Project[]>('/projects')).sort((a, b) => a.name.localeCompare(b.name)).map((project) => project.id);
    expect(realIds.some((id) => id.startsWith('tmp:'))).toBe(false);
    expect((await api<TaggedTask[]>('/tasks')).map((sent) => sent.projectIds)).toEqual([realIds]);
    expect((await t.get(task.id))!.projectIds).toEqual(realIds);
    // Given the temporary ids after the rename: stored and sent with the real ones.
    expect((await t.create({ title: 'more', projectIds: [work.id] })).projectIds).toEqual([realIds[1]]);
    await d.client.flush();
    expect((await api<TaggedTask[]>('/tasks')).map((sent) => sent.projectIds)).toEqual([realIds, [realIds[1]]]);
  });

  it('a references field holding an array naming a project deleted before it was sent: the task is parked with a ValidationError, not sent', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, taggedTasks] });
    d.online.next(false);
    const home = await d.client.resource(projects).create({ name: 'Home' });
    const task = await d.client.resource(taggedTasks).create({ title: 'notes', projectIds: [home.id] });
    await d.client.resource(projects).delete(home.id);
    d.online.next(true);
    await d.client.flush();
    const [failed] = await firstValueFrom(d.client.failed$);
    expect(failed).toMatchObject({ resource: 'tasks', id: task.id, op: 'create' });
    expect(failed!.error.message).toBe(`tasks/${task.id}: field "projectIds" refers to projects/${home.id}, whose create was dropped before the server named it`);
    expect(await api<TaggedTask[]>('/tasks')).toEqual([]);
  });

  it('a rename a week old that a queued change names inside an array is kept at the next start: the change goes out with the real id', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, taggedTasks] });
    d.online.next(false);
    const home = await d.client.resource(projects).create({ name: 'Home' });
    const task = await d.client.resource(taggedTasks).create({ title: 'notes', projectIds: [home.id] });
    await d.client.close();
    // The project renamed by a tab this one never heard from: its create is gone, its rename stored.
    const db = await openRaw(d.indexedDB, 'harborsync:default');
    const tx = db.transaction(['outbox', 'entities', 'meta'], 'readwrite');
    const outbox = tx.objectStore('outbox');
    for (const entry of await new Promise<Array<{ seq: number; r: string }>>((resolve) => (outbox.getAll().onsuccess = (e) => resolve((e.target as IDBRequest).result)))) {
      if (entry.r === 'projects') outbox.delete(entry.seq);
    }
    tx.objectStore('entities').delete(['projects', home.id]);
    tx.objectStore('meta').put({ r: 'projects', from: home.id, to: 'p9', at: d.clock.now() }, `renamed:projects\u0000${home.id}`);
    await committed(tx);
    db.close();
    await d.clock.advance(8 * 24 * 60 * 60 * 1000);
    // A start offline (nothing sent), then one online: the rename must outlive the first.
    const offline = kept(d.reopen());
    offline.online.next(false);
    expect(await offline.client.resource(taggedTasks).list()).toHaveLength(1);
    await offline.client.close();

    const reopened = kept(d.reopen());
    await reopened.client.flush();
    expect(await firstValueFrom(reopened.client.failed$)).toEqual([]);
    expect(await api<TaggedTask[]>('/tasks')).toEqual([expect.objectContaining({ title: 'notes', projectIds: ['p9'] })]);
    expect(task.projectIds).toEqual([home.id]);
  });

  /** Tasks loaded per query, each naming its project. */
  const onDemandTasks = defineResource({
    name: 'tasks',
    schema: z.object({ id: z.string(), title: z.string(), projectId: z.string(), version: z.number().int() }),
    ids: 'server',
    references: { projectId: 'projects' },
    load: 'on-demand',
  });

  it("an on-demand query filtering on a project's temporary id, made after the server renamed it, asks the server for that project's tasks", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, onDemandTasks] });
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    await d.client.resource(onDemandTasks).create({ title: 'mine', projectId: project.id });
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    // A teammate's task in the same project.
    await suite.server.admin.edit({ resource: 'tasks', create: { id: 'theirs', title: 'theirs', projectId: realId } });
    const shown: Array<QueryState<Task>> = [];
    d.client.resource(onDemandTasks).query$({ where: { projectId: project.id }, orderBy: 'title' }).subscribe((s) => shown.push(s));
    await until(() => d.calls.some((call) => call.startsWith('GET /api/tasks?')) && shown.at(-1)?.isFetching === false, 'the page loaded');
    expect(shown.at(-1)!.data.map((t) => t.title)).toEqual(['mine', 'theirs']);
  });

  it("an on-demand query filtering on a project's temporary id, subscribed across the rename: its next fetch asks the server for the project's real id", async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, onDemandTasks] });
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    await d.client.resource(onDemandTasks).create({ title: 'mine', projectId: project.id });
    const shown: Array<QueryState<Task>> = [];
    d.client.resource(onDemandTasks).query$({ where: { projectId: project.id }, orderBy: 'title' }).subscribe((s) => shown.push(s));
    d.online.next(true);
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    // A teammate's task in the same project, brought by the query's next fetch.
    await suite.server.admin.edit({ resource: 'tasks', create: { id: 'theirs', title: 'theirs', projectId: realId } });
    await d.client.resource(onDemandTasks).refresh();
    expect(d.calls.filter((call) => call.startsWith('GET /api/tasks?')).at(-1)).toContain(`filter%5BprojectId%5D=${realId}&`);
    expect(shown.at(-1)!.data.map((t) => t.title)).toEqual(['mine', 'theirs']);
  });

  it('an update under the temporary id made while this tab stores the rename is made under the real id: stored, shown and sent, not refused', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const p = d.client.resource(projects);
    await p.list();
    d.online.next(false);
    const project = await p.create({ name: 'Launch' });
    // Called from inside the renaming transaction: its own transaction runs after that one.
    const originalPut = IDBObjectStore.prototype.put;
    let typed: Promise<Project> | null = null;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<typeof originalPut>) {
      if (this.name === 'meta' && String(args[1]).startsWith('renamed:')) typed ??= p.update(project.id, { name: 'Launch v2' });
      return originalPut.apply(this, args);
    };
    try {
      d.online.next(true);
      await until(() => typed !== null, 'the rename being stored');
    } finally {
      IDBObjectStore.prototype.put = originalPut;
    }
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(await outcomeOf(typed!)).toEqual({ value: { id: realId, name: 'Launch v2', version: 1 } });
    await d.client.flush();
    expect((await applied()).map((row) => `${row.op} ${row.entityId}`)).toEqual([`create ${realId}`, `update ${realId}`]);
    expect(await api<Project[]>('/projects')).toEqual([{ id: realId, name: 'Launch v2', version: 2 }]);
    expect(await p.list()).toEqual([{ id: realId, name: 'Launch v2', version: 2 }]);
  });

  it.each([
    ['while the outbox is read again', 'reloadOutbox'],
    ['while its views are read back', 'loadRecords'],
  ] as const)('an update, get() and get$() of the temporary id once the rename committed, %s (still shown under it): the change is made under the real id, the entity is found', async (_, step) => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const p = d.client.resource(projects);
    await p.list();
    d.online.next(false);
    const project = await p.create({ name: 'Launch' });
    // Called after the renaming transaction committed, before its views are applied.
    const settle = LocalStore.prototype.settleRemapped;
    const original = LocalStore.prototype[step];
    let armed = false;
    let typed: Promise<Project> | null = null;
    let got: Promise<Project | undefined> | null = null;
    const followed: Array<EntityState<Project>> = [];
    LocalStore.prototype.settleRemapped = function (...args) {
      armed = true;
      return settle.apply(this, args);
    };
    LocalStore.prototype[step] = function (this: LocalStore, ...args: never[]) {
      if (armed) {
        armed = false;
        typed = p.update(project.id, { name: 'Launch v2' });
        got = p.get(project.id);
        p.get$(project.id).subscribe((s) => followed.push(s));
      }
      return (original as (...a: never[]) => Promise<never>).apply(this, args);
    } as never;
    try {
      d.online.next(true);
      await until(() => typed !== null, 'the rename committed');
    } finally {
      LocalStore.prototype.settleRemapped = settle;
      LocalStore.prototype[step] = original as never;
    }
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(await outcomeOf(typed!)).toEqual({ value: { id: realId, name: 'Launch v2', version: 1 } });
    expect(await outcomeOf(got!)).toEqual({ value: expect.objectContaining({ name: 'Launch v2' }) });
    await d.client.flush();
    expect(followed.every((state) => state.data !== undefined)).toBe(true);
    expect(followed.at(-1)!.data).toEqual({ id: realId, name: 'Launch v2', version: 2 });
    expect(await api<Project[]>('/projects')).toEqual([{ id: realId, name: 'Launch v2', version: 2 }]);
    expect(await p.list()).toEqual([{ id: realId, name: 'Launch v2', version: 2 }]);
  });

  it('a conflict resolved with a value built on the entities create() returned, after the server renamed them: the key names the entity, the reference is stored as the real id', async () => {
    const manualTasks = defineResource({ ...tasks, conflicts: 'manual' });
    const d = make(suite.server.apiUrl, { resources: [projects, manualTasks] });
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const t = d.client.resource(manualTasks);
    const task = await t.create({ title: 'notes', projectId: 'elsewhere' });
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    const taskId = (await api<Task[]>('/tasks'))[0]!.id;
    await suite.server.admin.edit({ resource: 'tasks', id: taskId, patch: { title: 'theirs' } });
    await t.update(task.id, { title: 'mine' });
    await d.client.flush();
    const [conflict] = await firstValueFrom(d.client.conflicts$);
    d.online.next(false);
    await conflict!.resolve({ value: { ...task, title: 'both', projectId: project.id } });
    expect(await t.get(taskId)).toMatchObject({ id: taskId, title: 'both', projectId: realId });
    d.online.next(true);
    await d.client.flush();
    expect(await api<Task[]>('/tasks')).toEqual([expect.objectContaining({ id: taskId, title: 'both', projectId: realId })]);
  });

  it('an update given the entity create() returned, key included, after the server renamed it: the key names the same entity, the change is made', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const p = d.client.resource(projects);
    const project = await p.create({ name: 'Launch' });
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    expect(await p.update(project.id, { ...project, name: 'Launch v2' })).toMatchObject({ id: realId, name: 'Launch v2' });
    await d.client.flush();
    expect(await api<Project[]>('/projects')).toMatchObject([{ id: realId, name: 'Launch v2' }]);
  });

  it('a task a tab stored naming a temporary id the leader had renamed, unheard: the leader sends it with the real id', async () => {
    const { hub, follower, project, realId } = await projectRenamedUnheard('unheard-reference');
    hub.drop = () => false;
    // The rename's message is lost: this tab still knows the project by its temporary id.
    expect((await follower.client.resource(tasks).create({ title: 'notes', projectId: project.id })).projectId).toBe(project.id);
    await until(async () => (await api<Task[]>('/tasks')).length === 1, 'the task sent');
    expect((await api<Task[]>('/tasks'))[0]).toMatchObject({ title: 'notes', projectId: realId });
  });

  it('a task a tab stored naming a temporary id the leader had renamed, unheard, still queued when every tab reloads a week later: sent with the real id; the rename is then forgotten', async () => {
    const { indexedDB, clock, tab, leader, follower, project, realId } = await projectRenamedUnheard('unheard-reload');
    // Offline before the task is written: it stays queued, naming the temporary id the rename's lost message would have mapped.
    leader.online.next(false);
    const task = await follower.client.resource(tasks).create({ title: 'notes', projectId: project.id });
    expect(task.projectId).toBe(project.id);
    await leader.client.close();
    await follower.client.close();
    await clock.advance(8 * 24 * 60 * 60 * 1000);

    const reloaded = tab();
    await reloaded.client.flush();
    expect(await api<Task[]>('/tasks')).toEqual([expect.objectContaining({ title: 'notes', projectId: realId })]);
    expect((await reloaded.client.resource(tasks).list()).map((t) => t.projectId)).toEqual([realId]);
    expect(await firstValueFrom(reloaded.client.failed$)).toEqual([]);
    await reloaded.client.close();

    // Nothing queued names it any more, and it is a week old: the next start forgets it. The
    // task's own rename, just made, is kept.
    const storeCallbacks = { onLost: () => undefined, onDeleted: () => undefined, onBlocked: () => undefined, onCorrupt: () => undefined, onOpened: () => undefined, onReopenFailed: () => undefined };
    const renames = async () => {
      const store = new LocalStore(indexedDB, 'unheard-reload', storeCallbacks, { setTimer: clock.setTimer, now: clock.now, requestTimeoutMs: 30_000 });
      await store.open();
      const known = { project: store.renames.get(`projects\u0000${project.id}`), task: store.renames.get(`tasks\u0000${task.id}`) };
      store.close();
      return known;
    };
    const taskId = (await api<Task[]>('/tasks'))[0]!.id;
    expect(await renames()).toEqual({ project: realId, task: taskId });
    expect(await renames()).toEqual({ project: undefined, task: taskId });
  });

  it.each([
    ['deleted before it was sent (nothing is sent for it)', 'deleted'],
    ['refused by the server, then discarded', 'discarded'],
  ])('a task naming a project whose create was %s is parked in failed$, never left pending unseen', async (_, how) => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const task = await d.client.resource(tasks).create({ title: 'notes', projectId: project.id });
    if (how === 'deleted') await d.client.resource(projects).delete(project.id);
    else await suite.server.admin.faults({ failStatus: { status: 422, match: 'Launch', count: 1 } });
    d.online.next(true);
    await d.client.flush();
    if (how === 'discarded') {
      const refused = await firstValueFrom(d.client.failed$);
      expect(refused.map((f) => f.resource)).toEqual(['projects']);
      await refused[0]!.discard();
      await d.client.flush();
    }
    const [failed, ...more] = await firstValueFrom(d.client.failed$);
    expect(more).toEqual([]);
    expect(failed).toMatchObject({ resource: 'tasks', id: task.id, op: 'create' });
    expect(failed!.error.message).toBe(`tasks/${task.id}: field "projectId" refers to projects/${project.id}, whose create was dropped before the server named it`);
    expect((await firstValueFrom(d.client.status$)).pending).toBe(0);
    expect(await api<Task[]>('/tasks')).toEqual([]);
    await failed!.discard();
    await d.client.clear();
  });

  it('a task parked for naming a dropped project, pointed at another project and retried: it goes out naming that one, and the fix\'s wait gets the task', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const other = await d.client.resource(projects).create({ name: 'Other' });
    await d.client.flush();
    const otherId = (await d.client.resource(projects).get(other.id))!.id;
    d.online.next(false);
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    const task = await d.client.resource(tasks).create({ title: 'notes', projectId: project.id });
    await d.client.resource(projects).delete(project.id);
    d.online.next(true);
    await d.client.flush();
    const [failed] = await firstValueFrom(d.client.failed$);
    expect(failed).toMatchObject({ resource: 'tasks', id: task.id, op: 'create' });
    const fixed = d.client.resource(tasks).update(task.id, { projectId: otherId }, { wait: 'server' });
    await until(async () => (await firstValueFrom(d.client.status$)).pending === 1, 'the fix stored');
    await failed!.retry();
    await d.client.flush();
    expect(await firstValueFrom(d.client.failed$)).toEqual([]);
    const [sent] = await api<Task[]>('/tasks');
    expect(sent).toMatchObject({ title: 'notes', projectId: otherId });
    expect(await outcomeOf(fixed)).toEqual({ value: sent });
    expect(await d.client.resource(tasks).list()).toEqual([sent]);
  });

  it('get$() and get() of a temporary id the server renamed, called as the page reloads: the entity is found under its new id', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const project = await d.client.resource(projects).create({ name: 'Launch' });
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    await d.client.close();
    const reloaded = kept(d.reopen());
    const h = reloaded.client.resource(projects);
    const followed: Array<EntityState<Project>> = [];
    h.get$(project.id).subscribe((s) => followed.push(s));
    const got = h.get(project.id);
    expect(await got).toEqual({ id: realId, name: 'Launch', version: 1 });
    await until(() => followed.at(-1)?.status === 'success', 'the entity loaded');
    expect(followed.at(-1)!.data).toEqual({ id: realId, name: 'Launch', version: 1 });
  });

  it('a get$() of a temporary id, subscribed (again) only after the server named the entity, finds it under its new id', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const h = d.client.resource(projects);
    const project = await h.create({ name: 'Launch' });
    const project$ = h.get$(project.id);
    const before: Array<EntityState<Project>> = [];
    project$.subscribe((s) => before.push(s)).unsubscribe();
    d.online.next(true);
    await d.client.flush();
    const realId = (await api<Project[]>('/projects'))[0]!.id;
    await until(async () => (await h.list()).some((p) => p.id === realId), 'the create renamed');

    const after: Array<EntityState<Project>> = [];
    project$.subscribe((s) => after.push(s));
    expect(before.at(-1)!.data).toMatchObject({ id: project.id, name: 'Launch' });
    expect(after.at(-1)!.data).toEqual({ id: realId, name: 'Launch', version: 1 });
  });

  it('survives a reload before the POST', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    await offlineGraph(d);
    await d.client.close();
    const reopened = kept(d.reopen());
    await reopened.client.flush();
    await expectDelivered(reopened);
  });

  it('survives the POST applied with its answer lost, then a reload', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    await offlineGraph(d);
    await suite.server.admin.faults({ dropAfterApply: { count: 1 } });
    d.online.next(true);
    await until(() => d.events.some((e) => e.type === 'retrying'), 'the lost answer');
    await d.client.close();
    const reopened = kept(d.reopen());
    await reopened.clock.advance(120_000);
    await reopened.client.flush();
    await expectDelivered(reopened);
  });

  it('survives a crash in the re-keying transaction', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    await offlineGraph(d);
    const original = LocalStore.prototype.settleRemapped;
    let failures = 0;
    LocalStore.prototype.settleRemapped = function (...args) {
      if (failures++ === 0) return Promise.reject(new StorageError('injected abort of the re-keying transaction'));
      return original.apply(this, args);
    };
    try {
      d.online.next(true);
      await until(() => failures > 0, 'the failing remap');
      await d.client.close();
    } finally {
      LocalStore.prototype.settleRemapped = original;
    }
    const reopened = kept(d.reopen());
    await reopened.clock.advance(120_000);
    await reopened.client.flush();
    await expectDelivered(reopened);
  });

  it('survives stored renames of the wrong shape (a corrupted row, another release): each is ignored, the queued changes go out as queued', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    const { project } = await offlineGraph(d);
    await d.client.close();
    const db = await openRaw(d.indexedDB, 'harborsync:default');
    const tx = db.transaction('meta', 'readwrite');
    const meta = tx.objectStore('meta');
    const at = d.clock.now();
    // The project's temporary id renamed to what no server could have named it.
    meta.put({ r: 'projects', from: project.id, to: '', at }, `renamed:projects\u0000${project.id}`);
    for (const [from, row] of [
      ['tmp:null', null],
      ['tmp:text', 'renamed'],
      ['tmp:object', { r: 'projects', from: 'tmp:object', to: { id: 1 }, at }],
      ['tmp:dot', { r: 'projects', from: 'tmp:dot', to: '.', at }],
      ['tmp:nan', { r: 'projects', from: 'tmp:nan', to: Number.NaN, at }],
      ['', { r: 'projects', from: '', to: 'p1', at }],
    ] as const) {
      meta.put(row, `renamed:projects\u0000${from}`);
    }
    await committed(tx);
    db.close();

    const reopened = kept(d.reopen());
    await reopened.client.flush();
    await expectDelivered(reopened);
  });

  it("survives another tab's rename message of the wrong shape (another release, a bug there): it is ignored, the queued changes go out as queued", async () => {
    const hub = new BroadcastHub();
    const d = make(suite.server.apiUrl, { resources: [projects, tasks], namespace: 'told-wrong', locks: new FakeLocks(), BroadcastChannel: hub.Channel });
    await until(() => leads(d), 'leading');
    const { project } = await offlineGraph(d);
    const other = new hub.Channel('harborsync:told-wrong');
    for (const to of ['', '.', null, { id: 1 }]) other.postMessage({ t: 'remapped', r: 'projects', from: project.id, to });
    other.close();
    await settle(10);

    d.online.next(true);
    await d.client.flush();
    await expectDelivered(d);
  });
});

describe('{ wait: server }', () => {
  it('waits through offline and resolves once the server confirms; an aborted wait leaves the change going', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks] });
    d.online.next(false);
    const waiting = d.client.resource(projects).create({ name: 'P' }, { wait: 'server' });
    const controller = new AbortController();
    const aborted = d.client.resource(projects).create({ name: 'Q' }, { wait: 'server', signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    d.online.next(true);
    const confirmed = await waiting;
    expect(confirmed).toMatchObject({ name: 'P', version: 1 });
    expect(confirmed.id).not.toMatch(/^tmp:/);
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((p) => p.name).sort()).toEqual(['P', 'Q']);
  });
});

describe('sendDelayMs', () => {
  it('turns 50 keystrokes over 5 seconds into a few requests carrying the final text', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks], sendDelayMs: 300 });
    const p = d.client.resource(projects);
    const project = await p.create({ name: '' });
    await d.client.flush();
    const text = 'The quick brown fox jumps over the lazy dog again!';
    for (let i = 1; i <= 50; i++) {
      await p.update(project.id, { name: text.slice(0, i) });
      await d.clock.advance(100);
    }
    await d.clock.advance(300);
    await until(async () => (await api<Project[]>('/projects'))[0]?.name === text, 'the final text');
    const updates = (await applied()).filter((r) => r.op === 'update');
    expect(updates.length).toBeLessThanOrEqual(3);
    expect(d.calls.filter((c) => c.startsWith('PATCH')).length).toBeLessThanOrEqual(3);
  });

  it('flush() sends a delayed change at once', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks], sendDelayMs: 60_000 });
    await d.client.resource(projects).create({ name: 'now' });
    await d.client.flush();
    expect(await api<Project[]>('/projects')).toHaveLength(1);
  });

  it('flush() sends the changes made before it whose writes are still being stored, also those waiting for the resource to load', async () => {
    const d = make(suite.server.apiUrl, { resources: [projects, tasks], sendDelayMs: 60_000 });
    const p = d.client.resource(projects);
    // Before the resource has loaded: the create waits for it.
    const first = p.create({ name: 'first' });
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((x) => x.name)).toEqual(['first']);
    const project = await first;
    // Loaded: the update's transaction is still under way when flush() is called.
    const renaming = p.update(project.id, { name: 'renamed' });
    await d.client.flush();
    expect((await api<Project[]>('/projects')).map((x) => x.name)).toEqual(['renamed']);
    await renaming;
  });
});
