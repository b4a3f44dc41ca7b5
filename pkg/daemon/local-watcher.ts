// The local half of a Folder: a TreeWatch on the spec's folder, skipping what the ignore rules skip (the enclosing
// git work tree's, the spec's, the root's .gitignore/.kxignore), its events coalesced into batches of relative paths.
// The folders of one spec (one per container) watch the same tree with the same rules: through SharedWatchers they
// share one watcher, whose walk of the tree and inotify watches are then made once instead of once per container.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpecConfig } from '../config/types.ts';
import { IGNORE_FILE_NAMES, IgnoreMatcher, parseIgnoreFile } from '../sync/ignore.ts';
import { repoIgnoreRules } from '../sync/repo-ignore.ts';
import type { IgnoreRuleSet, RelPath } from '../sync/types.ts';
import { EventBatcher, type Batch, type BatcherTiming } from './batcher.ts';
import { TreeWatch } from './tree-watch.ts';

export interface LocalWatcherEvents {
  batch(batch: Batch): void;
  error(message: string): void;
  /**
   * Whether a removal of the path could delete something in the container (default: yes). One that cannot (an
   * editor's temp file, made and renamed away within a save) does not hold its batch back as removals do.
   */
  removalMatters?(rel: RelPath): boolean;
}

export class LocalWatcher {
  readonly #spec: SpecConfig;
  readonly #events: LocalWatcherEvents;
  readonly #batcher: EventBatcher;
  readonly #shared: SharedWatchers | undefined;
  readonly #listener: TreeListener;
  #tree: WatchedTree | undefined;
  #closed: Promise<void> | undefined;

