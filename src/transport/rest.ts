import ky, { type KyInstance } from 'ky';
import { HttpError, NetworkError, SchemaError, ValidationError } from '../errors.js';
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

/** No answer within the transport's timeoutMs. */
class RequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * ky builds each request (URL, headers, JSON body, the caller's signal) and hands it to this
 * `beforeRequest` hook, whose Response ky then returns as the fetch's. Fetching here rather than
 * through ky's own fetch skips the clone ky makes of every request for its retries (a tee of the
 * body, the biggest cost of a write in Chromium's profile) when the outbox owns retries anyway;
 * the timeout ky would have applied is applied here.
 */
function fetchWithin(fetch: typeof globalThis.fetch, timeoutMs: number) {
  return async (request: Request): Promise<Response> => {
    const controller = new AbortController();
    const abort = () => controller.abort(request.signal.reason);
    if (request.signal.aborted) abort();
    request.signal.addEventListener('abort', abort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await fetch(request, { signal: controller.signal });
      // ky fetches again unless the hook answers with a Response of this realm (not a polyfill's).
      if (response instanceof Response) return response;
      const { status, statusText, headers } = response as Response;
      return new Response(status === 204 || status === 304 ? null : await (response as Response).text(), { status, statusText, headers });
    } catch (error) {
      if (timedOut) throw new RequestTimeoutError(`Request timed out: ${request.method} ${request.url}`);
      throw error;
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', abort);
    }
  };
}

/**
 * DESIGN section 2 over ky. ky's own retry is off: the outbox owns retries. `Authorization`
 * goes only to baseUrl's origin; a 401 refreshes the token once (single flight) and retries once.
 */
export function createRestTransport(options: RestOptions): Transport {
  const base = new URL(options.baseUrl.replace(/\/+$/, '') + '/');
  const api: KyInstance = ky.create({
    retry: 0,
    timeout: false,
    throwHttpErrors: false,
    hooks: { beforeRequest: [fetchWithin(options.fetch, options.timeoutMs)] },
  });
  let refreshing: Promise<unknown> | null = null;

  /** A version If-Match cannot carry fails the change, naming the field: sent again it would fail the same way. */
  const ifMatch = (def: Def, id: string, version: unknown): string => {
    try {
      return toIfMatch(version);
    } catch (error) {
      throw new ValidationError([{ field: def.version, message: (error as Error).message }], { resource: def.name, id });
    }
  };

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
        { json: patch, headers: { 'Idempotency-Key': key, 'If-Match': ifMatch(def, id, version) }, write: true },
        { resource: def.name, id },
      ),
    remove: (def, id, version, key) =>
      send(
        'DELETE',
        urlOf(def, id),
        { headers: { 'Idempotency-Key': key, 'If-Match': ifMatch(def, id, version) }, write: true },
        { resource: def.name, id },
      ),
  };
}
