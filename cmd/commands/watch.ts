// kx watch: the daemon in the foreground until SIGINT/SIGTERM. Exit code: 0 stopped cleanly, 1 failed to start
// (or another kx watch runs for this home), 2 stopped but something did not close within the deadline.
// Start-up order: the config first (light modules), then radar's container when a spec targets Docker, then the
// daemon's modules (composition/root.ts, loaded here on purpose, not imported at the top) while radar starts.

import { kxHome } from '../../pkg/config/location.ts';
import { packageVersion } from '../../pkg/cluster/chart.ts';
import type { KxConfig } from '../../pkg/config/types.ts';
import { streamLogger, type Logger } from '../../pkg/daemon/logger.ts';
import type { RadarEndpoints } from '../../pkg/docker/driver.ts';
import { lockHome, type HomeLock } from '../../pkg/status/daemon-home.ts';
import { configStore } from '../composition/config.ts';
import type { RunningDaemon } from '../composition/root.ts';
import { fail } from './fail.ts';

const CLOSE_DEADLINE_MS = 10_000;

export async function watchCommand(args: { config?: string | undefined; context?: string | undefined; statusPort?: number | undefined }): Promise<void> {
  const handler = performance.now();
  // Heard from the start: a stop asked while kx watch starts (radar's container may already run) is a clean stop
  // once it has started, not the default death by the signal that leaves radar's container behind.
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const store = configStore(args);
  const home = kxHome(process.env);
  let lock: HomeLock | undefined;
  let radar: RadarEndpoints | undefined;
  let running: RunningDaemon;
  try {
    const port = args.statusPort;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error('--status-port: expected a port number (0-65535)');
    const locked = await lockHome(home);
    if (!locked.held) {
      const where = locked.state ? `status on 127.0.0.1:${locked.state.port}, config ${locked.state.configFile}` : 'still starting';
      throw new Error(`another kx watch runs for ${home} (pid ${locked.pid}, ${where}); stop it first, or use another KX_HOME`);
    }
    lock = locked.lock;
    const { config } = await store.load();
    const configRead = performance.now();
    // The level is read once: settings changes take effect on restart (the daemon says so in the log).
    const log = streamLogger(process.stderr, () => config.settings.logLevel);
    radar = await earlyRadar(config, store.file, log);
    const { kubeconfig, startDaemon } = await import('../composition/root.ts');
    // A --context given on purpose is checked now: a typo is one line at start, not a problem on every spec later.
    if (args.context !== undefined) await kubeconfig(args.context);
    const version = await packageVersion();
    running = await startDaemon({
      store,
      config,
      log,
      context: args.context,
      identity: { home, version },
      startup: { handler, config: configRead },
      ...(radar && { radar }),
      ...(args.statusPort !== undefined && { statusPort: args.statusPort }),
    });
    await lock.publish({ port: running.statusPort, configFile: store.file, version, startedAt: Date.now() }).catch(async (err: unknown) => {
      await running.close();
      throw err;
    });
  } catch (err) {
    // The daemon closes radar's container itself once started; before that, it is this handler's.
    await radar?.close();
    await lock?.release();
    fail(err);
    return;
  }
  process.stderr.write(`kx watch: ${await signal}, stopping\n`);
  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    deadline = setTimeout(() => resolve(true), CLOSE_DEADLINE_MS);
  });
  const stuck = await Promise.race([running.close().then(() => false), timedOut]);
  clearTimeout(deadline);
  await lock.release();
  if (stuck) {
    process.stderr.write(`kx watch: not everything stopped within ${CLOSE_DEADLINE_MS / 1000} s; exiting anyway\n`);
    process.exit(2);
  }
  process.stderr.write('kx watch: stopped\n');
  process.exitCode = 0;
}

/**
 * radar's container, starting now, when a spec targets the Docker engine. A problem (no engine, a bad
 * KX_RADAR_NETWORK) is left for the Docker specs to report when they connect, as without this head start.
 */
async function earlyRadar(config: KxConfig, configFile: string, log: Logger): Promise<RadarEndpoints | undefined> {
  if (!config.specs.some((s) => s.target === 'docker')) return undefined;
  const { startRadarContainer } = await import('../composition/docker-radar.ts');
  return startRadarContainer({ configFile, env: process.env, log: (line) => log.info(line) }).catch((err: unknown) => {
    log.debug(`radar: not started ahead of the daemon: ${(err as Error).message}`);
    return undefined;
  });
}
