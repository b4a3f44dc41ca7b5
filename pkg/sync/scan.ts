// Scan a directory tree into a Manifest: lstat-based (symlinks stored, never followed), ignore files applied as
// directories are entered (ignored directories are not descended), file digests streamed with xxh64.
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ErrorCode, KxError, fromFsError } from './errors.ts';
import { checkAborted } from './fileio.ts';
import { digestHex } from './hash.ts';
import type { Hasher } from './hash.ts';
import { IGNORE_FILE_NAMES, compileRuleSet, decideIgnored, parseIgnoreFile } from './ignore.ts';
import type { CompiledRuleSet } from './ignore.ts';
import { repoIgnoreRules } from './repo-ignore.ts';
import { checkRelPath, isAtOrBeneath, isAtOrBeneathAny, isTempName, joinRel, parentOf, sortPaths } from './paths.ts';
import type { Entry, IgnoreRuleSet, Manifest, RelPath } from './types.ts';

/**
 * A directory held open (scanTree's `dir`): every name is looked up inside it, whatever happened to its path since
 * it was opened. The receiver's Dir is one (Linux, /proc/self/fd); the scan by path needs none.
 */
export interface ScanDir {
  /** A path the kernel resolves inside this directory: the directory itself, or its entry `name` (never to be followed). */
  at(name?: string): string;
  list(): string[];
  /** Subdirectory `name`, opened without following a symlink; undefined when it is gone or no longer a directory. */
  enter(name: string, shown?: string): ScanDir | undefined;
  close(): void;
}

export interface ScanProgress {
  files: number;
  dirs: number;
  bytes: number;
  path: RelPath;
}

export interface ScanOptions {
  hasher: Hasher;
  /** Extra rules (per-spec patterns, or the sender's rules on the receiver side); ignore files found win over them. */
  rules?: readonly IgnoreRuleSet[];
  /** Default true: read .gitignore and .kxignore in every directory entered. */
  readIgnoreFiles?: boolean;
  /**
   * Default false. True (the sender, on the developer's machine): the rules the root inherits from the git work
   * tree it lies in (repo-ignore.ts) apply first, below opts.rules, and are part of the result's rules.
   */
  repoIgnoreFiles?: boolean;
  /** Reuse digests of files whose size and mtime are unchanged. */
  previous?: Manifest;
  /**
   * Default true. False: stat only (rsync's quick check) — a file's digest is taken from `previous` when its size
   * and mtime are unchanged and left undefined otherwise; whoever needs one hashes just that file (hashFile).
   */
  hashFiles?: boolean;
  /** Called at most every PROGRESS_INTERVAL_MS, and once at the end. */
  onProgress?: (p: ScanProgress) => void;
  signal?: AbortSignal;
  /**
   * scanTree only: the root, held open (not closed by the scan). The tree beneath it is walked through it, each
   * subdirectory entered without following a symlink and its children listed, lstat'ed and read inside it, so a
   * directory swapped for a symlink mid-scan is never followed out of the tree (radar, scanning a container's files
   * as root). At most one directory held open per level of depth.
   */
  dir?: ScanDir;
}

export interface ScanResult {
  manifest: Manifest;
  /** Everything that applied: the given rules, then the ignore files read (parents before children). */
  rules: IgnoreRuleSet[];
}

export const PROGRESS_INTERVAL_MS = 100;

/** Scan the tree at root. A missing root gives an empty manifest; a root that is not a directory is refused. */
export async function scanTree(root: string, opts: ScanOptions): Promise<ScanResult> {
  checkAborted(opts.signal, `scan of ${root}`);
  const scanner = new Scanner(root, opts);
  if (opts.dir === undefined && !rootExists(root)) return { manifest: scanner.entries, rules: scanner.rules };
  const dir = opts.dir ?? new PathDir(root);
  const sets = await scanner.enterDir('', scanner.given, dir);
  await scanner.walkDir('', sets, dir);
  await scanner.done();
  return { manifest: scanner.entries, rules: scanner.rules };
}

/**
 * Entries at and beneath these paths (a dir is scanned recursively); a path that is gone or ignored maps to null.
 * The ignore files of each path's ancestors apply, read afresh, after opts.rules (pass the per-spec rules, not a
 * previous ScanResult.rules: rule sets identical to ones read are dropped, but stale ones would still apply).
 */
