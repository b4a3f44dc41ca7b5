// The push pipeline: a plan's ops in bounded batches, each write's content read and encoded as it goes — a block
// delta against the receiver's signature when it has a file there, whole otherwise — with one signature stream
// per batch, and content that did not rebuild sent once more, whole. Pure: the engine and a Receiver.
import { join } from 'node:path';
import { createDelta, wholeFile } from './delta.ts';
import { ErrorCode } from './errors.ts';
import type { Hasher } from './hash.ts';
import { ContentHash, DirectFile, ReadSlab, SMALL_FILE_BYTES, hashedChunks, hashedLiterals, readSmallFile, reusedChunks, smallFile } from './local-content.ts';
import { digestHex } from './hash.ts';
import { hashFile } from './scan.ts';
import { SignatureFeed } from './signature-feed.ts';
import { WHOLE_FILE_BELOW } from './threshold.ts';
import type { BatchOp, BatchWrite, DeltaOp, Entry, Manifest, Op, PathError, Receiver, RelPath, Signature, WriteOp } from './types.ts';

export interface SendOptions {
  root: string;
  receiver: Receiver;
  hasher: Hasher;
  /** Files smaller than this go whole even when the receiver has a basis (default WHOLE_FILE_BELOW, measured). */
  wholeFileBelow?: number;
  signal?: AbortSignal;
  onProgress?: (files: number, totalFiles: number, bytes: number, totalBytes: number) => void;
  /** Waited for (when it returns a promise) before each op: see PushOptions.pace. */
  pace?: () => Promise<void> | undefined;
}

/** A batch is acknowledged as a unit; bounded so one ack (and its signature request) stays small. */
export const BATCH_MAX_OPS = 2000;
export const BATCH_MAX_BYTES = 64 * 1024 * 1024;

export interface Sent { bytesSent: number; errors: PathError[] }

/**
 * Send the plan. Writes whose digest is unknown get it as their content is read (digest at end) when the receiver
 * takes that, else by hashing the file first; either way `local` learns the digests of the files that landed.
 */
export async function sendPlan(ops: readonly Op[], local: Map<RelPath, Entry>, opts: SendOptions): Promise<Sent> {
  const total = { files: ops.length, bytes: ops.reduce((n, op) => n + (op.op === 'write' ? op.size : 0), 0) };
  const done = { files: 0, bytes: 0 };
  const report = (): void => opts.onProgress?.(done.files, total.files, done.bytes, total.bytes);
  const learned = new Map<RelPath, string>();
  const ctx: SendContext = { opts, done, report, digestAtEnd: opts.receiver.acceptsDigestAtEnd?.() ?? false, learned, slab: new ReadSlab() };
  report();
  let bytesSent = 0;
  const errors: PathError[] = [];
  const settle = async (f: InFlight): Promise<void> => {
    const r = await f.result;
    bytesSent += r.bytesSent;
    // Content that did not rebuild to its digest (the receiver's basis or source changed under us): once more, whole.
    const retry = new Set(r.errors.filter((e) => e.code === ErrorCode.DigestMismatch).map((e) => e.path));
    const again = f.batch.filter((op) => retry.has(op.path)).map((op) => asWholeWrite(op, local)).filter((op) => op !== null);
    const kept = r.errors.filter((e) => !again.some((op) => op.path === e.path));
    errors.push(...kept);
    if (again.length > 0) {
      const r2 = await sendBatch(again, ctx, false);
      bytesSent += r2.bytesSent;
      errors.push(...r2.errors);
    }
  };
  // One batch may wait for its ack while the next is read and sent (see mayOverlap): the receiver places the
  // files of one while the sender reads the next, where in turn each side would wait for the other.
  let waiting: InFlight | null = null;
  try {
    for (const batch of batches(ops)) {
      if (waiting !== null && !mayOverlap(waiting.batch, batch)) {
        const w = waiting;
        waiting = null;
        await settle(w);
      }
      const handedOver = Promise.withResolvers<void>();
      const current: InFlight = { batch, result: sendBatch(batch, ctx, true, handedOver.resolve) };
      // Observed below (settle) or, when this loop fails first, in finally.
      current.result.catch(() => undefined);
      await Promise.race([handedOver.promise, current.result]);
      const previous = waiting;
      waiting = current;
      if (previous !== null) await settle(previous);
    }
    if (waiting !== null) {
      const w = waiting;
      waiting = null;
      await settle(w);
    }
  } finally {
    // Nothing of this plan goes on after it returned or failed.
    if (waiting !== null) await waiting.result.catch(() => undefined);
  }
  const failed = new Set(errors.map((e) => e.path));
  for (const [p, digest] of learned) {
    const e = local.get(p);
    if (e?.kind === 'file' && e.digest === undefined && !failed.has(p)) local.set(p, { ...e, digest });
  }
  return { bytesSent, errors };
}

