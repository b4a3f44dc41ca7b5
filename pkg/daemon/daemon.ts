// `kx watch` without its wiring: the SpecList kept in step with the config file, and the status it reports.

import { closeInOrder } from '../lifecycle/close.ts';
import { isDeepStrictEqual } from 'node:util';
import type { KxConfig } from '../config/types.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { ConfigWatcher, type ConfigLoader } from './config-watcher.ts';
import type { Logger } from './logger.ts';
import type { SpecList } from './spec-list.ts';
import type { DaemonStatus, StatusSource, TunnelStatus } from './status.ts';

export interface DaemonDeps {
  readonly loader: ConfigLoader;
  readonly specs: SpecList;
  readonly log: Logger;
  /** Tunnels to radar, when a Kubernetes driver reports them. */
  readonly tunnels?: { statuses(): TunnelStatus[] };
  /** Where pauses are remembered across restarts; without it a pause lasts as long as the daemon. */
  readonly pauses?: PauseRecord;
}

/** The daemon's view of the pause file: set() throws when the record cannot be written. */
export interface PauseRecord {
  readonly file: string;
  set(name: string, paused: boolean): void;
  retain(configured: readonly string[]): void;
}

export class Daemon implements StatusSource {
  private readonly deps: DaemonDeps;
  private readonly watcher: ConfigWatcher;
  private readonly listeners = new Set<() => void>();
  private config: KxConfig | null = null;
  private configError: string | undefined;
  private started: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.watcher = new ConfigWatcher(deps.loader, {
      changed: (config) => void this.use(config),
      invalid: (message) => {
        this.configError = message;
        deps.log.error(`${message} (keeping the last good config)`);
        this.changed();
      },
    });
  }

  /** Start every spec of this (already validated) config and follow edits of the file. */
  start(config: KxConfig): Promise<void> {
    this.started ??= (async () => {
      await this.watcher.start();
      await this.use(config);
    })();
    return this.started;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.started?.catch(() => {});
      await closeInOrder([() => this.watcher.close(), () => this.deps.specs.close(), () => this.listeners.clear()]);
    })();
    return this.closing;
  }

  status(): DaemonStatus {
    const tunnels = this.deps.tunnels?.statuses() ?? [];
    return {
      pid: process.pid,
      configFile: this.deps.loader.file,
      ...(this.configError !== undefined && { configError: this.configError }),
      specs: this.deps.specs.statuses(),
      ...(tunnels.length > 0 && { tunnels }),
    };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Notify listeners; passed as onChange to everything beneath. */
  changed(): void {
    for (const l of this.listeners) l();
  }

  /** kx pause NAME. KxError NOT_FOUND when no such spec runs. */
  pause(name: string): string {
    this.spec(name).pause();
    return `${name}: paused${this.remember(name, true)}`;
  }

  /** kx resume NAME [--confirm]: clears a pause and safety halts. KxError NOT_FOUND when no such spec runs. */
  resume(name: string, confirm: boolean): string {
    this.spec(name).resume(confirm);
    return `${name}: resumed${confirm ? '; held-back deletions and overwrites confirmed' : ''}${this.remember(name, false)}`;
  }

  /** Record a pause for the next start; '' when recorded, else the clause saying why it lasts only this run. */
  private remember(name: string, paused: boolean): string {
    try {
      this.deps.pauses?.set(name, paused);
      return '';
    } catch (err) {
      this.deps.log.warn(`${this.deps.pauses?.file ?? 'pause file'}: ${(err as Error).message}`);
      return ` (until kx watch restarts: ${(err as Error).message})`;
    }
  }

  private spec(name: string): NonNullable<ReturnType<SpecList['get']>> {
    const spec = this.deps.specs.get(name);
    if (!spec) throw new KxError(ErrorCode.NotFound, `no spec named '${name}' runs in this daemon (${this.deps.loader.file})`);
    return spec;
  }

  /** Resolves when pending config changes are applied and every folder is idle. */
  idle(): Promise<void> {
    return this.deps.specs.idle();
  }

  /** Resolves when every folder has rescanned its tree and nothing is pending (`kx flush`). */
  flush(): Promise<void> {
    return this.deps.specs.flush();
  }

  private async use(config: KxConfig): Promise<void> {
    const wasBad = this.configError !== undefined;
    this.configError = undefined;
    if (wasBad) this.deps.log.info(`${this.deps.loader.file}: valid again`);
    if (this.config && !isDeepStrictEqual(this.config.settings, config.settings)) {
      this.deps.log.warn(`${this.deps.loader.file}: global settings changed; they take effect when kx watch restarts`);
    }
    this.config = config;
    try {
      this.deps.pauses?.retain(config.specs.map((s) => s.name));
    } catch (err) {
      this.deps.log.warn(`${this.deps.pauses?.file ?? 'pause file'}: ${(err as Error).message}`);
    }
    await this.deps.specs.apply(config.specs).catch((err: unknown) => this.deps.log.error((err as Error).message));
    this.changed();
  }
}
