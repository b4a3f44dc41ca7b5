// The local half of a Folder: chokidar on the spec's folder, skipping what the ignore rules skip (the enclosing git
// work tree's, the spec's, the root's .gitignore/.kxignore), its events coalesced into batches of relative paths.
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SpecConfig } from '../config/types.ts';
import { IGNORE_FILE_NAMES, IgnoreMatcher, parseIgnoreFile } from '../sync/ignore.ts';
import { repoIgnoreRules } from '../sync/repo-ignore.ts';
import type { IgnoreRuleSet, RelPath } from '../sync/types.ts';
import { EventBatcher, type Batch, type BatcherTiming } from './batcher.ts';

export interface LocalWatcherEvents {
  batch(batch: Batch): void;
  error(message: string): void;
}

export class LocalWatcher {
  readonly #spec: SpecConfig;
  readonly #events: LocalWatcherEvents;
  readonly #batcher: EventBatcher;
  #matcher: IgnoreMatcher;
  #watcher: FSWatcher | undefined;
  #closed: Promise<void> | undefined;

  constructor(spec: SpecConfig, events: LocalWatcherEvents, timing: BatcherTiming = {}) {
    this.#spec = spec;
    this.#events = events;
    this.#batcher = new EventBatcher((b) => this.#events.batch(b), timing);
    this.#matcher = new IgnoreMatcher(specRules(spec));
  }

  /** Resolves once chokidar has walked the folder and reports changes. */
  async start(): Promise<void> {
    this.#matcher = new IgnoreMatcher(await watchRules(this.#spec));
    if (this.#closed) return;
    const watcher = watch(this.#spec.local, {
      ignoreInitial: true,
      followSymlinks: false,
      // kx batches and coalesces itself; chokidar's atomic mode would hold every unlink back by 100 ms.
      atomic: false,
      ignored: (path: string, stats?: Stats) => this.#ignored(path, stats),
    });
    this.#watcher = watcher;
    watcher.on('all', (event, path) => {
      const rel = this.#relPath(path);
      if (rel) this.#batcher.add(rel, event === 'unlink' || event === 'unlinkDir');
    });
    watcher.on('error', (err) => this.#events.error(`watching ${this.#spec.local}: ${(err as Error).message}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  /** A changed ignore file changes what the watcher skips: read the rules again. */
  async reloadRules(): Promise<void> {
    this.#matcher = new IgnoreMatcher(await watchRules(this.#spec));
  }

  /** Drops what is pending and stops watching. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#batcher.close();
      await this.#watcher?.close();
    })();
    return this.#closed;
  }

  #ignored(path: string, stats?: Stats): boolean {
    const rel = this.#relPath(path);
    if (!rel) return false;
    return this.#matcher.ignores(rel, stats?.isDirectory() ?? false);
  }

  #relPath(path: string): RelPath | null {
    const rel = relative(this.#spec.local, path);
    if (rel === '' || rel.startsWith('..')) return null;
    return sep === '/' ? rel : rel.split(sep).join('/');
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
