/**
 * The script-tag build: `window.HarborSync` with the whole core API and `z`, every dependency
 * inlined. zod is told to stay jitless, so under `script-src 'self'` it never probes
 * `new Function` (a probe a strict CSP reports as a violation even though zod catches it).
 * The setting affects only this build's private copy of zod. Which of zod's exports `z` carries
 * is decided in rollup.config.js.
 */
import * as z from 'zod';

z.config({ jitless: true });

export * from './index.js';
export { z };
