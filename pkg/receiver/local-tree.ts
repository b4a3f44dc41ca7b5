// A directory on this machine as a sync Receiver, in-process: radar serves it over gRPC, and the local Docker
// target uses it directly (no network between kx and a bind-mounted or /proc-reachable root).
import type { Hasher } from '../sync/hash.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { checkRelPath } from '../sync/paths.ts';
import { existsSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createdSizes, targetFilesToHash } from '../sync/candidates.ts';
import { hashFile, scanTree } from '../sync/scan.ts';
import type { ScanDir, ScanOptions } from '../sync/scan.ts';
import { joinRel } from '../sync/paths.ts';
import { signatureOf } from '../sync/signature.ts';
import type { SignatureCache } from '../sync/signature-cache.ts';
import type { BatchOp, BatchResult, DeltaOp, Entry, IgnoreRuleSet, Manifest, PathError, Receiver, RelPath, Signature, WriteOp } from '../sync/types.ts';
import { TreeWriter, cleanTemp } from './tree-writer.ts';
import type { TreeWriterOptions } from './tree-writer.ts';
import type { PinHooks } from './pins.ts';

/** A LocalTree writes through its TreeWriter, so it takes the writer's options, and a check before each batch. */
export type LocalTreeOptions = TreeWriterOptions & {
  /**
   * Runs before each batch is applied; throwing fails the batch. The resolver's check that the container is still
   * the process whose root was pinned, and that the token still grants it (ResolvedRoot.verify).
   */
  readonly verify?: (signal?: AbortSignal) => Promise<void>;
  /** Asked at each slice break of apply; a promise holds the batch until it settles (radar/grpc/urgency.ts). */
  readonly pace?: () => Promise<void> | undefined;
  /** Asked at the start of each slice of apply: how long it runs before its break (default APPLY_SLICE_MS). */
  readonly sliceMs?: () => number;
  /**
   * Asked before each small write: true places it at once with synchronous calls (a save's batch, see
   * radar/grpc/urgency.ts) rather than with thread-pool round trips alongside the next files.
   */
  readonly placeNow?: () => boolean;
};

export class LocalTree implements Receiver {
  readonly root: string;
  readonly #hasher: Hasher;
  readonly #writer: TreeWriter;
  readonly #anchor: string | undefined;
  readonly #hooks: PinHooks | undefined;
  readonly #verify: ((signal?: AbortSignal) => Promise<void>) | undefined;
  readonly #pace: (() => Promise<void> | undefined) | undefined;
  readonly #sliceMs: () => number;
  readonly #placeNow: (() => boolean) | undefined;
  readonly #signatures: SignatureCache | undefined;
  /** Small writes this tree keeps in flight at once, and their bytes. */
  readonly #writeConcurrency: number;
  #started: Promise<void> | undefined;

  constructor(opts: LocalTreeOptions) {
    this.root = opts.root;
    this.#hasher = opts.hasher;
    this.#writer = new TreeWriter(opts);
    this.#anchor = opts.anchor;
    this.#hooks = opts.hooks;
    this.#verify = opts.verify;
    this.#pace = opts.pace;
    this.#sliceMs = opts.sliceMs ?? (() => APPLY_SLICE_MS);
    this.#placeNow = opts.placeNow;
    this.#signatures = opts.signatures;
    this.#writeConcurrency = opts.placePool ? GROUPED_WRITE_CONCURRENCY : WRITE_CONCURRENCY;
  }

  /** Remove temp files a crashed earlier run left behind. Idempotent. */
  start(signal?: AbortSignal): Promise<void> {
    this.#started ??= cleanTemp(this.root, signal, this.#anchor).then(() => undefined);
    return this.#started;
  }

