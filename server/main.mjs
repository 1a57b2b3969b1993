#!/usr/bin/env node
// `npm run server`: the reference server from the environment.
//   PORT          port on 127.0.0.1 (default 8787)
//   DATABASE_URL  use this Postgres server instead of PGlite
//   DATA_DIR      PGlite folder (default server/.data/pglite)
//   SERVER_IDS=1  assign ids '1', '2', ... and ignore ids clients send
//   STATIC_DIR    serve this folder's files at '/'

import { fileURLToPath } from 'node:url';

import { startServer } from './index.mjs';

const env = process.env;
const port = env.PORT ? Number(env.PORT) : 8787;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${env.PORT}`);
  process.exit(2);
}

try {
  const server = await startServer({
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR || fileURLToPath(new URL('./.data/pglite', import.meta.url)),
    serverIds: env.SERVER_IDS === '1',
    staticDir: env.STATIC_DIR || undefined,
    log: true,
  });
  console.log(`harborsync reference server listening on ${server.apiUrl}`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
