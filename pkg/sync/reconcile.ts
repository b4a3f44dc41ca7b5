// What a sync may change in the receiver, decided against the ancestor (what kx last synced there): in safe mode
// kx changes and deletes only what it put there itself; in mirror mode the receiver becomes an exact replica.
// Pure: manifests in, a plan out; the caller decides whether to send it (see safetyHalt).
import { diff, sameContent } from './diff.ts';
import { keysWithin, owned } from './manifest-scope.ts';
import { comparePaths, parentOf } from './paths.ts';
import type { Entry, Manifest, Op, RelPath } from './types.ts';

/** safe: never delete or overwrite what kx did not write; mirror: make the receiver an exact replica. */
export type SyncMode = 'safe' | 'mirror';

export interface ReconcileOptions {
  readonly mode: SyncMode;
  /** What kx last synced into this receiver; undefined = never synced it (first contact). */
  readonly ancestor: Manifest | undefined;
  /** Limit the plan to these paths and what is beneath them. */
  readonly paths?: readonly RelPath[];
  /** The user confirmed: conflicting receiver entries are replaced by the local ones (or deleted). */
  readonly overwriteConflicts?: boolean;
}

export interface EntryFacts {
  readonly kind: Entry['kind'];
  readonly size: number;
  readonly mtimeMs: number;
}

/** A receiver entry kx leaves alone although the local tree says otherwise. */
export interface Conflict {
  readonly path: RelPath;
  /** changed: kx wrote it and the container changed it since; foreign: the container made it, kx never wrote it. */
  readonly reason: 'changed' | 'foreign';
  /** null: the path is gone locally. */
  readonly local: EntryFacts | null;
  readonly remote: EntryFacts;
}

export interface Plan {
  readonly ops: Op[];
  /** What the receiver holds once the plan is applied: the source, except at kept paths (the receiver's entries). */
  readonly effective: Manifest;
  /** Receiver paths left as they are although the source differs (conflicts, container-only entries). */
  readonly kept: ReadonlySet<RelPath>;
  readonly conflicts: readonly Conflict[];
  /** Receiver files and links that exist only there and that kx never wrote: left alone. */
  readonly foreign: number;
  /** Files and links the plan deletes in the receiver (counting those beneath removed directories). */
  readonly deletedFiles: number;
  /** Paths of the plan's remove ops, in plan order. */
  readonly removed: readonly RelPath[];
}

/** When a plan must not be sent: thresholds of the bulk-delete halt. */
export interface SafetyLimits {
  /** Halt when a plan deletes more than this share of the files kx manages in the receiver (default 0.5)... */
  readonly deleteShare: number;
  /** ...and more than this many files (default 100). */
  readonly deleteMin: number;
}

export const DEFAULT_SAFETY_LIMITS: SafetyLimits = { deleteShare: 0.5, deleteMin: 100 };

/**
 * Plan the ops that bring the receiver (target) in line with the source under a mode. Safe mode, per receiver path
 * that differs from the source:
 * - unchanged since kx synced it (equal to the ancestor): kx updates or deletes it;
 * - changed in the receiver since (differs from the ancestor): kept, reported as a conflict;
 * - never written by kx (no ancestor entry): kept; reported as a conflict when the source has that path, counted as
 *   foreign otherwise — except at first contact (no ancestor at all), where the source wins at the paths it holds;
 * - a directory is deleted or replaced only when everything kx sees beneath it may be.
 * Entries equal on both sides are in sync whatever the ancestor says. Mode and mtime alone are always synced.
 */