  /** Pinned directories are held only while a call runs (closed at its end); present for the lifecycle convention. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest> {
    // The sender's rules decide what is synced; the receiver's own ignore files do not (they may be stale).
    const base = { hasher: this.#hasher, rules, readIgnoreFiles: false, ...(signal ? { signal } : {}) };
    // Scanned through the pinned root (its own path's components opened with O_NOFOLLOW), each directory beneath
    // it entered inside its parent without following a symlink (dir.ts), so a directory swapped for a symlink
    // mid-scan lists nothing outside the root. A missing root is scanned by path: an empty manifest, as scanTree gives it.
    const scan = (opts: ScanOptions) =>
      existsSync(this.root) ? this.#writer.pinned((pins) => scanTree(this.root, { ...opts, dir: hooked(pins.root, this.#hooks) })) : scanTree(this.root, opts);
    if (known === undefined) return (await scan(base)).manifest;
    // Stat only; then hash just the files a rename or copy could reuse (candidates.ts).
    const { manifest } = await scan({ ...base, previous: known, hashFiles: false });
    const toHash = targetFilesToHash(manifest, createdSizes(known, manifest));
    if (toHash.length === 0) return manifest;
    const out = new Map(manifest);
    for (const [p, found] of await this.digests(toHash, signal)) {
      const e = manifest.get(p)!;
      if (found.size === e.size && found.mtimeMs === e.mtimeMs) out.set(p, { ...e, digest: found.digest! });
    }
    return out;
  }

  /** Confined like every access (a directory swapped for a symlink since the scan is not followed out of the root). */
  async digests(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest> {
    const out = new Map<RelPath, Entry>();
    await this.#writer.pinned((pins) => {
      for (const path of paths) {
        signal?.throwIfAborted();
        try {
          const p = pins.parent(checkRelPath(path)); // inside the pinned parent: no swapped directory followed
          const st = p.dir.lstat(p.name);
          if (st === undefined || !st.isFile()) continue;
          const h = hashFile(p.dir.at(p.name), this.#hasher, st.size); // O_NOFOLLOW
          if (h !== null) out.set(path, { path, kind: 'file', mode: st.mode & 0o7777, size: h.size, mtimeMs: Math.floor(st.mtimeMs), digest: h.digest });
        } catch (err) {
          if (signal?.aborted) throw err;
          // Not a file we may read: left out, so the sender sends the content instead.
        }
      }
    });
    return out;
  }

  /** A directory's remove checks the contents it expects (TreeWriter.remove). */
  checksDirContents(): boolean {
    return true;
  }

