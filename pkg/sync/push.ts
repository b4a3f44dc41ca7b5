// The sender's orchestration of a sync: scan, compare with the receiver, and send the plan in batches — writes
// as block deltas against the receiver's signatures when the receiver has a file there, whole otherwise.
// Pure: the engine and a Receiver (in-process tree or gRPC client); no transport of its own.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { createDelta, wholeFile } from './delta.ts';
import { DEFAULT_SAFETY_LIMITS, nextAncestor, reconcile, safetyHalt, type Conflict, type Plan, type SafetyLimits, type SyncMode } from './reconcile.ts';
import { ErrorCode, KxError, fromFsError } from './errors.ts';
import { checkAborted, openRegularFile, readFull } from './fileio.ts';
import type { Hasher } from './hash.ts';
import { isAtOrBeneathAny, parentOf } from './paths.ts';
import { createdFilesToHash, createdSizes, targetFilesToHash } from './candidates.ts';
import { hashFile, scanPaths, scanTree, updateManifest } from './scan.ts';
import { SignatureFeed } from './signature-feed.ts';
import { WHOLE_FILE_BELOW } from './threshold.ts';
import type { BatchOp, BatchWrite, DeltaOp, Entry, IgnoreRuleSet, Manifest, Op, PathError, Receiver, RelPath, Signature, WriteOp } from './types.ts';

export interface PushProgress { phase: 'scan' | 'compare' | 'send'; files: number; totalFiles: number; bytes: number; totalBytes: number }
export interface PushOptions {
  root: string;
  receiver: Receiver;
  hasher: Hasher;
  rules: readonly IgnoreRuleSet[];
  /** Files smaller than this go whole even when the receiver has a basis (default WHOLE_FILE_BELOW, measured). */
  wholeFileBelow?: number;
  onProgress?: (p: PushProgress) => void;
  signal?: AbortSignal;
  /** What the sync may change (see reconcile.ts); absent: mirror with no halts. */
  safety?: SafetyOptions;
}
export interface SafetyOptions {
  mode: SyncMode;
  /** What kx last synced into this receiver; undefined = never synced it. */
  ancestor: Manifest | undefined;
  limits?: SafetyLimits;
  /** The user confirmed: send even a plan that would halt, and replace conflicting receiver entries. */
  confirmed?: boolean;
}
export interface PushResult {
  local: Manifest;
  /** The receiver's tree as it now is, as far as the sender knows (paths that failed keep their old entries). */
  remote: Manifest;
  ops: number;
  /** What the plan changed: files (and links) written, moved, copied or re-moded; paths removed. */
  counts: OpCounts;
  bytesSent: number;
  errors: readonly PathError[];
  /** What kx has synced into the receiver after this push (for the next one's safety). */
  ancestor: Manifest;
  /** Receiver entries left alone although the local tree differs. */
  conflicts: readonly Conflict[];
  /** Receiver files that only exist there and that kx never wrote: left alone. */
  foreign: number;
  /** Paths removed in the receiver (remove ops that took effect). */
  removed: readonly RelPath[];
  /** Files and links deleted in the receiver, including those beneath removed directories. */
  deletedFiles: number;
  /** Set when nothing was sent because the plan would have been unsafe (see safetyHalt). */
  halt?: string;
  /**
   * Set when nothing was sent because a continuous sync would remove a directory in safe mode: the receiver may
   * hold files made there since the last full manifest, so the caller runs a full sync instead (which sees them).
   */
  needsFullSync?: boolean;
}

export interface OpCounts {
  files: number;
  removed: number;
}

export function countOps(ops: readonly Op[]): OpCounts {
  let files = 0;
  let removed = 0;
  for (const op of ops) {
    if (op.op === 'remove') removed++;
    else if (op.op !== 'mkdir') files++;
  }
  return { files, removed };
}

