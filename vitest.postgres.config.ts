import { defineConfig } from 'vitest/config';

// `npm run test:postgres`: the reference server on a real Postgres (HARBORSYNC_TEST_DATABASE_URL).
export default defineConfig({
  test: {
    include: ['test/server/postgres.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