  /** Writes may carry their digest after their content. */
  acceptsDigestAtEnd(): boolean {
    return true;
  }

  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    this.#writer.beginBatch();
    try {
      for (const path of paths) {
        signal?.throwIfAborted();
        yield { path, signature: await this.#signature(path, signal) };
      }
    } finally {
      this.#writer.endBatch();
    }
  }

  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    await this.#verify?.(signal);
    let applied = 0;
    let bytesSent = 0;
    const errors: PathError[] = [];
    const countLiterals = async function* (body: AsyncIterable<DeltaOp>): AsyncIterable<DeltaOp> {
      for await (const d of body) {
        if (d.kind === 'literal') bytesSent += d.data.byteLength;
        yield d;
      }
    };
    this.#writer.beginBatch(); // the batch's operations share pinned directories
    // Small writes run WRITE_CONCURRENCY at a time (their filesystem calls on the thread pool) while the next ops
    // are received; any other op waits until they are all done, so the plan's order holds for mkdir (a directory
    // before its files), move, copy, symlink, meta and remove. Writes to distinct paths may finish in any order
    // (as the sender may send them in any order); a second write to a path in flight waits for the first.
    const running = new Map<RelPath, Promise<void>>();
    let runningBytes = 0;
    // Woken when any write in flight settles. Not Promise.race over the writes in flight: that adds a reaction to
    // each of them per wait, hundreds per file once the writes in flight are many.
    let freed: (() => void) | undefined;
    let sinceDrain = 0;
    const failed = (path: RelPath, err: unknown): void => {
      errors.push(pathError(path, err));
    };
    const drain = async (): Promise<void> => {
      sinceDrain = 0;
      while (running.size > 0) await Promise.all(running.values());
    };
    // The list is held until the batch ends: a batch of nothing but refusals must not grow it without bound.
    const checkErrors = (): void => {
      if (errors.length >= MAX_ERRORS_PER_BATCH) {
        throw new KxError(ErrorCode.Limit, `batch refused: ${errors.length} paths failed (the first: ${errors[0].path}: ${errors[0].message}); radar stops at ${MAX_ERRORS_PER_BATCH}`);
      }
    };
    let sliceEnd = performance.now() + this.#sliceMs();
    try {
      for await (const op of ops) {
        signal?.throwIfAborted();
        // One frame of small files is thousands of writes chained by microtasks: let the event loop run between
        // slices, so other calls on this radar (another folder's edit) are not held behind it.
        if (performance.now() >= sliceEnd) {
          await yieldToEventLoop();
          await this.#pace?.();
          sliceEnd = performance.now() + this.#sliceMs();
        }
        checkErrors();
        if (op.op === 'write' && op.size <= BUFFERED_WRITE_MAX_BYTES) {
          let content: readonly DeltaOp[];
          let digest: string | undefined;
          try {
            const buffered = bufferedBody(op.body);
            if (buffered === undefined) content = await deltaOps(countLiterals(op.body), op);
            else {
              bytesSent += checkedBytes(buffered, op);
              content = buffered;
            }
            // Asked now, right after the body was read through: the next write's content replaces it.
            digest = op.digestAtEnd?.();
          } catch (err) {
            if (signal?.aborted) throw signal.reason;
            failed(op.path, err);
            continue;
          }
          if (this.#placeNow?.() === true) {
            // In order with the writes in flight (none, in a save's batch), then placed before the next op is read.
            await drain();
            try {
              await this.#writer.writeBuffered(op, content, digest === undefined ? undefined : () => digest, true);
              applied++;
            } catch (err) {
              failed(op.path, err);
            }
            continue;
          }
          // Directories pinned meanwhile are trimmed only between calls: drain now and then to let that happen.
          if (running.has(op.path) || sinceDrain >= DRAIN_EVERY_WRITES) await drain();
          while (running.size >= this.#writeConcurrency || (running.size > 0 && runningBytes >= RUNNING_WRITE_MAX_BYTES)) await new Promise<void>((resolve) => (freed = resolve));
          sinceDrain++;
          const path = op.path;
          const size = op.size;
          runningBytes += size;
          const settled = (): void => {
            running.delete(path);
            runningBytes -= size;
            const wake = freed;
            freed = undefined;
            wake?.();
          };
          const task = this.#writer.writeBuffered(op, content, digest === undefined ? undefined : () => digest).then(
            () => {
              applied++;
              settled();
            },
            (err: unknown) => {
              failed(path, err);
              settled();
            },
          );
          running.set(path, task);
          continue;
        }
        await drain();
        checkErrors();
        try {
          if (op.op === 'write') {
            await this.#writer.apply(op, countLiterals(op.body), signal, op.digestAtEnd);
          } else {
            await this.#writer.apply(op, undefined, signal);
          }
          applied++;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          failed(op.path, err);
        }
      }
      await drain();
      checkErrors();
    } finally {
      // Nothing may still run in the batch's pinned directories when they are closed.
      await Promise.allSettled(running.values());
      this.#writer.endBatch();
    }
    if (signal?.aborted) throw signal.reason;
    return { applied, bytesSent, errors };
  }

  async #signature(path: RelPath, signal?: AbortSignal): Promise<Signature | null> {
    try {
      return await this.#writer.pinned(async (pins) => {
        const p = pins.parent(checkRelPath(path)); // inside the pinned parent; the file opened with O_NOFOLLOW
        return await signatureOf(p.dir.at(p.name), this.#hasher, signal, SYNC_SIGNATURE_MAX_BYTES, this.#signatures);
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      return null; // not a regular file we may read: the sender sends it whole, and the write reports any refusal
    }
  }
}

