/** The stable `code` of each error class: `VALIDATION` for `ValidationError`, and so on. */
export type HarborSyncErrorCode =
  | 'VALIDATION'
  | 'SCHEMA'
  | 'HTTP'
  | 'NETWORK'
  | 'CONFLICT'
  | 'STORAGE'
  | 'PENDING_MUTATIONS'
  | 'CLOSED';

export interface ErrorContext {
  resource?: string | undefined;
  id?: string | undefined;
  cause?: unknown;
}

/**
 * What every error of a sync operation extends (a call made wrongly throws a `TypeError`). Each
 * has a literal `name`, a stable `code`, and a message that names the resource, the id and the
 * field where they are known. Server payloads go in `body`, never in the message.
 */
export class HarborSyncError extends Error {
  override name = 'HarborSyncError';
  readonly code: HarborSyncErrorCode;
  readonly resource: string | undefined;
  readonly id: string | undefined;

  constructor(code: HarborSyncErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.resource = context.resource;
    this.id = context.id;
  }
}

/** One problem found by a schema, with the dotted field path it concerns. */
export interface FieldIssue {
  field: string;
  message: string;
}

function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => (i.field ? `field "${i.field}" ${i.message}` : i.message)).join('; ');
}

function where(context: ErrorContext): string {
  if (context.resource === undefined) return '';
  return context.id === undefined ? `${context.resource}: ` : `${context.resource}/${context.id}: `;
}

/**
 * A write (or a conflict's `resolve({ value })`) that cannot be made: the view it would produce
 * fails the schema, it clears a field with `undefined`, holds a value IndexedDB or JSON cannot
 * carry as it is, or names no entity there. Also any call's id that is not a valid one. Nothing
 * was written.
 */
export class ValidationError extends HarborSyncError {
  override name = 'ValidationError' as const;
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[], context: ErrorContext = {}) {
    super('VALIDATION', `${where(context)}${describeIssues(issues)}`, context);
    this.issues = issues;
  }
}

/** Data from the server fails the resource's schema (or is not the expected shape). It is not cached. */
export class SchemaError extends HarborSyncError {
  override name = 'SchemaError' as const;
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[], context: ErrorContext = {}) {
    super('SCHEMA', `${where(context)}${describeIssues(issues)}`, context);
    this.issues = issues;
  }
}

/** The server answered with a status that is not a success. */
export class HttpError extends HarborSyncError {
  override name = 'HttpError' as const;
  readonly status: number;
  readonly body: unknown;
  readonly method: string;
  readonly url: string;
  /** The `Retry-After` header, as sent. */
  readonly retryAfter: string | null;
  /** The `Date` header, as sent (to read an HTTP-date `Retry-After` against the server's clock). */
  readonly serverDate: string | null;
  constructor(
    init: {
      status: number;
      body?: unknown;
      method: string;
      url: string;
      detail?: string;
      retryAfter?: string | null;
      serverDate?: string | null;
    },
    context: ErrorContext = {},
  ) {
    const detail = init.detail ? ` (${init.detail})` : '';
    super('HTTP', `${where(context)}${init.method} ${init.url} answered ${init.status}${detail}`, context);
    this.status = init.status;
    this.body = init.body;
    this.method = init.method;
    this.url = init.url;
    this.retryAfter = init.retryAfter ?? null;
    this.serverDate = init.serverDate ?? null;
  }
}

/** No usable answer: the connection failed, was dropped, timed out, or the answer was unreadable. */
export class NetworkError extends HarborSyncError {
  override name = 'NetworkError' as const;
  readonly method: string;
  readonly url: string;
  constructor(init: { method: string; url: string; reason: string }, context: ErrorContext = {}) {
    super('NETWORK', `${where(context)}${init.method} ${init.url} failed: ${init.reason}`, context);
    this.method = init.method;
    this.url = init.url;
  }
}

/**
 * A `{ wait: 'server' }` write's change ended in `conflicts$`. Also what `resolve()` rejects with
 * when the conflict changed under each try to decide it, and what an `error` event carries when a
 * resolver function threw (its `cause`).
 */
export class ConflictError extends HarborSyncError {
  override name = 'ConflictError' as const;
  readonly fields: readonly string[];
  constructor(fields: readonly string[], context: ErrorContext & { detail?: string } = {}) {
    const detail =
      context.detail ?? (fields.length ? `conflict on ${fields.map((f) => `"${f}"`).join(', ')}` : 'conflict');
    super('CONFLICT', `${where(context)}${detail}`, context);
    this.fields = fields;
  }
}

/** IndexedDB failed: quota, a blocked upgrade, a lost or closed connection, or it cannot be opened. */
export class StorageError extends HarborSyncError {
  override name = 'StorageError' as const;
  constructor(message: string, context: ErrorContext = {}) {
    super('STORAGE', `${where(context)}${message}`, context);
  }
}

/**
 * `clear()` was called while changes are still waiting to be sent. Also what a
 * `{ wait: 'server' }` rejects with when its change went before the server confirmed it:
 * `discarded` then says how (`'cleared'` by `clear({ discardPending: true })` in any tab,
 * `'evicted'` with a database the browser deleted) and `pending` is 1.
 */
export class PendingMutationsError extends HarborSyncError {
  override name = 'PendingMutationsError' as const;
  readonly pending: number;
  /** Set on the rejection of a `{ wait: 'server' }` write whose change is gone: how it went. */
  readonly discarded: 'cleared' | 'evicted' | undefined;
  constructor(pending: number, discarded?: { by: 'cleared' | 'evicted' } & ErrorContext) {
    super(
      'PENDING_MUTATIONS',
      discarded?.by === 'cleared'
        ? `${where(discarded)}the change was discarded by clear({ discardPending: true }) before the server confirmed it`
        : discarded?.by === 'evicted'
          ? `${where(discarded)}the change was lost with the local database, which the browser deleted (storage evicted or site data cleared) before the server confirmed it`
          : `clear() refused: ${pending} change(s) not yet sent; flush() first or pass { discardPending: true }`,
      discarded,
    );
    this.pending = pending;
    this.discarded = discarded?.by;
  }
}

/** The client was closed; nothing more can be done with it. */
export class ClosedError extends HarborSyncError {
  override name = 'ClosedError' as const;
  constructor(what: string) {
    super('CLOSED', `${what}: the client is closed`);
  }
}

export type HarborSyncErrorName =
  | 'HarborSyncError'
  | 'ValidationError'
  | 'SchemaError'
  | 'HttpError'
  | 'NetworkError'
  | 'ConflictError'
  | 'StorageError'
  | 'PendingMutationsError'
  | 'ClosedError';

/**
 * True when `error` is a harborsync error (of the given class name). The script-tag copy and the
 * npm copy of harborsync can live in one page: an error of the other copy is known by its `code`
 * and `name`, not by `instanceof`.
 */
export function isHarborSyncError(error: unknown, name?: HarborSyncErrorName): error is HarborSyncError {
  if (!(error instanceof Error)) return false;
  // One of harborsync's codes, not any string: many libraries' errors carry one (axios, Node).
  const isOurs = error instanceof HarborSyncError || /^(?:VALIDATION|SCHEMA|HTTP|NETWORK|CONFLICT|STORAGE|PENDING_MUTATIONS|CLOSED)$/.test(String((error as { code?: unknown }).code));
  if (!isOurs) return false;
  return name === undefined || name === 'HarborSyncError' || error.name === name;
}
