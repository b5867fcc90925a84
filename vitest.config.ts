import { defineConfig } from 'vitest/config';

// Unit tests run in parallel; integration tests (*.int.test.ts) share one redis-server started by
// test/global-setup.ts and run one file at a time, because they start real processes and servers.
// The short chaos soak (test/chaos/*.chaos.test.ts, its own Redis and worker processes) runs last,
// alone (groupOrder 1), so that the other tests do not load the machine under it.
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.int.test.ts', 'test/chaos/**/*.chaos.test.ts'], testTimeout: 20_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.chaos.test.ts'],
          testTimeout: 8 * 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
