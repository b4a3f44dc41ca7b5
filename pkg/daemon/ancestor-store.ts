// Where the daemon keeps each container's ancestor — what kx last synced into it — so that a restart of `kx watch`
// still knows which container files are kx's to change or delete. One small JSON file per spec and container under
// KX_HOME/ancestors, written atomically (temp file, then rename) a moment after the last change and on close;
// only the newest few records of each spec are kept, and none of specs no longer configured when kx watch starts.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpecConfig } from '../config/types.ts';
import { ManifestTable } from '../sync/manifest-table.ts';
import type { Entry, Manifest, RelPath } from '../sync/types.ts';

/** One container's ancestor as the Folder uses it. */
export interface AncestorRecord {
  /** undefined: kx never synced this container (or its record is gone). */
  load(): Promise<Manifest | undefined>;
  /** Remember this ancestor; written a moment later (the newest wins). */
  save(ancestor: Manifest): void;
  /** Write what is pending now. */
  close(): Promise<void>;
}

export interface AncestorStore {
  open(spec: SpecConfig, targetId: string): AncestorRecord;
}

export interface FileAncestorStoreOptions {
  /** Records kept per spec (the newest by write time); default 8. */
  readonly keepPerSpec?: number;
  /** Delay between a change and its write; default 1000 ms. */
  readonly delayMs?: number;
  readonly onError?: (message: string) => void;
  /**
   * Called as a write begins (the manifest's copy and its text are garbage once it ends); the function it returns is
   * called as the write ends. The daemon's heap release waits for it.
   */
  readonly onWrite?: () => () => void;
}

export class FileAncestorStore implements AncestorStore {
  readonly dir: string;
  private readonly opts: FileAncestorStoreOptions;

  constructor(dir: string, opts: FileAncestorStoreOptions = {}) {
    this.dir = dir;
    this.opts = opts;
  }

  /** Remove the records of specs not in this list (deleted specs), so the directory stays bounded. */
  async retain(specNames: readonly string[]): Promise<void> {
    const keep = new Set(specNames);
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) {
      const parts = n.split('.');
      if (parts.length === 3 && parts[2] === 'json' && !keep.has(parts[0])) await rm(join(this.dir, n), { force: true });
    }
  }

  open(spec: SpecConfig, targetId: string): AncestorRecord {
    // The local and remote paths are part of the key: a spec pointed elsewhere starts afresh.
    const key = createHash('sha256').update(`${spec.local}\0${spec.remote}\0${targetId}`).digest('hex').slice(0, 24);
    return new FileRecord(this.dir, `${spec.name}.${key}.json`, `${spec.name}.`, this.opts);
  }
}

/** Keeps ancestors in memory only (tests, `kx sync --once`). */
export class MemoryAncestorStore implements AncestorStore {
  private readonly records = new Map<string, Manifest>();

  open(spec: SpecConfig, targetId: string): AncestorRecord {
    const key = `${spec.name}\0${spec.local}\0${spec.remote}\0${targetId}`;
    return {
      load: async () => this.records.get(key),
      save: (m) => void this.records.set(key, m),
      close: async () => {},
    };
  }
}

// ---- internals ----

const FORMAT = 1;

/** An entry as stored: [path, kind, mode, size, mtimeMs, digest|target|null]. */
type Row = [RelPath, 'f' | 'd' | 'l', number, number, number, string | null];

class FileRecord implements AncestorRecord {
  private readonly dir: string;
  private readonly name: string;
  private readonly prefix: string;
  private readonly opts: FileAncestorStoreOptions;
  private pending: Manifest | null = null;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(dir: string, name: string, prefix: string, opts: FileAncestorStoreOptions) {
    this.dir = dir;
    this.name = name;
    this.prefix = prefix;
    this.opts = opts;
  }

  async load(): Promise<Manifest | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, this.name), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const data = JSON.parse(text) as { format?: number; entries?: Row[] };
      if (data.format !== FORMAT || !Array.isArray(data.entries)) return undefined;
      const m = new ManifestTable();
      for (const r of data.entries) m.set(r[0], fromRow(r));
      return m;
    } catch {
      // A damaged record is treated as none: kx then only adds and updates, never deletes what it cannot vouch for.
      this.opts.onError?.(`${join(this.dir, this.name)}: unreadable; starting afresh`);
      return undefined;
    }
  }

  save(ancestor: Manifest): void {
    this.pending = ancestor;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.delayMs ?? 1000);
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private flush(): Promise<void> {
    const m = this.pending;
    this.pending = null;
    if (m === null) return this.writing;
    // A snapshot now, as the manifest may change while an earlier write goes on and this one is written: a compact
    // table's copy (its arrays), or a Map's entries (values, replaced and never changed).
    const done = this.opts.onWrite?.();
    const entries = m instanceof ManifestTable ? m.clone().values() : [...m.values()].values();
    this.writing = this.writing
      .then(() => this.write(entries))
      .catch((err: unknown) => this.opts.onError?.(`${join(this.dir, this.name)}: ${(err as Error).message}`))
      .finally(done);
    return this.writing;
  }

  private async write(entries: Iterator<Entry>): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // The JSON goes out a slice of rows at a time: one string of a large tree's record (and the array of rows it is
    // made from) would be tens of MB allocated per save, a peak the daemon's heap would keep.
    const temp = join(this.dir, `.${this.name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, recordText(entries), { mode: 0o600 });
      await rename(temp, join(this.dir, this.name));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await this.prune();
  }

  /** Keep the newest records of this spec; older ones belong to containers long gone. */
  private async prune(): Promise<void> {
    const keep = this.opts.keepPerSpec ?? 8;
    const names = (await readdir(this.dir)).filter((n) => n.startsWith(this.prefix) && n.endsWith('.json') && n.split('.').length === 3);
    if (names.length <= keep) return;
    const dated = await Promise.all(names.map(async (n) => ({ n, t: await stat(join(this.dir, n)).then((s) => s.mtimeMs, () => 0) })));
    dated.sort((a, b) => b.t - a.t);
    for (const { n } of dated.slice(keep)) if (n !== this.name) await rm(join(this.dir, n), { force: true });
  }
}

/** Rows written per piece of the record's text. */
const ROWS_PER_PIECE = 2048;

/** `{"format":1,"entries":[row,…]}` in pieces: what JSON.stringify of the whole record gives, joined. */
function* recordText(entries: Iterator<Entry>): Generator<string> {
  yield `{"format":${FORMAT},"entries":[`;
  for (let first = true; ; first = false) {
    const piece: string[] = [];
    for (let r = entries.next(); ; r = entries.next()) {
      if (r.done === true) break;
      piece.push(JSON.stringify(toRow(r.value)));
      if (piece.length === ROWS_PER_PIECE) break;
    }
    if (piece.length === 0) break;
    yield (first ? '' : ',') + piece.join(',');
  }
  yield ']}';
}

function toRow(e: Entry): Row {
  const kind = e.kind === 'file' ? 'f' : e.kind === 'dir' ? 'd' : 'l';
  return [e.path, kind, e.mode, e.size, e.mtimeMs, (e.kind === 'symlink' ? e.target : e.digest) ?? null];
}

function fromRow(r: Row): Entry {
  const [path, k, mode, size, mtimeMs, extra] = r;
  if (k === 'l') return { path, kind: 'symlink', mode, size, mtimeMs, target: extra ?? '' };
  if (k === 'd') return { path, kind: 'dir', mode, size, mtimeMs };
  return { path, kind: 'file', mode, size, mtimeMs, ...(extra !== null && { digest: extra }) };
}
