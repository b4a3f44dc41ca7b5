// The daemon's status service for `kx get`, on 127.0.0.1 only.

import { Server, ServerCredentials, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { DaemonStatus, StatusSource } from '../daemon/status.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { controlHandlers, type SpecControl } from './control.ts';
import { controlService, statusService } from './definition.ts';
import type { DaemonIdentity, StatusReply } from './identity.ts';

/** A source that can also bring every folder in sync and say when (for Flush). */
export interface FlushableSource extends StatusSource {
  flush?(): Promise<void>;
}

/** Watch streams send at most this often: fast enough for progress bars, cheap under a storm of events. */
export const WATCH_INTERVAL_MS = 200;

export class StatusServer {
  private readonly source: FlushableSource;
  private readonly port: number;
  private readonly identity: DaemonIdentity | undefined;
  private readonly control: SpecControl | undefined;
  private readonly server = new Server();
  private readonly streams = new Set<() => void>();
  private boundPort = 0;
  private started: Promise<number> | null = null;
  private closing: Promise<void> | null = null;

  constructor(source: FlushableSource, port: number, opts: { identity?: DaemonIdentity; control?: SpecControl } = {}) {
    this.source = source;
    this.port = port;
    this.identity = opts.identity;
    this.control = opts.control;
  }

  /** Listens; resolves with the port (useful when 0 was asked). KxError UNAVAILABLE when the port is taken. */
  start(): Promise<number> {
    this.started ??= new Promise<number>((resolve, reject) => {
      this.server.addService(statusService().service, {
        get: (_call: ServerUnaryCall<unknown, DaemonStatus>, done: sendUnaryData<StatusReply>) => done(null, this.reply()),
        watch: (call: ServerWritableStream<unknown, DaemonStatus>) => this.watch(call),
        flush: (_call: ServerUnaryCall<unknown, DaemonStatus>, done: sendUnaryData<StatusReply>) => this.flush(done),
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

  private reply(): StatusReply {
    return { ...this.source.status(), ...this.identity };
  }

  private flush(done: sendUnaryData<StatusReply>): void {
    if (!this.source.flush) {
      done({ code: grpcStatus.UNIMPLEMENTED, details: 'this daemon cannot flush' });
      return;
    }
    this.source.flush().then(
      () => done(null, this.reply()),
      (err: unknown) => done({ code: grpcStatus.INTERNAL, details: (err as Error).message }),
    );
  }

  private watch(call: ServerWritableStream<unknown, DaemonStatus>): void {
    let timer: NodeJS.Timeout | undefined;
    let lastSent = 0;
    const send = (): void => {
      timer = undefined;
      lastSent = Date.now();
      call.write(this.reply());
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
