// The thread of one bulk Apply stream (see bulk-apply.ts): its frames arrive raw from the main thread, which keeps the
// call; here they are decoded, each write verified and placed through a LocalTree of its own over the main thread's
// pinned root (the anchor /proc/self/fd/N names the same directory in every thread of the process), so the decoding
// and the garbage it makes never hold the main thread, which serves the other streams' saves. Before each batch the
// main thread is asked to begin it (a batch slot, and the check that the container is still the one resolved and
// the token still grants it); each batch's ack and a failure go back to it, and it writes them to the call.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { PlacePool } from '../../pkg/receiver/place-pool.ts';
import { lowerThreadPriority } from '../../pkg/lifecycle/thread-priority.ts';
import { pathErrorToMsg } from '../../pkg/wire/convert.ts';
import { isErrorCode } from '../../pkg/wire/status.ts';
import { decodeFrame } from './raw-frames.ts';
import type { ApplyFrame } from '../../proto/messages.ts';
import { ApplyFrameReader } from './apply-stream.ts';
import type { BulkJob, ToMain, ToWorker } from './bulk-apply.ts';

function serve(port: MessagePort, job: BulkJob): void {
  // Bulk work: below the main thread, which serves saves (thread-priority.ts).
  lowerThreadPriority();
  const post = (m: ToMain): void => port.postMessage(m);
  const ac = new AbortController();
  const frames = new FrameQueue(() => post({ t: 'credit' }));
  const begun = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let nextId = 0;
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'frame':
        frames.push(Buffer.from(m.buf, m.offset, m.length));
        break;
      case 'eof':
        frames.end();
        break;
      case 'broken':
        frames.fail(failure(m.code, m.message));
        break;
      case 'begun': {
        const waiter = begun.get(m.id);
        begun.delete(m.id);
        if (m.code === undefined) waiter?.resolve();
        else waiter?.reject(failure(m.code, m.message ?? 'batch refused'));
        break;
      }
      case 'cancel': {
        const reason = new KxError(ErrorCode.Cancelled, m.message);
        ac.abort(reason);
        frames.fail(reason);
        for (const w of begun.values()) w.reject(reason);
        begun.clear();
        break;
      }
    }
  });
  const begin = (signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    const id = nextId++;
    return new Promise((resolve, reject) => {
      begun.set(id, { resolve, reject });
      post({ t: 'begin', id });
    });
  };
  const run = async (): Promise<void> => {
    const hasher = await createHasher();
    const pool = new PlacePool();
    try {
      // The files the manifest said are coming: the placement thread starts now, not after the first thousand of them.
      pool.expectFiles(job.expectFiles);
      const tree = new LocalTree({
        root: job.root,
        ...(job.anchor === undefined ? {} : { anchor: job.anchor }),
        ...(job.owner === undefined ? {} : { owner: job.owner }),
        hasher,
        fsync: job.fsync,
        keepSetIdBits: job.keepSetIdBits,
        placePool: pool,
        verify: begin,
      });
      const reader = new ApplyFrameReader(frames, { opened: job.opened });
      // The target named there was resolved and authorized by the main thread, which holds it for this stream.
      if (!job.opened) await reader.open();
      while (!(await reader.atEnd())) {
        const result = await tree.apply(reader.batch(), ac.signal);
        post({ t: 'ack', ack: { applied: result.applied, bytesReceived: reader.takeWireBytes(), errors: result.errors.map(pathErrorToMsg) } });
      }
    } finally {
      await pool.close();
    }
  };
  run().then(
    () => post({ t: 'done' }),
    (err: unknown) => {
      const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, `bulk apply: ${(err as Error)?.message ?? err}`);
      post({ t: 'failed', code: kx.code, message: kx.message });
    },
  ).finally(() => port.close());
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
if (parentPort !== null && (workerData as { kind?: string } | null)?.kind === 'kx-bulk-apply') {
  serve(parentPort, workerData as BulkJob);
}
