import ky, { type KyInstance } from 'ky';
import { HttpError, NetworkError, SchemaError, ValidationError } from '../errors.js';
import type { AuthOptions, Entity, PushedQuery, ResourceDefinition, Transport } from '../types.js';
import { normalizeId } from '../internal/ids.js';
import { toIfMatch } from './etag.js';
import { globalTimer, readText, RequestTimeoutError, startDeadline, type SetTimer } from './exchange.js';

export interface RestOptions {
  baseUrl: string;
  /** The client's namespace: with auth.namespaceOf, only its user's tokens are sent. */
  namespace?: string;
  fetch: typeof globalThis.fetch;
  auth: AuthOptions | undefined;
  /** How long one exchange may take, from sending the request to the last byte of its answer. */
  timeoutMs: number;
  /** An answer whose body passes this many bytes is refused, unread beyond them. Default 32 MiB. */
  maxAnswerBytes?: number | undefined;
  /** The deadline's timer; defaults to the global setTimeout (the network runs on real time). */
  setTimer?: SetTimer;
}

/**
 * The answer's body was empty where an entity was due, not JSON, or too big to read: for a write
 * the outcome is unknown, so the caller may retry.
 */
export class UnreadableAnswerError extends SchemaError {}

type Def = ResourceDefinition<object>;

interface SendInit {
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  write?: boolean;
}

/** The default query dialect: filter[field]=value, sort=a,-b, limit, cursor. */
export function defaultSearchParams(query: PushedQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const [field, value] of Object.entries(query.where)) {
    params.set(`filter[${field}]`, typeof value === 'number' ? decimal(value) : String(value));
  }
  if (query.orderBy.length) {
    params.set('sort', query.orderBy.map(([field, dir]) => (dir === 'desc' ? `-${sortable(field)}` : sortable(field))).join(','));
  }
  params.set('limit', String(query.limit));
  if (query.cursor !== null) params.set('cursor', query.cursor);
  return params;
}

/** In `sort=a,-b`, a ',' in a field would split it in two, and a leading '-' read as descending. */
function sortable(field: string): string {
  if (field.includes(',') || field.startsWith('-')) {
    throw new TypeError(`harborsync: the default on-demand dialect cannot sort by ${JSON.stringify(field)} (a ',' or a leading '-'): give the resource toSearchParams`);
  }
  return field;
}

/**
 * A number in plain decimal digits (DESIGN §2), as a server renders a stored one: String() writes
 * 1e21 and above, and below 1e-6, in exponent form, which equals no stored value as text.
 */
function decimal(value: number): string {
  const exponent = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(String(value));
  if (!exponent) return String(value);
  const [, sign, head, tail = '', power] = exponent;
  const digits = head! + tail;
  // Where the decimal point falls among the digits: past them for a large number, before them for a small one.
  const point = 1 + Number(power);
  return point > 0 ? `${sign}${digits}${'0'.repeat(point - digits.length)}` : `${sign}0.${'0'.repeat(-point)}${digits}`;
}

const DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/**
 * ky builds each request (URL, headers, JSON body, the signal) and hands it to this
 * `beforeRequest` hook, whose Response ky then returns as the fetch's. Fetching here rather than
 * through ky's own fetch skips the clone ky makes of every request for its retries (a tee of the
 * body, the biggest cost of a write in Chromium's profile) when the outbox owns retries anyway.
 */
function fetchDirect(fetch: typeof globalThis.fetch) {
  return async (request: Request): Promise<Response> => {
    const response = await fetch(request);
    // ky fetches again unless the hook answers with a Response of this realm (not a polyfill's).
    if (response instanceof Response) return response;
    const { status, statusText, headers } = response as Response;
    return new Response(status === 204 || status === 304 ? null : await (response as Response).text(), { status, statusText, headers });
  };
}

/** What no header value can hold: a line break or NUL, or a character past U+00FF (fetch refuses both). */
const UNSENDABLE_IN_HEADER = /[\0\r\n]|[^\0-\xff]/;

/**
 * A token an auth hook returned, as a header can carry it. fetch would refuse it on every request
 * with an error quoting the header, the token in it; refused here, naming only the hook, it
 * pauses replay as a token that throws does.
 */
