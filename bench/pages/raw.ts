// The physical limit: IndexedDB with no library on top, doing the same storage work, with the
// same durability ('strict') harborsync asks for. Also the raw network loop for the drain.
import { collectGarbage, heapAfterGc, keep, makeTodos, mark, now, register, req, todoSchema, txDone, type Todo } from './common.js';

const DB = 'raw-bench';

function open(): Promise<IDBDatabase> {
  const request = indexedDB.open(DB, 1);
  request.onupgradeneeded = () => {
    const db = request.result;
    db.createObjectStore('todos', { keyPath: 'id' });
    db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
  };
  return req(request);
}

async function putAll(db: IDBDatabase, items: readonly Todo[]): Promise<void> {
  const tx = db.transaction('todos', 'readwrite', { durability: 'strict' });
  const store = tx.objectStore('todos');
  for (const item of items) store.put(item);
  await txDone(tx);
}

const validateAll = (items: readonly unknown[]): Todo[] => {
  const valid: Todo[] = [];
  for (const item of items) {
    const result = todoSchema['~standard'].validate(item) as { value?: Todo; issues?: unknown };
    if (!result.issues) valid.push(result.value!);
  }
  return valid;
};

register('raw', {
  /** A list answer of N written in one transaction; with or without schema validation first. */
  async ingest({ n, validate }) {
    const items = makeTodos(n as number);
    const db = await open();
    await mark('start');
    const t0 = now();
    await putAll(db, validate ? validateAll(items) : items);
    const ms = now() - t0;
    await mark('stop');
    db.close();
    return { ms };
  },

  /** Seeds the template profile: N todos stored. */
  async seed({ n }) {
    const db = await open();
    await putAll(db, makeTodos(n as number));
    db.close();
    return {};
  },

  /** After a reload: open, getAll. Heap: what holding the N objects costs. */
  async hydrate({ n }) {
    const before = await heapAfterGc();
    await mark('start');
    const t0 = now();
    const db = await open();
    const all = await req(db.transaction('todos').objectStore('todos').getAll());
    const ms = now() - t0;
    await mark('stop');
    if (all.length !== n) throw new Error(`raw hydrate: ${all.length} of ${n}`);
    keep.push(db, all);
    const heap = (await heapAfterGc()) - before;
    return { ms, heap };
  },

  /** Sequential awaited updates: entity put + outbox entry in one strict transaction each. */
  async durable({ n, count, durability = 'strict' }) {
    const db = await open();
    const todos = (await req(db.transaction('todos').objectStore('todos').getAll())) as Todo[];
    if (todos.length !== n) throw new Error(`raw durable: ${todos.length} of ${n} seeded`);
    await collectGarbage();
    await mark('start');
    const t0 = now();
    for (let i = 0; i < (count as number); i++) {
      const todo = todos[i % todos.length]!;
      const title = `w${i}`;
      const tx = db.transaction(['todos', 'outbox'], 'readwrite', { durability: durability as IDBTransactionDurability });
      tx.objectStore('todos').put({ ...todo, title });
      tx.objectStore('outbox').add({ r: 'todos', id: todo.id, op: 'update', payload: { title }, key: crypto.randomUUID() });
      await txDone(tx);
    }
    const ms = now() - t0;
    await mark('stop');
    db.close();
    return { ms, durability };
  },

  /**
   * The first page with no library: one GET of the same URL harborsync's on-demand query sends,
   * then (with `store`) each item validated and the page stored in one strict transaction.
   */
  async firstPage({ apiUrl, token, store }) {
    const t0 = now();
    const db = store ? await open() : null;
    const response = await fetch(`${apiUrl as string}/todos?filter%5Bdone%5D=false&sort=title%2Cid&limit=50`, {
      headers: { Accept: 'application/json', Authorization: `Bearer ${token as string}` },
    });
    if (!response.ok) throw new Error(`GET page: ${response.status}`);
    const { items } = (await response.json()) as { items: unknown[] };
    if (db) await putAll(db, validateAll(items));
    const ms = now() - t0;
    if (items.length !== 50) throw new Error(`raw first page: ${items.length} items`);
    db?.close();
    return { ms };
  },

  /**
   * The drain baseline: the same PATCH requests, one at a time (window 1), or `window` in flight
   * with each entity's requests in order (independent entities here, so a plain pool). With
   * `settle`, each answer is also stored as DESIGN requires of a drain (the entity put and its
   * outbox entry deleted in one strict transaction), while the next request is out: the floor
   * of a durable drain, against which the plain loop shows what the storing costs.
   */
  async drain({ apiUrl, token, updates, window: width, settle }) {
    const list = (updates as Array<{ id: string; title: string; version: number }>).map((u) => ({ ...u }));
    const db = settle ? await open() : null;
    const seqs = new Map<string, number>();
    if (db) {
      const tx = db.transaction(['todos', 'outbox'], 'readwrite', { durability: 'strict' });
      for (const u of list) {
        tx.objectStore('todos').put({ id: u.id, title: u.title, done: false, version: u.version });
        const added = tx.objectStore('outbox').add({ id: u.id, payload: { title: u.title } });
        added.onsuccess = () => seqs.set(u.id, added.result as number);
      }
      await txDone(tx);
    }
    const stores: Array<Promise<void>> = [];
    const send = async (u: { id: string; title: string; version: number }) => {
      const response = await fetch(`${apiUrl as string}/todos/${encodeURIComponent(u.id)}`, {
        method: 'PATCH',
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${token as string}`,
          'Content-Type': 'application/json',
          'Idempotency-Key': crypto.randomUUID(),
          'If-Match': `"${u.version}"`,
        },
        body: JSON.stringify({ title: u.title }),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`PATCH ${u.id}: ${response.status} ${await response.text()}`);
      const answer = await response.json();
      if (db) {
        const tx = db.transaction(['todos', 'outbox'], 'readwrite', { durability: 'strict' });
        tx.objectStore('todos').put(answer);
        tx.objectStore('outbox').delete(seqs.get(u.id)!);
        stores.push(txDone(tx));
      }
    };
    await mark('start');
    const t0 = now();
    let next = 0;
    const worker = async () => {
      while (next < list.length) await send(list[next++]!);
    };
    await Promise.all(Array.from({ length: (width as number) || 1 }, worker));
    await Promise.all(stores);
    const ms = now() - t0;
    await mark('stop');
    db?.close();
    return { ms, requests: list.length };
  },
});
