// One token for every container radar can reach: radar serving the local Docker target, where kx starts it and is
// its only client. Whoever holds the token kx generated for this radar container is that kx; anyone else on the
// loopback port is refused before the engine is asked anything.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import type { TargetAuthorizer } from '../../pkg/runtime/resolve.ts';
import { refusedToken } from './authorize.ts';

export class StaticTokenAuthorizer implements TargetAuthorizer {
  readonly #digest: Buffer;

  /** `token` must be non-empty: an empty one would let anyone who reaches the port write. */
  constructor(token: string) {
    if (token === '') throw new KxError(ErrorCode.InvalidConfig, 'radar token is empty');
    this.#digest = digest(token);
  }

  /** Before radar reads a message: the same check, with the one message every unauthenticated caller gets. */
  async authenticate(token: string | undefined): Promise<void> {
    if (token === undefined || token === '' || !timingSafeEqual(digest(token), this.#digest)) throw refusedToken();
  }

  /** The whole check: it needs nothing from the runtime, so a wrong token never reaches the engine. */
  requireToken(token: string | undefined, container: string): asserts token is string {
    if (token === undefined || token === '') {
      throw new KxError(ErrorCode.Unauthenticated, `container ${container}: no token presented (authorization: Bearer <token>)`);
    }
    // Digests first: equal lengths, so the comparison's time reveals neither content nor length.
    if (!timingSafeEqual(digest(token), this.#digest)) {
      throw new KxError(ErrorCode.Unauthenticated, `container ${container}: the token is not this radar's`);
    }
  }

  async authorize(target: { container: string }, token: string | undefined): Promise<void> {
    this.requireToken(token, target.container);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