export function reconcile(source: Manifest, target: Manifest, opts: ReconcileOptions): Plan {
  const diffOpts = opts.paths === undefined ? {} : { paths: opts.paths };
  if (opts.mode === 'mirror') {
    const ops = diff(source, target, diffOpts);
    return { ops, effective: source, kept: new Set(), conflicts: [], foreign: 0, ...deletions(ops, target) };
  }
  const { ancestor } = opts;
  const firstContact = ancestor === undefined;
  const force = opts.overwriteConflicts === true;
  const scope = opts.paths === undefined ? null : new Set(opts.paths);
  const inScope = (p: RelPath): boolean => scope === null || within(p, scope);

  const kept = new Set<RelPath>();
  /** Directories with a kept path beneath: never removed. */
  const holdsKept = new Set<RelPath>();
  const conflicts: Conflict[] = [];
  let foreign = 0;
  const keep = (p: RelPath): void => {
    kept.add(p);
    for (let d = parentOf(p); d !== '' && !holdsKept.has(d); d = parentOf(d)) holdsKept.add(d);
  };

  // Children before their directories, so a directory knows whether something beneath it is kept.
  const paths = inScopeKeys(target, scope, source).sort(comparePaths).reverse();
  for (const p of paths) {
    const t = target.get(p)!;
    const s = source.get(p);
    if (s !== undefined && inSync(s, t)) continue;
    const a = ancestor?.get(p);
    if (t.kind === 'dir') {
      if (s?.kind === 'dir') continue; // mode only
      // Deleted or replaced locally: only when kx made it and nothing kept lies beneath.
      const mayGo = !holdsKept.has(p) && (force || a?.kind === 'dir' || (firstContact && s !== undefined));
      if (mayGo) continue;
      keep(p);
      if (s !== undefined) conflicts.push(conflict(p, a === undefined ? 'foreign' : 'changed', s, t));
      continue;
    }
    if (force || (a !== undefined && unchangedSince(t, a)) || (a === undefined && firstContact && s !== undefined)) continue;
    keep(p);
    if (a === undefined && s === undefined) foreign++;
    else conflicts.push(conflict(p, a === undefined ? 'foreign' : 'changed', s, t));
  }
  // A kept file's parent directories must stay even where the source has none.
  for (const d of holdsKept) if (!source.has(d) && target.get(d)?.kind === 'dir' && inScope(d)) kept.add(d);

  const effective = kept.size === 0 ? source : overlay(source, target, kept);
  const ops = diff(effective, target, diffOpts);
  conflicts.sort((x, y) => comparePaths(x.path, y.path));
  return { ops, effective, kept, conflicts, foreign, ...deletions(ops, target) };
}

/**
 * Why a plan must not be sent as it is, or null. `managed`: the files kx manages in the receiver (safe mode: the
 * ancestor's files; mirror: all the receiver's files). Halts when the source is empty while the receiver still holds
 * files kx synced (a moved or unmounted folder), or when the plan deletes more than the limits allow.
 */
export function safetyHalt(plan: Plan, source: Manifest, target: Manifest, managed: Manifest, limits: SafetyLimits): string | null {
  if (plan.deletedFiles === 0) return null;
  if (source.size === 0 && [...managed.keys()].some((p) => target.get(p)?.kind === 'file')) {
    return 'the local folder is empty while the container holds files kx synced there';
  }
  // Within the minimum no share can halt: spare the count of a large tree (a save that deletes a file).
  if (plan.deletedFiles <= limits.deleteMin) return null;
  let managedFiles = 0;
  for (const [p, e] of managed) if (e.kind !== 'dir' && target.has(p)) managedFiles++;
  if (plan.deletedFiles > limits.deleteMin && plan.deletedFiles > limits.deleteShare * managedFiles) {
    return `one batch would delete ${plan.deletedFiles} of the ${managedFiles} files kx manages there (limit: over ${Math.round(limits.deleteShare * 100)}% and over ${limits.deleteMin})`;
  }
  return null;
}

/**
 * The ancestor after a plan was sent: within scope, what the plan put in the receiver (the local entry, with the
 * digest learned while sending); kept paths keep their old ancestor entry (so a conflict stays one); paths that failed
 * keep theirs too. Outside the scope nothing changes. With scopes (a continuous sync) a Map ancestor is updated in
 * place and returned: the ancestor belongs to the sync loop, and copying a large tree per save would cost latency.
 */
