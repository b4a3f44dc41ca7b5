// One configured spec running: follows its targets through the driver and keeps a Service per target.

import { closeInOrder } from '../lifecycle/close.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import { parsePortForward } from '../config/port-forwards.ts';
import { PortForwards } from './port-forwards.ts';
import { persists } from '../config/types.ts';
import type { SafetySettings, SpecConfig } from '../config/types.ts';
import type { Hasher } from '../sync/hash.ts';
import type { AncestorStore } from './ancestor-store.ts';
import type { TargetClaims } from './target-claims.ts';
import type { Logger } from './logger.ts';
import { Service } from './service.ts';
import { ServiceList } from './service-list.ts';
import { SharedWatchers } from './local-watcher.ts';
import type { PersistStatus, SpecStatus } from './status.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { TargetDriver, TargetSource } from './target.ts';

export interface SpecDeps {
  readonly config: SpecConfig;
  readonly driver: TargetDriver;
  readonly engine: SyncEngine;
  readonly hasher: Hasher;
  readonly log: Logger;
  readonly onChange: () => void;
  readonly timing?: ConstructorParameters<typeof Service>[0]['timing'];
  readonly ancestorStore?: AncestorStore;
  readonly safety?: SafetySettings;
  readonly claims?: TargetClaims;
  /** The user paused this spec before kx watch (re)started: its containers are not synced until kx resume. */
  readonly startPaused?: boolean;
  /** Back-off of a port forward whose local port is in use (tests shorten it). */
  readonly portBindBackoff?: BackoffPolicy;
  /** Persisted paths, for the target kind that has them (Kubernetes); a spec with persist and none syncs without. */
  readonly persistence?: SpecPersistence;
}

/** Makes a spec's remote path a volume of its pods' workload (pkg/kube/persist implements it). */
export interface SpecPersistence {
  /** Resolves once the workloads are patched (or refused); `settled` once the seeds' outcomes are known. */
  apply(spec: SpecConfig, report: (s: PersistStatus) => void, signal: AbortSignal): Promise<{ settled: Promise<void> }>;
}

export class Spec {
  readonly config: SpecConfig;
  private readonly deps: SpecDeps;
  private readonly services = new ServiceList();
  /** Its containers' folders watch one local tree: one watcher for them all. */
  private readonly watchers = new SharedWatchers();
  private source: TargetSource | null = null;
  private ports: PortForwards | null = null;
  private problem: string | null = null;
  private paused: boolean;
  /** Adds and removes run in the order the source reported them. */
  private queue: Promise<void> = Promise.resolve();
  private started: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private persist: PersistStatus | undefined;
  private readonly persistAbort = new AbortController();
  /** Persisting, then following (specs with persist); the seeds' outcomes after that. */
  private persisting: Promise<void> = Promise.resolve();
  private seeds: Promise<void> = Promise.resolve();

  constructor(deps: SpecDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.paused = deps.startPaused ?? false;
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      const { config, log, persistence } = this.deps;
      log.info(`${config.name}: started (${config.target}, ${config.selector !== undefined ? `selector ${config.selector}` : `name ${config.pod}`})`);
      this.ports = this.portForwards();
      await this.ports?.start();
      if (persists(config) && persistence) {
        // In the background: finding the workload waits for a pod to exist, and the spec list must not wait for that.
        this.persisting = this.persistThenFollow(persistence);
        return;
      }
      await this.follow();
    })();
    return this.started;
  }

  /** The rollout the patch causes replaces the pods; following starts after it, so the new pods are what it finds. */
  private async persistThenFollow(persistence: SpecPersistence): Promise<void> {
    const { config, log } = this.deps;
    try {
      const { settled } = await persistence.apply(config, (s) => { this.persist = s; this.deps.onChange(); }, this.persistAbort.signal);
      this.seeds = settled.catch(() => {});
    } catch (err) {
      this.persist = { state: 'off', detail: (err as Error).message };
      log.warn(`${config.name}: not persisted: ${(err as Error).message}; syncing without it`);
      this.deps.onChange();
    }
    if (!this.persistAbort.signal.aborted) await this.follow();
  }

  private async follow(): Promise<void> {
    const { config, driver, log } = this.deps;
    const ports = this.ports;
    this.source = driver.follow(config, {
      added: (target) => {
        this.problem = null;
        ports?.added(target);
        this.enqueue(() =>
          this.services.has(target.id)
            ? Promise.resolve()
            : this.services.add(
                new Service({ ...this.deps, spec: config, target, connector: driver.connector, onChange: this.deps.onChange, isPaused: () => this.paused, watchers: this.watchers }),
              ),
        );
      },
      removed: (id) => {
        ports?.removed(id);
        this.enqueue(() => this.services.remove(id));
      },
      ready: (id, ready) => ports?.ready(id, ready),
      problem: (reason) => {
        this.problem = reason;
        if (reason) log.warn(`${config.name}: ${reason}`);
        this.deps.onChange();
      },
    });
    try {
      await this.source.start();
    } catch (err) {
      // The source retries on its own; the spec stays, showing why nothing syncs yet.
      this.problem = (err as Error).message;
      log.warn(`${config.name}: ${this.problem}`);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.persistAbort.abort();
      await this.started?.catch(() => {});
      await closeInOrder([() => this.persisting, () => this.seeds, () => this.source?.close(), () => this.ports?.close(), () => this.queue, () => this.services.close()]);
      this.deps.log.info(`${this.config.name}: stopped`);
      this.deps.onChange();
    })();
    return this.closing;
  }

  status(): SpecStatus {
    const { config } = this;
    const services = this.services.statuses();
    const problem = this.problem ?? (services.length === 0 ? `no running container matches ${config.selector !== undefined ? `selector ${config.selector}` : `name ${config.pod}`}` : null);
    return {
      name: config.name,
      kind: config.target,
      local: config.local,
      remote: config.remote,
      ...(problem !== null && { problem }),
      services,
      ...(this.ports && { ports: this.ports.status() }),
      ...(persists(config) && { persist: this.persist ?? { state: 'waiting' as const, detail: 'not started' } }),
    };
  }

  /** Stop syncing into every container of this spec (and into those it meets later) until resume(). */
  pause(): void {
    this.paused = true;
    for (const s of this.services.all()) s.pause();
    this.deps.onChange();
  }

  /** Clear a pause and every safety halt; confirm lets the next sync delete and overwrite what a halt held back. */
  resume(confirm: boolean): void {
    this.paused = false;
    for (const s of this.services.all()) s.resume(confirm);
    this.deps.onChange();
  }

  /** Resolves when all queued target changes are applied and every folder is idle. */
  async idle(): Promise<void> {
    await this.queue;
    await this.services.idle();
  }

  async flush(): Promise<void> {
    await this.queue;
    await this.services.flush();
  }

  /** The spec's port forwards, when it has any and its target kind can forward. */
  private portForwards(): PortForwards | null {
    const { config, driver, log } = this.deps;
    if (!config.ports || config.ports.length === 0) return null;
    if (!driver.ports) {
      this.problem = `${config.target} targets cannot forward ports`;
      return null;
    }
    return new PortForwards({
      spec: config,
      forwards: config.ports.map((p) => parsePortForward(p)),
      dialer: driver.ports,
      log,
      onChange: this.deps.onChange,
      ...(this.deps.portBindBackoff && { bindBackoff: this.deps.portBindBackoff }),
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue
      .then(step)
      .catch((err: unknown) => this.deps.log.error(`${this.config.name}: ${(err as Error).message}`))
      .finally(() => this.deps.onChange());
  }
}
