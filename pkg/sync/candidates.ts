// Which digests a stat-only sync still needs. Unchanged files are decided by size and mtime alone (rsync's quick
// check); a digest matters only where diff looks for content the receiver already holds: a file the sender
// created (no file at its path on the receiver) and a receiver file of the same size. Pure: no I/O.
import { ManifestTable } from './manifest-table.ts';
import type { Entry, Manifest, RelPath } from './types.ts';

/** Sizes (> 0) of the source's files that have no file at their path in the target: what a move or copy could serve. */
export function createdSizes(source: Manifest, target: Manifest, within?: (p: RelPath) => boolean): Set<number> {
  const sizes = new Set<number>();
  for (const s of source.values()) {
    if (s.kind !== 'file' || s.size === 0 || (within && !within(s.path))) continue;
    if (target.get(s.path)?.kind !== 'file') sizes.add(s.size);
  }
  return sizes;
}

/** The target's files without a digest whose size one of `sizes` has: the receiver hashes these for diff. */
export function targetFilesToHash(target: Manifest, sizes: ReadonlySet<number>): RelPath[] {
  const out: RelPath[] = [];
  if (sizes.size === 0) return out;
  for (const t of target.values()) if (t.kind === 'file' && t.digest === undefined && sizes.has(t.size)) out.push(t.path);
  return out;
}

/** The source's created files without a digest that a target file of the same size (with a digest) may hold. */
export function createdFilesToHash(source: Manifest, target: Manifest, within?: (p: RelPath) => boolean): RelPath[] {
  // The source's candidates first: a continuous sync passes a handful, and most have none (an edit in place).
  const created: Entry[] = [];
  for (const s of source.values()) {
    if (s.kind !== 'file' || s.digest !== undefined || s.size === 0 || (within && !within(s.path))) continue;
    if (target.get(s.path)?.kind !== 'file') created.push(s);
  }
  if (created.length === 0) return [];
  const held = digestedFileSizes(target, new Set(created.map((s) => s.size)));
  return created.filter((s) => held.has(s.size)).map((s) => s.path);
}

/** Which of `sizes` a file with a digest in `target` has: from a compact table's columns when it is one. */
function digestedFileSizes(target: Manifest, sizes: ReadonlySet<number>): Set<number> {
  if (target instanceof ManifestTable) return target.digestedFileSizes(sizes);
  const held = new Set<number>();
  for (const t of target.values()) {
    if (held.size === sizes.size) break;
    if (t.kind === 'file' && t.digest !== undefined && sizes.has(t.size)) held.add(t.size);
  }
  return held;
}