export function nextAncestor(
  ancestor: Manifest | undefined,
  plan: Plan,
  local: Manifest,
  scopes: ReadonlySet<RelPath> | null,
  failed: ReadonlySet<RelPath>,
): Map<RelPath, Entry> {
  const hasFailed = (p: RelPath): boolean => failed.size > 0 && within(p, failed);
  const fresh = (p: RelPath): boolean => !plan.kept.has(p) && !hasFailed(p);
  if (scopes === null) {
    const out = new Map<RelPath, Entry>();
    if (ancestor !== undefined) for (const [p, e] of ancestor) if (!fresh(p)) out.set(p, e);
    for (const [p, e] of plan.effective) if (fresh(p)) out.set(p, local.get(p) ?? e);
    return out;
  }
  // A continuous sync touches a few paths: update those in place (no copy or walk of the whole tree per save). A
  // path the plan keeps is overwritten where it is rather than removed and added again: in a compact table that
  // would leave a dead row per path, and a burst's thousands of them make the table copy itself over and over.
  const out = ancestor === undefined ? new Map<RelPath, Entry>() : owned(ancestor);
  const next = new Map<RelPath, Entry>();
  for (const p of inScopeKeys(plan.effective, scopes, ancestor)) if (fresh(p)) next.set(p, local.get(p) ?? plan.effective.get(p)!);
  for (const p of inScopeKeys(ancestor ?? out, scopes, plan.effective)) if (fresh(p) && !next.has(p)) out.delete(p);
  for (const [p, e] of next) out.set(p, e);
  return out;
}

/**
 * The manifest's paths at or beneath the scopes. When no scope is a directory there, those are the scopes
 * themselves (the common case of a save), found without walking the manifest.
 */
function inScopeKeys(m: Manifest, scopes: ReadonlySet<RelPath> | null, other?: Manifest): RelPath[] {
  return scopes === null ? [...m.keys()] : keysWithin(m, scopes, other);
}

// ---- internals ----

function inSync(s: Entry, t: Entry): boolean {
  if (s.kind !== t.kind) return false;
  if (s.kind === 'file') return sameContent(s, t);
  if (s.kind === 'symlink') return s.target === t.target;
  return true;
}

/** The receiver's entry is still what kx wrote (digests when both are known, else size and mtime, which kx sets). */
function unchangedSince(t: Entry, a: Entry): boolean {
  if (t.kind !== a.kind) return false;
  if (t.kind === 'symlink') return t.target === a.target;
  if (t.kind === 'dir') return true;
  if (t.size !== a.size) return false;
  if (t.digest !== undefined && a.digest !== undefined) return t.digest === a.digest;
  return t.mtimeMs === a.mtimeMs;
}

function conflict(path: RelPath, reason: Conflict['reason'], s: Entry | undefined, t: Entry): Conflict {
  return { path, reason, local: s === undefined ? null : facts(s), remote: facts(t) };
}

function facts(e: Entry): EntryFacts {
  return { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs };
}

/** The source with the receiver's entries at kept paths (and nothing of the source beneath a kept non-directory). */
function overlay(source: Manifest, target: Manifest, kept: ReadonlySet<RelPath>): Manifest {
  const out = new Map(source);
  const keptLeaves = [...kept].filter((p) => target.get(p)!.kind !== 'dir');
  for (const p of kept) out.set(p, target.get(p)!);
  if (keptLeaves.length > 0) {
    const leaves = new Set(keptLeaves);
    for (const p of source.keys()) if (!leaves.has(p) && within(p, leaves)) out.delete(p);
  }
  return out;
}

function deletions(ops: readonly Op[], target: Manifest): { deletedFiles: number; removed: RelPath[] } {
  const removed = ops.filter((o) => o.op === 'remove').map((o) => o.path);
  if (removed.length === 0) return { deletedFiles: 0, removed };
  const set = new Set(removed);
  let deletedFiles = 0;
  for (const p of keysWithin(target, set)) if (target.get(p)!.kind !== 'dir') deletedFiles++;
  return { deletedFiles, removed };
}

/** p is one of the set's paths or beneath one (checked through p's ancestors). */
function within(p: RelPath, set: ReadonlySet<RelPath>): boolean {
  for (let q: RelPath | '' = p; q !== ''; q = parentOf(q)) if (set.has(q)) return true;
  return false;
}
