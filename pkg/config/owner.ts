// A spec's `owner` (`uid:gid`): one parser for the config check, `kx create` and both target kinds.
import { ErrorCode, KxError } from '../sync/errors.ts';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** `uid:gid`, both decimal numbers (what the schema's pattern accepts). */
export const OWNER_PATTERN = /^([0-9]+):([0-9]+)$/;

/** Parses `uid:gid`; throws INVALID_ARGUMENT naming the value otherwise. */
export function parseOwner(owner: string): Owner {
  const m = OWNER_PATTERN.exec(owner);
  if (!m) throw new KxError(ErrorCode.InvalidArgument, `owner "${owner}": expected uid:gid (numbers)`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}
