import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // radar's image for the Docker target, built once when the engine lacks one from these sources.
    globalSetup: ['test/setup/radar-image.ts'],
    // A kx watch the tests start on the Docker target takes its radar container with it when it stops, instead of
    // leaving it running for 10 minutes for a next kx watch that never comes; the tests of that behaviour
    // (test/local/radar-linger.test.ts, the installed package's in test/ship) set it themselves.
    env: { KX_RADAR_LINGER: '0' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Container and cluster tests share one Docker engine; two cores cannot run many at once usefully.
    maxWorkers: 2,
  },
});
