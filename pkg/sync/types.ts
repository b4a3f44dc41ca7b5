// The sync engine's data model: what a tree is (Manifest), what must change (Op), and the block-delta
// vocabulary (Signature, DeltaOp). Shared by the local side and radar; pure data, no I/O.

/**
 * A path inside a synced tree: relative, '/'-separated, normalized. Never '', never starts with '/',
 * never has '.' or '..' components, never contains NUL.
 */
export type RelPath = string;

export type EntryKind = 'file' | 'dir' | 'symlink';

export interface Entry {
  readonly path: RelPath;
  readonly kind: EntryKind;
  /** Permission bits only (mode & 0o7777). Symlinks: 0o777. */
  readonly mode: number;
  /** Bytes for files; 0 for directories and symlinks. */
  readonly size: number;
  /** Whole milliseconds since the epoch. */
  readonly mtimeMs: number;
  /** Files only: xxh64 of the content as 16 lowercase hex digits. */
  readonly digest?: string;
  /** Symlinks only: the link text as stored; links are never followed. */
  readonly target?: string;
}

/** A scanned tree keyed by path. A directory's entry precedes nothing in particular; use sortPaths when order matters. */
export type Manifest = ReadonlyMap<RelPath, Entry>;

/**
 * What the receiver's entry at an op's path must still be for the op to go ahead (null: nothing there): the entry
 * kx last knew. Files compare kind, size and mtime; directories and links their kind (a link's mtime is its
 * creation). A mismatch means the container changed it since, and the receiver leaves it alone (CHANGED).
 */
export interface Prior {
  readonly kind: EntryKind;
  readonly size: number;
  readonly mtimeMs: number;
  /**
   * A directory's remove only: everything beneath it kx last knew (paths relative to it). The receiver removes the
   * directory only when it holds nothing but these entries, each still as known (some may be gone); else CHANGED.
   * Sent only to a receiver that checks it (Receiver.checksDirContents).
   */
  readonly contents?: readonly PriorEntry[];
}

/** One entry beneath a directory a remove expects (Prior.contents): files compare size and mtime, links their text. */
export interface PriorEntry {
  readonly path: RelPath;
  readonly kind: EntryKind;
  readonly size: number;
  readonly mtimeMs: number;
  readonly target?: string;
}

/** One change the receiver makes so its tree equals the sender's. Ops of a plan are in a safe order. */
export type Op =
  | { readonly op: 'mkdir'; readonly path: RelPath; readonly mode: number }
  /** File content follows from the sender: 'whole' = literal bytes only; 'delta' = against the receiver's file at path. */
  | {
      readonly op: 'write';
      readonly path: RelPath;
      readonly mode: number;
      readonly mtimeMs: number;
      readonly size: number;
      /** '' = not known up front: the sender hashes the content as it reads it and sends the digest after it. */
      readonly digest: string;
      readonly basis: 'whole' | 'delta';
      /** basis 'delta': the block size of the receiver's signature the delta was made against. */
      readonly blockSize?: number;
      readonly expect?: Prior | null;
    }
  /** The receiver already holds this content at `from` (same digest): rename it (move) or copy it, no data sent. */
  | { readonly op: 'move' | 'copy'; readonly from: RelPath; readonly path: RelPath; readonly mode: number; readonly mtimeMs: number; readonly digest: string; readonly expect?: Prior | null }
  | { readonly op: 'symlink'; readonly path: RelPath; readonly target: string; readonly expect?: Prior | null }
  /** Metadata only: content already equal. */
  | { readonly op: 'meta'; readonly path: RelPath; readonly mode: number; readonly mtimeMs?: number }
  /** Remove a file, symlink, or a directory with everything in it. */
  | { readonly op: 'remove'; readonly path: RelPath; readonly expect?: Prior | null };

export type WriteOp = Extract<Op, { op: 'write' }>;

/** The receiver's block signature of one file. */
export interface Signature {
  readonly blockSize: number;
  readonly fileSize: number;
  /** Rolling weak checksum of each block (the last block may be short). */
  readonly weak: Uint32Array;
  /** xxh64 of each block. */
  readonly strong: BigUint64Array;
}

/** The sender's instructions to rebuild a file: copy blocks of the receiver's basis, or literal bytes. */
export type DeltaOp =
  | { readonly kind: 'copy'; readonly index: number; readonly count: number }
  | { readonly kind: 'literal'; readonly data: Uint8Array };

/** Serializable ignore rules: gitignore-syntax patterns, each list relative to its base directory ('' = root). */
export interface IgnoreRuleSet {
  readonly base: RelPath | '';
  readonly patterns: readonly string[];
}

export interface PathError {
  readonly path: RelPath;
  readonly code: string;
  readonly message: string;
}

export interface BatchResult {
  /** Ops that took effect. */
  readonly applied: number;
  /** Bytes of file data that crossed to the receiver (literal bytes, after compression where used). */
  readonly bytesSent: number;
  readonly errors: readonly PathError[];
}

/** An op as the sender hands it to a Receiver: writes carry their content as a stream of delta ops. */
export type BatchOp = Exclude<Op, WriteOp> | BatchWrite;

/**
 * A write with its content. `digestAtEnd` (writes whose digest is ''): the content's digest, valid once `body` has
 * been read to its end; the receiver verifies the rebuilt file against it before renaming it into place.
 */
export type BatchWrite = WriteOp & { readonly body: AsyncIterable<DeltaOp>; readonly digestAtEnd?: () => string };

/**
 * The receiving side of a sync, as the sender sees it. Declared here because the sender (push.ts) consumes it;
 * implemented in-process by the receiver (pkg/receiver/) and over gRPC by pkg/transport.
 */
export interface Receiver {
  /**
   * Scan the receiver's tree, leaving out what the rules ignore. Without `known`, every file is hashed. With `known`
   * (all the sender's files; digests optional), nothing is read except rename/copy candidates: files of the size of
   * a known file that has no file at its path here. A file of the same size and mtime as the known one gets its
   * digest, if any (rsync's quick check); other digests are left undefined.
   */
  manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest>;
  /**
   * Whether writes may carry their digest after their content (BatchWrite.digestAtEnd); asked after manifest().
   * Absent or false: every write's digest must be known up front.
   */
  acceptsDigestAtEnd?(): boolean;
  /**
   * Whether a directory's remove may carry the entries expected beneath it (Prior.contents), checked before anything
   * is removed; asked after manifest(). Absent or false: the receiver would ignore them, so they must not be relied on.
   */
  checksDirContents?(): boolean;
  /**
   * The receiver's regular files at these paths, with their digests (others left out). Optional: without it, or
   * when the receiver cannot, the sender does without (a moved file it cannot match is sent instead).
   */
  digests?(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest>;
  /** Signatures of the receiver's current files at these paths; null for a path that is not a regular file. */
  signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }>;
  /** Apply ops in order; per-path failures are reported, not thrown. Throws only when the whole batch failed. */
  apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult>;
}
