// The whole kx daemon as the benchmark runs it: `kx watch` as its own process (chokidar, batching, sync, and radar
// — its container on the engine, or radar's pods through a port-forward — applying into the target containers),
// configured by a kx.yaml of its own (KX_HOME).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { statusClient } from '../../cmd/composition/root.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import { homeHash, RADAR_LABEL } from '../../pkg/docker/radar-container.ts';
import type { DaemonStatus, ServiceStatus } from '../../pkg/daemon/status.ts';
import type { StatusClient } from '../../pkg/status/client.ts';
import { freePort } from '../support/net.ts';
import { stopChild } from './rsync-module.ts';

const CHECKOUT_KX = join(import.meta.dirname, '..', '..', 'cmd', 'kx.ts');

/**
 * The kx entry the bench runs: KX_BENCH_KX (bench/run.ts sets it to the package it installed, what users run;
 * `checkout` for cmd/kx.ts), else this checkout's cmd/kx.ts (the scripts run on their own).
 */
export function kxEntry(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.KX_BENCH_KX;
  return named === undefined || named === '' || named === 'checkout' ? CHECKOUT_KX : named;
}

export interface KxWatchOptions {
  readonly local: string;
  readonly remote: string;
  /** Label selector of the container(s) or pods to sync into. */
  readonly selector: string;
  /** KX_HOME: kx.yaml and the daemon's log go here. */
  readonly home: string;
  /** The daemon's command before `watch --status-port N`; default: this repo's kx. For profiling variants. */
  readonly command?: readonly string[];
  /** Fields of the first spec besides the above (default: the Docker target, no reload). */
  readonly spec?: Partial<SpecConfig>;
  /** More variables for the daemon (KUBECONFIG for a cluster). */
  readonly env?: Readonly<Record<string, string>>;
  /** How many rows (synced containers) the daemon must show before it counts as started (default 1). */
  readonly rows?: number;
}

/**
 * When each step of `kx watch`'s start was reached, in seconds after its spawn (steps overlap: radar's container
 * starts while the daemon loads): the daemon up (modules, config, status server), radar ready (Docker target),
 * the initial sync's first op under way ("syncing"), every row watching.
 */
export interface StartupPhases {
  readonly upS: number;
  readonly radarS?: number;
  readonly syncingS: number;
  readonly doneS: number;
}

/** `daemon up 0.55 s, radar ready 1.30 s, syncing 1.35 s, done 3.40 s (the sync itself 2.05 s)`. */
export function formatPhases(p: StartupPhases): string {
  const at = (s: number): string => `${s.toFixed(2)} s`;
  const radar = p.radarS !== undefined ? `, radar ready ${at(p.radarS)}` : '';
  return `daemon up ${at(p.upS)}${radar}, syncing ${at(p.syncingS)}, done ${at(p.doneS)} (the sync itself ${at(p.doneS - p.syncingS)})`;
}

export class KxWatch {
  readonly #opts: KxWatchOptions;
  #proc: ChildProcess | undefined;
  #client: StatusClient | undefined;
  #closing: Promise<void> | null = null;
  #statusPort = 0;

  constructor(opts: KxWatchOptions) {
    this.#opts = opts;
  }

