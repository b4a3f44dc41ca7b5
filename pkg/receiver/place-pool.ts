// Placement of small files on a thread of their own, many at a time: a file already rebuilt and verified in memory
// is queued here, and the queue goes to the thread as one group (one message, its contents packed into one buffer
// shared with the thread, or transferred), where each file's create, write, owner, mode, mtime and rename run as synchronous calls
// (place-worker-main.ts). The thread-pool way (three async calls per file, each a wake-up of a pool thread and of
// the event loop) spent most of radar's CPU for a tree of small files in the kernel's scheduler.
//
// The thread is started only for bulk work: while it is not running, the first INLINE_FILES files of a stretch of
// work are placed at once on the calling thread, with the same calls (not with fsync). Starting the thread costs
// 30-40 ms of CPU (a V8 isolate and Node's bootstrap) and 30-200 ms before its first file on a busy node, and it
// retires after IDLE_MS: a burst of edits (a git checkout) paid that start each time, more than placing its files
// in a row costs.
//
// Atomicity and confinement are those of Placement.fileFrom: a temp file created with O_EXCL|O_NOFOLLOW inside
// the pinned parent directory (its fd, through /proc/self/fd), renamed over the name; the caller keeps the parent
// pinned (its fd open) until the file's promise settles.
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { RelPath } from '../sync/types.ts';
import { startThreadPool } from '../lifecycle/thread-priority.ts';
import { FIELDS, filePlacer, placeWorkerSource, type FilePlacer, type PlaceFailure, type PlaceGroup, type PlaceOwner, type PlaceReply, type PlaceWorkerData } from './place-worker-main.ts';

export type { PlaceOwner } from './place-worker-main.ts';

/** What Placement hands the pool for one file. */
export interface PlaceRequest {
  readonly dirFd: number;
  readonly tmp: string;
  readonly name: string;
  readonly path: RelPath;
  readonly content: Uint8Array;
  readonly mode: number;
  readonly mtimeS: number;
  readonly owner: PlaceOwner | undefined;
  readonly fsync: boolean;
  /** The pool may place this file on the calling thread while its own thread is not running (else it starts it). */
  readonly mayInline?: boolean;
}

export interface PlacePoolOptions {
  /** Send a group once it holds this many files (default GROUP_FILES). */
  readonly groupFiles?: number;
  /** Retire the idle thread after this long (default IDLE_MS); also the quiet that ends a stretch of work. */
  readonly idleMs?: number;
  /** Files of a stretch of work placed on the calling thread before the thread is started (default INLINE_FILES). */
  readonly inlineFiles?: number;
}

/** The thread's name (its thread's name in `top -H` and /proc/<pid>/task/<tid>/comm). */
export const PLACE_THREAD_NAME = 'kx-place';

/** A group is sent at this many files, or at GROUP_BYTES, or when the event loop turns with files queued. */
const GROUP_FILES = 64;
const GROUP_BYTES = 512 * 1024;
/**
 * The thread's isolate is 5–7 MB of radar's RSS while it lives; a save does not use it (Placement.fileNow), and a
 * restart costs a bulk sync tens of milliseconds.
 */
const IDLE_MS = 2000;
/**
 * Files of a stretch of work (files with less than IDLE_MS between them) placed on the calling thread while the
 * thread is not running; the next start it. A git checkout of ~1,000 files is placed without the thread (its start
 * costs about what placing them does); a full sync starts it after these.
 */
const INLINE_FILES = 1024;
/**
 * Group buffers the thread hands back are kept for the next groups, up to this many: a full sync's content then
 * crosses in a few reused buffers instead of one new one per group, whose memory (outside V8's heap) would only be
 * freed by the full collections its growth triggers, one every few dozen megabytes.
 */
const SPARE_BUFFERS = 4;
/** A buffer larger than this (a group of one large file) is not kept. */
const SPARE_MAX_BYTES = 2 * GROUP_BYTES;
/**
 * Buffers of GROUP_BYTES shared with the thread while it lives, one per group in flight (a group that does not fit,
 * or finds none free, goes in a transferred buffer). A transferred buffer comes back as a new ArrayBuffer that V8
 * counts as newly allocated, and that count drove a full collection of radar's heap every few dozen groups in a bulk
 * sync; a shared one is handed over once, when the thread starts.
 */
