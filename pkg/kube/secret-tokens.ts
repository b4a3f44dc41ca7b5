// The per-namespace token the local side presents to radar, read from the namespace's `kx-token` Secret with the
// user's own credentials; a missing Secret or a forbidden read is said in words with the command that fixes it.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { TOKEN_SECRET_KEY, TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError } from './api-errors.ts';

export class SecretTokens {
  readonly #api: CoreV1Api;
  readonly #context: string;

  constructor(kc: KubeConfig, context: string) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#context = context;
  }

  /** Read on every call, so a rotated token (`kx token -n NS`) is used on the next connection. */
  async tokenFor(namespace: string): Promise<string> {
    const hint = `run kx token -n ${namespace}`;
    let data: Record<string, string> | undefined;
    try {
      data = (await this.#api.readNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace })).data;
    } catch (err) {
      const e = apiError(err, `read Secret ${TOKEN_SECRET_NAME} in namespace "${namespace}" (context "${this.#context}")`, this.#context);
      if (e.code === ErrorCode.NotFound) {
        throw new KxError(ErrorCode.NotFound, `token Secret ${TOKEN_SECRET_NAME} is missing in namespace "${namespace}": ${hint}`, { cause: err });
      }
      throw e;
    }
    const token = data?.[TOKEN_SECRET_KEY] ? Buffer.from(data[TOKEN_SECRET_KEY], 'base64').toString('utf8').trim() : '';
    if (token === '') {
      throw new KxError(ErrorCode.NotFound, `token Secret ${TOKEN_SECRET_NAME} in namespace "${namespace}" has no "${TOKEN_SECRET_KEY}" key: ${hint}`);
    }
    return token;
  }
}
