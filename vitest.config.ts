import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  // graphql 16 ships CommonJS (main) and ESM (module) builds; Node loads the CommonJS one for every
  // dependency, so our own imports must get it too, or two realms of graphql meet in one schema.
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/node-version.ts', 'test/setup/log-guard.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    // Conditions a test polls for (a row written, an event delivered) on a machine the whole
    // suite keeps busy: seconds, not vitest's default one.
    expect: { poll: { timeout: 5000 } },
    hookTimeout: 60_000,
  },
});
