// A folder's full sync in a worker thread. Scanning tens of thousands of files, planning, reading and framing
// them is seconds of CPU: on the daemon's event loop it would hold every other folder's saves and the status
// server behind it. The worker dials the same receiver with a client of its own (Connection.bulk) and sends
// progress and the result back; without a bulk channel (an in-process receiver) the sync runs here as before.
// One worker serves every full sync of the daemon (started on first use, kept: its start-up — loading the engine
// and gRPC — is paid once per daemon, not per sync).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { PushProgress, PushResult } from '../sync/push.ts';
import { isErrorCode } from '../wire/status.ts';
import type { SyncEngine } from './sync-engine.ts';

/** One full sync as the worker is given it: the sync's plain options, the bulk channel among them. */
export type WorkerJob = Omit<Parameters<SyncEngine['syncTree']>[0], 'receiver' | 'hasher' | 'signal' | 'onProgress' | 'pace'>;

/** What the daemon posts to the worker. */
export type WorkerRequest = { readonly type: 'run'; readonly id: number; readonly job: WorkerJob } | { readonly type: 'abort'; readonly id: number };

/** What the worker posts back, per job. */
export type WorkerMessage =
  | { readonly type: 'progress'; readonly id: number; readonly progress: PushProgress }
  | { readonly type: 'done'; readonly id: number; readonly result: PushResult }
  | { readonly type: 'error'; readonly id: number; readonly code: string; readonly message: string };

export interface WorkerEngine extends SyncEngine {
  /** Ends the worker (failing any sync still in it). Idempotent. */
  close(): Promise<void>;
}

/** The engine with full syncs that have a bulk channel run in the worker thread. */
export function inWorkers(engine: SyncEngine, opts: { entry?: URL } = {}): WorkerEngine {
  const pool = new SyncWorker(opts.entry ?? workerEntry());
  // Started now, not at the first full sync: loading the worker's modules (gRPC, the engine, the hasher's wasm)
  // takes a few hundred ms of its own thread, which then overlaps the daemon's start (radar, the target) instead of
  // delaying the initial sync. Only `kx watch` builds this engine, and it runs full syncs.
  pool.warm();
  return {
    syncPaths: (o) => engine.syncPaths(o),
    syncTree: (o) => (o.bulk === undefined ? engine.syncTree(o) : pool.run(o)),
    close: () => pool.close(),
  };
}

interface Pending {
  readonly resolve: (r: PushResult) => void;
  readonly reject: (err: KxError) => void;
  readonly onProgress: ((p: PushProgress) => void) | undefined;
}

class SyncWorker {
  readonly #entry: URL;
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(entry: URL) {
    this.#entry = entry;
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
        fn();
      };
      this.#jobs.set(id, { resolve: (r) => settle(() => resolve(r)), reject: (e) => settle(() => reject(e)), onProgress });
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ type: 'run', id, job } satisfies WorkerRequest);
    });
  }

  /** Start the worker thread if it is not running (it loads its modules before it takes its first job). */
  warm(): void {
    if (!this.#closed) this.#started();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new KxError(ErrorCode.Cancelled, 'the daemon is closing'));
    await worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(this.#entry);
    // The daemon's lifetime is its own: an idle worker does not keep the process alive.
    worker.unref();
    worker.on('message', (m: WorkerMessage) => {
      const job = this.#jobs.get(m.id);
      if (job === undefined) return;
      if (m.type === 'progress') job.onProgress?.(m.progress);
      else if (m.type === 'done') job.resolve(m.result);
      else job.reject(new KxError(isErrorCode(m.code) ? m.code : ErrorCode.Internal, m.message));
    });
    const lost = (why: string): void => {
      if (this.#worker === worker) this.#worker = undefined;
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
