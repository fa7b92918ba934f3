import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real processes (gpg, the CLI); two cores, so keep files modest in parallel.
    maxWorkers: 2,
  },
});
