import { defineConfig } from 'vitest/config';

// The real-Chromium suites (`npm test` runs them after the Node suites). They load the built dist/,
// start their own servers and browsers, and run one file at a time to keep browsers from competing.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts', 'test/browser/**/*.test.mjs'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // A page's next state waits on IndexedDB and on a browser sharing a loaded CI machine with its
    // servers: vitest's default of one second was seen to pass a correct page by.
    expect: { poll: { timeout: 10_000 } },
  },
});