/** Per-path errors one batch may collect before it fails as a whole (LIMIT). */
export const MAX_ERRORS_PER_BATCH = 1000;
/**
 * Small writes one batch places at once. The thread pool has 4 threads (UV_THREADPOOL_SIZE); a few more in flight
 * keep them busy while the event loop verifies the next file.
 */
const WRITE_CONCURRENCY = 8;
/**
 * With a PlacePool the writes in flight are queued into groups for its thread: enough of them for a few groups
 * (PlacePool's GROUP_FILES), bounded in bytes too (each holds its content in memory until placed).
 */
const GROUPED_WRITE_CONCURRENCY = 256;
const RUNNING_WRITE_MAX_BYTES = 4 * 1024 * 1024;
/** Small writes between two points where none runs (so the pinned directories can be trimmed). */
const DRAIN_EVERY_WRITES = 512;
/** How long apply writes before it lets other work on the event loop run, unless told otherwise (sliceMs). */
const APPLY_SLICE_MS = 10;

/** Signatures of files up to this size are taken with synchronous reads (microseconds; no thread-pool trips). */
const SYNC_SIGNATURE_MAX_BYTES = 256 * 1024;

/** Files up to this size are received into memory and written by TreeWriter.writeBuffered. */
const BUFFERED_WRITE_MAX_BYTES = 1024 * 1024;

/**
 * A body that can hand over all of its content at once when it is already in memory (radar's ApplyFrameReader
 * does when the frame at hand holds the whole file), so a small file costs no async step per content item.
 */
export interface BufferedBody {
  /** All of the content, consumed; undefined (nothing consumed) when it is not all there: iterate the body then. */
  buffered(): readonly DeltaOp[] | undefined;
}

function bufferedBody(body: AsyncIterable<DeltaOp>): readonly DeltaOp[] | undefined {
  return 'buffered' in body && typeof body.buffered === 'function' ? (body as unknown as BufferedBody).buffered() : undefined;
}

/** deltaOps's bound, for content already in memory: its literal bytes. */
function checkedBytes(ops: readonly DeltaOp[], op: WriteOp): number {
  let bytes = 0;
  for (const d of ops) if (d.kind === 'literal') bytes += d.data.byteLength;
  if (bytes > op.size || ops.length > op.size + 1) {
    throw new KxError(ErrorCode.DigestMismatch, `${op.path}: more content than the announced ${op.size} bytes`);
  }
  return bytes;
}

/**
 * A small write's ops, read completely; refuses more than the op announced, so the buffer stays bounded (every op
 * adds at least one byte to the file).
 */
async function deltaOps(body: AsyncIterable<DeltaOp>, op: WriteOp): Promise<DeltaOp[]> {
  const out: DeltaOp[] = [];
  let bytes = 0;
  for await (const d of body) {
    if (d.kind === 'literal') bytes += d.data.byteLength;
    out.push(d);
    if (bytes > op.size || out.length > op.size + 1) {
      throw new KxError(ErrorCode.DigestMismatch, `${op.path}: more content than the announced ${op.size} bytes`);
    }
  }
  return out;
}

export function pathError(path: RelPath, err: unknown): PathError {
  const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
  return { path, code: kx.code, message: kx.message };
}

/**
 * The root as the scan walks it; with the test hook afterList, one that runs it after a directory was listed and
 * before each of its subdirectories is entered (where a swap races the scan).
 */
function hooked(root: ScanDir, hooks: PinHooks | undefined): ScanDir {
  if (hooks?.afterList === undefined) return root;
  const wrap = (dir: ScanDir, path: string): ScanDir => ({
    at: (name) => dir.at(name),
    list: () => dir.list(),
    enter: (name, shown) => {
      hooks.afterList?.(path);
      const sub = dir.enter(name, shown);
      return sub && wrap(sub, joinRel(path, name));
    },
    close: () => dir.close(),
  });
  return wrap(root, '');
}
