// The sender's orchestration of a sync: scan, compare with the receiver, and send the plan in batches — writes
// as block deltas against the receiver's signatures when the receiver has a file there, whole otherwise.
// Pure: the engine and a Receiver (in-process tree or gRPC client); no transport of its own.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_SAFETY_LIMITS, nextAncestor, reconcile, safetyHalt, type Conflict, type Plan, type SafetyLimits, type SyncMode } from './reconcile.ts';
import type { Hasher } from './hash.ts';
import { isAtOrBeneathAny, parentOf } from './paths.ts';
import { createdFilesToHash, createdSizes, targetFilesToHash } from './candidates.ts';
import { keysWithin, owned, replaceScanned, settleScoped, subset } from './manifest-scope.ts';
import { hashFile, scanPaths, scanTree } from './scan.ts';
import { sendPlan } from './send-plan.ts';
import type { Entry, IgnoreRuleSet, Manifest, Op, PathError, PriorEntry, Receiver, RelPath } from './types.ts';

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
  /**
   * Asked between phases and before each op sent: a promise to wait for when more urgent work (another folder's
   * save) should go first, undefined otherwise. How a bulk sync gives way; absent: never waits.
   */
  pace?: () => Promise<void> | undefined;
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
  await opts.pace?.();
  // The receiver must leave out what the sender ignores, ignore files included, or the plan would delete it.
  // (syncPaths takes the per-spec rules only: scanPaths reads the ignore files above each path afresh.)
  // Our files tell the receiver what not to read (same size and mtime) and which of its files may serve a rename.
  const remote = await opts.receiver.manifest(scanned.rules, signal, scanned.manifest);
  const local = new Map(scanned.manifest);
  await opts.pace?.();
  hashCandidates(opts.root, local, remote, hasher, null);
  return planAndSend(local, remote, null, opts);
}

/**
 * Continuous sync: rescan only these local paths, diff against the last known remote manifest, send. The sync loop
 * owns `local` and `remote`: when they are Maps they are updated in place and returned (a copy of a large tree per
 * save would make every save cost the tree's size), `remote` only once the plan was sent.
 */
