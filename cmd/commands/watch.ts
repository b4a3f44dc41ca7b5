// kx watch: the daemon in the foreground until SIGINT/SIGTERM. Exit code: 0 stopped cleanly, 1 failed to start
// (or another kx watch runs for this home), 2 stopped but something did not close within the deadline.

import { kxHome } from '../../pkg/config/location.ts';
import { packageVersion } from '../../pkg/cluster/chart.ts';
import { lockHome, type HomeLock } from '../../pkg/status/daemon-home.ts';
import { configStore, kubeconfig, startDaemon, type RunningDaemon } from '../composition/root.ts';
import { fail } from './fail.ts';

const CLOSE_DEADLINE_MS = 10_000;

export async function watchCommand(args: { config?: string | undefined; context?: string | undefined; statusPort?: number | undefined }): Promise<void> {
  const store = configStore(args);
  const home = kxHome(process.env);
  let lock: HomeLock | undefined;
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
    // A --context given on purpose is checked now: a typo is one line at start, not a problem on every spec later.
    if (args.context !== undefined) await kubeconfig(args.context);
    const version = await packageVersion();
    running = await startDaemon({
      store,
      config,
      context: args.context,
      identity: { home, version },
      ...(args.statusPort !== undefined && { statusPort: args.statusPort }),
    });
    await lock.publish({ port: running.statusPort, configFile: store.file, version, startedAt: Date.now() }).catch(async (err: unknown) => {
      await running.close();
      throw err;
    });
  } catch (err) {
    await lock?.release();
    fail(err);
    return;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`kx watch: ${signal}, stopping\n`);
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
