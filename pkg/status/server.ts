// The daemon's status service for `kx get`, on 127.0.0.1 only.

import { Server, ServerCredentials, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { DaemonStatus, StatusSource } from '../daemon/status.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { controlHandlers, controlService, type SpecControl } from './control.ts';
import { statusService } from './definition.ts';

/** Watch streams send at most this often: fast enough for progress bars, cheap under a storm of events. */
export const WATCH_INTERVAL_MS = 200;

export class StatusServer {
  private readonly source: StatusSource;
  private readonly port: number;
  private readonly control: SpecControl | undefined;
  private readonly server = new Server();
  private readonly streams = new Set<() => void>();
  private boundPort = 0;
  private started: Promise<number> | null = null;
  private closing: Promise<void> | null = null;

  constructor(source: StatusSource, port: number, control?: SpecControl) {
    this.source = source;
    this.port = port;
    this.control = control;
  }

  /** Listens; resolves with the port (useful when 0 was asked). KxError UNAVAILABLE when the port is taken. */
  start(): Promise<number> {
    this.started ??= new Promise<number>((resolve, reject) => {
      this.server.addService(statusService().service, {
        get: (_call: ServerUnaryCall<unknown, DaemonStatus>, done: sendUnaryData<DaemonStatus>) => done(null, this.source.status()),
        watch: (call: ServerWritableStream<unknown, DaemonStatus>) => this.watch(call),
      });
      if (this.control) this.server.addService(controlService().service, controlHandlers(this.control));
      this.server.bindAsync(`127.0.0.1:${this.port}`, ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          reject(new KxError(ErrorCode.Unavailable, `status port 127.0.0.1:${this.port}: ${err.message} (is another kx watch running? set statusPort in kx.yaml)`));
          return;
        }
        this.boundPort = port;
        resolve(port);
      });
    });
    return this.started;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.started?.catch(() => {});
      for (const end of [...this.streams]) end();
      await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    })();
    return this.closing;
  }

  private watch(call: ServerWritableStream<unknown, DaemonStatus>): void {
    let timer: NodeJS.Timeout | undefined;
    let lastSent = 0;
    const send = (): void => {
      timer = undefined;
      lastSent = Date.now();
      call.write(this.source.status());
    };
    const unsubscribe = this.source.onChange(() => {
      if (timer) return;
      timer = setTimeout(send, Math.max(0, WATCH_INTERVAL_MS - (Date.now() - lastSent)));
    });
    const end = (): void => {
      if (!this.streams.delete(end)) return;
      clearTimeout(timer);
      unsubscribe();
      call.end();
    };
    this.streams.add(end);
    call.on('cancelled', end);
    call.on('error', end);
    send();
  }
}