interface InFlight {
  readonly batch: readonly Op[];
  readonly result: Promise<{ bytesSent: number; errors: readonly PathError[] }>;
}

/**
 * Whether `next` may be sent while `previous` waits for its ack: both only write files, to distinct paths. A write
 * then depends on nothing the other batch does (its directory was made by a batch acked before; no move, copy or
 * remove of the other batch's can touch it), and the plan's order between them does not matter.
 */
function mayOverlap(previous: readonly Op[], next: readonly Op[]): boolean {
  if (!previous.every((op) => op.op === 'write') || !next.every((op) => op.op === 'write')) return false;
  const paths = new Set(previous.map((op) => op.path));
  return !next.some((op) => paths.has(op.path));
}

interface SendContext {
  opts: SendOptions;
  done: { files: number; bytes: number };
  report: () => void;
  /** The receiver takes a write's digest after its content. */
  digestAtEnd: boolean;
  /** Digests of written files, computed as they were read. */
  learned: Map<RelPath, string>;
  /** Where small files sent whole are read into. */
  slab: ReadSlab;
}

/** Sends one batch and waits for its ack; `onHandedOver` is called once the receiver has taken its last op. */
async function sendBatch(batch: readonly Op[], ctx: SendContext, allowDelta: boolean, onHandedOver?: () => void): Promise<{ bytesSent: number; errors: readonly PathError[] }> {
  const { opts } = ctx;
  const threshold = opts.wholeFileBelow ?? WHOLE_FILE_BELOW;
  const wantDelta = allowDelta
    ? batch.filter((op): op is WriteOp => op.op === 'write' && op.basis === 'delta' && op.size >= threshold).map((op) => op.path)
    : [];
  // One signature stream for the whole batch (one round trip, not one per file), read while the batch is sent.
  const feed = new SignatureFeed(opts.receiver, wantDelta, opts.signal);
  try {
    const res = await opts.receiver.apply(batchOps(batch, feed, new Set(wantDelta), ctx, onHandedOver), opts.signal);
    return { bytesSent: res.bytesSent, errors: res.errors };
  } finally {
    await feed.close();
  }
}

/**
 * The batch's ops with their content; `onHandedOver` is called once the last was taken (and the receiver asked for
 * more). A write that waits for its signature is held back while the ops after it go out, and sent as soon as the
 * signature is in — but before the next op that is not a write: writes to distinct paths may pass one another,
 * nothing else may (the plan's order matters for mkdir, move and remove). One generator for the batch: each level
 * of generators an op passes through costs it promises and turns of its own, thousands of ops per sync.
 */
