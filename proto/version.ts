// The protocol's version and the names that travel beside the messages (metadata keys, capabilities).

/** Bumped only for incompatible changes; additions are announced as capabilities instead. */
export const PROTOCOL_VERSION = 1;

/** Capabilities this code understands. */
export const Capability = {
  /** Literal frames may be raw-deflate compressed (Literal.deflated). */
  Zlib: 'zlib',
  /** Writes with basis 'delta' against the receiver's signatures. */
  Delta: 'delta',
  Describe: 'describe',
  Reload: 'reload',
  /** A write's digest may be '' and follow its content in FileEnd.digest (the sender hashes as it reads). */
  DigestAtEnd: 'digest-at-end',
  /** GetDigests: digests of the receiver's files at given paths. */
  Digests: 'digests',
  /** Exec: run a command in the target container. */
  Exec: 'exec',
  /** Ops may carry `expect`, the entry the sender last knew at their path; radar refuses a mismatch (CHANGED). */
  Expect: 'expect',
  /**
   * One Apply call may carry batch after batch, each acked as it ends, and an idle call holds no batch slot: kx keeps
   * one open between saves.
   */
  ApplyReuse: 'apply-reuse',
  /** A directory's remove may carry the entries expected beneath it (Expect.contents); radar checks them first. */
  ExpectContents: 'expect-contents',
} as const;
export type Capability = (typeof Capability)[keyof typeof Capability];

export const METADATA_AUTHORIZATION = 'authorization';
/** Sent by the client on every call so that radar refuses a mismatch even without a Handshake. */
export const METADATA_PROTOCOL_VERSION = 'kx-protocol-version';
/** Trailing metadata of a failed call: the stable kx error code (pkg/sync/errors.ts). */
export const METADATA_ERROR_CODE = 'kx-error-code';

/** Largest message kx accepts; signatures of very large files are the biggest messages radar sends. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/**
 * Largest message radar accepts. The client's frames stay near 256 KiB and its path lists within a few MiB;
 * a lower bound also limits what an unauthenticated peer can make radar buffer before the token is checked.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
