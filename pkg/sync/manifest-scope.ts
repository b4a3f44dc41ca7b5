// The part of a manifest a continuous sync touches: the paths at or beneath a batch's scopes, found without walking
// or sorting the whole tree when no scope is a directory (a save), and the manifests the sync loop owns updated in
// place, so one save costs what it changed, not what the tree holds.
import { ManifestTable } from './manifest-table.ts';
import { isAtOrBeneathAny, parentOf } from './paths.ts';
import type { Entry, EntryKind, Manifest, PathError, RelPath } from './types.ts';

/**
 * The manifest's paths at or beneath any scope. A scope that is a directory neither in `m` nor in `other` (the
 * manifest it is compared with) stands for itself: a manifest holds nothing beneath a path unless one of the two
 * has a directory there. So only directory scopes cost a walk of the manifest.
 */
export function keysWithin(m: Manifest, scopes: Iterable<RelPath>, other?: Manifest): RelPath[] {
  const out: RelPath[] = [];
  const dirs: RelPath[] = [];
  for (const p of scopes) {
    const kind = kindOf(m, p);
    if (kind === 'dir' || (other !== undefined && kindOf(other, p) === 'dir')) dirs.push(p);
    else if (kind !== undefined) out.push(p);
  }
  if (dirs.length === 0) return out;
  const found = new Set(out);
  if (m instanceof ManifestTable && dirs.length <= 8) {
    for (const p of m.keysAtOrBeneath(dirs)) if (!found.has(p)) out.push(p);
    return out;
  }
  const beneath = beneathAny(new Set(dirs));
  for (const p of m.keys()) if (!found.has(p) && beneath(p)) out.push(p);
  return out;
}

/**
 * The kind of m's entry at p: a compact table reads it from its columns (a batch's scopes are looked up in the
 * manifests several times per sync, and making each entry cost more than the lookup).
 */
function kindOf(m: Manifest, p: RelPath): EntryKind | undefined {
  return m instanceof ManifestTable ? m.kindOf(p) : m.get(p)?.kind;
}

/** The entries of `m` at the given paths, as a manifest of their own (a small view of a large tree). */
export function subset(m: Manifest, paths: Iterable<RelPath>): Map<RelPath, Entry> {
  const out = new Map<RelPath, Entry>();
  for (const p of paths) {
    const e = m.get(p);
    if (e !== undefined) out.set(p, e);
  }
  return out;
}

/**
 * The manifest as a Map the caller may change: the sync loop owns the manifests it passes in (Maps, or compact
 * ManifestTables, which behave as Maps), so a continuous sync updates them in place rather than copying a large tree
 * per save.
 */
export function owned(m: Manifest): Map<RelPath, Entry> {
  return m instanceof Map || m instanceof ManifestTable ? (m as Map<RelPath, Entry>) : new Map(m);
}

/**
 * Replace, in place, the entries at or beneath the rescanned paths with what the scan found (null: gone). A path
 * the scan found again is overwritten where it is, not removed and added: in a compact table each removal leaves a
 * dead row, and a burst's thousands of them made the table copy itself.
 */
export function replaceScanned(m: Map<RelPath, Entry>, paths: readonly RelPath[], scanned: ReadonlyMap<RelPath, Entry | null>): void {
  for (const p of keysWithin(m, paths)) if (!scanned.get(p)) m.delete(p);
  for (const [p, e] of scanned) if (e !== null) m.set(p, e);
}

/**
 * What the receiver holds after a plan within scopes was sent, updated in place: the plan's result (`effective`)
 * within the scopes, the old entries elsewhere; each failed path (and what is beneath it) keeps its old entries.
 */
export function settleScoped(remote: Map<RelPath, Entry>, effective: Manifest, scopes: ReadonlySet<RelPath>, errors: readonly PathError[]): void {
  const before = new Map<RelPath, Entry>();
  for (const p of keysWithin(remote, scopes, effective)) before.set(p, remote.get(p)!);
  const after = keysWithin(effective, scopes, before);
  // Paths the plan left in place are overwritten where they are (see replaceScanned), only the others removed.
  const kept = new Set(after);
  for (const p of before.keys()) if (!kept.has(p)) remote.delete(p);
  for (const p of after) remote.set(p, effective.get(p)!);
  if (errors.length === 0) return;
  const failed = new Set(errors.map((e) => e.path));
  for (const p of keysWithin(remote, failed)) if (!before.has(p) && isAtOrBeneathAny(p, scopes)) remote.delete(p);
  for (const [p, e] of before) if (isAtOrBeneathAny(p, failed)) remote.set(p, e);
}

/** A test for "at or beneath one of these directories", by prefix for a few and through each path's parents for many. */
function beneathAny(dirs: ReadonlySet<RelPath>): (p: RelPath) => boolean {
  if (dirs.size > 8) {
    return (p) => {
      for (let q: RelPath | '' = p; q !== ''; q = parentOf(q)) if (dirs.has(q)) return true;
      return false;
    };
  }
  const prefixes = [...dirs].map((d) => `${d}/`);
  return (p) => dirs.has(p) || prefixes.some((d) => p.startsWith(d));
}