  /** shared: where the watchers of the daemon's folders are shared (default: a watcher of its own). */
  constructor(spec: SpecConfig, events: LocalWatcherEvents, timing: BatcherTiming = {}, shared?: SharedWatchers) {
    this.#spec = spec;
    this.#events = events;
    this.#shared = shared;
    this.#batcher = new EventBatcher((b) => this.#events.batch(b), timing);
    this.#listener = {
      change: (rel, removed) => this.#batcher.add(rel, removed && (this.#events.removalMatters?.(rel) ?? true)),
      error: (message) => this.#events.error(message),
    };
  }

  /** Resolves once the watcher has walked the folder and reports changes. */
  async start(): Promise<void> {
    if (this.#closed || this.#tree) return;
    const tree = this.#shared ? this.#shared.open(this.#spec) : new WatchedTree(this.#spec);
    this.#tree = tree;
    await tree.join(this.#listener);
  }

  /** A changed ignore file changes what the watcher skips: read the rules again. */
  async reloadRules(): Promise<void> {
    await this.#tree?.reloadRules();
  }

  /** Drops what is pending and stops watching (the shared watcher once its last folder left). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#batcher.close();
      const tree = this.#tree;
      if (tree === undefined) return;
      if (tree.leave(this.#listener)) await tree.close();
    })();
    return this.#closed;
  }
}

/**
 * The watchers of the daemon's folders, one per local tree and rules: a folder opens the one for its spec's
 * local folder and ignore patterns, and the last folder to leave it closes it. A folder that watches afresh (its
 * root came back) takes a watcher of its own instead (LocalWatcher without `shared`): the shared one may still
 * follow the folder that was moved away.
 */
export class SharedWatchers {
  readonly #trees = new Map<string, WatchedTree>();

  /** The watcher of the spec's tree, made when none is open (or the open one is closing). */
  open(spec: SpecConfig): WatchedTree {
    const key = `${spec.local}\0${JSON.stringify(spec.ignore)}`;
    const open = this.#trees.get(key);
    if (open !== undefined && open.joinable()) return open;
    const tree = new WatchedTree(spec, () => {
      if (this.#trees.get(key) === tree) this.#trees.delete(key);
    });
    this.#trees.set(key, tree);
    return tree;
  }

  /** Watchers open now (for tests and status). */
  get size(): number {
    return this.#trees.size;
  }
}

/** Who hears a watched tree's changes: a folder's watcher. */
interface TreeListener {
  change(rel: RelPath, removed: boolean): void;
  error(message: string): void;
}

/** One watcher of a tree, its changes told to every listener that joined it. */
class WatchedTree {
  readonly #spec: SpecConfig;
  readonly #onClose: () => void;
  readonly #listeners = new Set<TreeListener>();
  #matcher: IgnoreMatcher;
  #watcher: TreeWatch | undefined;
  #started: Promise<void> | undefined;
  /** The first watcher error, told to a listener that joins later (as a watcher of its own would have). */
  #error: string | undefined;
  /** Listeners that ever joined: once the last one left, the tree closes and nobody joins it again. */
  #joined = 0;
  #closed: Promise<void> | undefined;

  constructor(spec: SpecConfig, onClose: () => void = () => undefined) {
    this.#spec = spec;
    this.#onClose = onClose;
    this.#matcher = new IgnoreMatcher(specRules(spec));
  }

  joinable(): boolean {
    return this.#closed === undefined && (this.#joined === 0 || this.#listeners.size > 0);
  }

  /** Resolves once the watcher is ready; rejects when it could not start (the tree is then closed for good). */
  async join(listener: TreeListener): Promise<void> {
    this.#listeners.add(listener);
    this.#joined++;
    this.#started ??= this.#start();
    try {
      await this.#started;
    } catch (err) {
      this.#listeners.delete(listener);
      this.#onClose();
      throw err;
    }
    if (this.#error !== undefined && this.#listeners.has(listener)) listener.error(this.#error);
  }

  /** The listener leaves; true when it was the last (the caller then closes the tree). */
  leave(listener: TreeListener): boolean {
    this.#listeners.delete(listener);
    return this.#listeners.size === 0;
  }

  async reloadRules(): Promise<void> {
    this.#matcher = new IgnoreMatcher(await watchRules(this.#spec));
  }

  close(): Promise<void> {
    this.#onClose();
    this.#closed ??= (async () => {
      await this.#started?.catch(() => undefined);
      await this.#watcher?.close();
    })();
    return this.#closed;
  }

  async #start(): Promise<void> {
    this.#matcher = new IgnoreMatcher(await watchRules(this.#spec));
    if (this.#closed !== undefined) return;
    const watcher = new TreeWatch(this.#spec.local, (rel, isDir) => this.#matcher.ignores(rel, isDir), {
      change: (rel, removed) => {
        for (const l of this.#listeners) l.change(rel, removed);
      },
      error: (err) => {
        const message = `watching ${this.#spec.local}: ${err}`;
        this.#error ??= message;
        for (const l of this.#listeners) l.error(message);
      },
    });
    this.#watcher = watcher;
    await watcher.start();
  }
}

/** The spec's own ignore patterns, as the scan takes them. */
export function specRules(spec: SpecConfig): IgnoreRuleSet[] {
  return spec.ignore.length > 0 ? [{ base: '', patterns: [...spec.ignore] }] : [];
}

/** What the watcher skips, in the scan's order: the enclosing git work tree's rules, the spec's, the root's files. */
async function watchRules(spec: SpecConfig): Promise<IgnoreRuleSet[]> {
  return [...repoIgnoreRules(spec.local), ...specRules(spec), ...(await rootIgnoreFiles(spec.local))];
}

/** The root's .gitignore/.kxignore, so the watcher skips what they ignore (nested ones are left to the scan). */
async function rootIgnoreFiles(root: string): Promise<IgnoreRuleSet[]> {
  const sets: IgnoreRuleSet[] = [];
  for (const name of IGNORE_FILE_NAMES) {
    const text = await readFile(join(root, name), 'utf8').catch(() => null);
    if (text !== null) sets.push({ base: '', patterns: parseIgnoreFile(text) });
  }
  return sets;
}
