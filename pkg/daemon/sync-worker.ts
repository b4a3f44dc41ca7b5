// A folder's full sync in a worker thread. Scanning tens of thousands of files, planning, reading and framing
// them is seconds of CPU: on the daemon's event loop it would hold every other folder's saves and the status
// server behind it. The worker dials the same receiver with a client of its own (Connection.bulk) and sends
// progress and the result back; without a bulk channel (an in-process receiver) the sync runs here as before.
// One worker serves the daemon's full syncs: started on first use, ended once it has been idle a moment. Its heap
// (the engine, gRPC, and what the last sync left for a collection that never comes while it idles) would otherwise
// stay resident for the daemon's life; its start-up (loading the engine and gRPC, ~0.2 s) is paid again only by a
// full sync that comes later, which costs far more than that anyway. Once it has ended, the daemon's heap hands back
// the pages the burst left pooled (heap-release.ts).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { PushProgress, PushResult } from '../sync/push.ts';
import { isErrorCode } from '../wire/status.ts';
import type { SyncEngine } from './sync-engine.ts';
import { lastResortCollection, type HeapRelease } from './heap-release.ts';
import { startThreadPool } from '../lifecycle/thread-priority.ts';
import { postJob, receivedResult, type Posted, type PostedResult } from './worker-manifests.ts';

/** One full sync as the worker is given it: the sync's plain options, the bulk channel among them. */
export type WorkerJob = Omit<Parameters<SyncEngine['syncTree']>[0], 'receiver' | 'hasher' | 'signal' | 'onProgress' | 'pace'>;

/** What the daemon posts to the worker. */
export type WorkerRequest =
  | { readonly type: 'run'; readonly id: number; readonly job: Posted<WorkerJob> }
  | { readonly type: 'abort'; readonly id: number }
  /** The worker is idle and retires: it stops listening, and its thread ends once what it still does is done. */
  | { readonly type: 'exit' };

/** What the worker posts back, per job. */
export type WorkerMessage =
  | { readonly type: 'progress'; readonly id: number; readonly progress: PushProgress }
  | { readonly type: 'done'; readonly id: number; readonly result: PostedResult }
  | { readonly type: 'error'; readonly id: number; readonly code: string; readonly message: string };

export interface WorkerEngine extends SyncEngine {
  /** Starts the worker thread now, so that its modules load while the daemon waits on other things (radar). */
  start(): void;
  /** Whether the worker thread is up (between a full sync's start and idleMs after the last one ended). */
  running(): boolean;
  /** Ends the worker (failing any sync still in it). Idempotent. */
  close(): Promise<void>;
  /**
   * Other work that makes garbage after a batch (the ancestor record's write): a release waits until it ends, and
   * one that ran just before it runs again after. Returns the function that ends it.
   */
  hold(): () => void;
}

/**
 * The engine with full syncs that have a bulk channel run in the worker thread. `pace`: a Foreground's flag, so
 * those syncs wait for saves in flight as the daemon's own would (foreground.ts). `release`: run once a retired
 * worker has ended (default: the last-resort collection that returns the burst's pooled pages).
 */
export function inWorkers(
  engine: SyncEngine,
  opts: { entry?: URL; pace?: Int32Array; idleMs?: number; release?: HeapRelease; releaseEveryMs?: number; releaseQuietMs?: number } = {},
): WorkerEngine {
  const steady = new SteadyRelease(opts.release ?? lastResortCollection(), opts.releaseEveryMs ?? RELEASE_EVERY_MS, opts.releaseQuietMs ?? RELEASE_QUIET_MS);
  const pool = new SyncWorker(opts.entry ?? workerEntry(), opts.pace, opts.idleMs ?? IDLE_MS, () => steady.soon());
  return {
    syncPaths: (o) => engine.syncPaths(o).finally(() => steady.synced()),
    syncTree: (o) => (o.bulk === undefined ? engine.syncTree(o) : pool.run(o)),
    start: () => pool.start(),
    running: () => pool.running,
    hold: () => steady.hold(),
    close: async () => {
      try {
        await pool.close();
      } finally {
        steady.close();
      }
    },
  };
}

