// Confined, atomic changes to a tree on disk: the receiver's half of a sync, one operation at a time. Every path
// is validated (checkRelPath), its parent directory pinned beneath the root (pins.ts: held open, so a directory
// swapped for a symlink after the check cannot redirect the operation), and the operation done inside that pinned
// directory (dir.ts): the final component is opened with O_NOFOLLOW or replaced by rename, so no write ever follows
// a symlink. Content is rebuilt by rebuild.ts, put in place by place.ts, removed by remove.ts.
import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, futimesSync } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { Hasher } from '../sync/hash.ts';
import { checkRelPath } from '../sync/paths.ts';
import type { DeltaOp, Op, Prior, RelPath, WriteOp } from '../sync/types.ts';
import { Dir } from './dir.ts';
import { asyncIo, copyHashing, fileTimes, syncIo } from './file-io.ts';
import { Placement } from './place.ts';
import type { Owner } from './place.ts';
import type { PlacePool } from './place-pool.ts';
import { DirPins, MAX_PATH_DEPTH } from './pins.ts';
import type { PinHooks, PinnedParent } from './pins.ts';
import { Signing, mismatch, openBasis, rebuild, rebuildInMemory } from './rebuild.ts';
import type { SignatureCache } from '../sync/signature-cache.ts';
import { checkContents, removeEntry } from './remove.ts';

export type { Owner } from './place.ts';
export { cleanTemp } from './remove.ts';

export interface TreeWriterOptions {
  readonly root: string;
  readonly hasher: Hasher;
  /** Owner given to everything created (the container's user); unset: radar's own uid/gid. */
  readonly owner?: Owner;
  /**
   * fsync each file before renaming it into place. Off by default: rename already makes a write atomic for
   * every reader and against an interrupted transfer; fsync only adds power-loss durability, which a dev sync
   * does not need (the next sync repairs it) and which costs more than the transfer for small files.
   */
  readonly fsync?: boolean;
  /** The prefix of root that may be followed when opening it (default: dir.ts anchorOf, /proc/<pid>/root). */
  readonly anchor?: string;
  /**
   * Keep set-user-ID, set-group-ID and sticky bits of the modes the sender asks for. Off by default: radar runs as
   * root, so a synced 4755 file owned by root would be a set-uid-root program in the container (or on the node).
   */
  readonly keepSetIdBits?: boolean;
  /** Tests only: runs between pinning a parent directory and the operation inside it. */
  readonly hooks?: PinHooks;
  /** Small files already in memory are placed in groups on this pool's thread (shared by a server's trees). */
  readonly placePool?: PlacePool;
  /**
   * Asked per small file given to the pool: may the pool place it on the calling thread while its own thread is not
   * running (PlacePool's first files of a stretch of work)? Default yes. radar says no while another Apply stream is
   * open: bulk work then stays on the pool's thread, of lower priority, off the thread that serves the other stream.
   */
  readonly placeInline?: () => boolean;
  /** Signatures of large files kept between calls (shared by a server's trees): see signature-cache.ts. */
  readonly signatures?: SignatureCache;
}

/** Files up to this size are read synchronously to verify a move or copy (microseconds each). */
const SYNC_READ_MAX_BYTES = 256 * 1024;

/** The path, unless it is deeper than MAX_PATH_DEPTH (LIMIT naming it). */
export function checkDepth(path: RelPath): RelPath {
  let depth = 1;
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) depth++;
  if (depth > MAX_PATH_DEPTH) {
    throw new KxError(ErrorCode.Limit, `path ${JSON.stringify(`${path.slice(0, 80)}…`)}: ${depth} components, more than the ${MAX_PATH_DEPTH} radar accepts`);
  }
  return path;
}

/** One tree's writer. Methods throw KxError naming the path; the caller turns that into a per-path error. */
export class TreeWriter {
  readonly #root: string;
  readonly #anchor: string | undefined;
  readonly #hooks: PinHooks | undefined;
  readonly #hasher: Hasher;
  readonly #place: Placement;
  readonly #signatures: SignatureCache | undefined;
  /** The pins of the current batch (beginBatch … endBatch), shared by its operations; else each call pins anew. */
  #batch: DirPins | undefined;
  #batchDepth = 0;
  /** Calls running on the batch's pins (trim waits for none). */
  #active = 0;

  constructor(opts: TreeWriterOptions) {
    this.#root = opts.root;
    this.#anchor = opts.anchor;
    this.#hooks = opts.hooks;
    this.#hasher = opts.hasher;
    this.#signatures = opts.signatures;
    this.#place = new Placement({ owner: opts.owner, fsync: opts.fsync ?? false, keepSetIdBits: opts.keepSetIdBits ?? false, pool: opts.placePool, ...(opts.placeInline ? { mayInline: opts.placeInline } : {}) });
  }

