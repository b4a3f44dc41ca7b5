import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // radar's image for the Docker target, built once when the engine lacks one from these sources.
    globalSetup: ['test/setup/radar-image.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Container and cluster tests share one Docker engine; two cores cannot run many at once usefully.
    maxWorkers: 2,
  },
});
