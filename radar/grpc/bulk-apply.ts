// A bulk Apply stream (a full sync's tens of thousands of files) applied on a thread of its own (bulk-apply-main.ts),
// with its own heap: radar's main thread, which also serves every other stream's saves, then only moves the stream's
// raw frames to that thread (their buffers transferred, not copied) and writes its acks to the call. Measured before
// this (README, the stall section): a save on another stream waited for the main thread, held by the bulk stream's
// apply slices, the decoding of its frames and the garbage collections they caused.
//
// The main thread keeps what guards the call: the pinned root (the thread opens everything through its anchor, valid
// in every thread of the process, and is ended before the root is released), the batch slots, and before each batch
// the check that the container is still the process resolved and the token still grants it. The thread applies with
// the same LocalTree, so confinement, the `expect` preconditions and atomic writes are those of any stream; its
// errors come back as codes, turned into gRPC status at the service's edge like any other.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { startThreadPool } from '../../pkg/lifecycle/thread-priority.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { isErrorCode } from '../../pkg/wire/status.ts';
import type { ApplyAck } from '../../proto/messages.ts';

/** The thread's name (in /proc/<pid>/task/<tid>/comm, and what tests look for). */
export const BULK_THREAD_NAME = 'kx-bulk-apply';
/** Frames sent to the thread and not yet taken by it: enough to keep it busy, few enough to bound what is held. */
export const FRAME_WINDOW = 4;

/** What the thread is started with. */
export interface BulkJob {
  readonly kind: typeof BULK_THREAD_NAME;
  readonly root: string;
  readonly anchor?: string;
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly fsync: boolean;
  readonly keepSetIdBits: boolean;
  /** Files the stream's manifest said are coming (starts the thread's placement thread at once when many). */
  readonly expectFiles: number;
  /** The stream's open frame was read on the main thread and its items taken there; false: it is the first frame sent. */
  readonly opened: boolean;
}

export type ToWorker =
  | { readonly t: 'frame'; readonly buf: ArrayBuffer; readonly offset: number; readonly length: number }
  | { readonly t: 'eof' }
  | { readonly t: 'broken'; readonly code: string; readonly message: string }
  | { readonly t: 'begun'; readonly id: number; readonly code?: string; readonly message?: string }
  | { readonly t: 'cancel'; readonly message: string };

export type ToMain =
  | { readonly t: 'credit' }
  | { readonly t: 'begin'; readonly id: number }
  | { readonly t: 'ack'; readonly ack: ApplyAck }
  | { readonly t: 'done' }
  | { readonly t: 'failed'; readonly code: string; readonly message: string };

/** What the stream's thread needs of the call it serves. */
export interface BulkCall {
  /** A batch begins: take its slot and check the target; resolves with the slot's release. Throws to refuse the batch. */
  begin(signal: AbortSignal): Promise<() => void>;
  /** A batch was applied: write its ack to the call. */
  ack(ack: ApplyAck): void;
}

/**
 * One bulk stream's thread. run() hands it the rest of the stream (raw frames) and settles when the thread has
 * applied it all (or failed, or the call was cancelled); close() ends the thread and resolves once it has stopped,
 * so the pinned root it works under may then be released. close() is idempotent.
 */
