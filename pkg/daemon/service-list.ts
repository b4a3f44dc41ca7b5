// The Services of one spec, keyed by target id. Adding a target that is already there replaces its Service.

import { closeTogether } from '../lifecycle/close.ts';
import type { ServiceStatus } from './status.ts';
import type { Service } from './service.ts';

export class ServiceList {
  private readonly services = new Map<string, Service>();
  private closing: Promise<void> | null = null;

  /** Start a service for its target, closing the one it replaces. */
  async add(service: Service): Promise<void> {
    if (this.closing) {
      await service.close();
      return;
    }
    const old = this.services.get(service.target.id);
    this.services.set(service.target.id, service);
    await old?.close();
    await service.start();
  }

  async remove(targetId: string): Promise<void> {
    const service = this.services.get(targetId);
    if (!service) return;
    this.services.delete(targetId);
    await service.close();
  }

  all(): Service[] {
    return [...this.services.values()];
  }

  has(targetId: string): boolean {
    return this.services.has(targetId);
  }

  statuses(): ServiceStatus[] {
    return [...this.services.values()].map((s) => s.status()).sort((a, b) => a.target.localeCompare(b.target));
  }

  async idle(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.idle()));
  }

  async flush(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.flush()));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.services.values()];
      this.services.clear();
      await closeTogether(all);
    })();
    return this.closing;
  }
}
