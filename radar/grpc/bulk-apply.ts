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
//
// A thread serves one stream at a time and is kept a while after it (BulkThreads): kx's full sync sends its batches
// two at a time, the second on a stream of its own, so a sync opens many streams one after another; a thread
// started for each cost ~0.1 s of CPU apiece (measured: radar's CPU for a 50,000-file sync 2.9 → 4.4 s).
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

/** One stream's work, as the thread is given it. */
export interface BulkJob {
  readonly root: string;
  readonly anchor?: string;
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly fsync: boolean;
  readonly keepSetIdBits: boolean;
  /** Files the stream's manifest said are coming (starts the thread's placement thread at once when many). */
  readonly expectFiles: number;
  /** The stream's open frame was read on the main thread, with its batches so far; false: it is the first frame sent. */
  readonly opened: boolean;
}

/** What the thread is started with (tells its entry it runs as this thread). */
export interface BulkWorkerData {
  readonly kind: typeof BULK_THREAD_NAME;
}

export type ToWorker =
  | { readonly t: 'job'; readonly job: number; readonly work: BulkJob }
  | { readonly t: 'frame'; readonly job: number; readonly buf: ArrayBuffer; readonly offset: number; readonly length: number }
  | { readonly t: 'eof'; readonly job: number }
  | { readonly t: 'broken'; readonly job: number; readonly code: string; readonly message: string }
  | { readonly t: 'begun'; readonly job: number; readonly id: number; readonly code?: string; readonly message?: string }
  | { readonly t: 'cancel'; readonly job: number; readonly message: string }
  | { readonly t: 'exit' };

export type ToMain =
  | { readonly t: 'credit'; readonly job: number }
  | { readonly t: 'begin'; readonly job: number; readonly id: number }
  | { readonly t: 'ack'; readonly job: number; readonly ack: ApplyAck }
  | { readonly t: 'done'; readonly job: number }
  | { readonly t: 'failed'; readonly job: number; readonly code: string; readonly message: string };

/** What the stream's thread needs of the call it serves. */
export interface BulkCall {
  /** A batch begins: take its slot and check the target; resolves with the slot's release. Throws to refuse the batch. */
  begin(signal: AbortSignal): Promise<() => void>;
  /** A batch was applied: write its ack to the call. */
  ack(ack: ApplyAck): void;
}

/**
 * The threads of bulk streams: at most `max` at once, each serving one stream at a time, kept `idleMs` after its
 * last stream for the next one. close() ends them all (cancelling what they do) and resolves once they stopped.
 */
export class BulkThreads {
  readonly #max: number;
  readonly #idleMs: number;
  readonly #all = new Set<BulkThread>();
  readonly #idle: BulkThread[] = [];
  #closed: Promise<void> | undefined;

  constructor(opts: { max?: number; idleMs?: number } = {}) {
    this.#max = opts.max ?? BULK_THREADS;
    this.#idleMs = opts.idleMs ?? BULK_IDLE_MS;
  }

  /** A stream handed over now would get a thread (one is idle, or fewer than `max` run). */
  available(): boolean {
    return this.#closed === undefined && (this.#idle.length > 0 || this.#all.size < this.#max);
  }

  /**
   * Apply a stream's remaining frames on a thread (from its open frame when `job.opened` is false). Settles once the
   * thread is done with the stream (its files closed, whatever pinned directory it opened released), so the root it
   * worked under may be released then. Rejects with the thread's error, or the call's. Ask available() first.
   */
  async apply(job: BulkJob, frames: AsyncIterator<Buffer>, call: BulkCall, signal: AbortSignal): Promise<void> {
    if (!this.available()) throw new KxError(ErrorCode.Limit, 'bulk apply: no thread free');
    const thread = this.#idle.pop() ?? this.#spawn();
    thread.stay();
    let run: { result: Promise<void>; ended: Promise<boolean> } | undefined;
    try {
      run = thread.run(job, frames, call, signal);
      await run.result;
    } finally {
      // Whatever the call's outcome, the thread must have finished with the stream before the caller goes on.
      const clean = run !== undefined && (await run.ended);
      if (clean && this.#closed === undefined) {
        this.#idle.push(thread);
        thread.retireIn(this.#idleMs, () => void this.#retire(thread));
      } else await this.#retire(thread);
    }
  }

  /** Ends every thread, and refuses more streams. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= Promise.all([...this.#all].map((t) => this.#retire(t))).then(() => undefined);
    return this.#closed;
  }

  /** Threads running (idle ones included), for tests. */
  get size(): number {
    return this.#all.size;
  }

  #spawn(): BulkThread {
    const thread = new BulkThread();
    this.#all.add(thread);
    return thread;
  }

  async #retire(thread: BulkThread): Promise<void> {
    const i = this.#idle.indexOf(thread);
    if (i >= 0) this.#idle.splice(i, 1);
    await thread.close();
    this.#all.delete(thread);
  }
}

/** Bulk streams applied on threads at once; more are applied on the main thread. */
export const BULK_THREADS = 2;
/** The bulk thread's young generation. */
const BULK_YOUNG_MB = 48;
/** How long a thread waits for the next bulk stream (a full sync's next stream comes within milliseconds). */
export const BULK_IDLE_MS = 5000;

