// One configured spec running: follows its targets through the driver and keeps a Service per target.

import { closeInOrder } from '../lifecycle/close.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import { parsePortForward } from '../config/port-forwards.ts';
import { PortForwards } from './port-forwards.ts';
import type { SafetySettings, SpecConfig } from '../config/types.ts';
import type { Hasher } from '../sync/hash.ts';
import type { AncestorStore } from './ancestor-store.ts';
import type { TargetClaims } from './target-claims.ts';
import type { Logger } from './logger.ts';
import { Service } from './service.ts';
import { ServiceList } from './service-list.ts';
import type { SpecStatus } from './status.ts';
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
}

export class Spec {
  readonly config: SpecConfig;
  private readonly deps: SpecDeps;
  private readonly services = new ServiceList();
  private source: TargetSource | null = null;
  private ports: PortForwards | null = null;
  private problem: string | null = null;
  private paused: boolean;
  /** Adds and removes run in the order the source reported them. */
  private queue: Promise<void> = Promise.resolve();
  private started: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(deps: SpecDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.paused = deps.startPaused ?? false;
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      const { config, driver, log } = this.deps;
      log.info(`${config.name}: started (${config.target}, ${config.selector !== undefined ? `selector ${config.selector}` : `name ${config.pod}`})`);
      this.ports = this.portForwards();
      const ports = this.ports;
      this.source = driver.follow(config, {
        added: (target) => {
          this.problem = null;
          ports?.added(target);
          this.enqueue(() =>
            this.services.has(target.id)
              ? Promise.resolve()
              : this.services.add(
                  new Service({ ...this.deps, spec: config, target, connector: driver.connector, onChange: this.deps.onChange, isPaused: () => this.paused }),
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
      await ports?.start();
      try {
        await this.source.start();
      } catch (err) {
        // The source retries on its own; the spec stays, showing why nothing syncs yet.
        this.problem = (err as Error).message;
        log.warn(`${config.name}: ${this.problem}`);
      }
    })();
    return this.started;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.started?.catch(() => {});
      await closeInOrder([() => this.source?.close(), () => this.ports?.close(), () => this.queue, () => this.services.close()]);
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
