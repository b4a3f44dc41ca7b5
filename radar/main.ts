// radar's process: parse the command line (radar/options.ts), compose one of its two modes, serve until SIGTERM or
// SIGINT, then close everything and exit 0. `--help` lists every flag and environment variable.
//   node radar/main.ts --listen 127.0.0.1:7077                      node mode: the containers on this node
//   node radar/main.ts --root DIR --listen HOST:PORT --token-file F  one directory (or the token in KX_TOKEN)
//   node radar/main.ts --docker-target --listen HOST:PORT            one Docker engine's containers, one token
// Prints "radar listening on HOST:PORT" once it serves. Startup errors are one line on stderr.
import { readFile } from 'node:fs/promises';
import { enableCompileCache } from 'node:module';
import { resolve } from 'node:path';
import type { RadarCommand } from './options.ts';

// V8's compile cache (in the OS temp dir; a read-only one just turns it off) saves radar ~0.1 s of CPU per start.
// It must be on before radar's modules load, and static imports would load first: hence the dynamic ones.
enableCompileCache();
const [{ ErrorCode, KxError }, { createHasher }, { RadarServer }, { StaticRootResolver }, { HELP, parseRadarArgs }] = await Promise.all([
  import('../pkg/sync/errors.ts'),
  import('../pkg/sync/hash.ts'),
  import('./grpc/server.ts'),
  import('./grpc/static-resolver.ts'),
  import('./options.ts'),
]);

interface Running {
  readonly address: string;
  close(): Promise<void>;
}

async function main(argv: string[]): Promise<void> {
  const cmd = parseRadarArgs(argv, process.env);
  if (cmd.mode === 'help') {
    process.stdout.write(HELP);
    return;
  }
  // Listen for the signals before anything else: a supervisor may stop radar while it starts, or the moment it
  // prints that it listens. Either way radar closes what it opened and exits 0.
  let stop = (): void => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const running = cmd.mode === 'root' ? await serveRoot(cmd) : cmd.mode === 'docker' ? await serveDocker(cmd) : await serveNode(cmd);
  process.stdout.write(`radar listening on ${running.address}\n`);
  // A Docker target's radar that kx leaves running for its next `kx watch` ends itself once no one uses it.
  const idle = cmd.mode === 'docker' && cmd.idleExitSeconds > 0 ? await idleExit(running.address, cmd.idleExitSeconds, stop) : undefined;
  await stopped;
  idle?.close();
  await running.close();
  process.exit(0);
}

async function idleExit(address: string, seconds: number, stop: () => void): Promise<{ close(): void }> {
  const { IdleExit } = await import('./idle-exit.ts');
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const idle = new IdleExit({
    port,
    idleMs: seconds * 1000,
    onIdle: () => {
      process.stdout.write(`radar: no client for ${seconds} s, exiting\n`);
      stop();
    },
  });
  idle.start();
  return idle;
}

async function tokenOf(tokenFile: string | undefined): Promise<string> {
  const token = tokenFile !== undefined ? (await readFile(tokenFile, 'utf8')).trim() : (process.env.KX_TOKEN ?? '').trim();
  if (!token) throw new KxError(ErrorCode.InvalidConfig, 'no token: pass --token-file FILE or set KX_TOKEN');
  return token;
}

async function serveRoot(cmd: Extract<RadarCommand, { mode: 'root' }>): Promise<Running> {
  const token = await tokenOf(cmd.tokenFile);
  const server = new RadarServer({
    listen: cmd.listen,
    resolver: new StaticRootResolver(resolve(cmd.root), token),
    hasher: await createHasher(),
    fsync: cmd.fsync,
  });
  const { address } = await server.start();
  return { address, close: () => server.close() };
}

async function serveDocker(cmd: Extract<RadarCommand, { mode: 'docker' }>): Promise<Running> {
  const { mode: _, tokenFile, idleExitSeconds: __, ...opts } = cmd;
  const token = await tokenOf(tokenFile);
  // The token stays in this process only: children and later reads of the environment do not see it.
  delete process.env.KX_TOKEN;
  const { DockerTargetRadar } = await import('./docker-target.ts');
  const radar = new DockerTargetRadar({ ...opts, token, hasher: await createHasher(), closeGraceMs: 3000 });
  const { address } = await radar.start();
  return { address, close: () => radar.close() };
}

async function serveNode(cmd: Extract<RadarCommand, { mode: 'node' }>): Promise<Running> {
  const { mode: _, ...opts } = cmd;
  // Loaded only in node mode: it brings @kubernetes/client-node, whose load alone costs a directory-mode radar ~0.5 s.
  const { RadarNode } = await import('./node.ts');
  // Calls in flight get 3 s to finish: the DaemonSet's terminationGracePeriodSeconds is 5, and closing the reloader
  // and runtime clients must fit in what is left before the kubelet's SIGKILL.
  const node = new RadarNode({ ...opts, hasher: await createHasher(), closeGraceMs: 3000 });
  const { address } = await node.start();
  return { address, close: () => node.close() };
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`radar: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof KxError && err.code === ErrorCode.InvalidConfig ? 2 : 1);
});
