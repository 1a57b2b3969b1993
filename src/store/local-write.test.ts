import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { PendingOp } from '../outbox/coalesce.js';
import type { NewEntry, OutboxEntry } from '../outbox/entry.js';
import { defineResource } from '../resource.js';
import { outboxEntry } from '../../test/helpers/outbox-entry.js';
import { freshDatabase } from '../../test/helpers/store-db.js';
import type { EntityRecord, HarborDB } from './db.js';
import { hasServerVersion, isClean, issueWrite, readEntity, storedRecord } from './local-write.js';

const todos = defineResource({ name: 'todos', schema: z.object({ id: z.string(), title: z.string(), version: z.number() }) });
const { seq: _, ...newEntry } = outboxEntry({ key: 'k-new', changedAt: 50 });
const fresh = (): NewEntry => ({ ...newEntry });

let db: HarborDB;
beforeEach(async () => {
  db = await freshDatabase();
});
afterEach(() => db.close());

const stored = () => db.get('entities', ['todos', 'a']);
const queued = () => db.getAll('outbox');

/** One local change to todos/a in its own transaction, on what is stored; what it read back once committed. */
async function write(op: PendingOp, referenced = -1) {
  const tx = db.transaction(['entities', 'outbox', 'meta'], 'readwrite');
  const [record, entries] = await readEntity(tx, 'todos', 'a');
  try {
    const written = issueWrite(tx, todos, 'a', op, fresh, record, entries, referenced);
    await tx.done;
    return written.read();
  } catch (error) {
    tx.abort();
    await tx.done.catch(() => undefined);
    throw error;
  }
}

async function plant(record: EntityRecord, entries: Array<Partial<OutboxEntry>> = []): Promise<void> {
  const tx = db.transaction(['entities', 'outbox'], 'readwrite');
  await tx.objectStore('entities').put(record);
  for (const entry of entries) await tx.objectStore('outbox').put(outboxEntry(entry));
  await tx.done;
}

const v1 = { id: 'a', title: 'A', version: 1 };

