import {
  ClosedError,
  ConflictError,
  HarborSyncError,
  HttpError,
  NetworkError,
  SchemaError,
  StorageError,
  ValidationError,
  type FieldIssue,
  type HarborSyncErrorCode,
} from '../errors.js';
import type { BroadcastChannelLike } from '../types.js';

/** A harborsync error as it crosses to another tab (structured clone keeps no class). */
export interface TabError {
  name: string;
  code?: string;
  message: string;
  resource?: string;
  id?: string;
  status?: number;
  body?: unknown;
  method?: string;
  url?: string;
  fields?: readonly string[];
  issues?: readonly FieldIssue[];
}

/**
 * What one tab tells the others of the same namespace. Only hints: a receiver re-reads
 * IndexedDB, which stays the truth, so a lost message delays a view but never corrupts it.
 */
export type TabMessage =
  /**
   * Entities whose stored view changed (a write, a server answer, a pull); `outbox`: the queue
   * changed too. For on-demand resources `views` holds the committed view of each id (null: deleted):
   * what a receiver shows when the record is gone by the time it reads, evicted by the sender's cache.
   */
  | {
      t: 'changed';
      r: string;
      ids: string[];
      outbox: boolean;
      views?: Array<Record<string, unknown> | null>;
      /**
       * A pull's commit moved the delta cursor: a tab whose views were at `from` is now at `to`.
       * `at`: when that commit was made (the sender's clock), to tell one made before a deletion.
       */
      cursor?: { from: string | null; to: string | null; at?: number };
    }
  /** The queue changed (states, attempts) without a view change. */
  | { t: 'outbox' }
  /** The entry `seq` got its final answer: a `{ wait: 'server' }` in any tab resolves or rejects with it. */
  | { t: 'settled'; seq: number; value?: Record<string, unknown> | null; error?: TabError }
  /** The entry `seq` left the queue folded into the entry `into` (a conflict decision): its waits follow `into`. */
  | { t: 'folded'; seq: number; into: number }
  | { t: 'remapped'; r: string; from: string; to: string | number }
  /**
   * The namespace's database was deleted (clear() started at `at`; `by: 'evicted'`: found deleted
   * behind the app's back at `at`, by the tab that created it anew). A tab whose connection heard
   * the deletion itself since then has forgotten its data already, and keeps what it wrote since.
   */
  | { t: 'cleared'; at?: number; by?: 'evicted' }
  /**
   * pause() in a tab, or a 401 that paused it (`unauthorized`): sending pauses in every tab, so
   * whichever tab sends (or comes to send) holds back.
   */
  | { t: 'paused'; reason: 'manual' | 'unauthorized' }
  /** resume() in a tab: every tab resumes. */
  | { t: 'resumed' }
  /** flush() in a follower: the leader sends what is queued at once, then answers 'flushed'. */
  | { t: 'flush'; token: string }
  /** The leader's answer to 'flush' `token`: nothing more can be sent now. */
  | { t: 'flushed'; token: string };

export interface TabChannel<M = TabMessage> {
  /** False where there is no BroadcastChannel (or it could not be made): no other tab hears this one. */
  readonly shared: boolean;
  /** Posts to the other tabs; false if the message could not be posted (a value that cannot be cloned). */
  post(message: M): boolean;
  close(): void;
}

/** A channel that can stop hearing the other tabs for a while and still post to them. */
export interface ListeningChannel<M = TabMessage> extends TabChannel<M> {
  /**
   * false: hears nothing, its BroadcastChannel closed (a message reaching a page in the
   * back/forward cache gets it evicted, in Chromium); true: hears again. Posting goes on.
   */
  listen(listening: boolean): void;
}

/**
 * One BroadcastChannel named `name`, handing `onMessage` what other tabs post on it (objects with
 * a string `t`; anything else on the name is ignored). Without BroadcastChannel (or if it cannot
 * be made), posting does nothing.
 */
