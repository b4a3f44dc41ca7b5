// The composition root: the one place that picks concrete implementations and wires them together.
// Command handlers ask it for what they need; nothing else in kx constructs a driver, engine or server.

import { dirname, join } from 'node:path';
import { FileAncestorStore } from '../../pkg/daemon/ancestor-store.ts';
import { TargetClaims } from '../../pkg/daemon/target-claims.ts';
import { ControlClient } from '../../pkg/status/control.ts';
import type { ConfigStore } from '../../pkg/config/store.ts';
import type { KxConfig, SpecConfig } from '../../pkg/config/types.ts';
import { Daemon } from '../../pkg/daemon/daemon.ts';
import { Foreground, prioritized } from '../../pkg/daemon/foreground.ts';
import { inWorkers } from '../../pkg/daemon/sync-worker.ts';
import { streamLogger, type Logger } from '../../pkg/daemon/logger.ts';
import { Spec } from '../../pkg/daemon/spec.ts';
import type { SpecPersistence } from '../../pkg/daemon/spec.ts';
import { syncOnce, type OnceProgress, type OnceResult } from '../../pkg/daemon/sync-once.ts';
import { SpecList } from '../../pkg/daemon/spec-list.ts';
import { PauseFile } from '../../pkg/daemon/pause-file.ts';
import { TunnelReport } from '../../pkg/daemon/tunnel-report.ts';
import type { SyncEngine } from '../../pkg/daemon/sync-engine.ts';
import type { TargetDrivers } from '../../pkg/daemon/target.ts';
import type { LoadedKubeconfig } from '../../pkg/kube/kubeconfig.ts';
import { StatusClient } from '../../pkg/status/client.ts';
import type { DaemonIdentity } from '../../pkg/status/identity.ts';
import { StatusServer } from '../../pkg/status/server.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { DockerDriver, type RadarEndpoints } from '../../pkg/docker/driver.ts';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { homeHash } from '../../pkg/docker/radar-container.ts';
import { radarImageName } from '../../pkg/docker/radar-image.ts';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import { closeInOrder, closeTogether } from '../../pkg/lifecycle/close.ts';
import { LazyDriver } from '../../pkg/daemon/lazy-driver.ts';
import { radarLinger, radarNetwork } from './docker-radar.ts';

export { configStore, type GlobalOptions } from './config.ts';

export function statusClient(port: number): StatusClient {
  return new StatusClient(port);
}

export function controlClient(port: number): ControlClient {
  return new ControlClient(port);
}

/** What kx synced into each container, kept beside the config file (KX_HOME/ancestors). */
export function ancestorDir(store: ConfigStore): string {
  return join(dirname(store.file), 'ancestors');
}

export interface RunningDaemon {
  readonly daemon: Daemon;
  readonly statusPort: number;
  /** Resolves when config changes are applied and every folder has nothing pending. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface DaemonOptions {
  readonly store: ConfigStore;
  /** The validated config to start with (the caller reports it if the file is bad). */
  readonly config: KxConfig;
  readonly log?: Logger;
  /** Overrides settings.statusPort (0: any free port). */
  readonly statusPort?: number;
  /** Where DOCKER_HOST, DOCKER_CONTEXT, KX_RADAR_IMAGE are read; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** --context: used by Kubernetes specs that name no context, instead of settings.context. */
  readonly context?: string | undefined;
  /** Who this daemon is, in every status reply. */
  readonly identity?: DaemonIdentity;
  /** radar's container for the Docker target, started before the daemon (docker-radar.ts); the daemon closes it. */
  readonly radar?: RadarEndpoints;
  /** performance.now() when kx watch's handler began (its modules loaded) and when its config was read. */
  readonly startup?: { readonly handler: number; readonly config: number };
}

/** The kubeconfig context kx acts on: --context, else kx.yaml's context, else the kubeconfig's current one. */
export function kubeContext(flag: string | undefined, config: KxConfig | null): string | undefined {
  return flag ?? config?.settings.context;
}

/** Load the kubeconfig as kubectl does, switched to that context (KxError INVALID_CONFIG listing the contexts). */
export async function kubeconfig(context: string | undefined): Promise<LoadedKubeconfig> {
  const { loadKubeconfig } = await import('../../pkg/kube/kubeconfig.ts');
  return loadKubeconfig(context !== undefined ? { context } : {});
}

