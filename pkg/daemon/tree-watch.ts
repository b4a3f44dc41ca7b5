// Watches a local tree for changes and tells each changed path, relative to the root and '/'-separated.
//
// Why not chokidar: chokidar keeps a record of every file and stats each one as it walks. Measured on a
// 100,000-file tree (2,100 directories), its walk took 2.5 s of CPU and left the process at 513 MB RSS. This watcher
// takes 0.19 s and 95 MB, because kx needs no record of its own. kx re-reads each reported path when it syncs it,
// so the watcher only has to say which paths changed, and whether one is gone (the batcher holds removals).
//
// On Linux one inotify watch per directory (fs.watch on the directory; libuv shares one inotify descriptor) reports
// its children: a directory that appears is watched and walked, and everything in it is reported (it may have
// been filled before its watch existed); one that goes away is unwatched with everything below it. Elsewhere
// (macOS, Windows) the platform's recursive watch already covers the tree at no per-directory cost.

import { watch, type FSWatcher, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RelPath } from '../sync/types.ts';

/** How long an empty file's report waits for its data (a truncate or create before the write). */
export const EMPTY_FILE_HOLD_MS = 10;

export interface TreeWatchEvents {
  /** `removed`: the path was gone when the watcher looked. */
  change(rel: RelPath, removed: boolean): void;
  error(message: string): void;
}

/** What the watcher leaves out (with what is below a directory it skips); `isDir` as the path was seen. */
export type TreeWatchSkip = (rel: RelPath, isDir: boolean) => boolean;

export interface TreeWatchOptions {
  /** One watch per directory (Linux's inotify) or the platform's recursive watch; default by platform. */
  readonly mode?: 'per-directory' | 'recursive';
}

