// The whole kx daemon as the latency benchmark runs it: `kx watch` as its own process (chokidar, batching, sync,
// and radar's container on the engine applying into the target container), configured by a kx.yaml of its own (KX_HOME).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { statusClient } from '../../cmd/composition/root.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import type { DaemonStatus, ServiceStatus } from '../../pkg/daemon/status.ts';
import type { StatusClient } from '../../pkg/status/client.ts';
import { freePort } from '../support/net.ts';
import { stopChild } from './rsync-module.ts';

const KX = join(import.meta.dirname, '..', '..', 'cmd', 'kx.ts');

export interface KxWatchOptions {
  readonly local: string;
  readonly remote: string;
  /** Label selector of the docker container(s) to sync into. */
  readonly selector: string;
  /** KX_HOME: kx.yaml and the daemon's log go here. */
  readonly home: string;
  /** The daemon's command before `watch --status-port N`; default: this repo's kx. For profiling variants. */
  readonly command?: readonly string[];
}

export class KxWatch {
  readonly #opts: KxWatchOptions;
  #proc: ChildProcess | undefined;
  #client: StatusClient | undefined;
  #closing: Promise<void> | null = null;

  constructor(opts: KxWatchOptions) {
    this.#opts = opts;
  }

  get log(): string {
    return join(this.#opts.home, 'kx-watch.log');
  }

  /** Starts `kx watch` and resolves once its one row is 'watching' (watcher ready, initial sync landed). */
  async start(timeoutMs = 30_000): Promise<void> {
    const { local, remote, selector, home } = this.#opts;
    await new ConfigStore(join(home, 'kx.yaml')).addSpec({ name: 'bench', selector, local, remote, reload: 'none', ignore: [], target: 'docker' });
    const port = await freePort();
    const log = createWriteStream(this.log);
    const [cmd, ...args] = this.#opts.command ?? [process.execPath, KX];
    const proc = spawn(cmd, [...args, 'watch', '--status-port', String(port)], { env: { ...process.env, KX_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    this.#proc = proc;
    this.#client = statusClient(port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`kx watch exited ${proc.exitCode}; see ${this.log}`);
      const row = await this.row().catch(() => undefined);
      if (row?.state === 'watching') return;
      if (Date.now() > deadline) throw new Error(`kx watch not watching within ${timeoutMs} ms (${row?.state ?? 'no status'}); see ${this.log}`);
      await sleep(50);
    }
  }

  /** What `kx get` shows: every spec. */
  status(): Promise<DaemonStatus> {
    return this.#client!.get();
  }

  /** The daemon's own view of its one target: state, and latencyMs of the last batch (first event → landed). */
  async row(): Promise<ServiceStatus | undefined> {
    const status = await this.#client!.get();
    return status.specs[0]?.services[0];
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#client?.close();
      await stopChild(this.#proc, 12_000);
    })();
    return this.#closing;
  }
}