/** The worker thread's name (its thread's name in `top -H` and /proc/<pid>/task/<tid>/comm). */
export const SYNC_WORKER_NAME = 'kx-full-sync';

/** How long the worker waits for another full sync before it ends. */
const IDLE_MS = 2_000;

/** How long a retiring worker may take to end by itself before it is terminated. */
const RETIRE_MS = 5_000;

/**
 * Ends an idle worker by asking it to: its thread ends once the gRPC client of its last sync has closed. A test run
 * once crashed (SIGSEGV) in the test that retires a worker 20 ms after its sync, most likely terminate() meeting that
 * client's sockets still closing; terminate() stays the fallback for a worker that does not end by itself.
 */
async function retire(worker: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ type: 'exit' } satisfies WorkerRequest);
  const fallback = setTimeout(() => void worker.terminate(), RETIRE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(fallback);
  }
}

/**
 * While saves keep coming, the heap is handed back at most this often: the pages the batches' garbage makes V8 pool
 * again would otherwise build up over hours of editing. One collection of the ~40 MB heap (tens of ms) a minute.
 */
const RELEASE_EVERY_MS = 60_000;
/** ...and only once no batch has landed for this long, so the collection never holds up the next save of a series. */
const RELEASE_QUIET_MS = 1_000;

/**
 * Runs `release` once batches pause for `quietMs`: after a burst (soon()), or while saves keep coming when the last run
 * was at least `everyMs` ago (or never). A save arriving during the collection would wait for it, and saves come in
 * series: another spec's editor saving while this one's full sync ends must not meet it. Work that follows a batch
 * and holds memory while it runs (hold()) defers the release to a pause after it: the ancestor record's write, a
 * second after the last batch, held a copy of the manifest and its text (15 MB with 100,000 files) just when the
 * release came, and that garbage then stayed until the next release a minute of saves later.
 */
export class SteadyRelease {
  readonly #release: HeapRelease;
  readonly #everyMs: number;
  readonly #quietMs: number;
  #last = performance.now();
  #timer: NodeJS.Timeout | undefined;
  /** A burst ended: release at the next pause, whatever the interval. */
  #due = false;
  /** When the release last ran. */
  #released = -Infinity;
  #holds = 0;
  /** A release is owed once the holds end (it came during one, or just before one began). */
  #deferred = false;
  #closed = false;

  constructor(release: HeapRelease, everyMs: number, quietMs: number) {
    this.#release = release;
    this.#everyMs = everyMs;
    this.#quietMs = quietMs;
  }

