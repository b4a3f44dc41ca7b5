// A manifest kept compact: a Map<RelPath, Entry> in behaviour (the same operations, results and iteration order),
// held in typed arrays instead of one object, one key string and one path string per entry. A 100,000-file tree
// costs ~6 MB this way instead of ~20–30 MB as a Map of entries, and the daemon keeps three per container (what
// it has, what the container has, what it last synced there). Its state is a handful of ArrayBuffers, so it
// crosses to and from the sync worker by transfer instead of a structured clone of every entry.
// Entries are made on each read (values are values: nothing may change an Entry in place anyway).
import type { Entry, EntryKind, Manifest, RelPath } from './types.ts';

/** A table's state as it crosses a thread boundary (see pack/unpack); the buffers of `transfer` go with it. */
export interface PackedManifest {
  readonly kxManifestTable: 1;
  readonly rows: number;
  readonly live: number;
  readonly files: number;
  readonly byteEnd: number;
  readonly liveBytes: number;
  readonly flags: Uint8Array;
  readonly mode: Uint16Array;
  readonly size: Uint32Array;
  readonly mtime: Float64Array;
  readonly digest: Uint32Array;
  readonly hash: Uint32Array;
  readonly pathStart: Uint32Array;
  readonly bytes: Uint8Array;
  readonly slots: Int32Array;
  readonly wide: readonly (readonly [number, string])[];
  readonly targets: readonly (readonly [number, string])[];
  readonly odd: readonly (readonly [number, Entry])[];
}

export class ManifestTable implements Map<RelPath, Entry> {
  /** Rows used, live and dead (rows are appended, never reused, so iteration keeps insertion order as a Map does). */
  #rows = 0;
  #live = 0;
  #files = 0;
  #byteEnd = 0;
  #liveBytes = 0;
  /** Iterations under way: rows are not renumbered (compacted) meanwhile, only added to. */
  #iterating = 0;
  #flags: Uint8Array;
  #mode: Uint16Array;
  /** Sizes up to 4 GiB - 1 (a larger file's entry is kept in #odd). */
  #size: Uint32Array;
  #mtime: Float64Array;
  /** Two words per row: the digest's high and low 32 bits. */
  #digest: Uint32Array;
  #hash: Uint32Array;
  /**
   * Where each row's path starts in #bytes; it ends where the next row's starts (#byteEnd for the last row): paths are
   * appended in row order, and a row whose path is not in #bytes (WIDE) starts where the next one does.
   */
  #pathStart: Uint32Array;
  /** The paths of ASCII rows, back to back. */
  #bytes: Uint8Array;
  #text: Buffer;
  /** Open addressing, linear probing: a row, EMPTY or GONE; twice the rows' capacity, so always at most half full. */
  #slots: Int32Array;
  /** Paths that are not short ASCII, by row. */
  #wide = new Map<number, string>();
  /** Symlink targets, by row. */
  #targets = new Map<number, string>();
  /** Entries that the columns cannot hold exactly (an unusual digest, mode or shape), kept as they are. */
  #odd = new Map<number, Entry>();
  /** Paths set or deleted since trackChanges() or the last takeChanges(); null: not tracked. */
  #changes: Set<RelPath> | null = null;
  /** clear() ran while changes were tracked: any path may have changed. */
  #cleared = false;

  constructor(entries?: Iterable<readonly [RelPath, Entry]> | null) {
    this.#flags = new Uint8Array(MIN_ROWS);
    this.#mode = new Uint16Array(MIN_ROWS);
    this.#size = new Uint32Array(MIN_ROWS);
    this.#mtime = new Float64Array(MIN_ROWS);
    this.#digest = new Uint32Array(2 * MIN_ROWS);
    this.#hash = new Uint32Array(MIN_ROWS);
    this.#pathStart = new Uint32Array(MIN_ROWS);
    this.#bytes = new Uint8Array(MIN_ROWS * 16);
    this.#text = Buffer.from(this.#bytes.buffer);
    this.#slots = new Int32Array(pow2(Math.ceil(MIN_ROWS * SLOTS_PER_ROW))).fill(EMPTY);
    if (entries != null) for (const [p, e] of entries) this.set(p, e);
  }

  /** The manifest as a table: itself when it is one, else a compact copy. */
  static of(m: Manifest): ManifestTable {
    return m instanceof ManifestTable ? m : new ManifestTable(m);
  }