async function* batchOps(batch: readonly Op[], feed: SignatureFeed, wanted: ReadonlySet<RelPath>, ctx: SendContext, onHandedOver?: () => void): AsyncIterable<BatchOp> {
  const held: WriteOp[] = [];
  // Signatures arrive in the order they were asked for, which is the order writes were held in.
  async function* release(all: boolean): AsyncIterable<BatchOp> {
    while (held.length > 0) {
      const w = held[0];
      const sig = all ? await feed.get(w.path) : feed.peek(w.path);
      if (sig === undefined) return;
      held.shift();
      const h = sendOp(w, sig, ctx);
      yield h.op;
      h.taken();
    }
  }
  for (const op of batch) {
    ctx.opts.signal?.throwIfAborted();
    const wait = ctx.opts.pace?.();
    if (wait) await wait;
    if (op.op !== 'write') {
      if (held.length > 0) yield* release(true);
      const h = sendOp(op, null, ctx);
      yield h.op;
      h.taken();
      continue;
    }
    if (held.length > 0) yield* release(false);
    const sig = !wanted.has(op.path) ? null : held.length === 0 ? feed.peek(op.path) : undefined;
    if (sig === undefined) {
      held.push(op);
      continue;
    }
    const h = sendOp(op, sig, ctx);
    yield h.op;
    h.taken();
  }
  if (held.length > 0) yield* release(true);
  onHandedOver?.();
}

/** An op ready to go, and what to count once the receiver has taken it (asked for the next). */
interface Handed {
  readonly op: BatchOp;
  readonly taken: () => void;
}

function sendOp(op: Op, sig: Signature | null, ctx: SendContext): Handed {
  const { opts, done } = ctx;
  if (op.op !== 'write') return { op, taken: () => fileTaken(ctx, 0) };
  const abs = join(opts.root, op.path);
  if (sig === null && (op.digest !== '' || ctx.digestAtEnd)) {
    const start = done.bytes;
    // A large file's progress as it is read; a small one's once it was.
    const direct = directWhole(op, abs, ctx, (n) => {
      done.bytes = start + Math.min(n, op.size);
      if (op.size > SMALL_FILE_BYTES) ctx.report();
    });
    return {
      op: direct,
      taken: () => {
        done.bytes = start;
        fileTaken(ctx, op.size);
      },
    };
  }
  if (sig === null && op.size <= SMALL_FILE_BYTES) {
    const small = smallWhole(op, abs, ctx);
    if (small !== null) return { op: small, taken: () => fileTaken(ctx, op.size) };
  }
  let write: WriteOp = sig ? { ...op, basis: 'delta', blockSize: sig.blockSize } : { ...op, basis: 'whole' };
  let hashing: ContentHash | null = null;
  if (write.digest === '' && ctx.digestAtEnd) hashing = new ContentHash(opts.hasher);
  else if (write.digest === '') {
    // The receiver wants the digest first: read the file twice.
    const h = hashFile(abs, opts.hasher, op.size);
    write = { ...write, digest: h?.digest ?? '' };
    if (h) ctx.learned.set(op.path, h.digest);
  }
  const content = sig
    ? createDelta(sig, hashedChunks(reusedChunks(abs, op.size, opts.signal), hashing), opts.hasher)
    : hashedLiterals(op.size <= SMALL_FILE_BYTES ? smallFile(abs, opts.signal) : wholeFile(abs, opts.signal), hashing);
  const out: BatchWrite = { ...stripBlockSize(write), body: counted(content, op.size, sig?.blockSize ?? 0, ctx) };
  const taken = (): void => fileTaken(ctx, 0);
  if (hashing === null) return { op: out, taken };
  const h = hashing;
  const path = op.path;
  return {
    op: {
      ...out,
      digestAtEnd: () => {
        const d = h.result();
        if (d !== '') ctx.learned.set(path, d);
        return d;
      },
    },
    taken,
  };
}

/** One more file taken by the receiver, its `bytes` (if not counted as it was read) with it. */
function fileTaken(ctx: SendContext, bytes: number): void {
  ctx.done.files++;
  ctx.done.bytes += bytes;
  ctx.report();
}

/**
 * A file sent whole, read as it goes out: by the frame writer straight into the outgoing frames (DirectFile), its
 * digest (when the scan left it unknown) computed from those bytes and sent after them.
 */
