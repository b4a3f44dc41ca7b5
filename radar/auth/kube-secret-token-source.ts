// Reads a namespace's token from its Secret `kx-token` (key `token`). radar's ServiceAccount may `get` exactly
// Secrets of that name. Answers are cached briefly so a burst of calls costs one API request, while a rotated
// token (`kx token -n NS`) takes effect within the TTL.
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
  /** How long an answer (token or "no Secret") is reused. Default 10 s. */
  readonly ttlMs?: number;
  /** For tests. */
  readonly now?: () => number;
}

export class KubeSecretTokenSource implements TokenSource {
  readonly #api: SecretReader;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { at: number; value: Promise<string | undefined> }>();

  constructor(opts: KubeSecretTokenSourceOptions) {
    this.#api = opts.api;
    this.#ttlMs = opts.ttlMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  tokenFor(namespace: string): Promise<string | undefined> {
    const now = this.#now();
    const hit = this.#cache.get(namespace);
    if (hit && now - hit.at < this.#ttlMs) return hit.value;
    const value = this.#read(namespace);
    this.#cache.set(namespace, { at: now, value });
    // A failed read is not an answer: forget it so the next call asks again.
    value.catch(() => {
      if (this.#cache.get(namespace)?.value === value) this.#cache.delete(namespace);
    });
    return value;
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