  /**
   * Keep pinned directories open until the matching endBatch, so the operations of one batch share them (10,000
   * files in a few directories cost a few walks, not 10,000). Nests.
   */
  beginBatch(): void {
    this.#batchDepth++;
  }

  endBatch(): void {
    if (this.#batchDepth === 0) return;
    if (--this.#batchDepth === 0 && this.#batch) {
      const pins = this.#batch;
      this.#batch = undefined;
      closePins(pins);
    }
  }

  /** Run `fn` with the batch's pins (opened at its first use, so a missing root fails per path), or its own. */
  async pinned<T>(fn: (pins: DirPins) => T | Promise<T>): Promise<T> {
    if (this.#batchDepth > 0) {
      this.#batch ??= this.#openPins();
      const pins = this.#batch;
      if (this.#active === 0) pins.trim(); // never while another call holds a pinned parent
      this.#active++;
      try {
        return await fn(pins);
      } finally {
        this.#active--;
      }
    }
    const pins = this.#openPins();
    try {
      return await fn(pins);
    } finally {
      closePins(pins);
    }
  }

  /**
   * Apply one op; a write takes its content from `body` (consumed completely on success) and, when its digest is
   * '', the digest to verify from `digestAtEnd` once the body is read.
   */
  async apply(op: Op, body: AsyncIterable<DeltaOp> | undefined, signal?: AbortSignal, digestAtEnd?: () => string): Promise<void> {
    switch (op.op) {
      case 'mkdir':
        return this.mkdir(op.path, op.mode);
      case 'write':
        if (body === undefined) throw new KxError(ErrorCode.Protocol, `write ${op.path}: no content`);
        return this.write(op, body, signal, digestAtEnd);
      case 'move':
      case 'copy':
        return this.moveOrCopy(op, signal);
      case 'symlink':
        return this.symlink(op.path, op.target, op.expect);
      case 'meta':
        return this.meta(op.path, op.mode, op.mtimeMs);
      case 'remove':
        return this.remove(op.path, op.expect);
    }
  }

  mkdir(path: RelPath, mode: number): Promise<void> {
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      let created;
      try {
        created = p.dir.mkdir(p.name, this.#place.mode(mode));
      } catch (err) {
        throw fromFsError(err, path);
      }
      // O_DIRECTORY|O_NOFOLLOW: an existing symlink or file at the path is refused, not followed.
      const fd = p.dir.open(p.name, C.O_RDONLY | C.O_DIRECTORY, path);
      try {
        const owner = this.#place.owner;
        if (created && owner) fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(fd, this.#place.mode(mode)); // mkdir's mode passed through the umask
      } catch (err) {
        throw fromFsError(err, path);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Rebuild a file of any size from its streamed content in a temp file beside it, verify it, rename it into place. */
  write(op: WriteOp, body: AsyncIterable<DeltaOp>, signal?: AbortSignal, digestAtEnd?: () => string): Promise<void> {
    return this.pinned(async (pins) => {
      const p = this.#parent(pins, op.path);
      checkPrior(p, op.path, op.expect);
      const basis = op.basis === 'delta' ? openBasis(p.dir, p.name, op.path, 'async') : null;
      const signing = Signing.for(op, basis, this.#signatures, this.#hasher);
      try {
        await this.#place.file(p.dir, p.name, op.path, op.mode, op.mtimeMs, async (fd) => {
          await rebuild(op, basis, abortable(body, signal), asyncIo(fd), this.#hasher, digestAtEnd, signing?.builder);
          signing?.wrote(fd);
        });
        signing?.placed(p.dir, p.name);
      } finally {
        basis?.close();
      }
    });
  }

  /**
   * A small file whose content (literals, and for a delta copy ops) is already in memory: rebuilt in memory with
   * synchronous reads of its basis (microseconds for a file this size) and verified before anything touches the
   * disk, then placed with the filesystem's slow calls on the thread pool (Placement.fileFrom): a caller may run
   * several at once (LocalTree.apply does), so file creation overlaps with receiving and verifying the next files.
   * `now`: placed with synchronous calls instead (Placement.fileNow), for a save's file.
   */
  async writeBuffered(op: WriteOp, ops: readonly DeltaOp[], digestAtEnd?: () => string, now = false): Promise<void> {
    // A whole file is verified before its parent is even pinned; a delta needs its basis, beside it, first.
    const whole = op.basis === 'delta' ? undefined : await rebuildInMemory(op, null, ops, this.#hasher, digestAtEnd);
    return this.pinned(async (pins) => {
      const p = this.#parent(pins, op.path);
      checkPrior(p, op.path, op.expect);
      const content = whole ?? (await rebuildInMemory(op, openBasis(p.dir, p.name, op.path, 'sync'), ops, this.#hasher, digestAtEnd));
      if (now) await this.#place.fileNow(p.dir, p.name, op.path, op.mode, op.mtimeMs, content);
      else await this.#place.fileFrom(p.dir, p.name, op.path, op.mode, op.mtimeMs, content);
    });
  }

  /** The receiver already holds the content at `from`: verified by digest, then renamed or copied. */
  moveOrCopy(op: Extract<Op, { op: 'move' | 'copy' }>, signal?: AbortSignal): Promise<void> {
    return this.pinned(async (pins) => {
      const from = this.#parent(pins, checkRelPath(op.from));
      const to = this.#parent(pins, op.path);
      checkPrior(to, op.path, op.expect);
      const src = from.dir.open(from.name, C.O_RDONLY, op.from);
      try {
        const st = fstatSync(src);
        if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${op.op} ${op.from}: not a regular file`);
        // A small file is read in one synchronous call: two thread-pool round trips cost more (a renamed
        // directory of source files is hundreds of these). The digest is checked either way.
        const small = st.size <= SYNC_READ_MAX_BYTES;
        const io = small ? syncIo : asyncIo;
        if (op.op === 'copy') {
          await this.#place.file(to.dir, to.name, op.path, op.mode, op.mtimeMs, async (out) => {
            const digest = await copyHashing(io(src), io(out), this.#hasher, signal, st.size);
            if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
          });
          return;
        }
        const digest = await copyHashing(io(src), null, this.#hasher, signal, st.size);
        if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
        try {
          from.dir.rename(from.name, to.dir, to.name);
        } catch (err) {
          throw fromFsError(err, op.path);
        }
        fchmodSync(src, this.#place.mode(op.mode));
        futimesSync(src, ...fileTimes(op.mtimeMs));
      } catch (err) {
        throw fromFsError(err, op.path);
      } finally {
        closeSync(src);
      }
    });
  }

  async symlink(path: RelPath, target: string, expect?: Prior | null): Promise<void> {
    if (target === '' || target.includes('\0')) {
      throw new KxError(ErrorCode.InvalidArgument, `symlink ${path}: link text is empty or contains a NUL byte`);
    }
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      checkPrior(p, path, expect);
      this.#place.symlink(p.dir, p.name, path, target);
    });
  }

  meta(path: RelPath, mode: number, mtimeMs?: number): Promise<void> {
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      const fd = p.dir.open(p.name, C.O_RDONLY, path);
      try {
        fchmodSync(fd, this.#place.mode(mode));
        if (mtimeMs !== undefined) futimesSync(fd, ...fileTimes(mtimeMs));
      } catch (err) {
        throw fromFsError(err, path);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Remove a file, link or whole directory; a path already gone is not an error. Links are removed, not followed. */
  remove(path: RelPath, expect?: Prior | null): Promise<void> {
    return this.pinned((pins) => {
      let p: PinnedParent;
      try {
        p = this.#parent(pins, path);
      } catch (err) {
        if (err instanceof KxError && err.code === ErrorCode.NotFound) return; // its parent is gone: so is it
        throw err;
      }
      checkPrior(p, path, expect);
      // Checked just before the removal; what the container makes in between is the same race a full sync's
      // listing has.
      if (expect?.contents !== undefined) checkContents(p, path, expect.contents);
      removeEntry(pins, p, path);
    });
  }

  #parent(pins: DirPins, path: RelPath): PinnedParent {
    return pins.parent(checkDepth(checkRelPath(path)));
  }

  #openPins(): DirPins {
    return new DirPins(Dir.openRoot(this.#root, this.#anchor), { absoluteLinks: 'refuse', hooks: this.#hooks });
  }
}

/**
 * An op's precondition: the entry at its path must still be the one the sender last knew (one lstat), or the
 * container changed it since and it is left alone. Files compare kind, size and whole-ms mtime; directories and
 * links their kind only (their mtimes move with their contents and their creation).
 */
function checkPrior(p: PinnedParent, path: RelPath, prior: Prior | null | undefined): void {
  if (prior === undefined) return;
  const st = p.dir.lstat(p.name);
  const kind = st === undefined ? null : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  const same = prior === null
    ? st === undefined
    : st !== undefined && kind === prior.kind && (kind !== 'file' || (st.size === prior.size && Math.floor(st.mtimeMs) === prior.mtimeMs));
  if (same) return;
  const now = st === undefined ? 'it is gone' : kind === 'file' ? `now ${st.size} B, modified ${new Date(st.mtimeMs).toISOString()}` : `now a ${kind}`;
  throw new KxError(ErrorCode.Changed, `${path}: changed in the container since kx last synced it (${now}); left as it is`);
}

function closePins(pins: DirPins): void {
  pins.close();
  pins.root.close();
}

async function* abortable(body: AsyncIterable<DeltaOp>, signal?: AbortSignal): AsyncIterable<DeltaOp> {
  for await (const op of body) {
    signal?.throwIfAborted();
    yield op;
  }
}
