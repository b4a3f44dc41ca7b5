// Which running daemon a command that talks to one means: the home's (daemon.json), or the one on --port, and it
// must serve the config the command was given. One place, so get, flush, pause and resume agree.
import { resolve } from 'node:path';
import { configFilePath, kxHome } from '../../pkg/config/location.ts';
import { findDaemon, type FoundDaemon } from '../../pkg/status/find-daemon.ts';

export interface DaemonArgs {
  readonly config?: string | undefined;
  readonly home?: string | undefined;
  readonly port?: number | undefined;
}

/** The daemon these arguments name, as findDaemon reports it (running, busy, none, or serving another config). */
export function daemonOf(args: DaemonArgs, timeoutMs?: number): Promise<FoundDaemon> {
  const home = args.home !== undefined ? resolve(args.home) : kxHome(process.env);
  const file = configFilePath({ flag: args.config, env: args.home !== undefined ? { KX_HOME: home } : process.env });
  return findDaemon({ home, configFile: file, port: args.port, ...(timeoutMs !== undefined && { timeoutMs }) });
}

/** The status port of the running daemon these arguments name; throws its one-line reason when there is none. */
export async function runningDaemonPort(args: DaemonArgs, timeoutMs?: number): Promise<number> {
  const found = await daemonOf(args, timeoutMs);
  if (found.kind !== 'running') throw new Error(found.message);
  return found.port;
}
