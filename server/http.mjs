// HTTP plumbing: CORS headers on every answer (errors included, or a browser
// reports a 5xx as a network error), preflights for any path, request
// parsing, JSON answers, and dispatch to /api, /admin and static files.

import { maxHeaderSize } from 'node:http';

import { HttpError } from './http-error.mjs';
import { serveStatic } from './static.mjs';

const MAX_BODY_BYTES = 1024 * 1024;
// After a 413 the rest of the upload is read and dropped up to this much more: closing a
// connection with unread data resets it, and the client would see a network error (retryable)
// instead of the 413. An upload that goes on past it is cut off.
const MAX_DROPPED_BYTES = 8 * MAX_BODY_BYTES;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

// Postgres text and jsonb cannot hold U+0000: refused up front, or every retry of the same
// request would meet a 500 the client takes for passing trouble.
const NUL_REFUSED = 'U+0000 cannot be stored: not in ids, field names, values or query parameters';
// Nor can jsonb hold an unpaired UTF-16 surrogate (a string sliced inside an emoji), which JSON.stringify escapes.
const LONE_SURROGATE = /\p{Cs}/u;
const SURROGATE_REFUSED = 'an unpaired UTF-16 surrogate cannot be stored: not in ids, field names or values';

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Retry-After, Date, ETag, Idempotent-Replayed',
};

const PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'GET,POST,PATCH,DELETE,OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, Idempotency-Key, If-Match',
  'Access-Control-Max-Age': '600',
};

/**
 * @typedef {object} RequestContext
 * @property {import('node:http').IncomingMessage} req
 * @property {import('node:http').ServerResponse} res
 * @property {string} method
 * @property {string} path the raw path, without the query
 * @property {string[]} segments decoded path segments below the handler's root (/api, /admin)
 * @property {URLSearchParams} query
 * @property {string} body the raw request body ('' when none)
 * @property {AbortSignal} signal aborts when the server closes
 * @typedef {(context: RequestContext) => Promise<void>} Handler
 */

/**
 * @param {{ api: Handler, admin: Handler, staticDir?: string, log?: boolean, signal: AbortSignal }} options
 *   `signal` aborts when the server closes: errors of requests cut short by it are expected, not logged
 * @returns {{ listener: import('node:http').RequestListener, idle: () => Promise<void> }}
 *   `idle` settles once every request handled so far has finished (so the database can close after it)
 */
export function createListener({ api, admin, staticDir, log = false, signal }) {
  /** @type {Set<Promise<void>>} */
  const inflight = new Set();
  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   */
  const route = async (req, res) => {
    for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT_HEADERS).end();
      return;
    }
    const context = await readRequest(req, res, signal);
    const [root, ...below] = context.segments;
    if (root === 'api') return api({ ...context, segments: below });
    if (root === 'admin') {
      // The switch can break the server on purpose: never expose it beyond this
      // machine, nor to other sites open in a browser on it (a browser sends
      // Origin with every cross-origin write; tests and scripts send none).
      if (!isLoopback(req.socket.remoteAddress)) throw new HttpError(403, 'admin endpoints answer loopback clients only');
      // A site whose name its DNS rebinds to 127.0.0.1 is same-origin with itself: Origin alone cannot tell.
      if (!/^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i.test(req.headers.host ?? '')) {
        throw new HttpError(403, `admin endpoints answer loopback host names only, not ${req.headers.host}`);
      }
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host}`) {
        throw new HttpError(403, `admin endpoints refuse pages from ${origin}`);
      }
      return admin({ ...context, segments: below });
    }
    if (staticDir && (req.method === 'GET' || req.method === 'HEAD')) return serveStatic(context, staticDir);
    throw new HttpError(404, `no route for ${req.method} ${context.path}`);
  };

  /** @type {import('node:http').RequestListener} */
  const listener = (req, res) => {
    const started = performance.now();
    if (log) {
      res.on('close', () => {
        const outcome = res.writableFinished ? res.statusCode : 'dropped';
        console.log(`${req.method} ${req.url} ${outcome} ${Math.round(performance.now() - started)}ms`);
      });
    }
    const handled = route(req, res).catch((error) => {
      if (error instanceof HttpError) {
        send(res, error.status, { error: error.message }, error.headers);
        return;
      }
      if (!signal.aborted) console.error(error);
      send(res, 500, { error: 'internal server error' });
    });
    inflight.add(handled);
    void handled.finally(() => inflight.delete(handled));
  };
  return { listener, idle: async () => void (await Promise.allSettled([...inflight])) };
}

/**
 * Answers a request Node's parser refused (headers over its limit, not HTTP at all) as every other
 * error is answered, with CORS headers and a JSON body: Node's own bare answer has no CORS
 * header, so a browser reports a network error, which the SDK retries, instead of the status.
 * @param {Error & { code?: string }} error
 * @param {import('node:stream').Duplex} socket
 */
export function answerClientError(error, socket) {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', `request headers larger than ${maxHeaderSize} bytes`]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request took too long to arrive']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: message });
  const headers = { ...CORS_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${head}\r\n${body}`);
}