export async function scanPaths(
  root: string,
  paths: readonly RelPath[],
  opts: ScanOptions & { rules: readonly IgnoreRuleSet[] },
): Promise<Map<RelPath, Entry | null>> {
  checkAborted(opts.signal, `scan of ${root}`);
  if (opts.dir !== undefined) throw new KxError(ErrorCode.InvalidArgument, `scan of ${root}: scanPaths scans by path only`);
  const scanner = new Scanner(root, opts);
  const result = new Map<RelPath, Entry | null>();
  const wanted = sortPaths(new Set(paths.map(checkRelPath)));
  if (!rootExists(root)) {
    for (const p of wanted) result.set(p, null);
    return result;
  }
  const dirSets = new Map<RelPath | '', Promise<CompiledRuleSet[] | null>>();
  // The rule sets in force inside dir, or null when dir is not a real, unignored directory.
  const setsFor = (dir: RelPath | ''): Promise<CompiledRuleSet[] | null> => {
    let sets = dirSets.get(dir);
    if (sets === undefined) {
      sets = dir === '' ? scanner.enterDir('', scanner.given, new PathDir(root)) : enterChild(dir);
      dirSets.set(dir, sets);
    }
    return sets;
  };
  const enterChild = async (dir: RelPath): Promise<CompiledRuleSet[] | null> => {
    const parentSets = await setsFor(parentOf(dir));
    if (parentSets === null) return null;
    const st = lstatOrNull(join(root, dir));
    if (st === null || !st.isDirectory() || decideIgnored(parentSets, dir, true)) return null;
    return scanner.enterDir(dir, parentSets, new PathDir(join(root, dir)));
  };
  const covered: RelPath[] = [];
  for (const p of wanted) {
    // Sorted in tree order, so a directory already scanned precedes everything beneath it.
    if (covered.length > 0 && isAtOrBeneath(p, covered[covered.length - 1])) continue;
    const sets = await setsFor(parentOf(p));
    const entry = sets === null ? null : await scanner.visit(p, sets);
    if (entry === null) {
      result.set(p, null);
      continue;
    }
    if (entry.kind === 'dir') covered.push(p);
  }
  await scanner.done();
  for (const [p, e] of scanner.entries) result.set(p, e);
  return result;
}

/**
 * The manifest after a scanPaths: everything at or beneath the scanned paths is replaced by what the scan found
 * (a directory's subtree is complete in the scan, so anything missing from it is gone).
 */
export function updateManifest(previous: Manifest, paths: readonly RelPath[], scanned: ReadonlyMap<RelPath, Entry | null>): Map<RelPath, Entry> {
  const touched = new Set(paths);
  const next = new Map<RelPath, Entry>();
  for (const [p, e] of previous) {
    if (!isAtOrBeneathAny(p, touched)) next.set(p, e);
  }
  for (const [p, e] of scanned) {
    if (e !== null) next.set(p, e);
  }
  return next;
}

// ---- internals ----

/**
 * Work between two yields to the event loop. The scan uses synchronous fs calls: on a warm tree of small files they
 * cost a fraction of the promise API's per-call overhead (measured ~3× faster for 10,000 files), and yielding every
 * few milliseconds keeps the process responsive (timers, gRPC, abort).
 */
const SLICE_MS = 8;
const READ_BUFFER = 256 * 1024;

class Scanner {
  readonly entries = new Map<RelPath, Entry>();
  readonly rules: IgnoreRuleSet[] = [];
  readonly given: CompiledRuleSet[] = [];
  readonly #root: string;
  readonly #opts: ScanOptions;
  readonly #readIgnoreFiles: boolean;
  readonly #ruleKeys = new Set<string>();
  readonly #buf = new Uint8Array(READ_BUFFER);
  readonly #progress: ScanProgress = { files: 0, dirs: 0, bytes: 0, path: '' };
  #lastProgress = 0;
  #sliceStart = performance.now();

