import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// React 18 lives in the test/react18 workspace, beside the root's React 19 (npm cannot hold both
// at the top level: react-dom's peer dependency on react).
const react18 = (name: string) => fileURLToPath(new URL(`./test/react18/node_modules/${name}`, import.meta.url));
// Testing Library's ES build, transformed by Vitest so that the aliases below apply to it too.
const testingLibraryEsm = fileURLToPath(
  new URL('./node_modules/@testing-library/react/dist/@testing-library/react.esm.js', import.meta.url),
);

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts', 'test/**/*.test.tsx'],
          // Real-browser suites run with vitest.browser.config.ts; the Postgres suite with test:postgres.
          exclude: ['test/browser/**', 'test/server/postgres.test.ts', 'node_modules/**'],
        },
      },
      {
        // The React adapter's suite again, on React 18: `react` and `react-dom` resolve to the
        // workspace's copies for the adapter, the suite and Testing Library (inlined so that its
        // own imports are resolved here too). The suite checks which React it runs on.
        extends: true,
        resolve: {
          alias: { '@testing-library/react': testingLibraryEsm, react: react18('react'), 'react-dom': react18('react-dom') },
        },
        test: {
          name: 'react18',
          include: ['test/adapters/react.test.tsx'],
          env: { HARBORSYNC_REACT_MAJOR: '18' },
          server: { deps: { inline: [/@testing-library[\\/]react[\\/]/] } },
        },
      },
    ],
  },
});