export class BulkApply {
  readonly #job: BulkJob;
  #worker: Worker | undefined;
  #exited: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(job: Omit<BulkJob, 'kind'>) {
    this.#job = { ...job, kind: BULK_THREAD_NAME };
  }

  /** Starts the thread (it boots while the caller goes on). Idempotent. */
  start(): void {
    if (this.#worker !== undefined || this.#closed !== undefined) return;
    // libuv's thread pool serves saves too: started here, at this thread's priority, not by the thread (thread-priority.ts).
    startThreadPool();
    const worker = new Worker(bulkWorkerUrl(), { name: BULK_THREAD_NAME, workerData: this.#job });
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /**
   * Apply the stream's remaining frames on the thread: `first` (when given), then the rest of `frames`. Rejects with
   * the thread's error, or the call's.
   */
  run(first: Buffer | undefined, frames: AsyncIterator<Buffer>, call: BulkCall, signal: AbortSignal): Promise<void> {
    this.start();
    const worker = this.#worker;
    if (worker === undefined) return Promise.reject(new KxError(ErrorCode.Cancelled, 'bulk apply: closed'));
    return new Promise<void>((resolve, reject) => {
      let credit = FRAME_WINDOW;
      let finished = false;
      let release: (() => void) | undefined;
      let wake: (() => void) | undefined;
      const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => {
        if (!finished) worker.postMessage(m, transfer);
      };
      const finish = (err?: Error): void => {
        if (finished) return;
        finished = true;
        release?.();
        release = undefined;
        signal.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        wake?.();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = (): void => {
        const reason = signal.reason instanceof Error ? signal.reason : new KxError(ErrorCode.Cancelled, 'call cancelled');
        post({ t: 'cancel', message: reason.message });
        finish(reason);
      };
      const onError = (err: Error): void => finish(new KxError(ErrorCode.Internal, `bulk apply thread failed: ${err.message}`, { cause: err }));
      const onExit = (): void => finish(new KxError(ErrorCode.Internal, 'bulk apply thread ended before the stream'));
      const onMessage = (m: ToMain): void => {
        switch (m.t) {
          case 'credit':
            credit++;
            wake?.();
            break;
          case 'begin':
            release?.();
            release = undefined;
            call.begin(signal).then(
              (r) => {
                if (finished) r();
                else {
                  release = r;
                  post({ t: 'begun', id: m.id });
                }
              },
              (err: unknown) => {
                const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, String((err as Error)?.message ?? err));
                post({ t: 'begun', id: m.id, code: kx.code, message: kx.message });
              },
            );
            break;
          case 'ack':
            release?.();
            release = undefined;
            call.ack(m.ack);
            break;
          case 'done':
            finish();
            break;
          case 'failed':
            finish(new KxError(isErrorCode(m.code) ? m.code : ErrorCode.Internal, m.message));
            break;
        }
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // The frames, as the thread takes them: at most FRAME_WINDOW sent ahead.
      const pump = async (): Promise<void> => {
        for (;;) {
          while (credit <= 0 && !finished) await new Promise<void>((r) => (wake = r));
          if (finished) return;
          let r: IteratorResult<Buffer>;
          try {
            r = await frames.next();
          } catch (err) {
            const kx = err instanceof KxError ? err : new KxError(ErrorCode.Cancelled, `Apply stream broken: ${(err as Error)?.message ?? err}`, { cause: err });
            post({ t: 'broken', code: kx.code, message: kx.message });
            return;
          }
          if (r.done) {
            post({ t: 'eof' });
            return;
          }
          send(r.value);
        }
      };
      const send = (frame: Buffer): void => {
        credit--;
        const own = ownBuffer(frame);
        post({ t: 'frame', buf: own.buffer, offset: own.byteOffset, length: own.byteLength }, [own.buffer]);
      };
      if (first !== undefined) send(first);
      void pump();
    });
  }

  /** Ends the thread (cancelling what it does) and resolves once it has stopped. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const worker = this.#worker;
      if (worker === undefined) return;
      // A thread that finished exits by itself within moments; one still working is cancelled and then stopped.
      worker.postMessage({ t: 'cancel', message: 'bulk apply closed' } satisfies ToWorker);
      const timer = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
      try {
        await this.#exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#closed;
  }
}

/** How long close() lets a cancelled thread finish its file in progress (its temp file removed) before it stops it. */
const CLOSE_GRACE_MS = 2000;

/**
 * `frame`'s bytes in an ArrayBuffer that may be transferred: the frame's own when it holds nothing else but a few
 * bytes before it (grpc-js joins each message, its 5-byte gRPC header first, into a fresh buffer, and hands on the
 * view past the header), else a copy (a view into a buffer that holds other bytes: a small message from Node's pool).
 */
export function ownBuffer(frame: Buffer): Uint8Array<ArrayBuffer> {
  const buf = frame.buffer;
  if (buf instanceof ArrayBuffer && frame.byteOffset <= OWN_HEADER_BYTES && frame.byteOffset + frame.byteLength === buf.byteLength) {
    return new Uint8Array(buf, frame.byteOffset, frame.byteLength);
  }
  const copy = new Uint8Array(frame.byteLength);
  copy.set(frame);
  return copy;
}

/** The most bytes before a frame in its buffer that go along when the buffer is moved rather than copied. */
const OWN_HEADER_BYTES = 16;

/** The thread's entry: the source beside this file, or in radar's bundle dist/bulk-apply.mjs (radar/image/bundle.ts). */
function bulkWorkerUrl(): URL {
  const source = new URL('./bulk-apply-main.ts', import.meta.url);
  return existsSync(fileURLToPath(source)) ? source : new URL('../../dist/bulk-apply.mjs', import.meta.url);
}
