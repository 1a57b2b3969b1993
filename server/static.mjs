// Serves the demo's files from one folder at '/'. Deliberately simple: no
// caching headers, no ranges; a folder answers with its index.html.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream';

import { HttpError } from './http-error.mjs';

/** @type {Record<string, string>} */
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * @param {import('./http.mjs').RequestContext} context
 * @param {string} root
 */
export async function serveStatic(context, root) {
  // Segments are already decoded; one that could climb out of the root never matches.
  if (context.segments.some((segment) => segment === '..' || segment.includes('/') || segment.includes('\\'))) {
    throw new HttpError(404, `not found: ${context.path}`);
  }
  let file = join(resolve(root), ...context.segments);
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = join(file, 'index.html');
    info = await stat(file).catch(() => undefined);
  }
  if (!info?.isFile()) throw new HttpError(404, `not found: ${context.path}`);
  context.res.writeHead(200, {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': info.size,
  });
  if (context.method === 'HEAD') {
    context.res.end();
    return;
  }
  // A file gone or unreadable since stat (a rebuild of the site) cuts the answer short; an
  // unhandled stream error would stop the whole server.
  pipeline(createReadStream(file), context.res, () => {});
}