const SHARED_SLOTS = 6;

/** A group in flight: its files, and the shared slot that holds its content (-1: a transferred buffer). */
interface InFlight {
  readonly group: readonly Queued[];
  readonly slot: number;
}

interface Queued {
  readonly req: PlaceRequest;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class PlacePool {
  readonly #groupFiles: number;
  readonly #idleMs: number;
  readonly #inlineFiles: number;
  /** Places a file on the calling thread (made at the first one placed so). */
  #placer: FilePlacer | undefined;
  /** Files placed in the current stretch of work, and when the last of them came. */
  #stretch = 0;
  #lastAt = -Infinity;
  #worker: Worker | undefined;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  readonly #inFlight = new Map<number, InFlight>();
  #nextId = 1;
  /** Group buffers handed back by the thread, for the next groups (dropped when the thread retires). */
  #spare: ArrayBuffer[] = [];
  /** The current thread's shared slots (SHARED_SLOTS), and which of them no group in flight holds. */
  #slots: Uint8Array[] = [];
  #freeSlots: number[] = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PlacePoolOptions = {}) {
    this.#groupFiles = opts.groupFiles ?? GROUP_FILES;
    this.#idleMs = opts.idleMs ?? IDLE_MS;
    this.#inlineFiles = opts.inlineFiles ?? INLINE_FILES;
  }

  /** The thread starts with the first file placed; present for the lifecycle convention. */
  start(): void {}

  /**
   * A sync is about to send about `files` small files (radar learns it from a full sync's manifest request): more
   * than this pool places on the calling thread, and the thread is started now, so that it is up by the first file
   * rather than after the first INLINE_FILES. It retires after IDLE_MS if no file comes.
   */
  expectFiles(files: number): void {
    if (this.#closed || this.#worker !== undefined || files <= this.#inlineFiles) return;
    const worker = this.#started();
    if (this.#inFlight.size === 0) this.#idle(worker);
  }

  /** Place one file; settles once it is renamed into place (or failed, its temp file removed). */
  place(req: PlaceRequest): Promise<void> {
    if (this.#closed) return Promise.reject(new KxError(ErrorCode.Cancelled, `${req.path}: radar is closing`));
    const now = performance.now();
    if (now - this.#lastAt > this.#idleMs) this.#stretch = 0;
    this.#lastAt = now;
    // Not with fsync: a flush to the disk per file would hold the calling thread milliseconds each.
    if (this.#worker === undefined && req.mayInline !== false && !req.fsync && this.#stretch++ < this.#inlineFiles) return this.#inline(req);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      this.#queuedBytes += req.content.byteLength;
      // Files and owners of one group must agree on owner and fsync (one TreeWriter's): a different one starts a group.
      if (this.#queue.length >= this.#groupFiles || this.#queuedBytes >= GROUP_BYTES || !sameGroup(this.#queue[0].req, req)) this.#flush();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#flush();
        });
      }
    });
  }

  /** Ends the thread; files queued or in flight fail (CANCELLED). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new KxError(ErrorCode.Cancelled, 'radar is closing'));
    this.#spare = [];
    this.#slots = [];
    this.#freeSlots = [];
    await worker?.terminate();
  }

  /** Placed now, on the calling thread, with the thread's calls (the caller keeps the parent pinned meanwhile). */
  #inline(req: PlaceRequest): Promise<void> {
    this.#placer ??= filePlacer(fs);
    const f = this.#placer(req.dirFd, req.tmp, req.name, req.content, req.mode, req.mtimeS, req.owner, req.fsync);
    return f === null ? Promise.resolve() : Promise.reject(placeError(f, req.path));
  }

