// Typed errors with stable codes. The codes cross the wire (per-path errors, gRPC status details) and the CLI
// maps them to one-line messages, so a code never changes meaning once released.

export const ErrorCode = {
  /** A path is malformed: empty, absolute, has '.' or '..' components, NUL bytes, or is too long. */
  InvalidPath: 'INVALID_PATH',
  /** A path resolves outside the root (through '..' or a symlink). */
  PathEscape: 'PATH_ESCAPE',
  NotFound: 'NOT_FOUND',
  Unauthenticated: 'UNAUTHENTICATED',
  PermissionDenied: 'PERMISSION_DENIED',
  /** Rebuilt content does not hash to the digest the sender promised. */
  DigestMismatch: 'DIGEST_MISMATCH',
  /** The peers speak incompatible protocol versions. */
  ProtocolVersion: 'PROTOCOL_VERSION',
  /** A malformed message from the peer. */
  Protocol: 'PROTOCOL',
  Io: 'IO',
  InvalidConfig: 'INVALID_CONFIG',
  InvalidArgument: 'INVALID_ARGUMENT',
  Unavailable: 'UNAVAILABLE',
  Cancelled: 'CANCELLED',
  /** A request goes beyond one of the receiver's limits (path depth, message size, calls at once, ...). */
  Limit: 'LIMIT',
  Internal: 'INTERNAL',
  /** The receiver's entry is not what the sender last knew (an op's `expect`): the container changed it since. */
  Changed: 'CHANGED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class KxError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KxError';
    this.code = code;
  }
}

export function isKxError(err: unknown, code?: ErrorCode): err is KxError {
  return err instanceof KxError && (code === undefined || err.code === code);
}

/** Map a Node.js fs error to a KxError that names the path it concerns. */
export function fromFsError(err: unknown, path: string): KxError {
  if (err instanceof KxError) return err;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return new KxError(ErrorCode.NotFound, `${path}: no such file or directory`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new KxError(ErrorCode.PermissionDenied, `${path}: permission denied`, { cause: err });
    case 'ELOOP':
      return new KxError(ErrorCode.PathEscape, `${path}: refuses to follow a symlink`, { cause: err });
    default:
      return new KxError(ErrorCode.Io, `${path}: ${e?.message ?? String(err)}`, { cause: err });
  }
}
