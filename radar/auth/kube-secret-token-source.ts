// Reads a namespace's token from its Secret `kx-token` (key `token`). radar's ServiceAccount may `get` exactly
// Secrets of that name. Answers are cached briefly so a burst of calls costs one API request, while a rotated
// token (`kx token -n NS`) takes effect within the TTL (open streams re-check it before each batch). The cache is
// bounded, and look-ups are rate-limited: made-up tokens naming made-up namespaces cost the API server a few
// requests a second at most, never one per call.
import type { CoreV1ApiReadNamespacedSecretRequest, V1Secret } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { TOKEN_SECRET_KEY, TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';
import type { TokenSource } from './authorize.ts';

/** The one call needed from @kubernetes/client-node's CoreV1Api. */
export interface SecretReader {
  readNamespacedSecret(param: CoreV1ApiReadNamespacedSecretRequest): Promise<V1Secret>;
}

export interface KubeSecretTokenSourceOptions {
  readonly api: SecretReader;
  /** How long an answer (token or "no Secret") is reused. Default 5 s. */
  readonly ttlMs?: number;
  /** Namespaces whose answer is kept (the least recently asked are forgotten first). Default 1024. */
  readonly maxCached?: number;
  /** Secret look-ups per second, on average, with bursts of `burst`. Defaults 10 and 40. */
  readonly readsPerSecond?: number;
  readonly burst?: number;
  /** For tests. */
  readonly now?: () => number;
}

export class KubeSecretTokenSource implements TokenSource {
  readonly #api: SecretReader;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { at: number; value: Promise<string | undefined> }>();
  readonly #maxCached: number;
  readonly #rate: number;
  readonly #burst: number;
  /** Token bucket of Secret look-ups. */
  #tokens: number;
  #refilledAt: number;

  constructor(opts: KubeSecretTokenSourceOptions) {
    this.#api = opts.api;
    this.#ttlMs = opts.ttlMs ?? 5_000;
    this.#now = opts.now ?? Date.now;
    this.#maxCached = opts.maxCached ?? 1024;
    this.#rate = opts.readsPerSecond ?? 10;
    this.#burst = opts.burst ?? 40;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#now();
  }

  tokenFor(namespace: string): Promise<string | undefined> {
    const now = this.#now();
    const hit = this.#cache.get(namespace);
    if (hit && now - hit.at < this.#ttlMs) {
      // Most recently used last: eviction takes the first.
      this.#cache.delete(namespace);
      this.#cache.set(namespace, hit);
      return hit.value;
    }
    if (!this.#take(now)) {
      return Promise.reject(new KxError(ErrorCode.Unavailable, 'radar is checking too many tokens at once; retry in a second'));
    }
    const value = this.#read(namespace);
    this.#cache.delete(namespace);
    this.#cache.set(namespace, { at: now, value });
    for (const k of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxCached) break;
      this.#cache.delete(k);
    }
    // A failed read is not an answer: forget it so the next call asks again.
    value.catch(() => {
      if (this.#cache.get(namespace)?.value === value) this.#cache.delete(namespace);
    });
    return value;
  }

  #take(now: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  async #read(namespace: string): Promise<string | undefined> {
    let secret: V1Secret;
    try {
      secret = await this.#api.readNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace });
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw new KxError(ErrorCode.Unavailable, `cannot read Secret ${TOKEN_SECRET_NAME} in namespace ${namespace}: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
    const b64 = secret.data?.[TOKEN_SECRET_KEY];
    if (b64 === undefined || b64 === '') return undefined;
    const token = Buffer.from(b64, 'base64').toString('utf8').trim();
    return token === '' ? undefined : token;
  }
}
