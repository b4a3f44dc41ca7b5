// Where the daemon keeps each container's ancestor — what kx last synced into it — so that a restart of `kx watch`
// still knows which container files are kx's to change or delete. Per spec and container under KX_HOME/ancestors:
// a snapshot (one JSON file, written atomically: temp file, then rename) and beside it a journal of the entries
// changed since, appended a moment after the last change and on close. A save series of a large tree then writes
// what it changed, not the tree (100,000 rows rewritten per burst was tens of ms of CPU and a heap spike); a new
// snapshot replaces snapshot and journal once the journal has grown to half the tree, or when the ancestor was
// replaced whole (a full sync). Only the newest few records of each spec are kept, and none of specs no longer
// configured when kx watch starts.
//
// A journal applies to the snapshot of its generation only (its header names it; a snapshot written since has a
// new one), and is read up to its first incomplete or unreadable line. Whatever is lost that way (a torn append, a
// crash before the write) leaves some paths with the entry kx synced before: kx then sees the container's file as
// changed since, or as not its own, and leaves it alone; it never vouches for a file it did not write.

import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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
      if (parts.length === 3 && (parts[2] === 'json' || parts[2] === 'journal') && !keep.has(parts[0])) await rm(join(this.dir, n), { force: true });
    }
  }

  open(spec: SpecConfig, targetId: string): AncestorRecord {
    // The local and remote paths are part of the key: a spec pointed elsewhere starts afresh.
    const key = createHash('sha256').update(`${spec.local}\0${spec.remote}\0${targetId}`).digest('hex').slice(0, 24);
    return new FileRecord(this.dir, `${spec.name}.${key}`, `${spec.name}.`, this.opts);
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

/** An entry as stored: [path, kind, mode, size, mtimeMs, digest|target|null]. A journal's [path] removes it. */
type Row = [RelPath, 'f' | 'd' | 'l', number, number, number, string | null];

/** A journal longer than this share of the tree (and than JOURNAL_MIN_ROWS) is folded into a new snapshot. */
const JOURNAL_SHARE = 0.5;
const JOURNAL_MIN_ROWS = 4096;

class FileRecord implements AncestorRecord {
  private readonly dir: string;
  /** The snapshot's file name and the journal's. */
  private readonly name: string;
  private readonly journal: string;
  private readonly prefix: string;
  private readonly opts: FileAncestorStoreOptions;
  private pending: Manifest | null = null;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /**
   * The table the files on disk hold (the snapshot and the journal as written or queued), noting its changes since;
   * null: the next write is a snapshot (none written yet, another ancestor was saved, or a write failed).
   */
  private written: ManifestTable | null = null;
  /** The generation of the snapshot last written, and of the journal kx has begun for it (null: none yet). */
  private generation = '';
  private journalOf: string | null = null;
  private journalRows = 0;

  constructor(dir: string, base: string, prefix: string, opts: FileAncestorStoreOptions) {
    this.dir = dir;
    this.name = `${base}.json`;
    this.journal = `${base}.journal`;
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
    let m: ManifestTable;
    let generation: unknown;
    try {
      const data = JSON.parse(text) as { format?: number; generation?: unknown; entries?: Row[] };
      if (data.format !== FORMAT || !Array.isArray(data.entries)) return undefined;
      m = new ManifestTable();
      for (const r of data.entries) m.set(r[0], fromRow(r));
      generation = data.generation;
    } catch {
      // A damaged record is treated as none: kx then only adds and updates, never deletes what it cannot vouch for.
      this.opts.onError?.(`${join(this.dir, this.name)}: unreadable; starting afresh`);
      return undefined;
    }
    if (typeof generation === 'string' && generation !== '') await this.replay(m, generation);
    return m;
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

  /** Applies the journal of this snapshot's generation, up to its first incomplete or unreadable line. */
  private async replay(m: ManifestTable, generation: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.dir, this.journal), 'utf8');
    } catch {
      return;
    }
    const lines = text.split('\n');
    // The last piece follows the last newline: empty, or a line whose append did not complete.
    lines.pop();
    if (lines.length === 0 || journalGeneration(lines[0]) !== generation) return;
    for (let i = 1; i < lines.length; i++) {
      const change = journalChange(lines[i]);
      if (change === null) {
        this.opts.onError?.(`${join(this.dir, this.journal)}: unreadable from line ${i + 1}; the entries changed after it are not known`);
        return;
      }
      if (change.entry === null) m.delete(change.path);
      else m.set(change.path, change.entry);
    }
  }

  private flush(): Promise<void> {
    const m = this.pending;
    this.pending = null;
    if (m === null) return this.writing;
    const done = this.opts.onWrite?.();
    // What to write is taken now, as the manifest goes on changing while earlier writes go on: the lines of the
    // entries changed since the last write, or a snapshot (a compact table's copy, or a Map's entries: values are
    // replaced, never changed).
    const changes = this.written !== null && m === this.written ? this.written.takeChanges() : null;
    let write: () => Promise<void>;
    if (changes !== null && changes.size === 0) {
      // Saved again unchanged (as on close): nothing to write.
      write = async () => {};
    } else if (changes !== null && this.journalRows + changes.size <= Math.max(JOURNAL_MIN_ROWS, m.size * JOURNAL_SHARE)) {
      this.journalRows += changes.size;
      const lines = journalLines(m, changes);
      const generation = this.generation;
      const fresh = this.journalOf !== generation;
      this.journalOf = generation;
      write = () => this.append(lines, generation, fresh);
    } else {
      const generation = randomBytes(8).toString('hex');
      let entries: Iterator<Entry>;
      if (m instanceof ManifestTable) {
        m.trackChanges();
        entries = m.clone().values();
        this.written = m;
      } else {
        entries = [...m.values()].values();
        this.written = null;
      }
      this.generation = generation;
      this.journalOf = null;
      this.journalRows = 0;
      write = () => this.snapshot(entries, generation);
    }
    this.writing = this.writing
      .then(write)
      .catch((err: unknown) => {
        // The files may now lag behind (or hold a torn line at the journal's end): the next write is a snapshot.
        this.written = null;
        this.opts.onError?.(`${join(this.dir, this.name)}: ${(err as Error).message}`);
      })
      .finally(done);
    return this.writing;
  }

  /** Appends to the journal; `fresh`: the journal is begun anew for this generation (replacing an older one). */
  private async append(lines: string, generation: string, fresh: boolean): Promise<void> {
    if (fresh) await this.replaceFile(this.journal, `${JSON.stringify({ format: FORMAT, generation })}\n${lines}`);
    else await appendFile(join(this.dir, this.journal), lines, { mode: 0o600 });
  }

  private async snapshot(entries: Iterator<Entry>, generation: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // The JSON goes out a slice of rows at a time: one string of a large tree's record (and the array of rows it is
    // made from) would be tens of MB allocated per save, a peak the daemon's heap would keep.
    await this.replaceFile(this.name, recordText(entries, generation));
    // The journal of the snapshot before is of no use now (its generation no longer matches).
    await rm(join(this.dir, this.journal), { force: true });
    await this.prune();
  }

  /** Writes a file atomically: a temp file beside it, then renamed over it. */
  private async replaceFile(name: string, data: string | Iterable<string>): Promise<void> {
    const temp = join(this.dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, data, { mode: 0o600 });
      await rename(temp, join(this.dir, name));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Keep the newest records of this spec; older ones belong to containers long gone. */
  private async prune(): Promise<void> {
    const keep = this.opts.keepPerSpec ?? 8;
    const names = (await readdir(this.dir)).filter((n) => n.startsWith(this.prefix) && n.endsWith('.json') && n.split('.').length === 3);
    if (names.length <= keep) return;
    const dated = await Promise.all(names.map(async (n) => ({ n, t: await stat(join(this.dir, n)).then((s) => s.mtimeMs, () => 0) })));
    dated.sort((a, b) => b.t - a.t);
    for (const { n } of dated.slice(keep)) {
      if (n === this.name) continue;
      await rm(join(this.dir, n), { force: true });
      await rm(join(this.dir, n.replace(/\.json$/, '.journal')), { force: true });
    }
  }
}

