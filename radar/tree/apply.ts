// Confined, atomic changes to a tree on disk: the receiver's half of a sync. Every path is validated
// (checkRelPath), resolved without leaving the root (resolveBeneath), and its final component is opened with
// O_NOFOLLOW or replaced by rename, so no write ever follows a symlink, inside the tree or out of it.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, fsyncSync, futimesSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, rename, rm, symlink, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, KxError, fromFsError } from '../../pkg/sync/errors.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { applyDelta } from '../../pkg/sync/patch.ts';
import { TEMP_PREFIX, checkRelPath, isTempName } from '../../pkg/sync/paths.ts';
import type { DeltaOp, Op, RelPath, WriteOp } from '../../pkg/sync/types.ts';
import { resolveBeneathSync } from './confine.ts';

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
}

/** Remove radar's temporary files (TEMP_PREFIX) left anywhere beneath root by an earlier crash. Returns the count. */
export async function cleanTemp(root: string, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  const walk = async (dir: string): Promise<void> => {
    signal?.throwIfAborted();
    let names;
    try {
      names = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fromFsError(err, dir);
    }
    for (const d of names) {
      const p = join(dir, d.name);
      if (isTempName(d.name) && !d.isDirectory()) {
        await unlink(p).catch(() => undefined);
        removed++;
      } else if (d.isDirectory()) {
        await walk(p); // withFileTypes does not follow symlinks: a link to a directory is not entered
      }
    }
  };
  await walk(root);
  return removed;
}

/** One tree's writer. Methods throw KxError naming the path; the caller turns that into a per-path error. */
export class TreeWriter {
  readonly #root: string;
  readonly #hasher: Hasher;
  readonly #owner: Owner | undefined;
  readonly #fsync: boolean;
  readonly #tempPrefix = `${tempName()}-`;
  #tempSeq = 0;

