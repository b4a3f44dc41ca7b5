// A TargetDriver loaded on first use, so `kx watch` with only Docker specs never loads the Kubernetes client.

import type { SpecConfig } from '../config/types.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { Connection, PortDialer, Target, TargetDriver, TargetEvents, TargetSource } from './target.ts';

export type ClosableDriver = TargetDriver & { close?(): Promise<void> };

export class LazyDriver implements TargetDriver {
  readonly connector = {
    connect: async (spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection> => (await this.driver()).connector.connect(spec, target, signal),
  };
  readonly ports: PortDialer = {
    forward: async (spec, target, port, socket) => {
      const inner = (await this.driver()).ports;
      if (!inner) throw new KxError(ErrorCode.InvalidConfig, `${spec.name}: ${spec.target} targets cannot forward ports`);
      return inner.forward(spec, target, port, socket);
    },
  };
  private readonly load: () => Promise<ClosableDriver>;
  private loaded: Promise<ClosableDriver> | null = null;
  private closing: Promise<void> | null = null;

  constructor(load: () => Promise<ClosableDriver>) {
    this.load = load;
  }

  follow(spec: SpecConfig, events: TargetEvents): TargetSource {
    let inner: TargetSource | null = null;
    let started: Promise<void> | null = null;
    let closed = false;
    return {
      start: () =>
        (started ??= this.driver().then(async (driver) => {
          if (closed) return;
          inner = driver.follow(spec, events);
          await inner.start();
        })),
      close: async () => {
        closed = true;
        await started?.catch(() => {});
        await inner?.close();
      },
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const driver = await this.loaded?.catch(() => null);
      await driver?.close?.();
    })();
    return this.closing;
  }

  private driver(): Promise<ClosableDriver> {
    this.loaded ??= this.load();
    return this.loaded;
  }
}