/** The journal's lines for these changed paths: each entry as it is now, or [path] for one gone. */
function journalLines(m: Manifest, changes: ReadonlySet<RelPath>): string {
  let out = '';
  for (const p of changes) {
    const e = m.get(p);
    out += `${JSON.stringify(e === undefined ? [p] : toRow(e))}\n`;
  }
  return out;
}

/** The generation a journal's header line names ('' when it is not a header). */
function journalGeneration(line: string): string {
  try {
    const h = JSON.parse(line) as { format?: unknown; generation?: unknown };
    return h.format === FORMAT && typeof h.generation === 'string' ? h.generation : '';
  } catch {
    return '';
  }
}

/** One journal line: an entry set, or removed (entry null); null when the line is not one. */
function journalChange(line: string): { path: RelPath; entry: Entry | null } | null {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return null;
  }
  if (!Array.isArray(r) || typeof r[0] !== 'string' || r[0] === '') return null;
  if (r.length === 1) return { path: r[0], entry: null };
  const [, k, mode, size, mtimeMs, extra] = r as unknown[];
  const ok = r.length === 6 && (k === 'f' || k === 'd' || k === 'l') && [mode, size, mtimeMs].every((n) => typeof n === 'number' && Number.isFinite(n)) && (extra === null || typeof extra === 'string');
  return ok ? { path: r[0], entry: fromRow(r as Row) } : null;
}

/** Rows written per piece of the record's text. */
const ROWS_PER_PIECE = 2048;

/** `{"format":1,"generation":"…","entries":[row,…]}` in pieces: what JSON.stringify of the whole record gives, joined. */
function* recordText(entries: Iterator<Entry>, generation: string): Generator<string> {
  yield `{"format":${FORMAT},"generation":${JSON.stringify(generation)},"entries":[`;
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
