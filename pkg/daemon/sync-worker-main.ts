// The worker thread of the daemon's full syncs (see sync-worker.ts): for each job, dials the receiver through its
// bulk channel, runs the engine's syncTree, and posts progress (at most every PROGRESS_MS) and the result or the
// error back. Jobs run concurrently; an abort message aborts one.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { createHasher, type Hasher } from '../sync/hash.ts';
import { syncTree, type PushProgress } from '../sync/push.ts';
import { RadarClient } from '../transport/client.ts';
import { sharedPace } from './foreground.ts';
import { lowerThreadPriority } from '../lifecycle/thread-priority.ts';
import type { WorkerJob, WorkerMessage, WorkerRequest } from './sync-worker.ts';
import { postResult, receivedJob } from './worker-manifests.ts';

/** Progress reports are throttled: a sync of many small files reports per file. */
const PROGRESS_MS = 50;

/** Saves in flight in the daemon's thread hold this thread's full syncs between ops (foreground.ts). */
const pace = (workerData as { pace?: unknown } | null)?.pace instanceof Int32Array ? sharedPace((workerData as { pace: Int32Array }).pace) : undefined;

async function run(id: number, job: WorkerJob, hasher: Hasher, signal: AbortSignal, post: (m: WorkerMessage, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const { bulk, ...opts } = job;
  if (bulk === undefined) throw new KxError(ErrorCode.Internal, 'sync worker: a job without a bulk channel');
  const client = new RadarClient(bulk);
  let last = 0;
  let pending: PushProgress | undefined;
  try {
    // The handshake (a connection of this thread's own, radar resolving the target) goes on while the tree is
    // scanned: the sync's first request to radar, the manifest, waits for it.
    client.start(signal).catch(() => undefined);
    const result = await syncTree({
      ...opts,
      receiver: client,
      hasher,
      signal,
      ...(pace && { pace }),
      onProgress: (p) => {
        const now = performance.now();
        pending = p;
        if (now - last < PROGRESS_MS && p.phase === 'send' && p.files < p.totalFiles) return;
        last = now;
        pending = undefined;
        post({ type: 'progress', id, progress: p });
      },
    });
    if (pending !== undefined) post({ type: 'progress', id, progress: pending });
    const posted = postResult(result);
    post({ type: 'done', id, result: posted.result }, posted.transfer);
  } finally {
    await client.close();
  }
}

function serve(port: MessagePort, hasher: Hasher): void {
  const running = new Map<number, AbortController>();
  const post = (m: WorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'exit') {
      // Retired while idle: the thread ends once what is still open in it (the last client closing) is done.
      port.close();
      return;
    }
    if (m.type === 'abort') {
      running.get(m.id)?.abort();
      return;
    }
    const abort = new AbortController();
    running.set(m.id, abort);
    run(m.id, receivedJob(m.job), hasher, abort.signal, post)
      .catch((err: unknown) => {
        const kx = err instanceof KxError ? err : null;
        post({ type: 'error', id: m.id, code: kx?.code ?? ErrorCode.Internal, message: (err as Error)?.message ?? String(err) });
      })
      .finally(() => running.delete(m.id));
  });
}

const port = parentPort;
if (port !== null) {
  // A full sync is bulk work: saves go through the daemon's main thread (and radar's), which keep their priority.
  lowerThreadPriority();
  serve(port, await createHasher());
}
