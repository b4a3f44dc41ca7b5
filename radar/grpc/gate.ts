// What a call passes before radar reads a byte of its messages: the token in its metadata (grpc-js paused the
// stream when the call arrived, and the handler starts reading only once the metadata is handed on), a slot for
// the calls that cost the most memory, and the per-method request limits (limits.ts). Connections are watched too:
// few may wait unauthenticated at once, and one that makes no authenticated call soon is closed.
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { toServiceError } from '../../pkg/wire/status.ts';
import { METADATA_AUTHORIZATION } from '../../proto/version.ts';
import { LIMITS, METHOD_LIMITS, RefusedRequest, Slots } from './limits.ts';

export interface CallGateOptions {
  /** Throws UNAUTHENTICATED (one message for every refusal) unless the token may use radar at all. */
  authenticate(token: string | undefined, signal?: AbortSignal): Promise<void>;
  /** Connections without an authenticated call yet, at once; more are closed as they open. Default 16. */
  readonly maxPendingSessions?: number;
  /** A connection without an authenticated call after this long is closed. Default 10 s. */
  readonly authenticateWithinMs?: number;
  /** Connections at once. Default 256. */
  readonly maxSessions?: number;
}

export class CallGate {
  readonly #opts: CallGateOptions;
  readonly #slots = new Map(Object.entries(LIMITS.slots).map(([method, l]) => [method, new Slots({ ...l, queue: LIMITS.slotQueue })]));
  /** Open connections: whether one of their calls authenticated. */
  readonly #sessions = new Map<Http2Session, { authenticated: boolean; timer: NodeJS.Timeout | undefined }>();

  constructor(opts: CallGateOptions) {
    this.#opts = opts;
  }

  /** For grpc.Server's `interceptors` option. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const name = method.path.slice(method.path.lastIndexOf('/') + 1);
    let release: (() => void) | undefined;
    let reading: NodeJS.Timeout | undefined;
    const ac = new AbortController();
    const done = (): void => {
      clearTimeout(reading);
      release?.();
      release = undefined;
    };
    const out: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const token = bearer(metadata);
            this.#opts.authenticate(token, ac.signal)
              .then(async () => {
                this.#authenticated(call);
                const slots = this.#slots.get(name);
                if (slots) release = await slots.acquire(callerKey(token), name, ac.signal);
                if (ac.signal.aborted) return done();
                capMessage(call, METHOD_LIMITS[name]?.maxBytes);
                if (!method.requestStream) {
                  // A message dribbled in forever would hold its slot forever.
                  reading = setTimeout(() => out.sendStatus(toServiceError(new KxError(ErrorCode.Limit, `${name}: request not received within ${LIMITS.requestReadMs / 1000} s`))), LIMITS.requestReadMs);
                }
                nextMetadata(metadata); // the handler starts reading only now
              })
              .catch((err: unknown) => {
                done();
                if (!ac.signal.aborted) out.sendStatus(toServiceError(err));
              });
          },
          onReceiveMessage: (message, nextMessage) => {
            clearTimeout(reading);
            if (message instanceof RefusedRequest) out.sendStatus(toServiceError(message.error));
            else nextMessage(message);
          },
          onCancel: () => {
            ac.abort(new KxError(ErrorCode.Cancelled, 'call cancelled by the client'));
            done();
          },
        });
      },
      sendStatus: (status, next) => {
        done();
        next(status);
      },
    });
    return out;
  };

  /** Watch the connections of grpc-js's http2 servers (called once they exist, after bindAsync). */
  watch(h2: EventEmitter): void {
    const max = this.#opts.maxSessions ?? 256;
    const maxPending = this.#opts.maxPendingSessions ?? 16;
    const within = this.#opts.authenticateWithinMs ?? 10_000;
    h2.on('session', (session: Http2Session) => {
      let pending = 0;
      for (const s of this.#sessions.values()) if (!s.authenticated) pending++;
      if (this.#sessions.size >= max || pending >= maxPending) {
        session.destroy();
        return;
      }
      const timer = setTimeout(() => {
        if (!this.#sessions.get(session)?.authenticated) session.destroy();
      }, within);
      timer.unref();
      this.#sessions.set(session, { authenticated: false, timer });
      session.once('close', () => {
        clearTimeout(this.#sessions.get(session)?.timer);
        this.#sessions.delete(session);
      });
    });
  }

  #authenticated(call: grpc.ServerInterceptingCallInterface): void {
    // grpc-js's call keeps its http2 stream private; without it the connection is only closed by the idle timeout.
    const session = (call as unknown as { stream?: { session?: Http2Session } }).stream?.session;
    const s = session === undefined ? undefined : this.#sessions.get(session);
    if (s && !s.authenticated) {
      s.authenticated = true;
      clearTimeout(s.timer);
      s.timer = undefined;
    }
  }
}

/**
 * Lower the size grpc-js accepts for this call's messages to the method's cap, so a message announcing more is
 * refused at its 5-byte prefix rather than after radar buffered it. grpc-js has no per-method option: this sets
 * its call's private decoder limit, and does nothing if that shape ever changes (the deserializer's check in
 * limits.ts still refuses it, after buffering up to MAX_REQUEST_BYTES).
 */
function capMessage(call: grpc.ServerInterceptingCallInterface, maxBytes: number | undefined): void {
  if (maxBytes === undefined) return;
  const base = call as unknown as { maxReceiveMessageSize?: unknown; decoder?: { maxReadMessageLength?: unknown } };
  if (typeof base.maxReceiveMessageSize === 'number' && typeof base.decoder?.maxReadMessageLength === 'number') {
    base.maxReceiveMessageSize = maxBytes;
    base.decoder.maxReadMessageLength = maxBytes;
  }
}

/** The token of `authorization: Bearer <token>`, or undefined. */
export function bearer(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get(METADATA_AUTHORIZATION)[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(v.trim());
  return m?.[1];
}

/** Whom a call's slots count against: its token (hashed, never kept in clear). */
export function callerKey(token: string | undefined): string {
  return createHash('sha256').update(token ?? '').digest('base64');
}