  /** A continuous sync landed: (re)arm the quiet timer when a release is due. */
  synced(): void {
    if (this.#due || performance.now() - this.#last >= this.#everyMs) this.#arm();
  }

  /** A burst is over (the sync worker retired): release once batches pause. */
  soon(): void {
    this.#due = true;
    this.#arm();
  }

  /**
   * Work that makes garbage is running: a release due now waits for its end, then for a quiet time; one that ran
   * within a quiet time before it began runs again after it (it came too early to collect the work's garbage).
   */
  hold(): () => void {
    const began = performance.now();
    this.#holds++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#holds--;
      if (this.#closed) return;
      if (began - this.#released < this.#quietMs) this.#deferred = true;
      if (this.#holds === 0 && this.#deferred) this.#arm();
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#holds > 0) {
        this.#deferred = true;
        return;
      }
      this.#deferred = false;
      this.#due = false;
      this.#last = this.#released = performance.now();
      this.#release();
    }, this.#quietMs);
    this.#timer.unref();
  }
}

/**
 * The worker's young generation, in MiB. V8 sizes it from the machine's memory (two 64 MiB semi-spaces on a 24 GiB
 * machine), and a full sync's allocations grow it to that; capped, a sync runs more scavenges (measured on
 * 20,000 files, three pairs: no slower) and the worker's heap stays at a third of its size. A semi-space size given
 * to the process wins over this limit: under kx watch's `--max-semi-space-size=8` (build/node-flags.ts) the worker's
 * new space is 16 MiB (checked), as the daemon's.
 */
const YOUNG_GENERATION_MB = 12;

interface Pending {
  readonly resolve: (r: PushResult) => void;
  readonly reject: (err: KxError) => void;
  readonly onProgress: ((p: PushProgress) => void) | undefined;
}

class SyncWorker {
  readonly #entry: URL;
  readonly #pace: Int32Array | undefined;
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, Pending>();
  readonly #idleMs: number;
  readonly #release: HeapRelease;
  #idleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closed = false;

  constructor(entry: URL, pace: Int32Array | undefined, idleMs: number, release: HeapRelease) {
    this.#entry = entry;
    this.#pace = pace;
    this.#idleMs = idleMs;
    this.#release = release;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  run(o: Parameters<SyncEngine['syncTree']>[0]): Promise<PushResult> {
    const { receiver: _r, hasher: _h, signal, onProgress, pace: _p, ...job } = o;
    if (this.#closed) return Promise.reject(new KxError(ErrorCode.Cancelled, `sync of ${o.root}: the daemon is closing`));
    signal?.throwIfAborted();
    const worker = this.#started();
    const id = this.#nextId++;
    return new Promise<PushResult>((resolve, reject) => {
      const onAbort = (): void => {
        worker.postMessage({ type: 'abort', id } satisfies WorkerRequest);
        settle(() => reject(new KxError(ErrorCode.Cancelled, `sync of ${o.root}: cancelled`)));
      };
      const settle = (fn: () => void): void => {
        if (!this.#jobs.delete(id)) return;
        signal?.removeEventListener('abort', onAbort);
        if (this.#jobs.size === 0) this.#idleSoon();
        fn();
      };
      this.#jobs.set(id, { resolve: (r) => settle(() => resolve(r)), reject: (e) => settle(() => reject(e)), onProgress });
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ type: 'run', id, job: postJob(job) } satisfies WorkerRequest);
    });
  }

  start(): void {
    if (!this.#closed) this.#started();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new KxError(ErrorCode.Cancelled, 'the daemon is closing'));
    await worker?.terminate();
  }

  /** Ends the worker unless another sync comes within idleMs (an aborted sync's worker ends too: nothing is left in it). */
  #idleSoon(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      const worker = this.#worker;
      if (worker === undefined || this.#jobs.size > 0) return;
      this.#worker = undefined;
      // A sync that came meanwhile started a worker of its own: its burst is not over, the next retirement releases.
      void retire(worker).then(() => {
        if (this.#worker === undefined && !this.#closed) this.#release();
      });
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  #started(): Worker {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#worker !== undefined) return this.#worker;
    // The worker lowers its own CPU priority: the thread pool it will use must not inherit that (thread-priority.ts).
    startThreadPool();
    const worker = new Worker(this.#entry, { name: SYNC_WORKER_NAME, workerData: { pace: this.#pace }, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    // The daemon's lifetime is its own: an idle worker does not keep the process alive.
    worker.unref();
    worker.on('message', (m: WorkerMessage) => {
      const job = this.#jobs.get(m.id);
      if (job === undefined) return;
      if (m.type === 'progress') job.onProgress?.(m.progress);
      else if (m.type === 'done') job.resolve(receivedResult(m.result));
      else job.reject(new KxError(isErrorCode(m.code) ? m.code : ErrorCode.Internal, m.message));
    });
    const lost = (why: string): void => {
      // A worker retired when idle (or by close) had no jobs; the jobs now pending are another worker's.
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(new KxError(ErrorCode.Internal, `sync worker: ${why}`));
    };
    worker.on('error', (err: Error) => lost(err.message));
    worker.on('exit', (code) => lost(`exited (${code})`));
    this.#worker = worker;
    return worker;
  }

  #failAll(err: KxError): void {
    for (const job of [...this.#jobs.values()]) job.reject(err);
  }
}

/**
 * The worker's entry: the TypeScript source beside this file in a checkout; in the package (and the single
 * executable) the bundle's own entry, dist/sync-worker.js — the bundle maps import.meta.url to this file's path
 * under the package root (build/asset-urls.ts), so that is two folders up.
 */
function workerEntry(): URL {
  const source = new URL('./sync-worker-main.ts', import.meta.url);
  return existsSync(fileURLToPath(source)) ? source : new URL('../../dist/sync-worker.js', import.meta.url);
}
