// What one caller can make radar hold: the size and element count of each request message (checked on the raw
// bytes, before protobufjs builds an object per element), and the limits the service enforces per call. A request
// beyond them is refused with LIMIT (gRPC RESOURCE_EXHAUSTED) naming the limit.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { MAX_REQUEST_BYTES } from '../../proto/version.ts';

/** The largest request each method needs, and how many elements its biggest repeated field may hold. */
export interface MethodLimit {
  readonly maxBytes: number;
  /** Top-level repeated field number → most elements allowed. */
  readonly maxRepeated?: Readonly<Record<number, { readonly name: string; readonly max: number }>>;
}

export const LIMITS = {
  // Path depth and length, per-path errors per batch: the receiver's own limits (pkg/receiver, pkg/runtime/resolve.ts).
  /** Entries of ManifestRequest.known; paths of GetSignatures and GetDigests. */
  knownEntries: 131_072,
  paths: 131_072,
  /** Items of one ApplyFrame (the client's frames hold a few thousand). */
  frameItems: 65_536,
  /**
   * Calls of each kind one token may have running at once, and the whole radar: a call waits for its slot before
   * radar reads its message, so what one caller makes radar buffer is at most its slots × the method's size cap.
   * Apply streams and reads draw on separate pools: a batch may ask for signatures while its stream is open.
   * Apply streams may stay open between batches (kx keeps one per folder, and every Docker folder of a daemon shares
   * one token), so their slots are many; the work they do is bounded by `applyBatches` below.
   */
  slots: {
    GetManifest: { perCaller: 2, total: 4 },
    GetSignatures: { perCaller: 4, total: 12 },
    GetDigests: { perCaller: 4, total: 12 },
    Apply: { perCaller: 16, total: 128 },
    Exec: { perCaller: 2, total: 8 },
  },
  /**
   * Apply batches one token may have radar apply at once, and the whole radar. A stream waits for one before it
   * reads past the first frame of its next batch; an idle stream holds none.
   */
  applyBatches: { perCaller: 4, total: 48 },
  /** A request message not complete this long after radar started reading it is refused (its slot freed). */
  requestReadMs: 30_000,
  /** Calls waiting for a slot of one kind; past it LIMIT at once. */
  slotQueue: 64,
  /** An Apply stream on which the client sends nothing this long is ended (UNAVAILABLE, idle). */
  streamIdleMs: 60_000,
  /** Exec: arguments per command, bytes per argument and of the workdir. */
  execArgs: 256,
  execArgBytes: 4096,
  /** Exec: run time when the client names none, and the most it may ask for. */
  execDefaultTimeoutMs: 10 * 60_000,
  execMaxTimeoutMs: 30 * 60_000,
  /** Exec: output bytes (stdout and stderr together) forwarded per command; the rest is dropped, the command runs on. */
  execOutputBytes: 1024 * 1024,
} as const;

const SMALL = 64 * 1024;

/** Per method of kx.v1.Radar; methods not listed get the server-wide MAX_REQUEST_BYTES. */
export const METHOD_LIMITS: Readonly<Record<string, MethodLimit>> = {
  Handshake: { maxBytes: SMALL },
  Describe: { maxBytes: SMALL },
  Reload: { maxBytes: SMALL },
  Exec: { maxBytes: SMALL, maxRepeated: { 2: { name: 'arguments', max: LIMITS.execArgs } } },
  GetManifest: { maxBytes: MAX_REQUEST_BYTES, maxRepeated: { 2: { name: 'rules', max: 4096 }, 3: { name: 'known', max: LIMITS.knownEntries } } },
  GetSignatures: { maxBytes: 8 * 1024 * 1024, maxRepeated: { 2: { name: 'paths', max: LIMITS.paths } } },
  GetDigests: { maxBytes: 8 * 1024 * 1024, maxRepeated: { 2: { name: 'paths', max: LIMITS.paths } } },
  // A frame is ~256 KiB of items plus at most one 1 MiB literal.
  Apply: { maxBytes: 4 * 1024 * 1024, maxRepeated: { 2: { name: 'items', max: LIMITS.frameItems } } },
};

