// kx watch: the daemon in the foreground until SIGINT/SIGTERM. Exit code: 0 stopped cleanly, 1 failed to start,
// 2 stopped but something did not close within the deadline.

import { configStore, kubeconfig, startDaemon } from '../composition/root.ts';
import { fail } from './fail.ts';

const CLOSE_DEADLINE_MS = 10_000;

export async function watchCommand(args: { config?: string | undefined; context?: string | undefined; statusPort?: number | undefined }): Promise<void> {
  const store = configStore(args);
  let running;
  try {
    const port = args.statusPort;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error('--status-port: expected a port number (0-65535)');
    const { config } = await store.load();
    // A --context given on purpose is checked now: a typo is one line at start, not a problem on every spec later.
    if (args.context !== undefined) await kubeconfig(args.context);
    running = await startDaemon({ store, config, context: args.context, ...(args.statusPort !== undefined && { statusPort: args.statusPort }) });
  } catch (err) {
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
  if (stuck) {
    process.stderr.write(`kx watch: not everything stopped within ${CLOSE_DEADLINE_MS / 1000} s; exiting anyway\n`);
    process.exit(2);
  }
  process.stderr.write('kx watch: stopped\n');
  process.exitCode = 0;
}