  #flush(): void {
    if (this.#queue.length === 0) return;
    // A request unlike the first (other owner or fsync) goes in the next group.
    let n = 1;
    while (n < this.#queue.length && sameGroup(this.#queue[0].req, this.#queue[n].req)) n++;
    const group = this.#queue.slice(0, n);
    this.#queue = this.#queue.slice(n);
    this.#queuedBytes = this.#queue.reduce((s, q) => s + q.req.content.byteLength, 0);
    let bytes = 0;
    for (const q of group) bytes += q.req.content.byteLength;
    const worker = this.#started();
    // One buffer for the group, shared or transferred: a view into a larger buffer (a frame) would otherwise be
    // cloned whole.
    const slot = bytes <= GROUP_BYTES && this.#freeSlots.length > 0 ? this.#freeSlots.pop()! : -1;
    const data = slot >= 0 ? this.#slots[slot] : new Uint8Array(this.#buffer(bytes));
    const meta = new Float64Array(group.length * FIELDS);
    const names: string[] = [];
    let offset = 0;
    group.forEach(({ req }, i) => {
      data.set(req.content, offset);
      meta.set([req.dirFd, offset, req.content.byteLength, req.mode, req.mtimeS], i * FIELDS);
      names.push(req.tmp, req.name);
      offset += req.content.byteLength;
    });
    const id = this.#nextId++;
    const first = group[0].req;
    this.#inFlight.set(id, { group, slot });
    if (slot >= 0) worker.postMessage({ id, meta, names: names.join('\0'), slot, data: null, owner: first.owner, fsync: first.fsync } satisfies PlaceGroup, [meta.buffer]);
    else worker.postMessage({ id, meta, names: names.join('\0'), slot, data: data.buffer as ArrayBuffer, owner: first.owner, fsync: first.fsync } satisfies PlaceGroup, [data.buffer as ArrayBuffer, meta.buffer]);
    if (this.#queue.length > 0) this.#flush();
  }

  /** A spare buffer of at least `bytes`, or a new one (of GROUP_BYTES at least, so that it can be kept). */
  #buffer(bytes: number): ArrayBuffer {
    const i = this.#spare.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.#spare.splice(i, 1)[0];
    return new ArrayBuffer(bytes <= GROUP_BYTES ? GROUP_BYTES : bytes);
  }

  #started(): Worker {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#worker !== undefined) {
      this.#worker.ref();
      return this.#worker;
    }
    // The thread lowers its own CPU priority: the thread pool must not inherit that (thread-priority.ts).
    startThreadPool();
    const shared = Array.from({ length: SHARED_SLOTS }, () => new SharedArrayBuffer(GROUP_BYTES));
    const worker = new Worker(placeWorkerSource(), { eval: true, name: PLACE_THREAD_NAME, workerData: { slots: shared } satisfies PlaceWorkerData, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
    this.#slots = shared.map((b) => new Uint8Array(b));
    this.#freeSlots = shared.map((_, i) => i);
    worker.on('message', (m: PlaceReply) => {
      const flight = this.#inFlight.get(m.id);
      if (flight === undefined) return;
      this.#inFlight.delete(m.id);
      const group = flight.group;
      if (flight.slot >= 0) {
        if (this.#worker === worker) this.#freeSlots.push(flight.slot);
      } else if (m.data !== null && m.data.byteLength <= SPARE_MAX_BYTES && this.#spare.length < SPARE_BUFFERS) this.#spare.push(m.data);
      group.forEach((q, i) => {
        const f = m.failures[i];
        if (f === null || f === undefined) q.resolve();
        else q.reject(placeError(f, q.req.path));
      });
      if (this.#inFlight.size === 0 && this.#worker === worker) this.#idle(worker);
    });
    const lost = (why: string): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(new KxError(ErrorCode.Internal, `radar's placement thread: ${why}`));
    };
    worker.on('error', (err: Error) => lost(err.message));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.#worker = worker;
    return worker;
  }

  /** No group in flight: the thread no longer keeps the process alive, and retires after a while. */
  #idle(worker: Worker): void {
    worker.unref();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#worker !== worker || this.#inFlight.size > 0) return;
      this.#worker = undefined;
      this.#spare = [];
      this.#slots = [];
      this.#freeSlots = [];
      void worker.terminate();
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  #failAll(err: KxError): void {
    for (const { group } of this.#inFlight.values()) for (const q of group) q.reject(err);
    this.#inFlight.clear();
    for (const q of this.#queue) q.reject(err);
    this.#queue = [];
    this.#queuedBytes = 0;
  }
}

function placeError(f: PlaceFailure, path: RelPath): KxError {
  return fromFsError(Object.assign(new Error(f.message), { code: f.code }), path);
}

function sameGroup(a: PlaceRequest, b: PlaceRequest): boolean {
  return a.fsync === b.fsync && a.owner?.uid === b.owner?.uid && a.owner?.gid === b.owner?.gid;
}
