// KxError ↔ gRPC status, used by radar's server and kx's client alike. The kx code itself rides in trailing
// metadata so the round trip is exact; the gRPC status is the closest standard meaning for other clients.
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { METADATA_ERROR_CODE } from '../../proto/version.ts';

const TO_STATUS: Readonly<Record<ErrorCode, grpc.status>> = {
  INVALID_PATH: grpc.status.INVALID_ARGUMENT,
  PATH_ESCAPE: grpc.status.PERMISSION_DENIED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  DIGEST_MISMATCH: grpc.status.DATA_LOSS,
  PROTOCOL_VERSION: grpc.status.FAILED_PRECONDITION,
  PROTOCOL: grpc.status.INVALID_ARGUMENT,
  IO: grpc.status.INTERNAL,
  INVALID_CONFIG: grpc.status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  CANCELLED: grpc.status.CANCELLED,
  LIMIT: grpc.status.RESOURCE_EXHAUSTED,
  INTERNAL: grpc.status.INTERNAL,
  CHANGED: grpc.status.FAILED_PRECONDITION,
};

/** For a status without kx metadata (a proxy, an older peer, grpc-js itself). */
const FROM_STATUS: ReadonlyMap<grpc.status, ErrorCode> = new Map([
  [grpc.status.INVALID_ARGUMENT, ErrorCode.InvalidArgument],
  [grpc.status.NOT_FOUND, ErrorCode.NotFound],
  [grpc.status.UNAUTHENTICATED, ErrorCode.Unauthenticated],
  [grpc.status.PERMISSION_DENIED, ErrorCode.PermissionDenied],
  [grpc.status.DATA_LOSS, ErrorCode.DigestMismatch],
  [grpc.status.FAILED_PRECONDITION, ErrorCode.ProtocolVersion],
  [grpc.status.UNAVAILABLE, ErrorCode.Unavailable],
  [grpc.status.DEADLINE_EXCEEDED, ErrorCode.Unavailable],
  [grpc.status.CANCELLED, ErrorCode.Cancelled],
  [grpc.status.UNIMPLEMENTED, ErrorCode.ProtocolVersion],
  [grpc.status.RESOURCE_EXHAUSTED, ErrorCode.Limit],
]);

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(code: string): code is ErrorCode {
  return KNOWN_CODES.has(code);
}

export function statusOf(code: ErrorCode): grpc.status {
  return TO_STATUS[code];
}

/** A gRPC error object for a failed call: status, one-line details, the kx code in trailing metadata. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
  const kx = err instanceof KxError ? err : new KxError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
  const metadata = new grpc.Metadata();
  metadata.set(METADATA_ERROR_CODE, kx.code);
  return { code: statusOf(kx.code), details: kx.message, metadata };
}

/** Turn an error from a gRPC call back into a KxError with the peer's code. */
export function fromServiceError(err: unknown, context?: string): KxError {
  if (err instanceof KxError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e === undefined || typeof e.code !== 'number') {
    return new KxError(ErrorCode.Internal, `${context ? `${context}: ` : ''}${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const fromMeta = e.metadata?.get(METADATA_ERROR_CODE)[0];
  const code =
    typeof fromMeta === 'string' && isErrorCode(fromMeta) ? fromMeta : (FROM_STATUS.get(e.code) ?? ErrorCode.Internal);
  const details = e.details || e.message || grpc.status[e.code];
  const message = code === ErrorCode.Unavailable && context ? `${context}: ${details}` : details;
  return new KxError(code, message ?? 'unknown error', { cause: err });
}