export async function syncPaths(opts: PushOptions & { paths: readonly RelPath[]; local: Manifest; remote: Manifest }): Promise<PushResult> {
  const { hasher, signal } = opts;
  const scopes = new Set(opts.paths);
  const changed = await scanPaths(opts.root, opts.paths, { hasher, rules: opts.rules, previous: opts.local, hashFiles: false, repoIgnoreFiles: true, ...(signal ? { signal } : {}) });
  const local = owned(opts.local);
  replaceScanned(local, opts.paths, changed);
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
  const remote = owned(opts.remote);
  await learnReceiverDigests(local, remote, scopes, opts.receiver, signal);
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
  // A continuous sync's view of a directory may miss what the container made in it since, and no view of kx's holds
  // the container's ignored files (a scan leaves them out). A receiver that checks a directory's contents before
  // removing it is told what kx knows there, in every sync and mode, so it keeps such a directory; in safe mode a
  // continuous sync with any other receiver defers to a full sync, which sees what the container made.
  const checksContents = opts.receiver.checksDirContents?.() === true;
  const checkContents = scopes !== null && safety.mode === 'safe' && plan.ops.some((o) => o.op === 'remove' && remote.get(o.path)?.kind === 'dir');
  if (checkContents && !(checksContents && plan.ops.every((o) => o.op !== 'remove' || fewBeneath(remote, o.path)))) {
    return { ...unsent(plan, local, remote), ancestor: safety.ancestor ?? new Map(), needsFullSync: true };
  }
  const managed = safety.mode === 'mirror' ? remote : (safety.ancestor ?? new Map<RelPath, Entry>());
  const halt = safety.confirmed ? null : safetyHalt(plan, local, remote, managed, safety.limits ?? DEFAULT_SAFETY_LIMITS);
  if (halt !== null) {
    return { ...unsent(plan, local, remote), ancestor: safety.ancestor ?? new Map(), halt };
  }
  const progress = progressOf(opts);
  // Between full syncs `remote` is kx's last view, not a fresh scan: each op carries that view of its path, so a
  // file the container changed since is left alone (CHANGED) rather than overwritten or deleted.
  const ops = scopes === null ? (checksContents ? withDirContents(plan.ops, remote) : plan.ops) : withPriors(plan.ops, remote, checksContents);
  const sent = await sendPlan(ops, local, {
    root: opts.root,
    receiver: opts.receiver,
    hasher: opts.hasher,
    ...(opts.wholeFileBelow !== undefined && { wholeFileBelow: opts.wholeFileBelow }),
    ...(opts.signal && { signal: opts.signal }),
    ...(opts.pace && { pace: opts.pace }),
    onProgress: (files, totalFiles, bytes, totalBytes) => progress('send', files, totalFiles, bytes, totalBytes),
  });
  const failed = new Set(sent.errors.map((e) => e.path));
  // The receiver's side as it is now: the plan's result, with the local entries (and digests learned sending them).
  let settled: Manifest;
  if (scopes === null) settled = expectedRemote(plan.effective === local ? local : withLocalEntries(plan, local), remote, sent.errors);
  else {
    const mine = owned(remote);
    settleScoped(mine, effectiveWithin(plan, local, scopes), scopes, sent.errors);
    settled = mine;
  }
  return {
    local,
    remote: settled,
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

/**
 * Each op with the entry `remote` holds at its path as its precondition. Only the first op at a path (or beneath a
 * directory an earlier op removed or moved) is checked: later ones meet what the plan itself made there.
 */
function withPriors(ops: readonly Op[], remote: Manifest, dirContents: boolean): Op[] {
  const touched = new Set<RelPath>();
  const touchedAbove = (p: RelPath): boolean => {
    for (let q = p; q !== ''; q = parentOf(q)) if (touched.has(q)) return true;
    return false;
  };
  return ops.map((op) => {
    const checked = op.op !== 'mkdir' && op.op !== 'meta' && !touchedAbove(op.path);
    touched.add(op.path);
    if (op.op === 'move') touched.add(op.from);
    if (!checked) return op;
    const e = remote.get(op.path);
    if (e === undefined) return { ...op, expect: null };
    const prior = { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs };
    return { ...op, expect: dirContents && op.op === 'remove' && e.kind === 'dir' && fewBeneath(remote, op.path) ? { ...prior, contents: contentsOf(remote, op.path) } : prior };
  });
}

/**
 * A full sync's ops, each directory's remove expecting what the fresh scan found beneath it: the container's ignored
 * files there (which no scan lists) keep the directory. Other ops need no precondition, the scan being fresh.
 */
function withDirContents(ops: readonly Op[], remote: Manifest): Op[] {
  return ops.map((op) => {
    const e = op.op === 'remove' ? remote.get(op.path) : undefined;
    if (e?.kind !== 'dir' || !fewBeneath(remote, op.path)) return op;
    return { ...op, expect: { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, contents: contentsOf(remote, op.path) } };
  });
}

/**
 * Everything `remote` holds beneath the directory `dir`, relative to it: what a remove of it expects to find there
 * (Prior.contents). Entries the plan moved out earlier are simply gone by then, which the check allows.
 */
function contentsOf(remote: Manifest, dir: RelPath): PriorEntry[] {
  const out: PriorEntry[] = [];
  const prefix = `${dir}/`;
  for (const p of keysWithin(remote, [dir])) {
    if (p === dir) continue;
    const e = remote.get(p)!;
    const rel = p.slice(prefix.length);
    out.push(e.kind === 'symlink' && e.target !== undefined ? { path: rel, kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, target: e.target } : { path: rel, kind: e.kind, size: e.size, mtimeMs: e.mtimeMs });
  }
  return out;
}

/** A directory whose listing fits in a remove op (beyond that a full sync is the cheaper check); true for a non-directory. */
function fewBeneath(remote: Manifest, path: RelPath): boolean {
  if (remote.get(path)?.kind !== 'dir') return true;
  let n = 0;
  for (const _ of keysWithin(remote, [path])) if (++n > MAX_EXPECTED_CONTENTS) return false;
  return true;
}

/** Entries a directory's remove may list as its expected contents (each about 60 bytes on the wire). */
const MAX_EXPECTED_CONTENTS = 20_000;

function unsent(plan: Plan, local: Manifest, remote: Manifest): Omit<PushResult, 'ancestor'> {
  return { local, remote, ops: 0, counts: countOps([]), bytesSent: 0, errors: [], conflicts: plan.conflicts, foreign: plan.foreign, removed: [], deletedFiles: 0 };
}

function withLocalEntries(plan: Plan, local: Manifest): Manifest {
  const out = new Map(plan.effective);
  for (const [p, e] of local) if (!plan.kept.has(p) && out.has(p)) out.set(p, e);
  return out;
}

/** withLocalEntries within the scopes only: what a continuous sync put in the receiver. */
function effectiveWithin(plan: Plan, local: Manifest, scopes: ReadonlySet<RelPath>): Manifest {
  const out = new Map<RelPath, Entry>();
  for (const p of keysWithin(plan.effective, scopes)) out.set(p, (!plan.kept.has(p) && local.get(p)) || plan.effective.get(p)!);
  return out;
}

/** Hash the local files (within scopes) that diff may find on the receiver under another path: see candidates.ts. */
function hashCandidates(root: string, local: Map<RelPath, Entry>, remote: Manifest, hasher: Hasher, scopes: ReadonlySet<RelPath> | null): void {
  for (const p of createdFilesToHash(scopes === null ? local : subset(local, keysWithin(local, scopes)), remote)) {
    const e = local.get(p)!;
    const h = hashFile(join(root, p), hasher, e.size);
    // A file that changed since the scan keeps no digest: it is then simply sent.
    if (h !== null && h.size === e.size) local.set(p, { ...e, digest: h.digest });
  }
}

/**
 * Digests, asked of the receiver and added to `remote` in place, of its files within scopes (gone or changed here)
 * that a created local file of the same size may have moved from: stat-only scans left most remote entries
 * undigested.
 */
async function learnReceiverDigests(
  local: Manifest,
  remote: Map<RelPath, Entry>,
  scopes: ReadonlySet<RelPath>,
  receiver: Receiver,
  signal?: AbortSignal,
): Promise<void> {
  if (receiver.digests === undefined) return;
  const sizes = createdSizes(subset(local, keysWithin(local, scopes)), remote);
  if (sizes.size === 0) return;
  const wanted = targetFilesToHash(subset(remote, keysWithin(remote, scopes)), sizes);
  if (wanted.length === 0) return;
  const found = await receiver.digests(wanted, signal);
  for (const [p, e] of found) {
    const r = remote.get(p);
    // Only for the file we know there: one changed behind our back is left to the write that replaces it.
    if (r?.kind === 'file' && r.size === e.size && r.mtimeMs === e.mtimeMs && e.digest !== undefined) remote.set(p, { ...r, digest: e.digest });
  }
}

/** What the receiver holds after a full plan: the local tree, and for each failed path its old remote entries. */
function expectedRemote(local: Manifest, remote: Manifest, errors: readonly PathError[]): Manifest {
  const out = new Map<RelPath, Entry>(local);
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

