import { defineConfig } from 'vitest/config';

// Each test file gets its own process (forks): Dawn's native instance and its
// device are per-process, and a crash in one file must not take the others down.
// Two workers, because this machine has two cores and lavapipe uses them.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
