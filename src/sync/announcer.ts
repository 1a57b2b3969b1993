import type { TabChannel, TabMessage } from './broadcast.js';

type Rec = Record<string, unknown>;

/** What this tab has yet to tell the others about one resource. */
interface Unannounced {
  /** The changed ids and, for on-demand resources, each one's committed view. */
  ids: Map<string, Rec | null | undefined>;
  outbox: boolean;
  /** The delta cursor the changes moved from and to, and when the first of their commits was made. */
  cursor?: { from: string | null; to: string | null; at: number };
}

/**
 * What this tab tells the others, in commit order. Changes of one synchronous run go out as one
 * 'changed' message per resource, in a microtask, or before any other message this tab posts. A
 * microtask, not a task: when a write's or a pull's promise resolves, the other tabs have been told.
 */
export class Announcer {
  readonly #unannounced = new Map<string, Unannounced>();
  readonly #channel: TabChannel;
  #closed = false;

  constructor(channel: TabChannel) {
    this.#channel = channel;
  }

  /** Queues an entity for the next 'changed' message (`view`: its committed view, for an on-demand resource). */
  changed(r: string, id: string, outbox: boolean, view?: Rec | null): void {
    const group = this.#unannouncedOf(r);
    if (!group) return;
    // Keyed again so the id goes in the order of its latest change, with the latest view told of it.
    const told = view === undefined ? group.ids.get(id) : view;
    group.ids.delete(id);
    group.ids.set(id, told);
    group.outbox ||= outbox;
  }

  /** A pull's commit moved the delta cursor: told with that commit's changes, so other tabs can follow it. */
  cursorMoved(r: string, from: string | null, to: string | null, at: number): void {
    const group = this.#unannouncedOf(r);
    if (group) group.cursor = group.cursor ? { ...group.cursor, to } : { from, to, at };
  }

  /** Posts `message` after the changes not yet told. */
  post(message: TabMessage): void {
    this.#flush();
    this.#channel.post(message);
  }

  /** What this tab committed, the other tabs still learn; nothing more is queued. */
  close(): void {
    this.#flush();
    this.#closed = true;
    this.#channel.close();
  }

  #unannouncedOf(r: string): Unannounced | undefined {
    if (this.#closed) return undefined;
    if (this.#unannounced.size === 0) queueMicrotask(() => this.#flush());
    let group = this.#unannounced.get(r);
    if (!group) this.#unannounced.set(r, (group = { ids: new Map(), outbox: false }));
    return group;
  }

  #flush(): void {
    if (this.#unannounced.size === 0) return;
    const groups = [...this.#unannounced];
    this.#unannounced.clear();
    for (const [r, { ids, outbox, cursor }] of groups) {
      const views = [...ids.values()];
      const message: TabMessage = { t: 'changed', r, ids: [...ids.keys()], outbox };
      if (views.some((view) => view !== undefined)) message.views = views.map((view) => view ?? null);
      if (cursor) message.cursor = cursor;
      this.#channel.post(message);
    }
  }
}
