// kx pause / kx resume: the daemon's Control service (status.proto), next to the status service on 127.0.0.1.

import {
  credentials,
  status as grpcStatus,
  type Client,
  type ServerUnaryCall,
  type ServiceError,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { ErrorCode, KxError, isKxError } from '../sync/errors.ts';
import { controlService } from './definition.ts';

/** What the daemon does for the Control service; the Daemon implements it. */
export interface SpecControl {
  /** One line for the user; KxError NOT_FOUND for an unknown spec. */
  pause(name: string): string;
  resume(name: string, confirm: boolean): string;
}

interface Request {
  name: string;
  confirm: boolean;
}

export function controlHandlers(control: SpecControl): UntypedServiceImplementation {
  const handle = (act: (r: Request) => string) => (call: ServerUnaryCall<Request, { message: string }>, done: sendUnaryData<{ message: string }>) => {
    try {
      done(null, { message: act(call.request) });
    } catch (err) {
      const code = isKxError(err, ErrorCode.NotFound) ? grpcStatus.NOT_FOUND : grpcStatus.INTERNAL;
      done({ code, details: (err as Error).message, name: 'Error', message: (err as Error).message });
    }
  };
  return {
    pause: handle((r) => control.pause(r.name)),
    resume: handle((r) => control.resume(r.name, r.confirm)),
  };
}

export class ControlClient {
  private readonly port: number;
  private readonly client: Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(port: number) {
    this.port = port;
    const Ctor = controlService();
    this.client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as never;
  }

  pause(name: string, timeoutMs = 5000): Promise<string> {
    return this.call('pause', { name, confirm: false }, timeoutMs);
  }

  resume(name: string, confirm: boolean, timeoutMs = 5000): Promise<string> {
    return this.call('resume', { name, confirm }, timeoutMs);
  }

  close(): void {
    this.client.close();
  }

  private call(method: 'pause' | 'resume', req: Request, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.client[method](req, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, reply: { message?: string }) => {
        if (!err) resolve(reply.message ?? '');
        else if (err.code === grpcStatus.NOT_FOUND) reject(new KxError(ErrorCode.NotFound, err.details));
        else if (err.code === grpcStatus.UNAVAILABLE || err.code === grpcStatus.DEADLINE_EXCEEDED) {
          reject(new KxError(ErrorCode.Unavailable, `no kx daemon on 127.0.0.1:${this.port} (start one with: kx watch)`, { cause: err }));
        } else reject(new KxError(ErrorCode.Internal, `kx daemon on 127.0.0.1:${this.port}: ${err.details || err.message}`, { cause: err }));
      });
    });
  }
}