describe('issueWrite', () => {
  it('queues a create of a new entity and stores its view, the entry numbered once committed', async () => {
    const { entries, view, cancelled } = await write({ op: 'create', value: { id: 'a', title: 'A' } });
    const [row] = await queued();
    expect(entries).toEqual([row]);
    expect(row).toMatchObject({ op: 'create', payload: { id: 'a', title: 'A' }, baseVersion: null, key: 'k-new' });
    expect(view).toEqual({ id: 'a', title: 'A' });
    expect(await stored()).toEqual({ r: 'todos', id: 'a', base: null, view });
    expect(cancelled).toBeNull();
  });

  it('queues an update on the version stored', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: v1 });
    const { entries, view } = await write({ op: 'update', patch: { title: 'B' } });
    expect(entries).toEqual(await queued());
    expect(entries).toMatchObject([{ op: 'update', payload: { title: 'B' }, baseVersion: 1 }]);
    expect(view).toEqual({ ...v1, title: 'B' });
    expect(await stored()).toEqual({ r: 'todos', id: 'a', base: v1, view });
  });

  it('refuses a create of an id stored, and any other change of an entity with no view here; nothing is queued', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: v1 });
    await expect(write({ op: 'create', value: { id: 'a', title: 'B' } })).rejects.toThrow(ValidationError);
    await db.clear('entities');
    await expect(write({ op: 'update', patch: { title: 'B' } })).rejects.toThrow(ValidationError);
    expect(await queued()).toEqual([]);
  });

  it('folds an update into the unsent entry before it, which keeps its place and marks where its newest change stands', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: v1 });
    const [first] = (await write({ op: 'update', patch: { title: 'B' } })).entries;
    const { entries, view } = await write({ op: 'update', patch: { done: true } });
    expect(entries).toEqual(await queued());
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ seq: first!.seq, payload: { title: 'B', done: true } });
    expect(entries[0]!.lastSeq).toBeGreaterThan(first!.seq);
    expect(view).toEqual({ ...v1, title: 'B', done: true });
  });

  it('leaves out of the merged update the fields set back to the server version, and takes out the entry left with nothing; not with an entry ahead of it', async () => {
    const base = { ...v1, done: false };
    await plant({ r: 'todos', id: 'a', base, view: base });
    const [first] = (await write({ op: 'update', patch: { title: 'B', done: true } })).entries;
    expect((await write({ op: 'update', patch: { title: 'A' } })).entries).toMatchObject([{ seq: first!.seq, payload: { done: true } }]);
    const { entries, view, cancelled } = await write({ op: 'update', patch: { done: false } });
    expect({ entries, view, cancelled }).toEqual({ entries: [], view: base, cancelled: first!.seq });
    expect(await queued()).toEqual([]);
    expect(await stored()).toEqual({ r: 'todos', id: 'a', base, view: base });

    await plant({ r: 'todos', id: 'a', base: v1, view: { ...v1, title: 'B' } }, [{ seq: 1, payload: { title: 'B' }, frozen: true }]);
    await write({ op: 'update', patch: { title: 'C' } });
    expect((await write({ op: 'update', patch: { title: 'A' } })).entries.map((e) => e.payload)).toEqual([{ title: 'B' }, { title: 'A' }]);
  });

  it('an undo that leaves nothing queued forgets the state a pull rebased the change from: a later change\'s conflict is judged on the base it was made on', async () => {
    const v2 = { ...v1, title: 'A2', version: 2 };
    await plant({ r: 'todos', id: 'a', base: v2, view: { ...v2, title: 'B' }, origin: v1 }, [{ seq: 1, payload: { title: 'B' } }]);
    const { entries, view } = await write({ op: 'update', patch: { title: 'A2' } });
    expect({ entries, view }).toEqual({ entries: [], view: v2 });
    expect(await stored()).toEqual({ r: 'todos', id: 'a', base: v2, view: v2 });
  });

  it('appends after an entry that may have been sent (frozen), and after one older than an entity the change names', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: { ...v1, title: 'B' } }, [{ seq: 1, payload: { title: 'B' }, frozen: true }]);
    expect((await write({ op: 'update', patch: { title: 'C' } })).entries.map((e) => e.payload)).toEqual([{ title: 'B' }, { title: 'C' }]);
    const [, second] = await queued();
    const { entries } = await write({ op: 'update', patch: { title: 'D' } }, second!.seq);
    expect(entries.map((e) => e.payload)).toEqual([{ title: 'B' }, { title: 'C' }, { title: 'D' }]);
  });

  it('takes out a create never sent when the entity is deleted, and the entity goes', async () => {
    const [create] = (await write({ op: 'create', value: { id: 'a', title: 'A' } })).entries;
    const { entries, view, cancelled } = await write({ op: 'delete' });
    expect({ entries, view, cancelled }).toEqual({ entries: [], view: null, cancelled: create!.seq });
    expect(await queued()).toEqual([]);
    expect(await stored()).toBeUndefined();
  });

  it('leaves a delete of an entity a queued delete removed already as it is', async () => {
    const deleted: EntityRecord = { r: 'todos', id: 'a', base: v1, view: null };
    await plant(deleted, [{ seq: 1, op: 'delete', payload: null, frozen: true }]);
    const before = await queued();
    const { entries, view, cancelled } = await write({ op: 'delete' });
    expect({ entries, view, cancelled }).toEqual({ entries: before, view: null, cancelled: null });
    expect(await queued()).toEqual(before);
    expect(await stored()).toEqual(deleted);
  });
});

describe('isClean', () => {
  const read = async () => storedRecord(db.transaction(['entities', 'outbox', 'meta'], 'readwrite'), 'todos', 'a');

  it('takes a record stored with its view as its base (nothing queued) for the equal copy', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: v1 });
    const record = await read();
    expect(isClean(record, { ...v1 })).toBe(true);
    expect(isClean(record, { ...v1, title: 'B' })).toBe(false);
    expect(isClean(record, null)).toBe(false);
  });

  it('takes no record with changes made on it for clean, though its view equals the copy', async () => {
    await plant({ r: 'todos', id: 'a', base: v1, view: { ...v1 } });
    expect(isClean(await read(), v1)).toBe(false);
    await plant({ r: 'todos', id: 'a', base: v1, view: v1, origin: { ...v1, version: 0 } });
    expect(isClean(await read(), v1)).toBe(false);
  });

  it('takes no record for a copy of none', async () => {
    expect(isClean(undefined, null)).toBe(true);
    expect(isClean(undefined, v1)).toBe(false);
  });
});

describe('hasServerVersion', () => {
  it('is true of a copy that carries a version, 0 included', () => {
    expect(hasServerVersion(v1, todos)).toBe(true);
    expect(hasServerVersion({ ...v1, version: 0 }, todos)).toBe(true);
    expect(hasServerVersion({ id: 'a', title: 'A' }, todos)).toBe(false);
    expect(hasServerVersion({ ...v1, version: null }, todos)).toBe(false);
    expect(hasServerVersion(null, todos)).toBe(false);
    expect(hasServerVersion(undefined, todos)).toBe(false);
  });
});
