// Confined, atomic changes to a tree on disk: the receiver's half of a sync. Every path is validated
// (checkRelPath), its parent directory pinned beneath the root (pins.ts: held open, so a directory swapped for a
// symlink after the check cannot redirect the operation), and the operation done inside that pinned directory:
// the final component is opened with O_NOFOLLOW or replaced by rename, so no write ever follows a symlink.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, fsyncSync, futimesSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { Hasher } from '../sync/hash.ts';
import { applyDelta } from '../sync/patch.ts';
import { MAX_BLOCK_SIZE } from '../sync/signature.ts';
import { TEMP_PREFIX, checkRelPath, isTempName } from '../sync/paths.ts';
import type { DeltaOp, Op, RelPath, WriteOp } from '../sync/types.ts';
import { DirPins, MAX_PATH_DEPTH, fdPath, openDir, openRoot } from './pins.ts';
import type { PinHooks, PinnedParent } from './pins.ts';

export interface Owner { readonly uid: number; readonly gid: number }

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
  /** The prefix of root that may be followed when opening it (default: pins.ts anchorOf, /proc/<pid>/root). */
  readonly anchor?: string;
  /**
   * Keep set-user-ID, set-group-ID and sticky bits of the modes the sender asks for. Off by default: radar runs as
   * root, so a synced 4755 file owned by root would be a set-uid-root program in the container (or on the node).
   */
  readonly keepSetIdBits?: boolean;
  /** Tests only: runs between pinning a parent directory and the operation inside it. */
  readonly hooks?: PinHooks;
}

/** The path, unless it is deeper than MAX_PATH_DEPTH (LIMIT naming it). */
export function checkDepth(path: RelPath): RelPath {
  let depth = 1;
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) depth++;
  if (depth > MAX_PATH_DEPTH) {
    throw new KxError(ErrorCode.Limit, `path ${JSON.stringify(`${path.slice(0, 80)}…`)}: ${depth} components, more than the ${MAX_PATH_DEPTH} radar accepts`);
  }
  return path;
}

/** A delta's block size, refused (DIGEST_MISMATCH: the sender resends whole) beyond what a signature ever uses. */
function checkBlockSize(op: WriteOp): number {
  const b = op.blockSize ?? 0;
  if (op.basis === 'delta' && !(Number.isSafeInteger(b) && b >= 0 && b <= MAX_BLOCK_SIZE)) {
    throw mismatch(op.path, `block size ${b} is not one radar's signatures use (1..${MAX_BLOCK_SIZE})`);
  }
  return b;
}