  /** A table from its packed state (the buffers are adopted, not copied). */
  static unpack(p: PackedManifest): ManifestTable {
    const t = new ManifestTable();
    t.#rows = p.rows;
    t.#live = p.live;
    t.#files = p.files;
    t.#byteEnd = p.byteEnd;
    t.#liveBytes = p.liveBytes;
    t.#flags = p.flags;
    t.#mode = p.mode;
    t.#size = p.size;
    t.#mtime = p.mtime;
    t.#digest = p.digest;
    t.#hash = p.hash;
    t.#pathStart = p.pathStart;
    t.#bytes = p.bytes;
    t.#text = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
    t.#slots = p.slots;
    t.#wide = new Map(p.wide);
    t.#targets = new Map(p.targets);
    t.#odd = new Map(p.odd);
    return t;
  }

  static isPacked(v: unknown): v is PackedManifest {
    return typeof v === 'object' && v !== null && (v as { kxManifestTable?: unknown }).kxManifestTable === 1;
  }

  /**
   * The state to post to another thread, with the buffers to transfer. The table is compacted first; after the
   * transfer it is empty (its buffers went with the message), so pack a table the sender no longer needs.
   */
  pack(): { packed: PackedManifest; transfer: ArrayBuffer[] } {
    this.#rebuild(this.#live, this.#liveBytes);
    const packed: PackedManifest = {
      kxManifestTable: 1,
      rows: this.#rows,
      live: this.#live,
      files: this.#files,
      byteEnd: this.#byteEnd,
      liveBytes: this.#liveBytes,
      flags: this.#flags,
      mode: this.#mode,
      size: this.#size,
      mtime: this.#mtime,
      digest: this.#digest,
      hash: this.#hash,
      pathStart: this.#pathStart,
      bytes: this.#bytes,
      slots: this.#slots,
      wide: [...this.#wide],
      targets: [...this.#targets],
      odd: [...this.#odd],
    };
    const transfer = [packed.flags, packed.mode, packed.size, packed.mtime, packed.digest, packed.hash, packed.pathStart, packed.bytes, packed.slots].map(
      (a) => a.buffer as ArrayBuffer,
    );
    return { packed, transfer };
  }

  /** A copy of the table as it is now (its arrays copied: a snapshot to read while the table goes on changing). */
  clone(): ManifestTable {
    const t = new ManifestTable();
    t.#rows = this.#rows;
    t.#live = this.#live;
    t.#files = this.#files;
    t.#byteEnd = this.#byteEnd;
    t.#liveBytes = this.#liveBytes;
    t.#flags = this.#flags.slice();
    t.#mode = this.#mode.slice();
    t.#size = this.#size.slice();
    t.#mtime = this.#mtime.slice();
    t.#digest = this.#digest.slice();
    t.#hash = this.#hash.slice();
    t.#pathStart = this.#pathStart.slice();
    t.#bytes = this.#bytes.slice();
    t.#text = Buffer.from(t.#bytes.buffer);
    t.#slots = this.#slots.slice();
    t.#wide = new Map(this.#wide);
    t.#targets = new Map(this.#targets);
    t.#odd = new Map(this.#odd);
    return t;
  }

  /**
   * Starts noting the paths set or deleted from now on (afresh when it was noting them): what a record of the table
   * kept on disk needs to write of it next (the ancestor record's journal). A copy (clone, of, unpack) notes nothing.
   */
  trackChanges(): void {
    this.#changes = new Set();
    this.#cleared = false;
  }

  /**
   * The paths set or deleted since trackChanges() or the last call, and noting starts over; null when changes are
   * not tracked, or when clear() ran meanwhile (any path may have changed).
   */
  takeChanges(): Set<RelPath> | null {
    const changes = this.#changes;
    if (changes === null) return null;
    const cleared = this.#cleared;
    this.trackChanges();
    return cleared ? null : changes;
  }

  get size(): number {
    return this.#live;
  }

  /** Regular files in the table, counted as they come and go. */
  get files(): number {
    return this.#files;
  }

  get [Symbol.toStringTag](): string {
    return 'ManifestTable';
  }

  has(path: RelPath): boolean {
    return this.#find(path) >= 0;
  }

  get(path: RelPath): Entry | undefined {
    const row = this.#find(path);
    return row < 0 ? undefined : this.#entry(row, path);
  }

  /** The kind of the entry at `path` (undefined: none), read from the flags without making the entry. */
  kindOf(path: RelPath): EntryKind | undefined {
    const row = this.#find(path);
    if (row < 0) return undefined;
    const flags = this.#flags[row];
    if ((flags & ODD) !== 0) return this.#odd.get(row)!.kind;
    const kind = flags & KIND;
    return kind === DIR ? 'dir' : kind === LINK ? 'symlink' : 'file';
  }

  set(path: RelPath, e: Entry): this {
    this.#changes?.add(path);
    const { hash, ascii } = hashOf(path);
    let row = this.#lookup(path, hash);
    if (row < 0) {
      const bytes = ascii ? path.length : 0;
      if (this.#rows === this.#flags.length || this.#byteEnd + bytes > this.#bytes.length) this.#rebuild(this.#live + 1, this.#liveBytes + bytes);
      row = this.#append(path, hash, ascii);
    } else if ((this.#flags[row] & KIND) === FILE) this.#files--;
    this.#write(row, path, e);
    return this;
  }

  delete(path: RelPath): boolean {
    const { hash } = hashOf(path);
    const mask = this.#slots.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const row = this.#slots[i];
      if (row === EMPTY) return false;
      if (row >= 0 && this.#hash[row] === hash && this.#pathIs(row, path)) {
        this.#changes?.add(path);
        this.#slots[i] = GONE;
        this.#kill(row);
        return true;
      }
    }
  }

  clear(): void {
    if (this.#changes !== null) this.#cleared = true;
    for (let row = 0; row < this.#rows; row++) if (this.#flags[row] !== 0) this.#kill(row);
    this.#slots.fill(EMPTY);
  }

  forEach(fn: (value: Entry, key: RelPath, map: Map<RelPath, Entry>) => void, thisArg?: unknown): void {
    for (const [p, e] of this.entries()) fn.call(thisArg, e, p, this);
  }

  /**
   * The keys at or beneath any of these paths, in iteration order: keys().filter(...) without making a string of
   * every other key (a directory's batch looks through the whole tree for what lies beneath it).
   */
  keysAtOrBeneath(dirs: readonly RelPath[]): RelPath[] {
    const out: RelPath[] = [];
    // A short ASCII path lies beneath ASCII directories only.
    const ascii = dirs.filter((d) => hashOf(d).ascii);
    const bytes = this.#bytes;
    for (let row = 0; row < this.#rows; row++) {
      const f = this.#flags[row];
      if (f === 0) continue;
      if ((f & WIDE) !== 0) {
        const p = this.#wide.get(row)!;
        if (dirs.some((d) => p === d || (p.startsWith(d) && p.charCodeAt(d.length) === SLASH))) out.push(p);
        continue;
      }
      const start = this.#pathStart[row];
      const len = this.#lenOf(row);
      for (const d of ascii) {
        if (len < d.length || (len > d.length && bytes[start + d.length] !== SLASH)) continue;
        let i = 0;
        while (i < d.length && bytes[start + i] === d.charCodeAt(i)) i++;
        if (i === d.length) {
          out.push(this.#pathOf(row));
          break;
        }
      }
    }
    return out;
  }

  // Each walks the live rows in order, as a Map's iteration goes: rows deleted meanwhile are skipped, rows added
  // meanwhile are reached. Rows keep their numbers until every iteration has ended (see #rebuild); one left
  // unfinished without return() only defers the table's compaction.

  *keys(): MapIterator<RelPath> {
    this.#iterating++;
    try {
      for (let row = 0; row < this.#rows; row++) if (this.#flags[row] !== 0) yield this.#pathOf(row);
    } finally {
      this.#iterating--;
    }
  }

  *values(): MapIterator<Entry> {
    this.#iterating++;
    try {
      for (let row = 0; row < this.#rows; row++) if (this.#flags[row] !== 0) yield this.#entry(row, this.#pathOf(row));
    } finally {
      this.#iterating--;
    }
  }

  *entries(): MapIterator<[RelPath, Entry]> {
    this.#iterating++;
    try {
      for (let row = 0; row < this.#rows; row++) {
        if (this.#flags[row] === 0) continue;
        const p = this.#pathOf(row);
        yield [p, this.#entry(row, p)];
      }
    } finally {
      this.#iterating--;
    }
  }

  [Symbol.iterator](): MapIterator<[RelPath, Entry]> {
    return this.entries();
  }

  // ---- internals ----

  #find(path: RelPath): number {
    return this.#lookup(path, hashOf(path).hash);
  }

  #lookup(path: RelPath, hash: number): number {
    const mask = this.#slots.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const row = this.#slots[i];
      if (row === EMPTY) return -1;
      if (row >= 0 && this.#hash[row] === hash && this.#pathIs(row, path)) return row;
    }
  }

  #pathIs(row: number, path: RelPath): boolean {
    if ((this.#flags[row] & WIDE) !== 0) return this.#wide.get(row) === path;
    const len = this.#lenOf(row);
    if (len !== path.length) return false;
    const bytes = this.#bytes;
    const start = this.#pathStart[row];
    for (let i = 0; i < len; i++) if (bytes[start + i] !== path.charCodeAt(i)) return false;
    return true;
  }

  /** The length of an ASCII row's path in #bytes. */
  #lenOf(row: number): number {
    return (row + 1 < this.#rows ? this.#pathStart[row + 1] : this.#byteEnd) - this.#pathStart[row];
  }

  #pathOf(row: number): RelPath {
    if ((this.#flags[row] & WIDE) !== 0) return this.#wide.get(row)!;
    const start = this.#pathStart[row];
    const len = this.#lenOf(row);
    if (len > SHORT_PATH) return this.#text.toString('latin1', start, start + len);
    // Short paths (most of a tree's) are made faster by hand than through a native call.
    const bytes = this.#bytes;
    let p = '';
    for (let i = start; i < start + len; i++) p += String.fromCharCode(bytes[i]);
    return p;
  }

  #append(path: RelPath, hash: number, ascii: boolean): number {
    const row = this.#rows++;
    this.#live++;
    this.#hash[row] = hash;
    if (ascii) {
      const start = this.#byteEnd;
      for (let i = 0; i < path.length; i++) this.#bytes[start + i] = path.charCodeAt(i);
      this.#pathStart[row] = start;
      this.#byteEnd += path.length;
      this.#liveBytes += path.length;
    } else {
      this.#wide.set(row, path);
      this.#pathStart[row] = this.#byteEnd;
    }
    this.#place(row, hash);
    this.#flags[row] = ascii ? ODD : ODD | WIDE; // a kind is written next
    return row;
  }

  #place(row: number, hash: number): void {
    const mask = this.#slots.length - 1;
    let i = hash & mask;
    while (this.#slots[i] >= 0) i = (i + 1) & mask;
    this.#slots[i] = row;
  }

  #write(row: number, path: RelPath, e: Entry): void {
    const wide = this.#flags[row] & WIDE;
    this.#odd.delete(row);
    this.#targets.delete(row);
    const kind = KINDS[e.kind];
    const compact =
      kind !== undefined &&
      e.path === path &&
      Number.isInteger(e.mode) &&
      e.mode >= 0 &&
      e.mode <= 0xffff &&
      Number.isInteger(e.size) &&
      e.size >= 0 &&
      e.size <= MAX_SIZE &&
      !Object.is(e.size, -0) &&
      (e.kind === 'file' ? e.target === undefined && (e.digest === undefined || DIGEST.test(e.digest)) : e.digest === undefined) &&
      (e.kind === 'symlink' ? typeof e.target === 'string' : e.target === undefined) &&
      !Object.hasOwn(e, 'digest') === (e.digest === undefined) &&
      !Object.hasOwn(e, 'target') === (e.target === undefined);
    if (!compact) {
      this.#odd.set(row, e);
      this.#flags[row] = wide | ODD | (e.kind === 'file' ? FILE : 0);
      if (e.kind === 'file') this.#files++;
      return;
    }
    let flags = wide | kind;
    this.#mode[row] = e.mode;
    this.#size[row] = e.size;
    this.#mtime[row] = e.mtimeMs;
    if (e.digest !== undefined) {
      flags |= DIGESTED;
      this.#digest[2 * row] = Number.parseInt(e.digest.slice(0, 8), 16);
      this.#digest[2 * row + 1] = Number.parseInt(e.digest.slice(8), 16);
    }
    if (e.target !== undefined) this.#targets.set(row, e.target);
    this.#flags[row] = flags;
    if (kind === FILE) this.#files++;
  }

  #entry(row: number, path: RelPath): Entry {
    const flags = this.#flags[row];
    if ((flags & ODD) !== 0) return this.#odd.get(row)!;
    const mode = this.#mode[row];
    const size = this.#size[row];
    const mtimeMs = this.#mtime[row];
    switch (flags & KIND) {
      case DIR:
        return { path, kind: 'dir', mode, size, mtimeMs };
      case LINK:
        return { path, kind: 'symlink', mode, size, mtimeMs, target: this.#targets.get(row)! };
      default:
        if ((flags & DIGESTED) === 0) return { path, kind: 'file', mode, size, mtimeMs };
        return { path, kind: 'file', mode, size, mtimeMs, digest: hex8(this.#digest[2 * row]) + hex8(this.#digest[2 * row + 1]) };
    }
  }

  #kill(row: number): void {
    if ((this.#flags[row] & KIND) === FILE) this.#files--;
    if ((this.#flags[row] & WIDE) === 0) this.#liveBytes -= this.#lenOf(row);
    this.#flags[row] = 0;
    this.#wide.delete(row);
    this.#targets.delete(row);
    this.#odd.delete(row);
    this.#live--;
  }

  /**
   * Room for `rows` live rows and `bytes` path bytes: arrays sized for them with a quarter to spare (a table that
   * shrank gets smaller ones), the hash slots made afresh. Dead rows are dropped, the live ones keeping their order,
   * except while an iteration is under way: then rows keep their numbers, dead ones included.
   */
  #rebuild(rows: number, bytes: number): void {
    const dead = this.#rows - this.#live;
    const renumber = dead > 0 && this.#iterating === 0;
    if (!renumber) {
      rows += dead;
      bytes += this.#byteEnd - this.#liveBytes;
    }
    const cap = MIN_ROWS + Math.ceil(rows * GROWTH);
    const flags = new Uint8Array(cap);
    const mode = new Uint16Array(cap);
    const size = new Uint32Array(cap);
    const mtime = new Float64Array(cap);
    const digest = new Uint32Array(2 * cap);
    const hash = new Uint32Array(cap);
    const pathStart = new Uint32Array(cap);
    const text = new Uint8Array(MIN_ROWS * 16 + Math.ceil(bytes * GROWTH));
    let n = this.#rows;
    let end = this.#byteEnd;
    if (!renumber) {
      flags.set(this.#flags.subarray(0, n));
      mode.set(this.#mode.subarray(0, n));
      size.set(this.#size.subarray(0, n));
      mtime.set(this.#mtime.subarray(0, n));
      digest.set(this.#digest.subarray(0, 2 * n));
      hash.set(this.#hash.subarray(0, n));
      pathStart.set(this.#pathStart.subarray(0, n));
      text.set(this.#bytes.subarray(0, end));
    } else {
      const wide = new Map<number, string>();
      const targets = new Map<number, string>();
      const odd = new Map<number, Entry>();
      const sides = this.#wide.size + this.#targets.size + this.#odd.size > 0;
      const bytesIn = this.#bytes;
      n = 0;
      end = 0;
      for (let row = 0; row < this.#rows; row++) {
        const f = this.#flags[row];
        if (f === 0) continue;
        flags[n] = f;
        mode[n] = this.#mode[row];
        size[n] = this.#size[row];
        mtime[n] = this.#mtime[row];
        digest[2 * n] = this.#digest[2 * row];
        digest[2 * n + 1] = this.#digest[2 * row + 1];
        hash[n] = this.#hash[row];
        pathStart[n] = end;
        if ((f & WIDE) === 0) {
          const start = this.#pathStart[row];
          const len = this.#lenOf(row);
          for (let i = 0; i < len; i++) text[end + i] = bytesIn[start + i];
          end += len;
        }
        if (sides) {
          if ((f & WIDE) !== 0) wide.set(n, this.#wide.get(row)!);
          const target = this.#targets.get(row);
          if (target !== undefined) targets.set(n, target);
          const e = this.#odd.get(row);
          if (e !== undefined) odd.set(n, e);
        }
        n++;
      }
      this.#wide = wide;
      this.#targets = targets;
      this.#odd = odd;
    }
    this.#flags = flags;
    this.#mode = mode;
    this.#size = size;
    this.#mtime = mtime;
    this.#digest = digest;
    this.#hash = hash;
    this.#pathStart = pathStart;
    this.#bytes = text;
    this.#text = Buffer.from(text.buffer);
    this.#slots = new Int32Array(pow2(Math.ceil(cap * SLOTS_PER_ROW))).fill(EMPTY);
    for (let row = 0; row < n; row++) if (flags[row] !== 0) this.#place(row, hash[row]);
    this.#rows = n;
    this.#byteEnd = end;
  }

  /**
   * Which of `sizes` a file with a digest has in the table: read from the columns, without making an entry or a
   * path of each row (a continuous sync asks it of the receiver's whole manifest for each batch that creates files).
   */
  digestedFileSizes(sizes: ReadonlySet<number>): Set<number> {
    const held = new Set<number>();
    for (let row = 0; row < this.#rows && held.size < sizes.size; row++) {
      const f = this.#flags[row];
      if (f === 0) continue;
      if ((f & ODD) !== 0) {
        const e = this.#odd.get(row)!;
        if (e.kind === 'file' && e.digest !== undefined && sizes.has(e.size)) held.add(e.size);
      } else if ((f & KIND) === FILE && (f & DIGESTED) !== 0 && sizes.has(this.#size[row])) held.add(this.#size[row]);
    }
    return held;
  }

  /**
   * The files whose digest is one of `digests`, in iteration order: found in the digest column, an entry made only
   * for a match (diff looks through the receiver's whole manifest for content a created file may be moved from).
   */
  filesWithDigests(digests: ReadonlySet<string>): [RelPath, Entry][] {
    const out: [RelPath, Entry][] = [];
    // The high words of the digests the columns can hold: a row whose word is not one of them is passed over.
    const high = new Set<number>();
    for (const d of digests) if (DIGEST.test(d)) high.add(Number.parseInt(d.slice(0, 8), 16));
    for (let row = 0; row < this.#rows; row++) {
      const f = this.#flags[row];
      if (f === 0) continue;
      if ((f & ODD) !== 0) {
        const e = this.#odd.get(row)!;
        if (e.kind === 'file' && e.digest !== undefined && digests.has(e.digest)) out.push([this.#pathOf(row), e]);
        continue;
      }
      if ((f & KIND) !== FILE || (f & DIGESTED) === 0 || !high.has(this.#digest[2 * row])) continue;
      const p = this.#pathOf(row);
      const e = this.#entry(row, p);
      if (digests.has(e.digest!)) out.push([p, e]);
    }
    return out;
  }
}

/** A manifest as the daemon keeps it between syncs: compact (see ManifestTable). */
export function compactManifest(m: Manifest): ManifestTable {
  return ManifestTable.of(m);
}

// ---- internals ----

const MIN_ROWS = 16;
/** Rows (and path bytes) made room for, per one needed, when a table grows: growth copies, slack costs memory. */
const GROWTH = 1.25;
/** Hash slots per row of room, at least: the slots are never more than two thirds full (dead rows' marks included). */
const SLOTS_PER_ROW = 1.5;
const EMPTY = -1;
const GONE = -2;
/** flags: the kind in the low bits (0 = no row), then what the row's other columns mean. */
const KIND = 0b11;
const FILE = 1;
const DIR = 2;
const LINK = 3;
const DIGESTED = 0b100;
/** The path is in #wide (not short ASCII). */
const WIDE = 0b1000;
/** The entry is in #odd, as given. */
const ODD = 0b10000;
const KINDS: Readonly<Record<string, number>> = { file: FILE, dir: DIR, symlink: LINK };
const DIGEST = /^[0-9a-f]{16}$/;
const MAX_ASCII_PATH = 0xffff;
/** The largest size the size column holds. */
const MAX_SIZE = 0xffffffff;
const SHORT_PATH = 24;
const SLASH = 0x2f;

/** FNV-1a over the path's UTF-16 code units, and whether it is short ASCII (stored as bytes). */
function hashOf(path: string): { hash: number; ascii: boolean } {
  let h = 0x811c9dc5;
  let or = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    or |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return { hash: h >>> 0, ascii: or < 0x80 && path.length <= MAX_ASCII_PATH };
}

/** Two hex digits per byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex8(n: number): string {
  return HEX[n >>> 24] + HEX[(n >>> 16) & 0xff] + HEX[(n >>> 8) & 0xff] + HEX[n & 0xff];
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