/**
 * Answers with a JSON body (none for 204 or an undefined body).
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {unknown} [body]
 * @param {Record<string, string>} [headers]
 */
export function send(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = status === 204 || body === undefined ? '' : JSON.stringify(body);
  // Content-Length also goes with an answer to HEAD, which Node sends without the body.
  const type = text ? { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) } : {};
  res.writeHead(status, { ...type, ...headers }).end(text);
}

/**
 * Destroys the connection without an answer: the client sees a network error.
 * @param {RequestContext} context
 */
export function drop(context) {
  context.req.socket.destroy();
}

/**
 * The request body as a JSON object; 400 when it is anything else.
 * @param {RequestContext} context
 * @returns {Record<string, any>}
 */
export function objectBody(context) {
  /** @type {unknown} */
  let body;
  /** Why the body cannot be stored as sent ('' when it can). */
  let refused = '';
  try {
    body = JSON.parse(context.body, (key, value) => {
      const texts = typeof value === 'string' ? [key, value] : [key];
      if (texts.some((text) => text.includes('\0'))) refused ||= NUL_REFUSED;
      if (texts.some((text) => LONE_SURROGATE.test(text))) refused ||= SURROGATE_REFUSED;
      // JSON.parse reads 1e400 as Infinity, which would be stored as null.
      if (typeof value === 'number' && !Number.isFinite(value)) refused ||= 'a number beyond the range of a double cannot be stored';
      return value;
    });
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON');
  }
  if (refused) throw new HttpError(400, refused);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object');
  }
  return body;
}

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {AbortSignal} signal
 * @returns {Promise<RequestContext>}
 */
async function readRequest(req, res, signal) {
  const target = req.url ?? '/';
  const queryStart = target.indexOf('?');
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  // Split the raw path before decoding, so an id holding "%2F" stays one segment
  // and "../" inside an id never reaches another route.
  let segments;
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the path');
  }
  const query = new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1));
  if ([...segments, ...[...query].flat()].some((text) => text.includes('\0'))) throw new HttpError(400, NUL_REFUSED);
  const bytes = await readBody(req);
  const encoding = req.headers['content-encoding'];
  // Compressed bytes read as text would be refused as "not UTF-8", which names the wrong problem.
  if (bytes.length > 0 && encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new HttpError(415, `Content-Encoding ${JSON.stringify(encoding)} is not supported: send the body uncompressed`);
  }
  /** @type {string} */
  let body;
  try {
    body = STRICT_UTF8.decode(bytes);
  } catch {
    // Decoding leniently would store U+FFFD in place of what the client meant (say, Latin-1 text).
    throw new HttpError(400, 'the request body is not valid UTF-8');
  }
  return { req, res, method: req.method ?? 'GET', path, segments, query, body, signal };
}

/**
 * The request body, refused with 413 as soon as it passes MAX_BODY_BYTES (or its Content-Length
 * says it will), without waiting for the rest of the upload.
 * @param {import('node:http').IncomingMessage} req
 * @returns {Promise<Buffer>}
 */
function readBody(req) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    const tooLarge = () => {
      req.off('data', collect);
      let dropped = 0;
      req.on('data', (/** @type {Buffer} */ chunk) => {
        dropped += chunk.length;
        if (dropped > MAX_DROPPED_BYTES) req.socket.destroy();
      });
      req.resume();
      reject(new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
    };
    /** @param {Buffer} chunk */
    const collect = (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge();
      else chunks.push(chunk);
    };
    // The client went away mid-body; nobody is left to answer. (After 'end' this settles nothing.)
    const cutShort = () => reject(new HttpError(400, 'the request body was cut short'));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', cutShort);
    req.once('close', cutShort);
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) tooLarge();
    else req.on('data', collect);
  });
}

/** @param {string | undefined} address */
function isLoopback(address) {
  return address !== undefined && /^(::ffff:)?127\.|^::1$/.test(address);
}