  get log(): string {
    return join(this.#opts.home, 'kx-watch.log');
  }

  /** The daemon's process id (0 before start). */
  get pid(): number {
    return this.#proc?.pid ?? 0;
  }

  /** The port of the daemon's status server (its sockets are not sync traffic). */
  get statusPort(): number {
    return this.#statusPort;
  }

  /** The label of the radar container the daemon starts on the engine for this kx home (Docker target). */
  get radarLabel(): string {
    return `${RADAR_LABEL}=${homeHash(this.#opts.home)}`;
  }

  /** Writes the first spec to kx.yaml (start() does it too when not done before). */
  async configure(): Promise<void> {
    const { local, remote, selector, home } = this.#opts;
    await new ConfigStore(join(home, 'kx.yaml')).addSpec({ name: 'bench', selector, local, remote, reload: 'none', ignore: [], target: 'docker', ...this.#opts.spec }, { replace: true });
  }

  /** Adds another spec to the daemon's kx.yaml (it follows the file). */
  addSpec(spec: SpecConfig): Promise<void> {
    return new ConfigStore(join(this.#opts.home, 'kx.yaml')).addSpec(spec);
  }

  /**
   * Starts `kx watch` and resolves once every row is 'watching' (watcher ready, initial sync landed), with
   * performance.now() of the moment the process was spawned.
   */
  async start(timeoutMs = 30_000): Promise<number> {
    const { home } = this.#opts;
    await this.configure();
    const port = await freePort();
    this.#statusPort = port;
    const log = createWriteStream(this.log);
    // KX_BENCH_CPU_PROF=DIR: every daemon the bench starts writes a V8 CPU profile there when it exits.
    const prof = process.env.KX_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KX_BENCH_CPU_PROF}`] : [];
    // KX_BENCH_NODE_FLAGS="--max-semi-space-size=16 …": Node flags for the daemon, to compare launch settings.
    const flags = (process.env.KX_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
    const [cmd, ...args] = this.#opts.command ?? [process.execPath, ...flags, ...prof, kxEntry()];
    const spawned = performance.now();
    const proc = spawn(cmd, [...args, 'watch', '--status-port', String(port)], { env: { ...process.env, KX_HOME: home, ...this.#opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    this.#proc = proc;
    this.#client = statusClient(port);
    await this.waitWatching(timeoutMs, this.#opts.rows ?? 1);
    return spawned;
  }

  /** Resolves once at least `rows` rows exist and all are 'watching' (asked every 50 ms: each ask costs the daemon a turn). */
  async waitWatching(timeoutMs: number, rows: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const proc = this.#proc;
      if (proc && proc.exitCode !== null) throw new Error(`kx watch exited ${proc.exitCode}; see ${this.log}`);
      const all = await this.rows().catch(() => {
        // A channel whose connection was refused (the daemon not listening yet) waits out grpc-js's reconnect
        // backoff (1 s, then longer) before it tries again, and every call meanwhile fails at once: a sync done
        // sooner would be seen only then. A fresh channel per failed ask connects on the next one.
        this.#client?.close();
        this.#client = statusClient(this.#statusPort);
        return [];
      });
      if (all.length >= rows && all.every((r) => r.state === 'watching')) return;
      if (Date.now() > deadline) {
        const states = all.map((r) => r.state).join(', ') || 'no rows';
        throw new Error(`kx watch not watching ${rows} row(s) within ${timeoutMs} ms (${states}); see ${this.log}`);
      }
      await sleep(50);
    }
  }

  /**
   * Epoch ms of the daemon's first "syncing <local> → <target>" log line: the moment it had its target and radar
   * and began the initial sync (what came before is process start, the config, radar's container or tunnel).
   */
  async syncStartedAt(): Promise<number | undefined> {
    const text = await readFile(this.log, 'utf8').catch(() => '');
    const m = /^(\S+)\s+info\s+[^\n]*?: syncing /m.exec(text);
    return m ? Date.parse(m[1]) : undefined;
  }

  /**
   * When each step of the start was reached (StartupPhases), read from the daemon's log: "kx watch: N spec(s)",
   * radar's container "serves the docker target" (absent for a cluster), the first "syncing" line; `spawned` and
   * `watchingAt` are performance.now() of the spawn (as start() returned it) and of every row watching.
   */
  async startupPhases(spawned: number, watchingAt: number): Promise<StartupPhases | undefined> {
    const text = await readFile(this.log, 'utf8').catch(() => '');
    const at = (re: RegExp): number | undefined => {
      const m = re.exec(text);
      return m ? Math.max(0, Date.parse(m[1]) - performance.timeOrigin - spawned) / 1000 : undefined;
    };
    const upS = at(/^(\S+)\s+info\s+kx watch: \d+ spec\(s\)/m);
    const radarS = at(/^(\S+)\s+info\s+radar: container \S+ \(.*?\) serves the docker target/m);
    const syncingS = at(/^(\S+)\s+info\s+[^\n]*?: syncing /m);
    if (upS === undefined || syncingS === undefined) return undefined;
    return { upS, ...(radarS !== undefined && { radarS }), syncingS, doneS: (watchingAt - spawned) / 1000 };
  }

  /** What `kx get` shows: every spec. */
  status(): Promise<DaemonStatus> {
    return this.#client!.get();
  }

  /** The daemon's own view of its first target: state, and latencyMs of the last batch (first event → landed). */
  async row(): Promise<ServiceStatus | undefined> {
    const status = await this.#client!.get();
    return status.specs[0]?.services[0];
  }

  /** Every row of every spec. */
  async rows(): Promise<ServiceStatus[]> {
    const status = await this.#client!.get();
    return status.specs.flatMap((s) => s.services);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#client?.close();
      await stopChild(this.#proc, 12_000);
    })();
    return this.#closing;
  }
}