/** One thread; serves one stream at a time. */
class BulkThread {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #exitedNow = false;
  #jobs = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor() {
    // libuv's thread pool serves saves too: started here, at this thread's priority, not by the thread (thread-priority.ts).
    startThreadPool();
    this.#worker = new Worker(bulkWorkerUrl(), {
      name: BULK_THREAD_NAME,
      workerData: { kind: BULK_THREAD_NAME } satisfies BulkWorkerData,
      // A full sync's garbage is nearly all short-lived (frames, ops, content views): a young generation larger than
      // radar's 2 MiB semi-spaces collects it in fewer scavenges. Pauses here hold no save; the thread retires when idle.
      resourceLimits: { maxYoungGenerationSizeMb: BULK_YOUNG_MB },
    });
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', () => {
        this.#exitedNow = true;
        resolve();
      }),
    );
    // An error ends the thread ('exit' follows); a stream in progress sees it through its own listener.
    this.#worker.on('error', () => undefined);
  }

  /** A stream comes: the thread is not retired, and keeps the process alive while it works. */
  stay(): void {
    clearTimeout(this.#timer);
    this.#worker.ref();
  }

  /** Idle: retired after `ms` unless a stream comes; an idle thread keeps no process alive. */
  retireIn(ms: number, retire: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(retire, ms);
    this.#timer.unref();
    this.#worker.unref();
  }

  /**
   * `result` settles as the stream does for the call; `ended` once the thread has finished with the stream (true), or
   * did not within CLOSE_GRACE_MS of being cancelled, or stopped (false: the thread is not to be used again).
   */
  run(work: BulkJob, frames: AsyncIterator<Buffer>, call: BulkCall, signal: AbortSignal): { result: Promise<void>; ended: Promise<boolean> } {
    const worker = this.#worker;
    const job = ++this.#jobs;
    let endedNow: (clean: boolean) => void = () => undefined;
    const ended = new Promise<boolean>((resolve) => (endedNow = resolve));
    const result = new Promise<void>((resolve, reject) => {
      let credit = FRAME_WINDOW;
      let finished = false;
      let release: (() => void) | undefined;
      let wake: (() => void) | undefined;
      let grace: NodeJS.Timeout | undefined;
      const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => {
        if (!finished) worker.postMessage(m, transfer);
      };
      const end = (clean: boolean): void => {
        clearTimeout(grace);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        endedNow(clean);
      };
      const finish = (err?: Error): void => {
        if (finished) return;
        finished = true;
        release?.();
        release = undefined;
        signal.removeEventListener('abort', onAbort);
        wake?.();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = (): void => {
        const reason = signal.reason instanceof Error ? signal.reason : new KxError(ErrorCode.Cancelled, 'call cancelled');
        post({ t: 'cancel', job, message: reason.message });
        finish(reason);
        // The thread removes the temp file of the write in progress and reports the job's end; one that does not is stopped.
        grace = setTimeout(() => end(false), CLOSE_GRACE_MS);
      };
      const onError = (err: Error): void => {
        finish(new KxError(ErrorCode.Internal, `bulk apply thread failed: ${err.message}`, { cause: err }));
        end(false);
      };
      const onExit = (): void => {
        finish(new KxError(ErrorCode.Internal, 'bulk apply thread ended before the stream'));
        end(false);
      };
      const onMessage = (m: ToMain): void => {
        if (m.job !== job) return;
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
                  post({ t: 'begun', job, id: m.id });
                }
              },
              (err: unknown) => {
                const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, String((err as Error)?.message ?? err));
                post({ t: 'begun', job, id: m.id, code: kx.code, message: kx.message });
              },
            );
            break;
          case 'ack':
            release?.();
            release = undefined;
            if (!finished) call.ack(m.ack);
            break;
          case 'done':
            finish();
            end(true);
            break;
          case 'failed':
            finish(new KxError(isErrorCode(m.code) ? m.code : ErrorCode.Internal, m.message));
            end(true);
            break;
        }
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      if (this.#exitedNow) {
        onExit();
        return;
      }
      worker.postMessage({ t: 'job', job, work } satisfies ToWorker);
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
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
            post({ t: 'broken', job, code: kx.code, message: kx.message });
            return;
          }
          if (r.done) {
            post({ t: 'eof', job });
            return;
          }
          send(r.value);
        }
      };
      const send = (frame: Buffer): void => {
        credit--;
        const own = ownBuffer(frame);
        post({ t: 'frame', job, buf: own.buffer, offset: own.byteOffset, length: own.byteLength }, [own.buffer]);
      };
      void pump();
    });
    return { result, ended };
  }

  /** Ends the thread: asked to finish, stopped if it does not within CLOSE_GRACE_MS. Idempotent. */
  close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#closed ??= (async () => {
      if (this.#exitedNow) return;
      this.#worker.postMessage({ t: 'exit' } satisfies ToWorker);
      const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_GRACE_MS);
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
