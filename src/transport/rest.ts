import ky, { type KyInstance } from 'ky';
import { HttpError, NetworkError, SchemaError } from '../errors.js';
import type { AuthOptions, Entity, PushedQuery, ResourceDefinition, Transport } from '../types.js';
import { toIfMatch } from './etag.js';

export interface RestOptions {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  auth: AuthOptions | undefined;
  timeoutMs: number;
}

/** The answer body was not JSON: for a write the outcome is unknown, so the caller may retry. */
export class UnreadableAnswerError extends SchemaError {}

type Def = ResourceDefinition<object>;

/** The default query dialect: filter[field]=value, sort=a,-b, limit, cursor. */
export function defaultSearchParams(query: PushedQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const [field, value] of Object.entries(query.where)) params.set(`filter[${field}]`, String(value));
  if (query.orderBy.length) {
    params.set('sort', query.orderBy.map(([field, dir]) => (dir === 'desc' ? `-${field}` : field)).join(','));
  }
  params.set('limit', String(query.limit));
  if (query.cursor !== null) params.set('cursor', query.cursor);
  return params;
}

/**
 * Hands `fetch` a request whose body was read into memory. ky keeps a clone of every request
 * (for its retries) and, after the call, awaits the cancel of that clone's body; the clone is a
 * tee of the body, so that cancel settles only once the request's own body was read. A fetch
 * that fails before reading it (connection refused, offline) or a stub that answers without
 * reading it would leave the call, and the replay loop behind it, pending forever.
 */
function readingBody(inner: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    if (input instanceof Request && input.body !== null && !input.bodyUsed) {
      const body = await input.arrayBuffer();
      return inner(new Request(input, { body }), init);
    }
    return inner(input, init);
  };
}

/**
 * DESIGN section 2 over ky. ky's own retry is off: the outbox owns retries. `Authorization`
 * goes only to baseUrl's origin; a 401 refreshes the token once (single flight) and retries once.
 */
export function createRestTransport(options: RestOptions): Transport {
  const base = new URL(options.baseUrl.replace(/\/+$/, '') + '/');
  const api: KyInstance = ky.create({
    fetch: readingBody(options.fetch),
    retry: 0,
    timeout: options.timeoutMs,
    throwHttpErrors: false,
  });
  let refreshing: Promise<unknown> | null = null;

  const urlOf = (def: Def, id?: string) =>
    new URL(def.path.replace(/^\//, '') + (id === undefined ? '' : `/${encodeURIComponent(id)}`), base);

  async function token(): Promise<string | null | undefined> {
    return options.auth ? await options.auth.getToken() : undefined;
  }

  async function send(
    method: string,
    url: URL,
    init: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal; write?: boolean },
    context: { resource: string; id?: string },
    retried = false,
  ): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    const bearer = url.origin === base.origin ? await token() : undefined;
    if (bearer) headers['Authorization'] = `Bearer ${bearer}`;
    let response: Response;
    try {
      response = await api(url, {
        method,
        headers,
        json: init.json,
        signal: init.signal,
        redirect: init.write ? 'error' : 'follow',
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new NetworkError({ method, url: url.pathname, reason }, { ...context, cause: error });
    }
    if (response.status === 401 && !retried && options.auth?.refreshToken) {
      const refresh = options.auth.refreshToken;
      refreshing ??= Promise.resolve()
        .then(refresh)
        .finally(() => (refreshing = null));
      await refreshing;
      return send(method, url, init, context, true);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new NetworkError({ method, url: url.pathname, reason: 'the answer was cut off' }, { ...context, cause: error });
    }
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new UnreadableAnswerError([{ field: '', message: `${method} ${url.pathname} answered ${response.status} with a body that is not JSON` }], context);
        }
        body = text;
      }
    }
    if (!response.ok) {
      throw new HttpError(
        {
          status: response.status,
          body,
          method,
          url: url.pathname,
          retryAfter: response.headers.get('Retry-After'),
          serverDate: response.headers.get('Date'),
        },
        context,
      );
    }
    return body;
  }

  return {
    list: (def) => send('GET', urlOf(def), {}, { resource: def.name }),
    delta: (def, cursor) => {
      const url = urlOf(def);
      url.searchParams.set('since', cursor ?? '');
      return send('GET', url, {}, { resource: def.name });
    },
    one: (def, id) => send('GET', urlOf(def, id), {}, { resource: def.name, id }),
    query: (def, query, signal) => {
      const url = urlOf(def);
      const params = (def.toSearchParams ?? defaultSearchParams)(query);
      params.forEach((value, key) => url.searchParams.append(key, value));
      return send('GET', url, signal ? { signal } : {}, { resource: def.name });
    },
    create: (def, body: Entity, key) =>
      send('POST', urlOf(def), { json: body, headers: { 'Idempotency-Key': key }, write: true }, { resource: def.name }),
    update: (def, id, patch, version, key) =>
      send(
        'PATCH',
        urlOf(def, id),
        { json: patch, headers: { 'Idempotency-Key': key, 'If-Match': toIfMatch(version) }, write: true },
        { resource: def.name, id },
      ),
    remove: (def, id, version, key) =>
      send(
        'DELETE',
        urlOf(def, id),
        { headers: { 'Idempotency-Key': key, 'If-Match': toIfMatch(version) }, write: true },
        { resource: def.name, id },
      ),
  };
}
