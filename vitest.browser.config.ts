import { defineConfig } from 'vitest/config';

// The real-Chromium suites (`npm test` runs them after the Node suites). They load the built dist/,
// start their own servers and browsers, and run one file at a time to keep browsers from competing.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts', 'test/browser/**/*.test.mjs'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