export class TreeWatch {
  readonly #root: string;
  readonly #skip: TreeWatchSkip;
  readonly #events: TreeWatchEvents;
  readonly #mode: 'per-directory' | 'recursive';
  /** Watched directories by relative path ('' is the root). */
  readonly #dirs = new Map<RelPath, FSWatcher>();
  /** Paths being looked at (see #recheck); `again` when another event came meanwhile. */
  readonly #checks = new Map<RelPath, { again: boolean; moved: boolean }>();
  /** Empty files waiting for their data (see #hold). */
  readonly #held = new Map<RelPath, NodeJS.Timeout>();
  #lastEventAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(root: string, skip: TreeWatchSkip, events: TreeWatchEvents, opts: TreeWatchOptions = {}) {
    this.#root = root;
    this.#skip = skip;
    this.#events = events;
    this.#mode = opts.mode ?? (process.platform === 'linux' ? 'per-directory' : 'recursive');
  }

  /** Resolves once every directory of the tree is watched (a missing root is watched by nobody: the Folder looks). */
  async start(): Promise<void> {
    if (this.#mode === 'recursive') {
      this.#watchRecursive();
      return;
    }
    await this.#addTree('', false);
  }

  /** Directories watched now. */
  get watchedDirectories(): number {
    return this.#dirs.size;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const t of this.#held.values()) clearTimeout(t);
      this.#held.clear();
      for (const w of this.#dirs.values()) w.close();
      this.#dirs.clear();
    }
    return Promise.resolve();
  }

  #watchRecursive(): void {
    try {
      const w = watch(this.#root, { recursive: true }, (type, name) => {
        if (name === null) return;
        this.#recheck(toRel(String(name)), type === 'rename');
      });
      w.on('error', (err) => this.#fail(err));
      this.#dirs.set('', w);
    } catch (err) {
      if (!isGone(err)) this.#fail(err);
    }
  }

  /**
   * Watches the directory and everything below it the rules leave in. `report`: tell each path found (a directory
   * that appeared after the walk; its content may predate its watch). The watch comes before the listing, so what
   * is created between the two is seen by one or the other.
   */
  async #addTree(rel: RelPath, report: boolean): Promise<void> {
    if (this.#closed || this.#dirs.has(rel)) return;
    const abs = rel === '' ? this.#root : join(this.#root, rel);
    let w: FSWatcher;
    try {
      w = watch(abs, { persistent: true }, (type, name) => this.#event(rel, abs, type, name));
    } catch (err) {
      if (!isGone(err)) this.#fail(err);
      return;
    }
    w.on('error', (err) => this.#fail(err));
    this.#dirs.set(rel, w);
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (isGone(err)) this.#unwatch(rel);
      else this.#fail(err);
      return;
    }
    const subdirs: Promise<void>[] = [];
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      const isDir = e.isDirectory();
      if (this.#skip(child, isDir)) continue;
      if (report) this.#events.change(child, false);
      if (isDir) subdirs.push(this.#addTree(child, report));
    }
    await Promise.all(subdirs);
  }

  #event(dir: RelPath, abs: string, type: string, name: string | Buffer | null): void {
    if (this.#closed) return;
    if (name === null) {
      // The kernel did not say what changed: look at the directory's children again.
      void this.#rewalk(dir);
      return;
    }
    const text = String(name);
    const rel = dir === '' ? text : `${dir}/${text}`;
    const moved = type === 'rename';
    // Within a burst of events a write is told as it comes: the batcher holds the burst for a while anyway, so an
    // empty file's data lands before it is read. The first event after a quiet spell may go at once: it is looked at.
    const now = performance.now();
    const quiet = now - this.#lastEventAt > EMPTY_FILE_HOLD_MS;
    this.#lastEventAt = now;
    if (!moved && !quiet && !this.#checks.has(rel) && !this.#held.has(rel)) {
      if (!this.#skipped(rel, this.#dirs.has(rel))) this.#events.change(rel, false);
    } else this.#recheck(rel, moved);
    // inotify names a watched directory's own removal or move by its base name, as if it were a child of itself.
    if (moved && text === basename(abs) && dir !== '') this.#recheck(dir, true);
  }

  /**
   * Something changed at `rel`: look at what is there now, one look per path at a time (events that come during a
   * look make one more). `moved`: it may have appeared, gone or been replaced (a `rename`), not only written.
   */
  #recheck(rel: RelPath, moved: boolean): void {
    const running = this.#checks.get(rel);
    if (running !== undefined) {
      running.again = true;
      running.moved ||= moved;
      return;
    }
    const state = { again: true, moved };
    this.#checks.set(rel, state);
    void (async () => {
      try {
        while (state.again && !this.#closed) {
          const wasMoved = state.moved;
          state.again = false;
          state.moved = false;
          await this.#check(rel, wasMoved);
        }
      } finally {
        this.#checks.delete(rel);
      }
    })();
  }

  async #check(rel: RelPath, moved: boolean): Promise<void> {
    let stats: Stats | null;
    try {
      stats = await lstat(join(this.#root, rel));
    } catch (err) {
      if (!isGone(err)) {
        this.#fail(err);
        return;
      }
      stats = null;
    }
    if (this.#closed) return;
    const wasDir = this.#hasTree(rel);
    if (stats === null) {
      this.#release(rel);
      if (wasDir) this.#unwatch(rel);
      if (!this.#skipped(rel, wasDir)) this.#events.change(rel, true);
      return;
    }
    const isDir = stats.isDirectory();
    if (this.#skipped(rel, isDir)) {
      if (wasDir) this.#unwatch(rel);
      return;
    }
    if (stats.isFile() && stats.size === 0) {
      this.#hold(rel);
      return;
    }
    this.#release(rel);
    this.#events.change(rel, false);
    if (!moved || this.#mode === 'recursive') return;
    // A directory named by a `rename` may be another one than the watched one (moved in, or made anew: ext4 even
    // reuses the inode number), so its watches are made afresh and its content told again.
    if (wasDir) this.#unwatch(rel);
    if (isDir) await this.#addTree(rel, true);
  }

  /**
   * An empty file is most often one being written: created or truncated, its data not landed yet. Telling it now
   * would put an empty file in the container for a moment, so it is told when its data lands, or after
   * EMPTY_FILE_HOLD_MS (it is empty for good).
   */
  #hold(rel: RelPath): void {
    if (this.#held.has(rel)) return;
    this.#held.set(
      rel,
      setTimeout(() => {
        this.#held.delete(rel);
        if (!this.#closed) this.#events.change(rel, false);
      }, EMPTY_FILE_HOLD_MS),
    );
  }

  #release(rel: RelPath): void {
    const timer = this.#held.get(rel);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#held.delete(rel);
  }

  /** The directory's watch cannot say what changed in it: tell every child again. */
  async #rewalk(dir: RelPath): Promise<void> {
    const entries = await readdir(dir === '' ? this.#root : join(this.#root, dir)).catch(() => []);
    for (const name of entries) this.#recheck(dir === '' ? name : `${dir}/${name}`, true);
  }

  /** A directory (or a directory below it) is watched. */
  #hasTree(rel: RelPath): boolean {
    if (this.#dirs.has(rel)) return true;
    const prefix = `${rel}/`;
    for (const d of this.#dirs.keys()) if (d.startsWith(prefix)) return true;
    return false;
  }

  /** Stops watching the directory and everything below it. */
  #unwatch(rel: RelPath): void {
    if (rel === '') return;
    const prefix = `${rel}/`;
    for (const [d, w] of this.#dirs) {
      if (d === rel || d.startsWith(prefix)) {
        w.close();
        this.#dirs.delete(d);
      }
    }
  }

  /** The rules skip the path; the recursive watch also hears what is below a skipped directory, so its parents too. */
  #skipped(rel: RelPath, isDir: boolean): boolean {
    if (this.#mode === 'recursive') {
      for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) if (this.#skip(rel.slice(0, i), true)) return true;
    }
    return this.#skip(rel, isDir);
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    this.#events.error((err as Error).message ?? String(err));
  }
}

function toRel(name: string): RelPath {
  return name.split(/[\\/]/).filter((s) => s !== '' && s !== '.').join('/');
}

/** The path went away (or a component stopped being a directory) while the watcher looked. */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
