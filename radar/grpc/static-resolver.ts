// radar's --root mode: one root directory and one shared token. Tokens are compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { refusedToken } from '../auth/authorize.ts';
import type { ResolvedRoot, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';

export class StaticRootResolver implements RootResolver {
  readonly #root: string;
  readonly #tokenDigest: Buffer;

  /** `token` must be non-empty: a radar without a token would let anyone on the port write. */
  constructor(rootPath: string, token: string) {
    if (token === '') throw new KxError(ErrorCode.InvalidConfig, 'radar token is empty');
    this.#root = rootPath;
    this.#tokenDigest = digest(token);
  }

  async authenticate(token: string | undefined): Promise<void> {
    // Hashing first gives equal lengths, so timingSafeEqual leaks neither content nor length.
    if (token === undefined || token === '' || !timingSafeEqual(digest(token), this.#tokenDigest)) throw refusedToken();
  }

  async resolve(target: TargetRef, token: string | undefined): Promise<ResolvedRoot> {
    await this.authenticate(token);
    if (target.containerId !== '') {
      throw new KxError(ErrorCode.NotFound, `container ${target.containerId}: this radar serves one directory, not containers`);
    }
    return { path: this.#root };
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