  constructor(root: string, opts: ScanOptions) {
    this.#root = root;
    this.#opts = opts;
    this.#readIgnoreFiles = opts.readIgnoreFiles ?? true;
    for (const set of [...(opts.repoIgnoreFiles === true ? repoIgnoreRules(root) : []), ...(opts.rules ?? [])]) {
      if (!this.#addRules(set)) continue;
      this.given.push(compileRuleSet(set));
    }
  }

  /** The rule sets in force inside dir (held open as `at`): the parent's plus dir's own ignore files (unless identical to known ones). */
  async enterDir(dir: RelPath | '', parentSets: CompiledRuleSet[], at: ScanDir): Promise<CompiledRuleSet[]> {
    if (!this.#readIgnoreFiles) return parentSets;
    let sets = parentSets;
    for (const name of IGNORE_FILE_NAMES) {
      const text = readIgnoreFile(at.at(name));
      if (text === null) continue;
      const set: IgnoreRuleSet = { base: dir, patterns: parseIgnoreFile(text) };
      if (set.patterns.length === 0 || !this.#addRules(set)) continue;
      sets = [...sets, compileRuleSet(set)];
    }
    return sets;
  }

  /**
   * Scan everything inside dir (whose own entry, if any, is already recorded), held open as `at`: its children are
   * listed, lstat'ed and read through it, each subdirectory entered without following a symlink and closed when its
   * walk ends.
   */
  async walkDir(dir: RelPath | '', sets: CompiledRuleSet[], at: ScanDir): Promise<void> {
    await this.#maybeYield();
    let names: string[];
    try {
      names = at.list();
    } catch (err) {
      if (isGone(err)) return; // removed while scanning
      throw fromFsError(err, join(this.#root, dir));
    }
    names.sort();
    const subdirs: { path: RelPath; name: string }[] = [];
    for (const name of names) {
      if (isTempName(name)) continue;
      const child = at.at(name);
      const st = lstatOrNull(child);
      if (st === null) continue;
      const path = joinRel(dir, name);
      const kind = kindOf(st);
      if (kind === null || decideIgnored(sets, path, kind === 'dir')) continue;
      this.#record(path, kind, st, child);
      if (kind === 'dir') subdirs.push({ path, name });
      await this.#maybeYield();
    }
    for (const { path, name } of subdirs) {
      const sub = at.enter(name, path);
      if (sub === undefined) {
        this.#rerecord(path, at.at(name), sets); // swapped (or removed) since listed: record what is there now
        continue;
      }
      try {
        await this.walkDir(path, await this.enterDir(path, sets, sub), sub);
      } finally {
        sub.close();
      }
    }
  }

  /** Record path (and, for a directory, everything beneath it); null when it is gone, ignored or not syncable. */
  async visit(path: RelPath, sets: CompiledRuleSet[]): Promise<Entry | null> {
    const st = lstatOrNull(join(this.#root, path));
    if (st === null) return null;
    const kind = kindOf(st);
    if (kind === null || decideIgnored(sets, path, kind === 'dir')) return null;
    this.#record(path, kind, st);
    if (kind === 'dir') {
      const at = new PathDir(join(this.#root, path));
      await this.walkDir(path, await this.enterDir(path, sets, at), at);
    }
    return this.entries.get(path) ?? null;
  }

  /** Report final progress. */
  async done(): Promise<void> {
    checkAborted(this.#opts.signal, `scan of ${this.#root}`);
    this.#opts.onProgress?.({ ...this.#progress });
  }

  #addRules(set: IgnoreRuleSet): boolean {
    const key = JSON.stringify([set.base, set.patterns]);
    if (this.#ruleKeys.has(key)) return false;
    this.#ruleKeys.add(key);
    this.rules.push({ base: set.base, patterns: [...set.patterns] });
    return true;
  }

  /** path is no longer the directory it was listed as: record what lstat finds there now (never followed). */
  #rerecord(path: RelPath, at: string, sets: CompiledRuleSet[]): void {
    this.entries.delete(path);
    const st = lstatOrNull(at);
    const kind = st === null ? null : kindOf(st);
    if (st === null || kind === null || kind === 'dir' || decideIgnored(sets, path, false)) return;
    this.#record(path, kind, st, at);
  }

  /** at: where to read path's content (its path, or its name inside the directory held open: ScanDir.at). */
  #record(path: RelPath, kind: Entry['kind'], st: Stats, at: string = join(this.#root, path)): void {
    const mtimeMs = Math.floor(st.mtimeMs);
    if (kind === 'dir') {
      this.entries.set(path, { path, kind, mode: st.mode & 0o7777, size: 0, mtimeMs });
      this.#progress.dirs++;
      this.#report(path);
      return;
    }
    if (kind === 'symlink') {
      let target: string;
      try {
        target = readlinkSync(at);
      } catch (err) {
        if (isGone(err)) return;
        throw fromFsError(err, at);
      }
      this.entries.set(path, { path, kind, mode: 0o777, size: 0, mtimeMs, target });
      return;
    }
    const mode = st.mode & 0o7777;
    const prev = this.#opts.previous?.get(path);
    if (prev?.kind === 'file' && prev.digest !== undefined && prev.size === st.size && prev.mtimeMs === mtimeMs) {
      this.entries.set(path, { path, kind, mode, size: st.size, mtimeMs, digest: prev.digest });
      this.#countFile(path, st.size);
      return;
    }
    if (this.#opts.hashFiles === false) {
      this.entries.set(path, { path, kind, mode, size: st.size, mtimeMs });
      this.#countFile(path, st.size);
      return;
    }
    const hashed = hashFileInto(at, st.size, this.#opts.hasher, this.#buf);
    if (hashed === null) return;
    this.entries.set(path, { path, kind, mode, size: hashed.size, mtimeMs, digest: hashed.digest });
    this.#countFile(path, hashed.size);
  }

  async #maybeYield(): Promise<void> {
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await yieldToEventLoop();
    this.#sliceStart = performance.now();
    checkAborted(this.#opts.signal, `scan of ${this.#root}`);
  }

  #countFile(path: RelPath, size: number): void {
    this.#progress.files++;
    this.#progress.bytes += size;
    this.#report(path);
  }

  #report(path: RelPath): void {
    const onProgress = this.#opts.onProgress;
    if (onProgress === undefined) return;
    const now = performance.now();
    if (now - this.#lastProgress < PROGRESS_INTERVAL_MS) return;
    this.#lastProgress = now;
    this.#progress.path = path;
    onProgress({ ...this.#progress });
  }
}

/** xxh64 of the file at abs (never followed if a symlink); null when it vanished or became a symlink. */
export function hashFile(abs: string, hasher: Hasher, sizeHint = 0): { size: number; digest: string } | null {
  return hashFileInto(abs, sizeHint, hasher, new Uint8Array(Math.min(READ_BUFFER, Math.max(4096, sizeHint + 1))));
}

/** xxh64 of the file, streamed through one buffer; null when it vanished or became a symlink since lstat. */
function hashFileInto(abs: string, statSize: number, hasher: Hasher, buf: Uint8Array): { size: number; digest: string } | null {
  let fd: number;
  try {
    // O_NONBLOCK: a file swapped for a FIFO since the lstat must not stall the scan on open (no effect on files).
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (isGone(err) || code === 'ELOOP') return null;
    throw fromFsError(err, abs);
  }
  try {
    if (!fstatSync(fd).isFile()) return null; // no longer a regular file since the lstat: not ours to read
    let n = readSync(fd, buf, 0, buf.length, 0);
    // Most files of a source tree fit the buffer: one read, one hash call. A file that grows meanwhile gets a
    // new mtime, so the next scan rehashes it.
    if (n < buf.length && n === statSize) return { size: n, digest: digestHex(hasher.h64(buf.subarray(0, n))) };
    const hash = hasher.stream();
    let size = 0;
    while (n > 0) {
      hash.update(buf.subarray(0, n));
      size += n;
      n = readSync(fd, buf, 0, buf.length, size);
    }
    return { size, digest: hash.digest() };
  } catch (err) {
    throw fromFsError(err, abs);
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: Stats): Entry['kind'] | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return null; // sockets, fifos, devices are not synced
}

function rootExists(root: string): boolean {
  let st: Stats | undefined;
  try {
    st = statSync(root, { throwIfNoEntry: false }); // the root itself may be a symlink to the tree
  } catch (err) {
    if (isGone(err)) return false;
    throw fromFsError(err, root);
  }
  if (st === undefined) return false;
  if (!st.isDirectory()) throw new KxError(ErrorCode.InvalidArgument, `${root}: sync root is not a directory`);
  return true;
}

/**
 * A directory by its path: the sender's scan, on the developer's own files, and scanPaths. A subdirectory is
 * entered by joining its name (its lstat just said it is a directory; nothing to hold open).
 */
class PathDir implements ScanDir {
  readonly #abs: string;

  constructor(abs: string) {
    this.#abs = abs;
  }

  at(name?: string): string {
    return name === undefined ? this.#abs : join(this.#abs, name);
  }

  list(): string[] {
    return readdirSync(this.#abs);
  }

  enter(name: string): ScanDir {
    return new PathDir(join(this.#abs, name));
  }

  close(): void {
    // nothing held
  }
}

function lstatOrNull(abs: string): Stats | null {
  try {
    return lstatSync(abs, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if (isGone(err)) return null;
    throw fromFsError(err, abs);
  }
}

/** A regular ignore file's text, or null when there is none (symlinked ignore files are not followed, as in git). */
function readIgnoreFile(abs: string): string | null {
  const st = lstatOrNull(abs);
  if (st === null || !st.isFile()) return null;
  let fd: number;
  try {
    // A swap for a symlink since the lstat is not followed; for a FIFO, not waited on.
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isGone(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return null;
    throw fromFsError(err, abs);
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    return readFileSync(fd, 'utf8');
  } catch (err) {
    throw fromFsError(err, abs);
  } finally {
    closeSync(fd);
  }
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
