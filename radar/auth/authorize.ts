// Per-namespace authorization. radar can write into any container on its node, so a client must present the token
// of the namespace the container RUNTIME reports for the target (label io.kubernetes.pod.namespace) — never one the
// client names. A developer owning namespace A can thus reach A's pods only.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { POD_NAMESPACE_LABEL } from '../../pkg/runtime/ports.ts';
import type { TargetAuthorizer } from '../../pkg/runtime/resolve.ts';
import { tokenNamespace } from '../../proto/kx-token.ts';

/** Where the expected token of a namespace comes from (a Kubernetes Secret in production). */
export interface TokenSource {
  /** The namespace's token, or undefined when it has none. */
  tokenFor(namespace: string, signal?: AbortSignal): Promise<string | undefined>;
}

export interface AuthTarget {
  /** How the container is named in messages. */
  readonly container: string;
  /** The namespace its runtime labels report; undefined when it carries no Kubernetes pod label. */
  readonly namespace: string | undefined;
}

/** What radar answers every caller whose token it refuses before reading a message: the same words for all. */
export const REFUSED_TOKEN_MESSAGE = 'radar refuses the call: its token is missing or not valid (kx reads it from Secret kx-token of the namespace)';

export function refusedToken(): KxError {
  return new KxError(ErrorCode.Unauthenticated, REFUSED_TOKEN_MESSAGE);
}

export interface NamespaceAuthorizerOptions {
  readonly tokens: TokenSource;
  /** How long a refused token is refused without asking the token source again. Default 2 s. */
  readonly refusedTtlMs?: number;
  /** How many refused tokens are remembered (the oldest are forgotten first). Default 4096. */
  readonly refusedMax?: number;
  /** For tests. */
  readonly now?: () => number;
}

export class NamespaceAuthorizer implements TargetAuthorizer {
  readonly #tokens: TokenSource;
  readonly #refused = new Map<string, number>();
  readonly #refusedTtlMs: number;
  readonly #refusedMax: number;
  readonly #now: () => number;

  constructor(opts: NamespaceAuthorizerOptions) {
    this.#tokens = opts.tokens;
    this.#refusedTtlMs = opts.refusedTtlMs ?? 2_000;
    this.#refusedMax = opts.refusedMax ?? 4096;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The token alone, before any message is read: it must be a kx token (`kx1.<namespace>.…`) equal to the Secret of
   * the namespace it names. Which containers it reaches is authorize()'s business. Refusals are remembered briefly
   * (bounded), so a flood of made-up tokens costs the API server nothing more.
   */
  async authenticate(token: string | undefined, signal?: AbortSignal): Promise<void> {
    if (token === undefined || token === '') throw refusedToken();
    const key = digest(token).toString('base64');
    const until = this.#refused.get(key);
    if (until !== undefined) {
      if (this.#now() < until) throw refusedToken();
      this.#refused.delete(key);
    }
    const ns = tokenNamespace(token);
    const expected = ns === undefined ? undefined : await this.#tokens.tokenFor(ns, signal);
    if (expected !== undefined && sameToken(token, expected)) return;
    this.#refused.set(key, this.#now() + this.#refusedTtlMs);
    for (const k of this.#refused.keys()) {
      if (this.#refused.size <= this.#refusedMax) break;
      this.#refused.delete(k);
    }
    throw refusedToken();
  }

  /** Cheap check before the runtime is asked anything: no token at all is refused at once. */
  requireToken(token: string | undefined, container: string): asserts token is string {
    if (token === undefined || token === '') {
      throw new KxError(ErrorCode.Unauthenticated, `container ${container}: no token presented (kx reads it from Secret kx-token of the pod's namespace)`);
    }
  }

  /** Resolves when `token` is the token of the target's namespace; throws UNAUTHENTICATED or PERMISSION_DENIED. */
  async authorize(target: AuthTarget, token: string | undefined, signal?: AbortSignal): Promise<void> {
    this.requireToken(token, target.container);
    const ns = target.namespace;
    if (ns === undefined || ns === '') {
      throw new KxError(ErrorCode.PermissionDenied, `container ${target.container} has no ${POD_NAMESPACE_LABEL} label: only containers of Kubernetes pods can be reached with a token`);
    }
    const expected = await this.#tokens.tokenFor(ns, signal);
    if (expected !== undefined && sameToken(token, expected)) return;

    // Only to pick the right refusal: a valid token of another namespace is an identified caller without access.
    const claimed = tokenNamespace(token);
    if (claimed !== undefined && claimed !== ns) {
      const other = await this.#tokens.tokenFor(claimed, signal);
      if (other !== undefined && sameToken(token, other)) {
        throw new KxError(ErrorCode.PermissionDenied, `container ${target.container} is in namespace ${ns}: a token of namespace ${claimed} does not grant access to it`);
      }
    }
    if (expected === undefined) {
      throw new KxError(ErrorCode.Unauthenticated, `container ${target.container}: namespace ${ns} has no Secret kx-token (create it with kx token -n ${ns})`);
    }
    throw new KxError(ErrorCode.Unauthenticated, `container ${target.container}: the token is not the token of namespace ${ns}`);
  }
}

// Compares digests so the time taken reveals neither content nor length.
function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