/** One driver per target kind, each loaded when a spec of its kind starts. */
function targetDrivers(opts: {
  config: KxConfig;
  /** The config file: its directory is the kx home the Docker target's radar container is labelled with. */
  configFile: string;
  log: Logger;
  env?: NodeJS.ProcessEnv | undefined;
  context?: string | undefined;
  tunnels?: TunnelReport;
  /** radar's container, when kx watch started it already (closed with the drivers). */
  radar?: RadarEndpoints | undefined;
}): { drivers: TargetDrivers; close: () => Promise<void> } {
  const { settings } = opts.config;
  const { log } = opts;
  const env = opts.env ?? process.env;
  // A broken DOCKER_HOST or docker context then shows on the docker specs only.
  const docker = new LazyDriver(async () => new DockerDriver({
    engine: await resolveEngineAddress(env),
    dialer: new TransportDialer({ clientName: 'kx (docker)', compress: false }), // radar is on this machine: deflate never pays
    home: homeHash(dirname(opts.configFile)),
    image: radarImageName(env),
    log: (line) => log.info(line),
    ...radarNetwork(env),
    ...radarLinger(env, dirname(opts.configFile)),
    ...(opts.radar && { radar: opts.radar }),
  }));
  const context = kubeContext(opts.context, opts.config);
  const kubernetes = new LazyDriver(async () => {
    const [{ KubernetesDriver }, { TransportDialer }, { FirstUseTokens }] = await Promise.all([
      import('../../pkg/kube/driver.ts'),
      import('../../pkg/kube/transport-dialer.ts'),
      import('./first-use-tokens.ts'),
    ]);
    return new KubernetesDriver({
      dialer: new TransportDialer(),
      defaults: { ...(context && { context }), ...(settings.namespace && { namespace: settings.namespace }) },
      ...(settings.radarNamespace && { radarNamespace: settings.radarNamespace }),
      tokens: (cluster) => new FirstUseTokens(cluster.kc, cluster.context, log),
      onTunnelEvent: (node, e) => opts.tunnels?.event(node, e),
    });
  });
  // The docker driver closes radar's container when it was loaded; an early one is closed here in any case.
  const radar = opts.radar;
  return { drivers: { docker, kubernetes }, close: () => closeInOrder([() => closeTogether([docker, kubernetes]), async () => radar?.close()]) };
}

/** Persisted paths on Kubernetes (loaded with client-node when a spec first asks). */
export interface Persistence extends SpecPersistence {
  /** Undo what kx recorded for the spec on its namespace's workloads; returns the workloads changed. */
  undo(spec: SpecConfig): Promise<string[]>;
}

export function persistence(opts: { config: KxConfig; log: Logger; context?: string | undefined }): Persistence {
  const { settings } = opts.config;
  const context = kubeContext(opts.context, opts.config);
  let real: ReturnType<typeof load> | undefined;
  const load = async () => (await import('../../pkg/kube/persist/clusters.ts')).kubePersistence({
    defaults: { context, namespace: settings.namespace },
    log: (level, line) => (level === 'warn' ? opts.log.warn(line) : opts.log.info(line)),
  });
  const get = () => (real ??= load());
  return {
    apply: async (spec, report, signal) => (await get()).apply(spec, report, signal),
    undo: async (spec) => (await get()).undo(spec),
  };
}

/** `kx sync NAME --once`: one full sync of one spec into each container it selects now; no daemon. */
export async function syncSpecOnce(opts: { config: KxConfig; configFile: string; spec: SpecConfig; log: Logger; context?: string | undefined; onProgress?: OnceProgress }): Promise<OnceResult[]> {
  const hasher = await createHasher();
  const { drivers, close } = targetDrivers({ config: opts.config, configFile: opts.configFile, log: opts.log, context: opts.context });
  try {
    return await syncOnce({ spec: opts.spec, driver: drivers[opts.spec.target], engine: { syncTree, syncPaths }, hasher, ...(opts.onProgress && { onProgress: opts.onProgress }) });
  } finally {
    await close();
  }
}