export function openChannel<M extends { t: string }>(
  Channel: (new (name: string) => BroadcastChannelLike) | undefined,
  name: string,
  onMessage: (message: M) => void,
): ListeningChannel<M> {
  const make = (): BroadcastChannelLike | null => {
    try {
      return Channel ? new Channel(name) : null;
    } catch {
      return null;
    }
  };
  const hearing = (channel: BroadcastChannelLike | null) => {
    if (channel) {
      channel.onmessage = (event) => {
        const data = event.data as M | null;
        if (data && typeof data === 'object' && typeof data.t === 'string') onMessage(data);
      };
    }
    return channel;
  };
  const shut = (channel: BroadcastChannelLike) => {
    channel.onmessage = null;
    channel.close();
  };
  /** The channel that hears; null while not listening, or once closed. */
  let open = hearing(make());
  if (!open) return { shared: false, post: () => false, listen: () => undefined, close: () => undefined };
  let closed = false;
  return {
    shared: true,
    post: (message) => {
      if (closed) return false;
      // Not listening: a channel for this message alone, closed before anything could reach it.
      const channel = open ?? make();
      try {
        channel?.postMessage(message);
        return channel !== null;
      } catch {
        return false;
      } finally {
        if (channel && channel !== open) channel.close();
      }
    },
    listen: (listening) => {
      if (closed || listening === (open !== null)) return;
      if (listening) open = hearing(make());
      else {
        shut(open!);
        open = null;
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      if (open) shut(open);
      open = null;
    },
  };
}

const isSeq = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value);
const isStrings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** An error as toTabError() writes it: fromTabError() reads its fields, issues and message without a check. */
function isTabError(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value['name'] === 'string' &&
    typeof value['message'] === 'string' &&
    (value['fields'] === undefined || isStrings(value['fields'])) &&
    (value['issues'] === undefined || (Array.isArray(value['issues']) && value['issues'].every(isObject)))
  );
}

/**
 * Whether this release understands `message`, which a tab of another release (or another script
 * on the channel's name) may have posted in another shape. One misread would throw, and the hints
 * handled with it would be lost: what is not understood is ignored.
 */
function understood(message: { t: string } & Record<string, unknown>): boolean {
  switch (message.t) {
    case 'changed':
      return typeof message['r'] === 'string' && isStrings(message['ids']);
    case 'settled':
      return isSeq(message['seq']) && (message['error'] == null || isTabError(message['error']));
    case 'folded':
      return isSeq(message['seq']) && isSeq(message['into']);
    case 'flush':
    case 'flushed':
      return typeof message['token'] === 'string';
    // Their fields are checked where they are read.
    case 'outbox':
    case 'remapped':
    case 'cleared':
    case 'paused':
    case 'resumed':
      return true;
    default:
      return false;
  }
}

/** The namespace's channel for view and outbox hints. */
export function openTabChannel(
  Channel: (new (name: string) => BroadcastChannelLike) | undefined,
  namespace: string,
  onMessage: (message: TabMessage) => void,
): ListeningChannel {
  const channel = openChannel<TabMessage>(Channel, `harborsync:${namespace}`, (message) => {
    if (understood(message as TabMessage & Record<string, unknown>)) onMessage(message);
  });
  return {
    shared: channel.shared,
    post: (message) => {
      if (channel.post(message)) return true;
      // A value that cannot be cloned: the other tabs still re-read IndexedDB on the next hint.
      // Never let a broadcast fail the write that caused it.
      if (message.t === 'changed' && message.views) return channel.post({ ...message, views: undefined });
      return message.t === 'settled' && channel.post({ t: 'outbox' });
    },
    listen: (listening) => channel.listen(listening),
    close: () => channel.close(),
  };
}

/** The plain fields of a harborsync error, for another tab. */
export function toTabError(error: HarborSyncError): TabError {
  const out: TabError = { name: error.name, code: error.code, message: error.message };
  if (error.resource !== undefined) out.resource = error.resource;
  if (error.id !== undefined) out.id = error.id;
  if (error instanceof HttpError) {
    out.status = error.status;
    out.method = error.method;
    out.url = error.url;
    if (error.body !== undefined) out.body = error.body;
  }
  if (error instanceof NetworkError) {
    out.method = error.method;
    out.url = error.url;
  }
  if (error instanceof ConflictError) out.fields = [...error.fields];
  if (error instanceof SchemaError || error instanceof ValidationError) out.issues = error.issues.map((i) => ({ field: String(i.field), message: String(i.message) }));
  return out;
}

/** The same error class again, with the original message, in the receiving tab. */
export function fromTabError(data: TabError): HarborSyncError {
  const context = { resource: data.resource, id: data.id };
  let error: HarborSyncError;
  switch (data.name) {
    case 'HttpError':
      error = new HttpError({ status: data.status ?? 0, body: data.body, method: data.method ?? '', url: data.url ?? '' }, context);
      break;
    case 'NetworkError':
      error = new NetworkError({ method: data.method ?? '', url: data.url ?? '', reason: '' }, context);
      break;
    case 'ConflictError':
      error = new ConflictError(data.fields ?? [], context);
      break;
    case 'SchemaError':
      error = new SchemaError(data.issues ?? [], context);
      break;
    case 'ValidationError':
      error = new ValidationError(data.issues ?? [], context);
      break;
    case 'StorageError':
      error = new StorageError('', context);
      break;
    case 'ClosedError':
      error = new ClosedError('');
      break;
    default:
      error = new HarborSyncError((data.code ?? 'HTTP') as HarborSyncErrorCode, '', context);
  }
  error.message = data.message;
  return error;
}
