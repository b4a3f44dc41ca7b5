// The thread of bulk Apply streams (see bulk-apply.ts), one stream at a time: its frames arrive raw from the main
// thread, which keeps the call; here they are decoded, each write verified and placed through a LocalTree of the
// stream's own over the main thread's pinned root (the anchor /proc/self/fd/N names the same directory in every thread
// of the process), so the decoding and the garbage it makes never hold the main thread, which serves the other
// streams' saves. Before each batch the main thread is asked to begin it (a batch slot, and the check that the
// container is still the one resolved and the token still grants it); each batch's ack and a failure go back to it,
// and it writes them to the call. The placement thread and the hasher are the thread's, kept from stream to stream.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { PlacePool } from '../../pkg/receiver/place-pool.ts';
import { lowerThreadPriority } from '../../pkg/lifecycle/thread-priority.ts';
import { pathErrorToMsg } from '../../pkg/wire/convert.ts';
import { isErrorCode } from '../../pkg/wire/status.ts';
import type { ApplyFrame } from '../../proto/messages.ts';
import { ApplyFrameReader } from './apply-stream.ts';
import type { BulkJob, BulkWorkerData, ToMain, ToWorker } from './bulk-apply.ts';
import { decodeFrame } from './raw-frames.ts';

function serve(port: MessagePort): void {
  // Bulk work: below the main thread, which serves saves (thread-priority.ts).
  lowerThreadPriority();
  const post = (m: ToMain): void => port.postMessage(m);
  const hasher = createHasher();
  const pool = new PlacePool();
  const current: { job?: Stream } = {};
  port.on('message', (m: ToWorker) => {
    if (m.t === 'exit') {
      current.job?.cancel('radar is closing');
      void Promise.resolve(current.job?.done).then(() => pool.close()).finally(() => port.close());
      return;
    }
    if (m.t === 'job') {
      const job = new Stream(m.job, m.work, post);
      current.job = job;
      job.done = job.run(hasher, pool).finally(() => {
        if (current.job === job) current.job = undefined;
      });
      return;
    }
    if (current.job?.id === m.job) current.job.handle(m);
  });
}

/** One stream's work on this thread. */
class Stream {
  readonly id: number;
  done: Promise<void> | undefined;
  readonly #work: BulkJob;
  readonly #post: (m: ToMain) => void;
  readonly #ac = new AbortController();
  readonly #frames: FrameQueue;
  readonly #begun = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #nextId = 0;

  constructor(id: number, work: BulkJob, post: (m: ToMain) => void) {
    this.id = id;
    this.#work = work;
    this.#post = post;
    this.#frames = new FrameQueue(() => post({ t: 'credit', job: id }));
  }

  handle(m: Exclude<ToWorker, { t: 'job' } | { t: 'exit' }>): void {
    switch (m.t) {
      case 'frame':
        this.#frames.push(Buffer.from(m.buf, m.offset, m.length));
        break;
      case 'eof':
        this.#frames.end();
        break;
      case 'broken':
        this.#frames.fail(failure(m.code, m.message));
        break;
      case 'begun': {
        const waiter = this.#begun.get(m.id);
        this.#begun.delete(m.id);
        if (m.code === undefined) waiter?.resolve();
        else waiter?.reject(failure(m.code, m.message ?? 'batch refused'));
        break;
      }
      case 'cancel':
        this.cancel(m.message);
        break;
    }
  }

  cancel(message: string): void {
    const reason = new KxError(ErrorCode.Cancelled, message);
    this.#ac.abort(reason);
    this.#frames.fail(reason);
    for (const w of this.#begun.values()) w.reject(reason);
    this.#begun.clear();
  }

  async run(hashing: Promise<Hasher>, pool: PlacePool): Promise<void> {
    const job = this.id;
    try {
      const work = this.#work;
      // The files the manifest said are coming: the placement thread starts now, not after the first thousand of them.
      pool.expectFiles(work.expectFiles);
      const tree = new LocalTree({
        root: work.root,
        ...(work.anchor === undefined ? {} : { anchor: work.anchor }),
        ...(work.owner === undefined ? {} : { owner: work.owner }),
        hasher: await hashing,
        fsync: work.fsync,
        keepSetIdBits: work.keepSetIdBits,
        placePool: pool,
        verify: (signal) => this.#begin(signal),
      });
      const reader = new ApplyFrameReader(this.#frames, { opened: work.opened });
      // The target named there was resolved and authorized by the main thread, which holds it for this stream.
      if (!work.opened) await reader.open();
      while (!(await reader.atEnd())) {
        const result = await tree.apply(reader.batch(), this.#ac.signal);
        this.#post({ t: 'ack', job, ack: { applied: result.applied, bytesReceived: reader.takeWireBytes(), errors: result.errors.map(pathErrorToMsg) } });
      }
      this.#post({ t: 'done', job });
    } catch (err) {
      const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, `bulk apply: ${(err as Error)?.message ?? err}`);
      this.#post({ t: 'failed', job, code: kx.code, message: kx.message });
    }
  }

  /** A batch begins: asked of the main thread (its slot, the target's check). */
  #begin(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#begun.set(id, { resolve, reject });
      this.#post({ t: 'begin', job: this.id, id });
    });
  }
}

function failure(code: string, message: string): KxError {
  return new KxError(isErrorCode(code) ? code : ErrorCode.Internal, message);
}

/** The raw frames sent by the main thread, decoded as they are taken; each one taken asks the main thread for the next. */
class FrameQueue implements AsyncIterator<ApplyFrame> {
  readonly #taken: () => void;
  readonly #frames: Buffer[] = [];
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(taken: () => void) {
    this.#taken = taken;
  }

  push(frame: Buffer): void {
    this.#frames.push(frame);
    this.#poke();
  }

  end(): void {
    this.#ended = true;
    this.#poke();
  }

  fail(err: Error): void {
    this.#failure ??= err;
    this.#poke();
  }

  async next(): Promise<IteratorResult<ApplyFrame>> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      const raw = this.#frames.shift();
      if (raw !== undefined) {
        this.#taken();
        return { done: false, value: decodeFrame(raw) };
      }
      if (this.#ended) return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

// Last: the classes above are initialized by now.
if (parentPort !== null && (workerData as Partial<BulkWorkerData> | null)?.kind === 'kx-bulk-apply') serve(parentPort);