/**
 * A request refused by its limit, handed on in place of the message (grpc-js would turn a thrown error into a bare
 * INTERNAL); the server's interceptor answers it with the error's status.
 */
export class RefusedRequest {
  readonly error: KxError;
  constructor(error: KxError) {
    this.error = error;
  }
}

/** The service definition with each method's request deserializer refusing what its limit does not allow. */
export function limitRequests(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, def] of Object.entries(service)) {
    const limit = METHOD_LIMITS[name];
    const decode = def.requestDeserialize;
    out[name] = !limit ? def : {
      ...def,
      requestDeserialize: (bytes: Buffer) => {
        try {
          checkRequest(name, limit, bytes);
        } catch (err) {
          return new RefusedRequest(err instanceof KxError ? err : new KxError(ErrorCode.Protocol, `${name}: malformed request`));
        }
        return decode(bytes) as unknown;
      },
    };
  }
  return out;
}

/**
 * Throws LIMIT when `bytes` is larger than the method allows or a repeated field has too many elements. Reads
 * only the top-level tags (no object is built), so 8 million empty entries cost a scan, not 500 MiB.
 */
export function checkRequest(method: string, limit: MethodLimit, bytes: Buffer): Buffer {
  if (bytes.byteLength > limit.maxBytes) {
    throw new KxError(ErrorCode.Limit, `${method}: request of ${bytes.byteLength} bytes is larger than the ${limit.maxBytes} radar accepts`);
  }
  const fields = limit.maxRepeated;
  if (fields === undefined) return bytes;
  const counts = new Map<number, number>();
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const max = fields[field];
    if (max !== undefined) {
      const n = (counts.get(field) ?? 0) + 1;
      if (n > max.max) throw new KxError(ErrorCode.Limit, `${method}: more than ${max.max} ${max.name} in one request`);
      counts.set(field, n);
    }
    r.skipType(tag & 7);
  }
  return bytes;
}

/**
 * Counted slots, per caller and in total, for the calls that cost the most memory. acquire() waits its turn (at
 * most `queue` callers wait; past that LIMIT at once) and resolves with the release function.
 */
export class Slots {
  readonly #perCaller: number;
  readonly #total: number;
  readonly #queue: number;
  readonly #held = new Map<string, number>();
  #inUse = 0;
  readonly #waiting: Array<{ caller: string; go: () => void }> = [];

  constructor(opts: { perCaller: number; total: number; queue: number }) {
    this.#perCaller = opts.perCaller;
    this.#total = opts.total;
    this.#queue = opts.queue;
  }

  acquire(caller: string, what: string, signal?: AbortSignal): Promise<() => void> {
    if (this.#free(caller)) return Promise.resolve(this.#take(caller));
    if (this.#waiting.length >= this.#queue) {
      return Promise.reject(new KxError(ErrorCode.Limit, `${what}: radar is busy with ${this.#inUse} such calls and ${this.#waiting.length} waiting; retry later`));
    }
    return new Promise((resolve, reject) => {
      const entry = {
        caller,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#take(caller));
        },
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new KxError(ErrorCode.Cancelled, 'call cancelled while it waited for a slot'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  #free(caller: string): boolean {
    return this.#inUse < this.#total && (this.#held.get(caller) ?? 0) < this.#perCaller;
  }

  #take(caller: string): () => void {
    this.#inUse++;
    this.#held.set(caller, (this.#held.get(caller) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse--;
      const n = (this.#held.get(caller) ?? 1) - 1;
      if (n === 0) this.#held.delete(caller);
      else this.#held.set(caller, n);
      const i = this.#waiting.findIndex((w) => this.#free(w.caller));
      if (i >= 0) this.#waiting.splice(i, 1)[0].go();
    };
  }
}