/** Remove radar's temporary files (TEMP_PREFIX) left anywhere beneath root by an earlier crash. Returns the count. */
export async function cleanTemp(root: string, signal?: AbortSignal, anchor?: string): Promise<number> {
  let removed = 0;
  // Walked through pinned directory fds: a directory swapped for a symlink meanwhile is not entered.
  const walk = async (dirFd: number): Promise<void> => {
    signal?.throwIfAborted();
    let names;
    try {
      names = await readdir(fdPath(dirFd), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fromFsError(err, root);
    }
    for (const d of names) {
      if (isTempName(d.name) && !d.isDirectory()) {
        await unlink(fdPath(dirFd, d.name)).catch(() => undefined);
        removed++;
      } else if (d.isDirectory()) {
        let fd: number;
        try {
          fd = openDir(dirFd, d.name, d.name);
        } catch {
          continue; // gone, or swapped for a symlink: not entered
        }
        try {
          await walk(fd);
        } finally {
          closeSync(fd);
        }
      }
    }
  };
  let rootFd: number;
  try {
    rootFd = openRoot(root, anchor);
  } catch (err) {
    if (err instanceof KxError && err.code === ErrorCode.NotFound) return 0;
    throw err;
  }
  try {
    await walk(rootFd);
  } finally {
    closeSync(rootFd);
  }
  return removed;
}

/** One tree's writer. Methods throw KxError naming the path; the caller turns that into a per-path error. */
export class TreeWriter {
  readonly #root: string;
  readonly #anchor: string | undefined;
  readonly #hooks: PinHooks | undefined;
  readonly #hasher: Hasher;
  readonly #owner: Owner | undefined;
  readonly #fsync: boolean;
  readonly #modeMask: number;
  readonly #tempPrefix = `${tempName()}-`;
  #tempSeq = 0;
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
    this.#owner = opts.owner;
    this.#fsync = opts.fsync ?? false;
    this.#modeMask = opts.keepSetIdBits ? 0o7777 : 0o777;
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
        return this.symlink(op.path, op.target);
      case 'meta':
        return this.meta(op.path, op.mode, op.mtimeMs);
      case 'remove':
        return this.remove(op.path);
    }
  }

  mkdir(path: RelPath, mode: number): Promise<void> {
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      let created = true;
      try {
        mkdirSync(p.at, { mode: this.#mode(mode) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(err, path);
        created = false;
      }
      // O_DIRECTORY|O_NOFOLLOW: an existing symlink or file at the path is refused, not followed.
      const fd = openNoFollow(p, path, C.O_RDONLY | C.O_DIRECTORY);
      try {
        if (created && this.#owner) fchownSync(fd, this.#owner.uid, this.#owner.gid);
        fchmodSync(fd, this.#mode(mode)); // mkdir's mode passed through the umask
      } catch (err) {
        throw fromFsError(err, path);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Rebuild the file in a temp file beside it, verify its digest, set mode/owner/mtime, rename it into place. */
  write(op: WriteOp, body: AsyncIterable<DeltaOp>, signal?: AbortSignal, digestAtEnd?: () => string): Promise<void> {
    return this.pinned(async (pins) => {
      const p = this.#parent(pins, op.path);
      const basis = op.basis === 'delta' ? await openBasis(p, op.path) : null;
      try {
        await this.#intoPlace(p, op.path, async (out) => {
          let result;
          try {
            result = await applyDelta(basis, checkBlockSize(op), abortable(body, signal), out, this.#hasher, op.size);
          } catch (err) {
            // A delta that does not fit the basis (gone, or changed since its signature was taken) is a mismatch:
            // the sender resends the file whole.
            if (op.basis === 'delta' && err instanceof KxError && err.code === ErrorCode.Protocol) {
              throw mismatch(op.path, `basis changed: ${err.message}`);
            }
            throw fromFsError(err, op.path);
          }
          const expected = expectedDigest(op, digestAtEnd);
          if (result.digest !== expected || result.size !== op.size) {
            throw mismatch(op.path, `rebuilt ${result.size} bytes with digest ${result.digest}, expected ${op.size} bytes with ${expected}`);
          }
        }, op.mode, op.mtimeMs);
      } finally {
        await basis?.close();
      }
    });
  }

  /**
   * A small file whose content is already in memory: verified before anything touches the disk, then written
   * with synchronous calls. For small files the thread-pool round trip of each async call costs more than the
   * call itself (rsync's receiver is synchronous for the same reason); a file this size blocks for microseconds.
   */
  async writeBuffered(op: WriteOp, chunks: readonly Uint8Array[], digestAtEnd?: () => string): Promise<void> {
    const h = this.#hasher.stream();
    let size = 0;
    for (const c of chunks) {
      h.update(c);
      size += c.byteLength;
    }
    const digest = h.digest();
    const expected = expectedDigest(op, digestAtEnd);
    if (digest !== expected || size !== op.size) {
      throw mismatch(op.path, `received ${size} bytes with digest ${digest}, expected ${op.size} bytes with ${expected}`);
    }
    return this.pinned((pins) => {
      const p = this.#parent(pins, op.path);
      const tmp = fdPath(p.dirFd, this.#tempName());
      let fd = -1;
      try {
        fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        for (const c of chunks) for (let off = 0; off < c.byteLength; ) off += writeSync(fd, c, off);
        if (this.#owner) fchownSync(fd, this.#owner.uid, this.#owner.gid);
        fchmodSync(fd, this.#mode(op.mode));
        futimesSync(fd, ...fileTimes(op.mtimeMs));
        if (this.#fsync) fsyncSync(fd);
        closeSync(fd);
        fd = -1;
        renameSync(tmp, p.at);
      } catch (err) {
        if (fd >= 0) closeSync(fd);
        unlinkQuietly(tmp);
        throw fromFsError(err, op.path);
      }
    });
  }

  /**
   * A small delta already in memory: rebuilt in memory from the basis with synchronous reads, then written like
   * writeBuffered (digest verified before the disk is touched). A basis that is gone, not a file, or does not fit
   * the copy ops is a mismatch, so the sender resends the file whole.
   */
  async writeBufferedDelta(op: WriteOp, ops: readonly DeltaOp[], digestAtEnd?: () => string): Promise<void> {
    const out = await this.pinned((pins) => this.#rebuild(this.#parent(pins, op.path), op, ops));
    await this.writeBuffered(op, [out], digestAtEnd);
  }

  #rebuild(p: PinnedParent, op: WriteOp, ops: readonly DeltaOp[]): Uint8Array {
    const blockSize = checkBlockSize(op);
    const out = Buffer.allocUnsafe(op.size);
    let size = 0;
    let fd = -1;
    try {
      for (const d of ops) {
        if (d.kind === 'literal') {
          if (size + d.data.byteLength > op.size) throw mismatch(op.path, `content longer than the announced ${op.size} bytes`);
          out.set(d.data, size);
          size += d.data.byteLength;
          continue;
        }
        if (!(Number.isSafeInteger(d.index) && d.index >= 0 && Number.isSafeInteger(d.count) && d.count > 0) || blockSize <= 0) {
          throw mismatch(op.path, `basis changed: copy op with invalid block range ${d.index}+${d.count}`);
        }
        if (fd < 0) fd = openBasisSync(p.at, op.path);
        let from = d.index * blockSize;
        let left = d.count * blockSize;
        let copied = 0;
        while (left > 0) {
          if (size === op.size) {
            // Room only for EOF: a copy past the announced size means the basis differs from its signature.
            if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, from) > 0) throw mismatch(op.path, `content longer than the announced ${op.size} bytes`);
            break;
          }
          const n = readSync(fd, out, size, Math.min(left, op.size - size), from);
          if (n === 0) break; // EOF: the last block is short
          size += n;
          copied += n;
          from += n;
          left -= n;
        }
        if (copied === 0) throw mismatch(op.path, `basis changed: block ${d.index} lies past its end`);
      }
    } catch (err) {
      throw fromFsError(err, op.path);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
    return out.subarray(0, size);
  }

  /** The receiver already holds the content at `from`: verified by digest, then renamed or copied. */
  moveOrCopy(op: Extract<Op, { op: 'move' | 'copy' }>, signal?: AbortSignal): Promise<void> {
    return this.pinned(async (pins) => {
      const from = this.#parent(pins, checkRelPath(op.from));
      const to = this.#parent(pins, op.path);
      const src = await open(from.at, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK).catch((err: unknown) => Promise.reject(fromFsError(err, op.from)));
      try {
        if (!(await src.stat()).isFile()) throw new KxError(ErrorCode.InvalidArgument, `${op.op} ${op.from}: not a regular file`);
        if (op.op === 'copy') {
          await this.#intoPlace(to, op.path, async (out) => {
            const digest = await this.#copyHashing(src, out, signal);
            if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
          }, op.mode, op.mtimeMs);
          return;
        }
        const digest = await this.#copyHashing(src, null, signal);
        if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
        try {
          renameSync(from.at, to.at);
        } catch (err) {
          throw fromFsError(err, op.path);
        }
        await src.chmod(this.#mode(op.mode));
        await src.utimes(...fileTimes(op.mtimeMs));
      } catch (err) {
        throw fromFsError(err, op.path);
      } finally {
        await src.close();
      }
    });
  }

  /** A link is created beside the path and renamed over it, so an existing link or file is replaced atomically. */
  async symlink(path: RelPath, target: string): Promise<void> {
    if (target === '' || target.includes('\0')) {
      throw new KxError(ErrorCode.InvalidArgument, `symlink ${path}: link text is empty or contains a NUL byte`);
    }
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      const tmp = fdPath(p.dirFd, this.#tempName());
      try {
        symlinkSync(target, tmp);
        if (this.#owner) lchownSync(tmp, this.#owner.uid, this.#owner.gid);
        renameSync(tmp, p.at);
      } catch (err) {
        unlinkQuietly(tmp);
        throw fromFsError(err, path);
      }
    });
  }

  meta(path: RelPath, mode: number, mtimeMs?: number): Promise<void> {
    return this.pinned((pins) => {
      const p = this.#parent(pins, path);
      const fd = openNoFollow(p, path, C.O_RDONLY);
      try {
        fchmodSync(fd, this.#mode(mode));
        if (mtimeMs !== undefined) futimesSync(fd, ...fileTimes(mtimeMs));
      } catch (err) {
        throw fromFsError(err, path);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Remove a file, link or whole directory; a path already gone is not an error. Links are removed, not followed. */
  remove(path: RelPath): Promise<void> {
    return this.pinned((pins) => {
      let p: PinnedParent;
      try {
        p = this.#parent(pins, path);
      } catch (err) {
        if (err instanceof KxError && err.code === ErrorCode.NotFound) return; // its parent is gone: so is it
        throw err;
      }
      try {
        const st = lstatSync(p.at, { throwIfNoEntry: false });
        if (st === undefined) return;
        if (st.isDirectory()) {
          pins.forget(p.dir === '' ? p.name : `${p.dir}/${p.name}`);
          removeTreeAt(p.dirFd, p.name);
        } else {
          unlinkSync(p.at);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw fromFsError(err, path);
      }
    });
  }

  #parent(pins: DirPins, path: RelPath): PinnedParent {
    return pins.parent(checkDepth(checkRelPath(path)));
  }

  /** The permission bits to set: set-user-ID, set-group-ID and sticky only when the spec asked for them. */
  #mode(mode: number): number {
    return mode & this.#modeMask;
  }

  #openPins(): DirPins {
    return new DirPins(openRoot(this.#root, this.#anchor), { absoluteLinks: 'refuse', hooks: this.#hooks });
  }

  /** A fresh temp name: random per writer, then counted (O_EXCL catches the impossible clash). */
  #tempName(): string {
    return `${this.#tempPrefix}${(this.#tempSeq++).toString(36)}`;
  }

  /** Create a temp file in the pinned parent, fill it, set owner/mode/mtime, rename it over the name; on failure remove it. */
  async #intoPlace(p: PinnedParent, path: RelPath, fill: (out: FileHandle) => Promise<void>, mode: number, mtimeMs: number): Promise<void> {
    const tmp = fdPath(p.dirFd, this.#tempName());
    let out: FileHandle | undefined;
    try {
      out = await open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      await fill(out);
      if (this.#owner) await out.chown(this.#owner.uid, this.#owner.gid); // before chmod: chown clears set-id bits
      await out.chmod(this.#mode(mode));
      await out.utimes(...fileTimes(mtimeMs));
      if (this.#fsync) await out.sync();
      await out.close();
      out = undefined;
      renameSync(tmp, p.at);
    } catch (err) {
      await out?.close().catch(() => undefined);
      unlinkQuietly(tmp);
      throw fromFsError(err, path);
    }
  }

  async #copyHashing(src: FileHandle, out: FileHandle | null, signal?: AbortSignal): Promise<string> {
    const h = this.#hasher.stream();
    const buf = Buffer.allocUnsafe(256 * 1024);
    let pos = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await src.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      h.update(chunk);
      if (out) await out.write(chunk);
      pos += bytesRead;
    }
    return h.digest();
  }
}

function closePins(pins: DirPins): void {
  pins.close();
  closeSync(pins.rootFd);
}

/**
 * rm -r of directory `name` inside the pinned `parentFd`, each level through its own fd: a directory swapped for
 * a symlink meanwhile is unlinked as a link, never entered.
 */
function removeTreeAt(parentFd: number, name: string): void {
  let fd: number;
  try {
    fd = openSync(fdPath(parentFd, name), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ELOOP' || code === 'ENOTDIR') return unlinkSync(fdPath(parentFd, name)); // no longer a directory
    throw err;
  }
  try {
    for (const d of readdirSync(fdPath(fd), { withFileTypes: true })) {
      if (d.isDirectory()) {
        removeTreeAt(fd, d.name);
        continue;
      }
      try {
        unlinkSync(fdPath(fd, d.name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EISDIR' || code === 'EPERM') removeTreeAt(fd, d.name); // became a directory meanwhile
        else if (code !== 'ENOENT') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  try {
    rmdirSync(fdPath(parentFd, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone (or never created)
  }
}

export function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
}

/** The basis of a delta, read synchronously; gone, a symlink or not a regular file: a mismatch (resend whole). */
function openBasisSync(abs: string, path: RelPath): number {
  let fd: number;
  try {
    fd = openSync(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') throw mismatch(path, 'basis changed: gone or a symlink');
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw mismatch(path, 'basis changed: not a regular file');
  }
  return fd;
}

/** Open the pinned parent's entry without following a final symlink (refused with PATH_ESCAPE). */
function openNoFollow(p: PinnedParent, path: RelPath, flags: number): number {
  try {
    return openSync(p.at, flags | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    // With O_DIRECTORY, Linux reports a final symlink as ENOTDIR rather than ELOOP.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && lstatSync(p.at, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new KxError(ErrorCode.PathEscape, `${path}: is a symlink; refuses to follow it`);
    }
    throw fromFsError(err, path);
  }
}

/** The basis of a streamed delta, or null when gone, a symlink or not a regular file (the delta then mismatches). */
async function openBasis(p: PinnedParent, path: RelPath): Promise<FileHandle | null> {
  try {
    const h = await open(p.at, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    if ((await h.stat()).isFile()) return h;
    await h.close();
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw fromFsError(err, path);
  }
}

/**
 * utimes takes seconds as a double and the kernel truncates its fraction; half a microsecond more keeps the
 * whole millisecond from being truncated to the one below (1.123 s is 1.12299999… in binary).
 */
function fileTimes(mtimeMs: number): [number, number] {
  const s = mtimeMs / 1000 + 5e-7;
  return [s, s];
}

async function* abortable(body: AsyncIterable<DeltaOp>, signal?: AbortSignal): AsyncIterable<DeltaOp> {
  for await (const op of body) {
    signal?.throwIfAborted();
    yield op;
  }
}

/** The digest a write must rebuild to: the op's, or (op digest '') the one sent after the content; never ''. */
function expectedDigest(op: WriteOp, digestAtEnd?: () => string): string {
  const d = op.digest !== '' ? op.digest : (digestAtEnd?.() ?? '');
  if (d === '') throw mismatch(op.path, 'no digest to verify the content against (none in the op, none after the content)');
  return d;
}

function mismatch(path: RelPath, why: string): KxError {
  return new KxError(ErrorCode.DigestMismatch, `${path}: ${why}`);
}