/** A batch is acknowledged as a unit; bounded so one ack (and its signature request) stays small. */
export const BATCH_MAX_OPS = 2000;
export const BATCH_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Initial/resume sync: scan both sides, diff, send. The scans only stat (rsync's quick check): a file of equal size
 * and mtime on both sides is taken as equal; digests are computed only for rename/copy candidates and, as they are
 * read, for the files sent. `previousLocal` lends its digests to files whose size and mtime are unchanged.
 */
export async function syncTree(opts: PushOptions & { previousLocal?: Manifest }): Promise<PushResult> {
  const { hasher, signal } = opts;
  const progress = progressOf(opts);
  const scanned = await scanTree(opts.root, {
    hasher,
    rules: opts.rules,
    hashFiles: false,
    repoIgnoreFiles: true,
    ...(opts.previousLocal ? { previous: opts.previousLocal } : {}),
    onProgress: (p) => progress('scan', p.files, 0, p.bytes, 0),
    ...(signal ? { signal } : {}),
  });
  progress('compare', 0, 0, 0, 0);
  // The receiver must leave out what the sender ignores, ignore files included, or the plan would delete it.
  // (syncPaths takes the per-spec rules only: scanPaths reads the ignore files above each path afresh.)
  // Our files tell the receiver what not to read (same size and mtime) and which of its files may serve a rename.
  const remote = await opts.receiver.manifest(scanned.rules, signal, scanned.manifest);
  const local = new Map(scanned.manifest);
  hashCandidates(opts.root, local, remote, hasher, null);
  return planAndSend(local, remote, null, opts);
}

/** Continuous sync: rescan only these local paths, diff against the last known remote manifest, send. */
export async function syncPaths(opts: PushOptions & { paths: readonly RelPath[]; local: Manifest; remote: Manifest }): Promise<PushResult> {
  const { hasher, signal } = opts;
  const scopes = new Set(opts.paths);
  const changed = await scanPaths(opts.root, opts.paths, { hasher, rules: opts.rules, previous: opts.local, hashFiles: false, repoIgnoreFiles: true, ...(signal ? { signal } : {}) });
  const local = updateManifest(opts.local, opts.paths, changed);
  // A new file in a new directory needs its parents created even if the watcher only named the file.
  for (const [p, e] of changed) {
    if (!e) continue;
    for (let dir = parentOf(p); dir !== '' && !local.has(dir); dir = parentOf(dir)) {
      const entry = await dirEntry(opts.root, dir);
      if (!entry) break;
      local.set(dir, entry);
      scopes.add(dir);
    }
  }
  const remote = await withReceiverDigests(local, opts.remote, scopes, opts.receiver, signal);
  hashCandidates(opts.root, local, remote, hasher, scopes);
  return planAndSend(local, remote, scopes, opts);
}

/** Plan under the safety options, halt or send, and say what the receiver now holds. */
async function planAndSend(local: Map<RelPath, Entry>, remote: Manifest, scopes: ReadonlySet<RelPath> | null, opts: PushOptions): Promise<PushResult> {
  const safety = opts.safety ?? { mode: 'mirror', ancestor: undefined, confirmed: true };
  const plan = reconcile(local, remote, {
    mode: safety.mode,
    ancestor: safety.ancestor,
    ...(scopes !== null && { paths: [...scopes] }),
    ...(safety.confirmed && { overwriteConflicts: true }),
  });
  if (scopes !== null && safety.mode === 'safe' && plan.ops.some((o) => o.op === 'remove' && remote.get(o.path)?.kind === 'dir')) {
    return { ...unsent(plan, local, remote), ancestor: safety.ancestor ?? new Map(), needsFullSync: true };
  }
  const managed = safety.mode === 'mirror' ? remote : (safety.ancestor ?? new Map<RelPath, Entry>());
  const halt = safety.confirmed ? null : safetyHalt(plan, local, remote, managed, safety.limits ?? DEFAULT_SAFETY_LIMITS);
  if (halt !== null) {
    return { ...unsent(plan, local, remote), ancestor: safety.ancestor ?? new Map(), halt };
  }
  const sent = await sendPlan(plan.ops, local, opts);
  const failed = new Set(sent.errors.map((e) => e.path));
  // The receiver's side as it is now: the plan's result, with the local entries (and digests learned sending them).
  const effective = plan.effective === local ? local : withLocalEntries(plan, local);
  return {
    local,
    remote: expectedRemote(effective, remote, scopes, sent.errors),
    ops: plan.ops.length,
    counts: countOps(plan.ops),
    bytesSent: sent.bytesSent,
    errors: sent.errors,
    ancestor: nextAncestor(safety.ancestor, plan, local, scopes, failed),
    conflicts: plan.conflicts,
    foreign: plan.foreign,
    removed: plan.removed.filter((p) => !failed.has(p)),
    deletedFiles: plan.deletedFiles,
  };
}

function unsent(plan: Plan, local: Manifest, remote: Manifest): Omit<PushResult, 'ancestor'> {
  return { local, remote, ops: 0, counts: countOps([]), bytesSent: 0, errors: [], conflicts: plan.conflicts, foreign: plan.foreign, removed: [], deletedFiles: 0 };
}

function withLocalEntries(plan: Plan, local: Manifest): Manifest {
  const out = new Map(plan.effective);
  for (const [p, e] of local) if (!plan.kept.has(p) && out.has(p)) out.set(p, e);
  return out;
}

/** Hash the local files (within scopes) that diff may find on the receiver under another path: see candidates.ts. */
function hashCandidates(root: string, local: Map<RelPath, Entry>, remote: Manifest, hasher: Hasher, scopes: ReadonlySet<RelPath> | null): void {
  for (const p of createdFilesToHash(local, remote, scopes ? (q) => isAtOrBeneathAny(q, scopes) : undefined)) {
    const e = local.get(p)!;
    const h = hashFile(join(root, p), hasher, e.size);
    // A file that changed since the scan keeps no digest: it is then simply sent.
    if (h !== null && h.size === e.size) local.set(p, { ...e, digest: h.digest });
  }
}

/**
 * The remote manifest with digests, asked of the receiver, for its files within scopes (gone or changed here) that
 * a created local file of the same size may have moved from: stat-only scans left most remote entries undigested.
 */
async function withReceiverDigests(
  local: Manifest,
  remote: Manifest,
  scopes: ReadonlySet<RelPath>,
  receiver: Receiver,
  signal?: AbortSignal,
): Promise<Manifest> {
  if (receiver.digests === undefined) return remote;
  const within = (p: RelPath): boolean => isAtOrBeneathAny(p, scopes);
  const wanted = targetFilesToHash(remote, createdSizes(local, remote, within)).filter(within);
  if (wanted.length === 0) return remote;
  const found = await receiver.digests(wanted, signal);
  if (found.size === 0) return remote;
  const out = new Map(remote);
  for (const [p, e] of found) {
    const r = remote.get(p);
    // Only for the file we know there: one changed behind our back is left to the write that replaces it.
    if (r?.kind === 'file' && r.size === e.size && r.mtimeMs === e.mtimeMs && e.digest !== undefined) out.set(p, { ...r, digest: e.digest });
  }
  return out;
}

interface Sent { bytesSent: number; errors: PathError[] }

/**
 * Send the plan. Writes whose digest is unknown get it as their content is read (digest at end) when the receiver
 * takes that, else by hashing the file first; either way `local` learns the digests of the files that landed.
 */
async function sendPlan(ops: readonly Op[], local: Map<RelPath, Entry>, opts: PushOptions): Promise<Sent> {
  const total = { files: ops.length, bytes: ops.reduce((n, op) => n + (op.op === 'write' ? op.size : 0), 0) };
  const done = { files: 0, bytes: 0 };
  const progress = progressOf(opts);
  const report = (): void => progress('send', done.files, total.files, done.bytes, total.bytes);
  const learned = new Map<RelPath, string>();
  const ctx: SendContext = { opts, done, report, digestAtEnd: opts.receiver.acceptsDigestAtEnd?.() ?? false, learned };
  report();
  let bytesSent = 0;
  const errors: PathError[] = [];
  for (const batch of batches(ops)) {
    const r = await sendBatch(batch, ctx, true);
    bytesSent += r.bytesSent;
    // Content that did not rebuild to its digest (the receiver's basis or source changed under us): once more, whole.
    const retry = new Set(r.errors.filter((e) => e.code === ErrorCode.DigestMismatch).map((e) => e.path));
    const again = batch.filter((op) => retry.has(op.path)).map((op) => asWholeWrite(op, local)).filter((op) => op !== null);
    const kept = r.errors.filter((e) => !again.some((op) => op.path === e.path));
    errors.push(...kept);
    if (again.length > 0) {
      const r2 = await sendBatch(again, ctx, false);
      bytesSent += r2.bytesSent;
      errors.push(...r2.errors);
    }
  }
  const failed = new Set(errors.map((e) => e.path));
  for (const [p, digest] of learned) {
    const e = local.get(p);
    if (e?.kind === 'file' && e.digest === undefined && !failed.has(p)) local.set(p, { ...e, digest });
  }
  return { bytesSent, errors };
}

interface SendContext {
  opts: PushOptions;
  done: { files: number; bytes: number };
  report: () => void;
  /** The receiver takes a write's digest after its content. */
  digestAtEnd: boolean;
  /** Digests of written files, computed as they were read. */
  learned: Map<RelPath, string>;
}

async function sendBatch(batch: readonly Op[], ctx: SendContext, allowDelta: boolean): Promise<{ bytesSent: number; errors: readonly PathError[] }> {
  const { opts } = ctx;
  const threshold = opts.wholeFileBelow ?? WHOLE_FILE_BELOW;
  const wantDelta = allowDelta
    ? batch.filter((op): op is WriteOp => op.op === 'write' && op.basis === 'delta' && op.size >= threshold).map((op) => op.path)
    : [];
  // One signature stream for the whole batch (one round trip, not one per file), read while the batch is sent.
  const feed = new SignatureFeed(opts.receiver, wantDelta, opts.signal);
  try {
    const res = await opts.receiver.apply(batchOps(batch, feed, new Set(wantDelta), ctx), opts.signal);
    return { bytesSent: res.bytesSent, errors: res.errors };
  } finally {
    await feed.close();
  }
}

/**
 * The batch's ops with their content. A write that waits for its signature is held back while the ops after it
 * go out, and sent as soon as the signature is in — but before the next op that is not a write: writes to
 * distinct paths may pass one another, nothing else may (the plan's order matters for mkdir, move and remove).
 */
async function* batchOps(batch: readonly Op[], feed: SignatureFeed, wanted: ReadonlySet<RelPath>, ctx: SendContext): AsyncIterable<BatchOp> {
  const held: WriteOp[] = [];
  // Signatures arrive in the order they were asked for, which is the order writes were held in.
  async function* release(all: boolean): AsyncIterable<BatchOp> {
    while (held.length > 0) {
      const w = held[0];
      const sig = all ? await feed.get(w.path) : feed.peek(w.path);
      if (sig === undefined) return;
      held.shift();
      yield* sendOp(w, sig, ctx);
    }
  }
  for (const op of batch) {
    ctx.opts.signal?.throwIfAborted();
    if (op.op !== 'write') {
      yield* release(true);
      yield* sendOp(op, null, ctx);
      continue;
    }
    yield* release(false);
    if (!wanted.has(op.path)) {
      yield* sendOp(op, null, ctx);
      continue;
    }
    const sig = held.length === 0 ? feed.peek(op.path) : undefined;
    if (sig === undefined) held.push(op);
    else yield* sendOp(op, sig, ctx);
  }
  yield* release(true);
}

async function* sendOp(op: Op, sig: Signature | null, ctx: SendContext): AsyncIterable<BatchOp> {
  const { opts, done } = ctx;
  if (op.op !== 'write') {
    yield op;
    done.files++;
    ctx.report();
    return;
  }
  const abs = join(opts.root, op.path);
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
  if (hashing) {
    const h = hashing;
    const path = op.path;
    yield {
      ...out,
      digestAtEnd: () => {
        const d = h.result();
        if (d !== '') ctx.learned.set(path, d);
        return d;
      },
    };
  } else yield out;
  done.files++;
  ctx.report();
}

/** The digest of a file's content as it is read for sending; '' until the read reached the end. */
class ContentHash {
  readonly #stream: ReturnType<Hasher['stream']>;
  #digest = '';

  constructor(hasher: Hasher) {
    this.#stream = hasher.stream();
  }

  update(data: Uint8Array): void {
    this.#stream.update(data);
  }

  finish(): void {
    this.#digest = this.#stream.digest();
  }

  result(): string {
    return this.#digest;
  }
}

/** The file's bytes, hashed on their way to the delta encoder (which copies what it keeps before the next read). */
async function* hashedChunks(chunks: AsyncIterable<Uint8Array>, hash: ContentHash | null): AsyncIterable<Uint8Array> {
  if (hash === null) {
    yield* chunks;
    return;
  }
  for await (const c of chunks) {
    hash.update(c);
    yield c;
  }
  hash.finish();
}

/** A whole file's literal chunks, hashed as they go. */
async function* hashedLiterals(body: AsyncIterable<DeltaOp>, hash: ContentHash | null): AsyncIterable<DeltaOp> {
  if (hash === null) {
    yield* body;
    return;
  }
  for await (const d of body) {
    if (d.kind === 'literal') hash.update(d.data);
    yield d;
  }
  hash.finish();
}

/** Read size of the delta pass: whole blocks of big files come from few calls. */
const DELTA_READ_BYTES = 1024 * 1024;

/**
 * The file's bytes for the delta, read again and again into one buffer: the encoder copies what it takes before
 * asking for the next chunk, so nothing is kept. A fresh chunk per read (a ReadStream) left ~60 MiB of garbage
 * and ~140 ms of GC on a 200 MiB file.
 */
async function* reusedChunks(abs: string, sizeHint: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  if (sizeHint <= SMALL_FILE_BYTES) {
    for await (const d of smallFile(abs, signal)) if (d.kind === 'literal') yield d.data;
    return;
  }
  const fh = await openRegularFile(abs);
  try {
    // No bigger than the file (plus a little, to see its end in one read): small files are the common case.
    const buf = new Uint8Array(Math.min(DELTA_READ_BYTES, Math.max(4096, sizeHint + 1)));
    for (let position = 0; ; ) {
      checkAborted(signal, `read of ${abs}`);
      const n = await readFull(fh, buf, buf.length, position);
      if (n > 0) yield n === buf.length ? buf : buf.subarray(0, n);
      if (n < buf.length) return;
      position += n;
    }
  } finally {
    await fh.close();
  }
}

/** Files up to this size are read with synchronous calls in one go (see smallFile). */
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * A small file as one literal, read synchronously: for small files the thread-pool round trip of each async
 * call costs more than the call. A file that grew past the limit since the scan is streamed instead.
 */
async function* smallFile(abs: string, signal?: AbortSignal): AsyncIterable<DeltaOp> {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fromFsError(err, abs);
  }
  let data: Uint8Array | null;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${abs}: no longer a regular file`);
    if (st.size > SMALL_FILE_BYTES) data = null;
    else {
      const buf = Buffer.allocUnsafe(st.size);
      let n = 0;
      for (let r = -1; n < buf.length && r !== 0; n += r) r = readSync(fd, buf, n, buf.length - n, n);
      data = buf.subarray(0, n);
    }
  } catch (err) {
    throw fromFsError(err, abs);
  } finally {
    closeSync(fd);
  }
  if (data === null) yield* wholeFile(abs, signal);
  else if (data.byteLength > 0) yield { kind: 'literal', data };
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
  if (w.basis === 'delta') return w;
  const { blockSize: _unused, ...rest } = w;
  return rest;
}

function asWholeWrite(op: Op, local: Manifest): WriteOp | null {
  const e = local.get(op.path);
  if (op.op === 'write') return { ...stripBlockSize(op), basis: 'whole' };
  if ((op.op === 'move' || op.op === 'copy') && e?.kind === 'file' && e.digest !== undefined) {
    return { op: 'write', path: op.path, mode: e.mode, mtimeMs: e.mtimeMs, size: e.size, digest: e.digest, basis: 'whole' };
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

/**
 * What the receiver holds after a plan: the local tree within `scopes` (everything when null), the old remote
 * elsewhere, and for each failed path its old remote entries.
 */
function expectedRemote(local: Manifest, remote: Manifest, scopes: ReadonlySet<RelPath> | null, errors: readonly PathError[]): Manifest {
  const out = new Map<RelPath, Entry>();
  if (scopes === null) for (const [p, e] of local) out.set(p, e);
  else {
    for (const [p, e] of remote) if (!isAtOrBeneathAny(p, scopes)) out.set(p, e);
    for (const [p, e] of local) if (isAtOrBeneathAny(p, scopes)) out.set(p, e);
  }
  if (errors.length > 0) {
    const failed = new Set(errors.map((e) => e.path));
    for (const p of out.keys()) if (isAtOrBeneathAny(p, failed)) out.delete(p);
    for (const [p, e] of remote) if (isAtOrBeneathAny(p, failed)) out.set(p, e);
  }
  return out;
}

async function dirEntry(root: string, dir: RelPath): Promise<Entry | null> {
  try {
    const st = await lstat(join(root, dir));
    if (!st.isDirectory()) return null;
    return { path: dir, kind: 'dir', mode: st.mode & 0o7777, size: 0, mtimeMs: Math.trunc(st.mtimeMs) };
  } catch {
    return null;
  }
}

function progressOf(opts: PushOptions): (phase: PushProgress['phase'], files: number, totalFiles: number, bytes: number, totalBytes: number) => void {
  const cb = opts.onProgress;
  return (phase, files, totalFiles, bytes, totalBytes) => cb?.({ phase, files, totalFiles, bytes, totalBytes });
}