/** Build and start the daemon of `kx watch`: drivers, engine, SpecList, config watcher and status server. */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const { settings } = opts.config;
  // The level is read once: settings changes take effect on restart (the daemon says so in the log).
  const log = opts.log ?? streamLogger(process.stderr, () => settings.logLevel);
  const hasher = await createHasher();
  // Full syncs run in worker threads (sync-worker.ts); saves go before full syncs run here (foreground.ts).
  const foreground = new Foreground();
  const workers = inWorkers({ syncTree, syncPaths }, { pace: foreground.flag });
  // Docker specs' full syncs run in the worker: its start-up then overlaps radar's instead of following it.
  if (opts.config.specs.some((s) => s.target === 'docker')) workers.start();
  const engine: SyncEngine = prioritized(workers, foreground);
  const tunnels = new TunnelReport(log, () => daemon.changed());
  const { drivers, close: closeDrivers } = targetDrivers({ config: opts.config, configFile: opts.store.file, log, env: opts.env, context: opts.context, tunnels, radar: opts.radar });
  const ancestorStore = new FileAncestorStore(ancestorDir(opts.store), { onError: (m) => log.warn(`ancestor record ${m}`), onWrite: () => workers.hold() });
  const claims = new TargetClaims();
  const pauses = PauseFile.load(join(dirname(opts.store.file), 'paused.json'), (m) => log.warn(m));
  const persisted = persistence({ config: opts.config, log, context: opts.context });
  const specs = new SpecList(
    (config) =>
      new Spec({
        config,
        driver: drivers[config.target],
        engine,
        hasher,
        log,
        onChange: () => daemon.changed(),
        ancestorStore,
        claims,
        startPaused: pauses.has(config.name),
        ...(settings.safety && { safety: settings.safety }),
        ...(config.target === 'kubernetes' && { persistence: persisted }),
      }),
  );
  const daemon = new Daemon({ loader: opts.store, specs, log, tunnels, pauses });
  const server = new StatusServer(daemon, opts.statusPort ?? settings.statusPort, { ...(opts.identity && { identity: opts.identity }), control: daemon });
  let statusPort: number;
  try {
    statusPort = await server.start();
    await ancestorStore.retain(opts.config.specs.map((s) => s.name)).catch((err: unknown) => log.warn(`${ancestorStore.dir}: ${(err as Error).message}`));
    await daemon.start(opts.config);
  } catch (err) {
    // What started before the failure goes with it: the worker thread (started ahead for Docker specs) would
    // otherwise keep the process alive, radar's container would outlive it.
    await closeInOrder([() => server.close(), () => workers.close(), closeDrivers]);
    throw err;
  }
  // The Node flags it runs with (the package's bin and the single executable add the young generation's size).
  const flags = process.execArgv.length > 0 ? `; node ${process.execArgv.join(' ')}` : '';
  log.info(`kx watch: ${opts.config.specs.length} spec(s) from ${opts.store.file}; status on 127.0.0.1:${statusPort}; ${startupTimes(opts.startup)}${flags}`);
  let closing: Promise<void> | null = null;
  return {
    daemon,
    statusPort,
    idle: () => daemon.idle(),
    close: () =>
      (closing ??= (async () => {
        // persist: session is undone when kx watch exits, after its sync stopped (the specs running at exit).
        const session = specs.names().map((n) => specs.get(n)?.config).filter((c): c is SpecConfig => c?.persist === 'session');
        await closeInOrder([() => server.close(), () => daemon.close(), () => workers.close(), closeDrivers, () => undoSession(persisted, session, log)]);
      })()),
  };
}

/** How long the process took to get here (performance.now() counts from the process's start). */
function startupTimes(startup: DaemonOptions['startup']): string {
  const now = performance.now();
  const ms = (n: number): string => `${Math.round(n)} ms`;
  if (!startup) return `up ${ms(now)} after the process started`;
  return `up ${ms(now)} after the process started (modules ${ms(startup.handler)}, config ${ms(startup.config - startup.handler)}, daemon ${ms(now - startup.config)})`;
}

async function undoSession(persisted: Persistence, specs: readonly SpecConfig[], log: Logger): Promise<void> {
  for (const spec of specs) {
    try {
      const undone = await persisted.undo(spec);
      if (undone.length > 0) log.info(`${spec.name}: persist (session) undone in ${undone.join(', ')}`);
    } catch (err) {
      log.warn(`${spec.name}: could not undo persist (session): ${(err as Error).message}; run kx reset ${spec.name}`);
    }
  }
}