function directWhole(op: WriteOp, abs: string, ctx: SendContext, onRead: (bytes: number) => void): BatchWrite {
  const hashing = op.digest === '';
  const body = new DirectFile(abs, hashing ? ctx.opts.hasher : null, { ...(ctx.opts.signal && { signal: ctx.opts.signal }), onRead });
  if (!hashing) return { ...stripBlockSize(op), basis: 'whole', body };
  const path = op.path;
  return {
    ...stripBlockSize(op),
    basis: 'whole',
    body,
    digestAtEnd: () => {
      const d = body.digest();
      if (d !== '') ctx.learned.set(path, d);
      return d;
    },
  };
}

/**
 * A small file sent whole: read now in one synchronous call and hashed in one go, its digest sent with the op, and
 * its content one literal (no chain of async generators per file: a tree of small files is thousands of them).
 * A file that could not be read fails as its body is read (the batch goes on); one that grew past the limit
 * since the scan: null (streamed instead).
 */
function smallWhole(op: WriteOp, abs: string, ctx: SendContext): BatchWrite | null {
  let data: Uint8Array | null;
  try {
    data = readSmallFile(abs, ctx.slab);
  } catch (err) {
    return { ...stripBlockSize(op), basis: 'whole', body: failing(err as Error) };
  }
  if (data === null) return null;
  let digest = op.digest;
  if (digest === '') {
    digest = digestHex(ctx.opts.hasher.h64(data));
    ctx.learned.set(op.path, digest);
  }
  return { ...stripBlockSize(op), basis: 'whole', digest, body: data.byteLength > 0 ? once({ kind: 'literal', data }) : NONE };
}

/** One delta op as an async iterable, without a generator. */
function once(d: DeltaOp): AsyncIterable<DeltaOp> {
  return {
    [Symbol.asyncIterator]: () => {
      let given = false;
      return {
        next: () => {
          if (given) return Promise.resolve({ done: true, value: undefined });
          given = true;
          return Promise.resolve({ done: false, value: d });
        },
      };
    },
  };
}

const NONE: AsyncIterable<DeltaOp> = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }) };

/** A body that fails with err when it is read. */
function failing(err: Error): AsyncIterable<DeltaOp> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
}

/** Progress follows the sender's position in the file, not what crossed the wire. */
async function* counted(body: AsyncIterable<DeltaOp>, size: number, blockSize: number, ctx: SendContext): AsyncIterable<DeltaOp> {
  const start = ctx.done.bytes;
  for await (const d of body) {
    ctx.done.bytes = Math.min(start + size, ctx.done.bytes + (d.kind === 'literal' ? d.data.byteLength : d.count * blockSize));
    yield d;
  }
  ctx.done.bytes = start + size;
}

function stripBlockSize(w: WriteOp): WriteOp {
  // Most writes have none: an object rest per file was a visible share of a full sync's planning.
  if (w.basis === 'delta' || !('blockSize' in w)) return w;
  const { blockSize: _unused, ...rest } = w;
  return rest;
}

function asWholeWrite(op: Op, local: Manifest): WriteOp | null {
  const e = local.get(op.path);
  if (op.op === 'write') return { ...stripBlockSize(op), basis: 'whole' };
  if ((op.op === 'move' || op.op === 'copy') && e?.kind === 'file' && e.digest !== undefined) {
    return { op: 'write', path: op.path, mode: e.mode, mtimeMs: e.mtimeMs, size: e.size, digest: e.digest, basis: 'whole', ...(op.expect !== undefined && { expect: op.expect }) };
  }
  return null;
}

function* batches(ops: readonly Op[]): Iterable<Op[]> {
  let batch: Op[] = [];
  let bytes = 0;
  for (const op of ops) {
    batch.push(op);
    if (op.op === 'write') bytes += op.size;
    if (batch.length >= BATCH_MAX_OPS || bytes >= BATCH_MAX_BYTES) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}

