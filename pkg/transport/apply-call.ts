// One Apply call to radar. It carries one batch, or — when radar announces Capability.ApplyReuse — one batch after
// another: each batch's frames end with a flush, and radar answers each batch with one ack. A call kept open between
// batches (WarmApply) spares the next save what opening one costs on both sides: the HTTP/2 stream, the token check
// and slot at radar's gate, the open frame's read and the target's resolution, each a turn of radar's event loop
// that waits behind whatever bulk work radar is doing at that moment.
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { fromServiceError } from '../wire/status.ts';
import type * as M from '../../proto/messages.ts';
import type { FrameSink } from './frame-writer.ts';

export class ApplyCall implements FrameSink {
  readonly #call: grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>;
  readonly #where: string;
  /** When the call was opened (performance.now()). */
  readonly openedAt: number;
  readonly #acks: M.ApplyAck[] = [];
  #waiter: { resolve(ack: M.ApplyAck): void; reject(err: KxError): void } | undefined;
  #failure: KxError | undefined;
  /** radar ended the call (OK status). */
  #ended = false;
  /** kx half-closed it: no batch may follow. */
  #closing = false;
  #opened = false;
  /** Settles when radar ends the call: with OK, or with the status that failed it. */
  readonly #finished: Promise<void>;

  constructor(call: grpc.ClientDuplexStream<M.ApplyFrame, M.ApplyAck>, where: string, now = performance.now()) {
    this.#call = call;
    this.#where = where;
    this.openedAt = now;
    this.#finished = new Promise<void>((resolve, reject) => {
      call.on('data', (ack: M.ApplyAck) => {
        const w = this.#waiter;
        this.#waiter = undefined;
        if (w) w.resolve(ack);
        else this.#acks.push(ack);
      });
      call.on('error', (err) => {
        this.#failure = fromServiceError(err, `radar at ${where}`);
        this.#waiter?.reject(this.#failure);
        this.#waiter = undefined;
        reject(this.#failure);
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code !== grpc.status.OK) return; // the 'error' event carries it
        this.#ended = true;
        this.#waiter?.reject(this.#noAck());
        this.#waiter = undefined;
        resolve();
      });
    });
    this.#finished.catch(() => undefined); // observed through send(), nextAck() and finish()
  }

  /** The open frame was sent (by a batch's first frame, or by openAhead()). */
  get opened(): boolean {
    return this.#opened;
  }

  /** Another batch may go on this call: radar has not ended it, nothing failed, kx did not half-close it. */
  get usable(): boolean {
    return this.#failure === undefined && !this.#ended && !this.#closing;
  }

  /** The status that failed the call, once it did. */
  get failure(): KxError | undefined {
    return this.#failure;
  }

  /**
   * Writes one encoded frame (the call's serializer passes bytes through: proto/load.ts); waits while the transport
   * pushes back; throws once the call failed. A batch's first frame carries the open field unless the call had it.
   * `written`: called once gRPC is done with the frame's bytes.
   */
  async send(frame: Buffer, written?: () => void): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#opened = true;
    // The write's callback comes once gRPC has framed the bytes into a copy of its own and handed that on (or the
    // call failed): the frame's buffer is free then.
    const done = written === undefined ? undefined : (): void => written();
    if (!this.#call.write(frame as unknown as M.ApplyFrame, done)) await Promise.race([once(this.#call, 'drain'), this.#finished]);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- set by the call's error handler while the write waited
    if (this.#failure) throw this.#failure;
  }

  /** Sends the open frame alone, so radar resolves the target before the first batch comes. */
  openAhead(target: M.Target): void {
    if (this.#opened || !this.usable) return;
    this.#opened = true;
    this.#call.write({ open: { target }, items: [], flush: false });
  }

  /** radar's ack of the batch just sent. */
  nextAck(): Promise<M.ApplyAck> {
    const ack = this.#acks.shift();
    if (ack !== undefined) return Promise.resolve(ack);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.reject(this.#noAck());
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Acks received and not taken (more than one per batch is a protocol error). */
  get unclaimedAcks(): number {
    return this.#acks.length;
  }

  /** Half-closes the call and waits until radar ends it; resolves with the acks not taken. */
  async finish(): Promise<readonly M.ApplyAck[]> {
    this.end();
    await this.#finished;
    return this.#acks.splice(0);
  }

  /** Half-closes the call (no more batches); radar ends it once it has acked what it read. */
  end(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#failure === undefined && !this.#ended) this.#call.end();
  }

  cancel(): void {
    this.#closing = true;
    this.#call.cancel();
  }

  #noAck(): KxError {
    return new KxError(ErrorCode.Protocol, `radar at ${this.#where} ended an Apply call without acking its batch`);
  }
}

export interface WarmApplyOptions {
  /** Opens a new call (its open frame not yet sent). */
  readonly open: () => ApplyCall;
  readonly target: M.Target;
  /**
   * A kept call unused this long is replaced by a fresh one, opened ahead: radar ends a stream silent for 60 s
   * (LIMITS.streamIdleMs), and the next save should find one ready. Default 30 s.
   */
  readonly idleMs?: number;
  /** A call this old is not kept again (radar re-resolves its target for a fresh one). Default 5 min. */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/**
 * The one Apply call a client keeps open between batches: a batch takes it (or opens its own when another batch
 * holds it), and gives it back when its ack came without errors. A call given back with path errors, or too old,
 * is ended and a fresh one opened ahead in its place: radar resolves the target afresh for it, before the next save.
 */
export class WarmApply {
  readonly #opts: WarmApplyOptions;
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #kept: ApplyCall | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: WarmApplyOptions) {
    this.#opts = opts;
    this.#idleMs = opts.idleMs ?? 30_000;
    this.#maxAgeMs = opts.maxAgeMs ?? 5 * 60_000;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The kept call if it is still usable (it is then the caller's), else undefined. */
  take(): ApplyCall | undefined {
    const call = this.#kept;
    this.#kept = undefined;
    clearTimeout(this.#timer);
    if (call?.usable) return call;
    call?.cancel();
    return undefined;
  }

  /** A batch is done with `call`: keep it for the next one when `clean` (no path errors) and it is usable. */
  giveBack(call: ApplyCall, clean: boolean): void {
    const fresh = this.#now() - call.openedAt < this.#maxAgeMs;
    if (this.#closed || this.#kept !== undefined || !call.usable) {
      call.end();
      return;
    }
    if (clean && fresh) {
      this.#keep(call);
      return;
    }
    call.end();
    this.#openAhead();
  }

  /**
   * Ends the kept call, so the next batch opens its own: after a reload restarted the container, the kept call is
   * bound to the process that was (radar would fail its next batch), while a new call resolves the new one.
   */
  drop(): void {
    clearTimeout(this.#timer);
    this.#kept?.end();
    this.#kept = undefined;
  }

  /** Ends the kept call; nothing is kept afterwards. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#kept?.end();
    this.#kept = undefined;
  }

  /** Whether a call is kept (for tests). */
  get kept(): boolean {
    return this.#kept !== undefined;
  }

  #keep(call: ApplyCall): void {
    this.#kept = call;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#kept !== call) return;
      this.#kept = undefined;
      call.end();
      // Only a call that was healthy is replaced: one radar failed (it went away) waits for the next batch.
      if (call.usable || call.failure === undefined) this.#openAhead();
    }, this.#idleMs);
    this.#timer.unref?.();
  }

  #openAhead(): void {
    if (this.#closed || this.#kept !== undefined) return;
    const call = this.#opts.open();
    call.openAhead(this.#opts.target);
    this.#keep(call);
  }
}