  constructor(opts: TreeWriterOptions) {
    this.#root = opts.root;
    this.#hasher = opts.hasher;
    this.#owner = opts.owner;
    this.#fsync = opts.fsync ?? false;
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

  async mkdir(path: RelPath, mode: number): Promise<void> {
    const abs = this.#resolve(path);
    let created = true;
    try {
      await mkdir(abs, { mode: mode & 0o7777 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(err, path);
      created = false;
    }
    // O_DIRECTORY|O_NOFOLLOW: an existing symlink or file at the path is refused, not followed.
    const h = await openNoFollow(abs, path, C.O_RDONLY | C.O_DIRECTORY);
    try {
      if (created && this.#owner) await h.chown(this.#owner.uid, this.#owner.gid);
      await h.chmod(mode & 0o7777); // mkdir's mode passed through the umask
    } catch (err) {
      throw fromFsError(err, path);
    } finally {
      await h.close();
    }
  }

  /** Rebuild the file in a temp file beside it, verify its digest, set mode/owner/mtime, rename it into place. */
  async write(op: WriteOp, body: AsyncIterable<DeltaOp>, signal?: AbortSignal, digestAtEnd?: () => string): Promise<void> {
    const abs = this.#resolve(op.path);
    const basis = op.basis === 'delta' ? await this.#openBasis(abs, op.path) : null;
    try {
      await this.#intoPlace(abs, op.path, async (out) => {
        let result;
        try {
          result = await applyDelta(basis, op.blockSize ?? 0, abortable(body, signal), out, this.#hasher);
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
    const abs = this.#resolve(op.path);
    const tmp = join(dirname(abs), this.#tempName());
    let fd = -1;
    try {
      fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      for (const c of chunks) for (let off = 0; off < c.byteLength; ) off += writeSync(fd, c, off);
      if (this.#owner) fchownSync(fd, this.#owner.uid, this.#owner.gid);
      fchmodSync(fd, op.mode & 0o7777);
      futimesSync(fd, ...fileTimes(op.mtimeMs));
      if (this.#fsync) fsyncSync(fd);
      closeSync(fd);
      fd = -1;
      renameSync(tmp, abs);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      rmSync(tmp, { force: true });
      throw fromFsError(err, op.path);
    }
  }

  /**
   * A small delta already in memory: rebuilt in memory from the basis with synchronous reads, then written like
   * writeBuffered (digest verified before the disk is touched). A basis that is gone, not a file, or does not fit
   * the copy ops is a mismatch, so the sender resends the file whole.
   */
  async writeBufferedDelta(op: WriteOp, ops: readonly DeltaOp[], digestAtEnd?: () => string): Promise<void> {
    const abs = this.#resolve(op.path);
    const blockSize = op.blockSize ?? 0;
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
        if (fd < 0) fd = openBasisSync(abs, op.path);
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
    await this.writeBuffered(op, [out.subarray(0, size)], digestAtEnd);
  }

  /** The receiver already holds the content at `from`: verified by digest, then renamed or copied. */
  async moveOrCopy(op: Extract<Op, { op: 'move' | 'copy' }>, signal?: AbortSignal): Promise<void> {
    const fromAbs = this.#resolve(checkRelPath(op.from));
    const abs = this.#resolve(op.path);
    const src = await openNoFollow(fromAbs, op.from, C.O_RDONLY);
    try {
      if (!(await src.stat()).isFile()) throw new KxError(ErrorCode.InvalidArgument, `${op.op} ${op.from}: not a regular file`);
      if (op.op === 'copy') {
        await this.#intoPlace(abs, op.path, async (out) => {
          const digest = await this.#copyHashing(src, out, signal);
          if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
        }, op.mode, op.mtimeMs);
        return;
      }
      const digest = await this.#copyHashing(src, null, signal);
      if (digest !== op.digest) throw mismatch(op.from, `holds digest ${digest}, expected ${op.digest}`);
      await rename(fromAbs, abs).catch((err: unknown) => Promise.reject(fromFsError(err, op.path)));
      await src.chmod(op.mode & 0o7777);
      await src.utimes(...fileTimes(op.mtimeMs));
    } catch (err) {
      throw fromFsError(err, op.path);
    } finally {
      await src.close();
    }
  }

  /** A link is created beside the path and renamed over it, so an existing link or file is replaced atomically. */
  async symlink(path: RelPath, target: string): Promise<void> {
    if (target === '' || target.includes('\0')) {
      throw new KxError(ErrorCode.InvalidArgument, `symlink ${path}: link text is empty or contains a NUL byte`);
    }
    const abs = this.#resolve(path);
    const tmp = join(dirname(abs), this.#tempName());
    try {
      await symlink(target, tmp);
      if (this.#owner) await lchown(tmp, this.#owner.uid, this.#owner.gid);
      await rename(tmp, abs);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw fromFsError(err, path);
    }
  }

  async meta(path: RelPath, mode: number, mtimeMs?: number): Promise<void> {
    const abs = this.#resolve(path);
    const h = await openNoFollow(abs, path, C.O_RDONLY);
    try {
      await h.chmod(mode & 0o7777);
      if (mtimeMs !== undefined) await h.utimes(...fileTimes(mtimeMs));
    } catch (err) {
      throw fromFsError(err, path);
    } finally {
      await h.close();
    }
  }

  /** Remove a file, link or whole directory; a path already gone is not an error. Links are removed, not followed. */
  async remove(path: RelPath): Promise<void> {
    const abs = this.#resolve(path);
    try {
      const st = await lstat(abs);
      if (st.isDirectory()) await rm(abs, { recursive: true, force: true });
      else await unlink(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fromFsError(err, path);
    }
  }

  #resolve(path: RelPath): string {
    return resolveBeneathSync(this.#root, checkRelPath(path), { absoluteLinks: 'refuse', followFinal: false });
  }

  /** A fresh temp name: random per writer, then counted (O_EXCL catches the impossible clash). */
  #tempName(): string {
    return `${this.#tempPrefix}${(this.#tempSeq++).toString(36)}`;
  }

  async #openBasis(abs: string, path: RelPath): Promise<FileHandle | null> {
    try {
      const h = await open(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      if ((await h.stat()).isFile()) return h;
      await h.close();
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return null; // the delta's copy ops will then fail as a mismatch
      throw fromFsError(err, path);
    }
  }

  /** Create a temp file in abs's directory, fill it, set owner/mode/mtime, rename it over abs; on failure remove it. */
  async #intoPlace(abs: string, path: RelPath, fill: (out: FileHandle) => Promise<void>, mode: number, mtimeMs: number): Promise<void> {
    const tmp = join(dirname(abs), this.#tempName());
    let out: FileHandle | undefined;
    try {
      out = await open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
      await fill(out);
      if (this.#owner) await out.chown(this.#owner.uid, this.#owner.gid); // before chmod: chown clears set-id bits
      await out.chmod(mode & 0o7777);
      await out.utimes(...fileTimes(mtimeMs));
      if (this.#fsync) await out.sync();
      await out.close();
      out = undefined;
      await rename(tmp, abs);
    } catch (err) {
      await out?.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
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

async function openNoFollow(abs: string, path: RelPath, flags: number): Promise<FileHandle> {
  try {
    return await open(abs, flags | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    // With O_DIRECTORY, Linux reports a final symlink as ENOTDIR rather than ELOOP.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && (await lstat(abs).catch(() => null))?.isSymbolicLink()) {
      throw new KxError(ErrorCode.PathEscape, `${path}: is a symlink; refuses to follow it`);
    }
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
