#!/usr/bin/env node
// `npm run demo`: builds what is needed and serves the todo app three ways (legacy script tag,
// React, Vue) with the reference server on its embedded database.
//   PORT          port on 127.0.0.1 (default 8787)
//   DATA_DIR      PGlite folder (default server/.data/demo)
//   DATABASE_URL  use this Postgres server instead
//   LOG=1         print one line per request
// The work is done by demo/server.mjs, whose startDemo() the browser test calls in-process.

import { fileURLToPath } from 'node:url';

import { DEFAULT_DATA_DIR, DEFAULT_PORT, startDemo } from '../demo/server.mjs';
import { helpWhenAsked } from './usage.mjs';

export { startDemo };

async function main() {
  helpWhenAsked(import.meta.url);
  const env = process.env;
  const port = env.PORT ? Number(env.PORT) : DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be a port number from 0 to 65535, got ${JSON.stringify(env.PORT)}`);
    process.exit(2);
  }
  let demo;
  try {
    demo = await startDemo({
      port,
      dataDir: env.DATA_DIR || DEFAULT_DATA_DIR,
      databaseUrl: env.DATABASE_URL || undefined,
      log: env.LOG === '1',
      report: (line) => console.log(`· ${line}`),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/EADDRINUSE/.test(message)) {
      console.error(
        `Port ${port} is already in use (a demo already running?): stop that server, or run a second demo on its own port and data folder: PORT=8788 DATA_DIR=server/.data/demo2 npm run demo`,
      );
    } else {
      console.error(`The demo could not start: ${message}`);
    }
    process.exit(1);
  }
  const storage = env.DATABASE_URL ? 'Postgres (DATABASE_URL)' : `PGlite in ${env.DATA_DIR || 'server/.data/demo'}`;
  console.log(`
  harborsync demo  ${demo.url}

    ${demo.url}legacy/   plain <script> tags, no build step
    ${demo.url}react/    harborsync/react
    ${demo.url}vue/      harborsync/vue

  API ${demo.apiUrl} (token demo-alice), data: ${storage}
  Press Ctrl+C to stop.
`);
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the demo…`);
    try {
      await demo.close();
      process.exit(0);
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    }
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