function sendableToken(what: string, token: unknown): string | null | undefined {
  if (token === null || token === undefined) return token;
  if (typeof token !== 'string') throw new TypeError(`${what} returned a value of type ${typeof token}, not a string`);
  if (UNSENDABLE_IN_HEADER.test(token)) throw new TypeError(`${what} returned a token holding a character no Authorization header can carry`);
  return token;
}

/**
 * The app's auth hook (`what`) threw: no token to send, and nothing to retry until the app signs
 * in again. A 401 naming it, so replay pauses as unauthorized; what it threw is the cause.
 */
function signInAgain(what: string, cause: unknown, method: string, url: URL, context: { resource: string; id?: string }): HttpError {
  const detail = `${what} failed: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`;
  return new HttpError({ status: 401, method, url: url.pathname, detail }, { ...context, cause });
}

/**
 * DESIGN section 2 over ky. ky's own retry is off: the outbox owns retries. `Authorization`
 * goes only to baseUrl's origin; a 401 refreshes the token once (single flight) and retries once.
 */
export interface RestTransport extends Transport {
  /**
   * The session ended (a logout's clear()): the token refreshToken() handed over was its, and a
   * refresh under way answers for it. Neither is sent for whoever signs in next.
   */
  forgetToken(): void;
}

export function createRestTransport(options: RestOptions): RestTransport {
  // Paths resolve under baseUrl's path as a folder; a query in baseUrl (an API key, an
  // api-version) goes with every request instead of ending the path there, and its fragment never leaves the page.
  const base = new URL(options.baseUrl);
  const baseQuery = base.search;
  base.search = '';
  base.hash = '';
  base.pathname = base.pathname.replace(/\/+$/, '') + '/';
  const api: KyInstance = ky.create({
    retry: 0,
    timeout: false,
    throwHttpErrors: false,
    // The browser's HTTP cache would answer a pull from a copy a server's max-age or Last-Modified
    // let it keep: from before a delete confirmed since, or than what refresh() promises.
    cache: 'no-store',
    hooks: { beforeRequest: [fetchDirect(options.fetch)] },
  });
  const setTimer = options.setTimer ?? globalTimer;
  const maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  /**
   * The token refreshToken() returned in place of a refused one. An app may keep the new token
   * only where refreshToken() hands it over, its getToken() still returning the refused one:
   * while getToken() does, the replacement is sent; once it returns anything else, that wins.
   */
  let replacement: { refused: string | null | undefined; token: string } | null = null;
  /** One refresh shared by every request refused meanwhile (RELIABILITY #52). */
  let refreshing: Promise<void> | null = null;
  /** Refreshes begun so far: only the latest one's answer replaces the token. */
  let refreshes = 0;

  /** A version If-Match cannot carry fails the change, naming the field: sent again it would fail the same way. */
  const ifMatch = (def: Def, id: string, version: unknown): string => {
    try {
      return toIfMatch(version);
    } catch (error) {
      throw new ValidationError([{ field: def.version, message: (error as Error).message }], { resource: def.name, id });
    }
  };

  // "./": a first segment holding ":" ("/todos:v2") would otherwise be read as a URL scheme. The
  // path's segments, then the id: a resource at baseUrl itself (path "/") names an entity {base}/{id}.
  // `params` follow baseUrl's query, which goes as written: read into URLSearchParams and written
  // back, it would change ("%20" to "+", "~" to "%7E", "flag" to "flag="), and a signed one fail.
  const urlOf = (def: Def, id?: string, params?: URLSearchParams) => {
    const segments = [def.path.replace(/^\//, ''), ...(id === undefined ? [] : [encodeURIComponent(id)])].filter((segment) => segment !== '');
    const url = new URL('./' + segments.join('/'), base);
    url.search = [baseQuery.slice(1), params?.toString()].filter(Boolean).join('&');
    return url;
  };

  /** The token to send while getToken() returns `current`. */
  const effective = (current: string | null | undefined) =>
    replacement && current === replacement.refused ? replacement.token : current;

  /** Replaces what getToken() returns (`refused`), once for every request refused at once. */
  function refresh(refreshToken: () => unknown, refused: string | null | undefined): Promise<void> {
    const generation = ++refreshes;
    const running = Promise.resolve()
      .then(refreshToken)
      .then((given) => {
        const fresh = typeof given === 'string' ? sendableToken('refreshToken()', given) : given;
        // A refresh that timed out and answers after a later one began: the later one's token stays.
        if (generation !== refreshes) return;
        // Nothing returned: the app stored the new token where getToken() reads it.
        replacement = typeof fresh === 'string' && fresh !== '' ? { refused, token: fresh } : null;
      })
      .finally(() => {
        if (refreshing === running) refreshing = null;
      });
    return (refreshing = running);
  }

  /**
   * An auth hook's answer within timeoutMs. One that throws is a 401 naming it: nothing to retry
   * until the app signs in again. One that never answers would hold the request slot forever: it
   * is a NetworkError, retried with backoff, and a refresh it was is no longer waited for.
   */
  async function fromAuthHook<T>(what: string, answer: Promise<T>, method: string, url: URL, init: SendInit, context: { resource: string; id?: string }): Promise<T> {
    const deadline = startDeadline(options.timeoutMs, setTimer, init.signal, what);
    try {
      return await deadline.within(answer);
    } catch (cause) {
      if (deadline.byCaller) throw cause;
      if (!(cause instanceof RequestTimeoutError)) throw signInAgain(what, cause, method, url, context);
      if (refreshing === answer) refreshing = null;
      throw new NetworkError({ method, url: url.pathname, reason: `${what} did not answer within ${options.timeoutMs} ms` }, { ...context, cause });
    } finally {
      deadline.end();
    }
  }

  /**
   * A token of another namespace's user is never sent: this namespace's queue would be sent, and
   * its cache filled, as that user. A 401 without a request, so replay pauses until resume().
   */
  function ownedHere(token: string, method: string, url: URL, context: { resource: string; id?: string }): void {
    const namespaceOf = options.auth?.namespaceOf;
    if (!namespaceOf) return;
    let owner: unknown;
    try {
      owner = namespaceOf(token);
    } catch (cause) {
      throw signInAgain('auth.namespaceOf()', cause, method, url, context);
    }
    if (owner === options.namespace) return;
    const detail = `not sent: the token is for namespace ${JSON.stringify(owner)}, not this client's ${JSON.stringify(options.namespace)}; sign its user in again, or switch namespace`;
    throw new HttpError({ status: 401, method, url: url.pathname, detail }, context);
  }

  /** One request and its whole answer, within timeoutMs. */
  async function exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    init: SendInit,
    context: { resource: string; id?: string },
  ): Promise<{ response: Response; text: string | null }> {
    // Without the query: baseUrl's may hold an API key, and the message reaches events$ and failed$.
    const deadline = startDeadline(options.timeoutMs, setTimer, init.signal, `${method} ${url.origin}${url.pathname}`);
    try {
      let response: Response;
      try {
        response = await deadline.within(
          api(url, { method, headers, json: init.json, signal: deadline.signal, redirect: init.write ? 'error' : 'follow' }),
        );
      } catch (error) {
        if (deadline.byCaller) throw error;
        // Node's fetch says only "fetch failed"; its cause says why (a refused connection, a redirect a write refuses).
        const cause = error instanceof Error && error.cause instanceof Error && error.cause.message ? ` (${error.cause.message})` : '';
        const reason = error instanceof Error ? `${error.name}: ${error.message}${cause}` : String(error);
        throw new NetworkError({ method, url: url.pathname, reason }, { ...context, cause: error });
      }
      try {
        return { response, text: await readText(response, maxAnswerBytes, deadline.within) };
      } catch (error) {
        if (deadline.byCaller) throw error;
        // For a write the outcome is unknown either way: the outbox re-sends it with its key.
        const reason =
          error instanceof RequestTimeoutError
            ? `the answer (${response.status}) did not end within ${options.timeoutMs} ms`
            : 'the answer was cut off';
        throw new NetworkError({ method, url: url.pathname, reason }, { ...context, cause: error });
      }
    } finally {
      deadline.end();
    }
  }

  async function send(
    method: string,
    url: URL,
    init: SendInit,
    context: { resource: string; id?: string },
    retried = false,
  ): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    const { auth } = options;
    const getToken = () => (auth ? fromAuthHook('getToken()', Promise.resolve().then(() => auth.getToken()).then((token) => sendableToken('getToken()', token)), method, url, init, context) : undefined);
    const bearer = url.origin === base.origin ? effective(await getToken()) : undefined;
    if (bearer) {
      ownedHere(bearer, method, url, context);
      headers['Authorization'] = `Bearer ${bearer}`;
    }
    const { response, text } = await exchange(method, url, headers, init, context);
    if (response.status === 401 && !retried && auth?.refreshToken) {
      const current = await getToken();
      // Sent before a refresh that has ended since: retried with its token, no second refresh.
      if (refreshing || bearer === effective(current)) {
        await fromAuthHook('refreshToken()', refreshing ?? refresh(auth.refreshToken, current), method, url, init, context);
      }
      return send(method, url, init, context, true);
    }
    if (text === null) {
      const detail = `its body passed the limit of ${maxAnswerBytes} bytes (maxAnswerBytes) and was not read`;
      if (response.ok) throw new UnreadableAnswerError([{ field: '', message: `${method} ${url.pathname} answered ${response.status}, but ${detail}` }], context);
      throw new HttpError({ status: response.status, body: null, method, url: url.pathname, detail, retryAfter: response.headers.get('Retry-After'), serverDate: response.headers.get('Date') }, context);
    }
    // Only a delete's success carries no entity: any other empty 2xx (a captive portal's 200) is
    // no answer, so a write's outcome is unknown and it is re-sent with its key.
    if (text.length === 0 && response.ok && method !== 'DELETE') {
      throw new UnreadableAnswerError([{ field: '', message: `${method} ${url.pathname} answered ${response.status} with an empty body` }], context);
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
      const key = init.headers?.['Idempotency-Key'];
      throw new HttpError(
        {
          status: response.status,
          body,
          method,
          url: url.pathname,
          // A 422 to a keyed write is how a server refuses a key reused for another request
          // (DESIGN §2), and how many refuse a body they find invalid: the message names the key,
          // so the first can be traced, without claiming it.
          detail: response.status === 422 && key !== undefined ? `Idempotency-Key ${key}` : undefined,
          retryAfter: response.headers.get('Retry-After'),
          serverDate: response.headers.get('Date'),
        },
        context,
      );
    }
    return body;
  }

  return {
    forgetToken: () => {
      replacement = null;
      refreshing = null;
      refreshes++;
    },
    list: (def, signal) => send('GET', urlOf(def), { signal }, { resource: def.name }),
    delta: (def, cursor, signal) => send('GET', urlOf(def, undefined, new URLSearchParams({ since: cursor ?? '' })), { signal }, { resource: def.name }),
    one: (def, id, signal) => send('GET', urlOf(def, id), { signal }, { resource: def.name, id }),
    query: (def, query, signal) => send('GET', urlOf(def, undefined, (def.toSearchParams ?? defaultSearchParams)(query)), { signal }, { resource: def.name }),
    // Named by its key in the body (none when the server names it), as an update is by its URL.
    create: (def, body: Entity, key, signal) =>
      send('POST', urlOf(def), { json: body, headers: { 'Idempotency-Key': key }, write: true, signal }, { resource: def.name, id: normalizeId(body[def.key]) }),
    update: (def, id, patch, version, key, signal) =>
      send(
        'PATCH',
        urlOf(def, id),
        { json: patch, headers: { 'Idempotency-Key': key, 'If-Match': ifMatch(def, id, version) }, write: true, signal },
        { resource: def.name, id },
      ),
    remove: (def, id, version, key, signal) =>
      send(
        'DELETE',
        urlOf(def, id),
        { headers: { 'Idempotency-Key': key, 'If-Match': ifMatch(def, id, version) }, write: true, signal },
        { resource: def.name, id },
      ),
  };
}
