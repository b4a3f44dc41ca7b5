// The running specs keyed by name. add() replaces a spec of the same name; apply() brings the list in step with a
// config: added specs start, removed specs stop, changed specs restart, unchanged ones are left alone.

import { closeTogether } from '../lifecycle/close.ts';
import { isDeepStrictEqual } from 'node:util';
import type { SpecConfig } from '../config/types.ts';
import type { Spec } from './spec.ts';
import type { SpecStatus } from './status.ts';

export class SpecList {
  private readonly specs = new Map<string, Spec>();
  private readonly create: (config: SpecConfig) => Spec;
  /** Changes apply one at a time, in order, so a fast sequence of config edits cannot interleave. */
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(create: (config: SpecConfig) => Spec) {
    this.create = create;
  }

  add(config: SpecConfig): Promise<void> {
    return this.enqueue(() => this.replace(config));
  }

  remove(name: string): Promise<void> {
    return this.enqueue(() => this.stop(name));
  }

  apply(configs: readonly SpecConfig[]): Promise<void> {
    return this.enqueue(async () => {
      const wanted = new Map(configs.map((c) => [c.name, c]));
      await Promise.all([...this.specs.keys()].filter((name) => !wanted.has(name)).map((name) => this.stop(name)));
      await Promise.all(
        configs.filter((c) => !isDeepStrictEqual(this.specs.get(c.name)?.config, c)).map((c) => this.replace(c)),
      );
    });
  }

  get(name: string): Spec | undefined {
    return this.specs.get(name);
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  statuses(): SpecStatus[] {
    return [...this.specs.values()].map((s) => s.status());
  }

  /** Resolves when pending changes are applied and every spec is idle. */
  async idle(): Promise<void> {
    await this.queue;
    await Promise.all([...this.specs.values()].map((s) => s.idle()));
  }

  /** Like idle(), after every folder rescans its tree (`kx flush`: changes the watcher has not reported yet too). */
  async flush(): Promise<void> {
    await this.queue;
    await Promise.all([...this.specs.values()].map((s) => s.flush()));
  }

  close(): Promise<void> {
    this.closing ??= this.enqueue(async () => {
      const all = [...this.specs.values()];
      this.specs.clear();
      await closeTogether(all);
    });
    return this.closing;
  }

  private async replace(config: SpecConfig): Promise<void> {
    if (this.closing) return;
    await this.stop(config.name);
    const spec = this.create(config);
    this.specs.set(config.name, spec);
    await spec.start();
  }

  private async stop(name: string): Promise<void> {
    const spec = this.specs.get(name);
    if (!spec) return;
    this.specs.delete(name);
    await spec.close();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => {});
    return run;
  }
}
