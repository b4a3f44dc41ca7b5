// `kx get`'s side of the status service.

import { credentials, status as grpcStatus, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { DaemonStatus, PortForwardStatus, ServiceStatus, SpecStatus, TunnelStatus } from '../daemon/status.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { statusService } from './definition.ts';
import type { StatusReply } from './identity.ts';

type Wire<T> = { [K in keyof T]?: T[K] extends readonly (infer U)[] ? Wire<U>[] : T[K] extends object ? Wire<T[K]> : T[K] };

export class StatusClient {
  private readonly port: number;
  private readonly client: Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(port: number) {
    this.port = port;
    const Ctor = statusService();
    this.client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as never;
  }

  /** KxError UNAVAILABLE when no daemon listens; DaemonBusyError when one listens but does not answer in time. */
  get(timeoutMs = 2000): Promise<StatusReply> {
    return new Promise((resolve, reject) => {
      this.client.get({}, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, reply: Wire<StatusReply>) => {
        if (err) reject(this.error(err, timeoutMs));
        else resolve(fromWire(reply));
      });
    });
  }

  /** The status once nothing is pending in any spec; waits as long as that takes. */
  flush(): Promise<StatusReply> {
    return new Promise((resolve, reject) => {
      this.client.flush({}, (err: ServiceError | null, reply: Wire<StatusReply>) => {
        if (err) reject(this.error(err, 0));
        else resolve(fromWire(reply));
      });
    });
  }

  /** Calls onStatus with every status the daemon sends until close() or the stream fails (onEnd gets the error). */
  watch(onStatus: (s: StatusReply) => void, onEnd: (err: KxError | null) => void): { close(): void } {
    const call = this.client.watch({}) as ClientReadableStream<Wire<DaemonStatus>>;
    let done = false;
    const finish = (err: KxError | null): void => {
      if (done) return;
      done = true;
      onEnd(err);
    };
    call.on('data', (reply: Wire<DaemonStatus>) => onStatus(fromWire(reply)));
    call.on('error', (err: ServiceError) => finish(err.code === grpcStatus.CANCELLED ? null : this.error(err, 0)));
    call.on('end', () => finish(null));
    return { close: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }

  private error(err: ServiceError, timeoutMs: number): KxError {
    if (err.code === grpcStatus.DEADLINE_EXCEEDED) {
      return new DaemonBusyError(`kx daemon on 127.0.0.1:${this.port} is busy: no answer within ${timeoutMs / 1000} s`, { cause: err });
    }
    if (err.code === grpcStatus.UNAVAILABLE) {
      return new KxError(ErrorCode.Unavailable, `no kx daemon on 127.0.0.1:${this.port} (start one with: kx watch)`, { cause: err });
    }
    return new KxError(ErrorCode.Internal, `kx daemon on 127.0.0.1:${this.port}: ${err.details || err.message}`, { cause: err });
  }
}

/** Something listens on the status port (the connection was taken) but gave no answer within the deadline. */
export class DaemonBusyError extends KxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Unavailable, message, options);
    this.name = 'DaemonBusyError';
  }
}

function fromWire(d: Wire<StatusReply>): StatusReply {
  return {
    pid: d.pid ?? 0,
    ...(d.home && { home: d.home }),
    ...(d.version && { version: d.version }),
    configFile: d.configFile ?? '',
    ...(d.configError !== undefined && d.configError !== null && { configError: d.configError }),
    specs: (d.specs ?? []).map(specFromWire),
    ...(d.tunnels != null && d.tunnels.length > 0 && { tunnels: d.tunnels.map(tunnelFromWire) }),
  };
}

function tunnelFromWire(t: Wire<TunnelStatus>): TunnelStatus {
  return {
    node: t.node ?? '',
    state: t.state ?? 'up',
    reconnects: t.reconnects ?? 0,
    ...(t.lastResumeMs != null && { lastResumeMs: t.lastResumeMs }),
    ...(t.lastError != null && { lastError: t.lastError }),
  };
}

function specFromWire(s: Wire<SpecStatus>): SpecStatus {
  return {
    name: s.name ?? '',
    kind: s.kind ?? 'kubernetes',
    local: s.local ?? '',
    remote: s.remote ?? '',
    ...(s.problem != null && { problem: s.problem }),
    services: (s.services ?? []).map(serviceFromWire),
    ...(s.ports != null && s.ports.length > 0 && { ports: s.ports.map(portFromWire) }),
    ...(s.persist != null && { persist: { state: s.persist.state ?? 'off', detail: s.persist.detail ?? '' } }),
  };
}

function portFromWire(p: Wire<PortForwardStatus>): PortForwardStatus {
  return {
    address: p.address ?? '127.0.0.1',
    local: p.local ?? 0,
    remote: p.remote ?? 0,
    state: p.state ?? 'waiting',
    ...(p.target != null && { target: p.target }),
    ...(p.message != null && { message: p.message }),
    connections: p.connections ?? 0,
  };
}

function serviceFromWire(s: Wire<ServiceStatus>): ServiceStatus {
  const p = s.progress;
  return {
    targetId: s.targetId ?? '',
    target: s.target ?? '',
    state: s.state ?? 'waiting',
    ...(p != null && {
      progress: { phase: p.phase ?? 'scan', files: p.files ?? 0, totalFiles: p.totalFiles ?? 0, bytes: p.bytes ?? 0, totalBytes: p.totalBytes ?? 0 },
    }),
    files: s.files ?? 0,
    ...(s.lastSyncAt != null && { lastSyncAt: s.lastSyncAt }),
    ...(s.latencyMs != null && { latencyMs: s.latencyMs }),
    reloads: s.reloads ?? 0,
    ...(s.lastError != null && { lastError: s.lastError }),
    ...(s.haltReason != null && { haltReason: s.haltReason }),
    ...(s.deletedFiles != null && { deletedFiles: s.deletedFiles }),
    ...(s.foreignFiles != null && { foreignFiles: s.foreignFiles }),
    ...(s.conflicts != null && { conflicts: s.conflicts }),
    ...(s.onSyncFailure != null && {
      onSyncFailure: {
        command: s.onSyncFailure.command ?? '',
        exitCode: s.onSyncFailure.exitCode ?? -1,
        ...(s.onSyncFailure.timedOut != null && { timedOut: s.onSyncFailure.timedOut }),
        ...(s.onSyncFailure.output != null && { output: s.onSyncFailure.output }),
        at: s.onSyncFailure.at ?? 0,
      },
    }),
    ...(s.conflictList != null && s.conflictList.length > 0 && {
      conflictList: s.conflictList.map((c) => ({
        path: c.path ?? '',
        reason: c.reason === 'changed' ? ('changed' as const) : ('foreign' as const),
        ...(c.localSize != null && { localSize: c.localSize }),
        ...(c.localMtimeMs != null && { localMtimeMs: c.localMtimeMs }),
        remoteSize: c.remoteSize ?? 0,
        remoteMtimeMs: c.remoteMtimeMs ?? 0,
      })),
    }),
  };
}
