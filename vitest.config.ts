import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// React 18 lives in the compat/react18 workspace, beside the root's React 19 (npm cannot hold both
// at the top level: react-dom's peer dependency on react).
const react18 = (name: string) => fileURLToPath(new URL(`./compat/react18/node_modules/${name}`, import.meta.url));
// Vue 3.4, the oldest harborsync/vue supports, lives in the compat/vue34 workspace likewise.
const vue34 = (name: string) => fileURLToPath(new URL(`./compat/vue34/node_modules/${name}`, import.meta.url));
// zod 3.25, the oldest the peer dependency allows, lives in the compat/zod3 workspace likewise.
const zod3 = fileURLToPath(new URL('./compat/zod3/node_modules/zod', import.meta.url));
// Testing Library's ES build, transformed by Vitest so that the aliases below apply to it too.
const testingLibraryEsm = fileURLToPath(
  new URL('./node_modules/@testing-library/react/dist/@testing-library/react.esm.js', import.meta.url),
);
// Vue Test Utils' ES build, for the same reason.
const vueTestUtilsEsm = fileURLToPath(new URL('./node_modules/@vue/test-utils/dist/vue-test-utils.esm-bundler.mjs', import.meta.url));

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
          exclude: ['test/browser/**', 'test/server/postgres.test.ts', '**/node_modules/**'],
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
      {
        // The Vue adapter's suite again, on Vue 3.4: `vue` and the `@vue/*` packages Vue Test
        // Utils imports resolve to the workspace's copies (`vue/server-renderer` with `vue`).
        extends: true,
        resolve: {
          alias: {
            '@vue/test-utils': vueTestUtilsEsm,
            vue: vue34('vue'),
            '@vue/compiler-dom': vue34('@vue/compiler-dom'),
            '@vue/server-renderer': vue34('@vue/server-renderer'),
          },
        },
        test: {
          name: 'vue34',
          include: ['test/adapters/vue.test.ts'],
          env: { HARBORSYNC_VUE_MINOR: '3.4' },
          server: { deps: { inline: [/@vue[\\/]test-utils[\\/]/] } },
        },
      },
      {
        // The suites about schemas again, on zod 3.25's own API (its root export): the client
        // reads schemas through Standard Schema only, so a zod 3 app must work the same.
        // schemas.test.ts checks which zod it runs on.
        extends: true,
        resolve: { alias: { zod: zod3 } },
        test: {
          name: 'zod3',
          include: ['test/integration/schemas.test.ts', 'test/integration/bad-input.test.ts'],
          env: { HARBORSYNC_ZOD_MAJOR: '3' },
        },
      },
    ],
  },
});
