// The per-namespace Secret `kx-token` (key `token`) that a client must present to radar for pods of that
// namespace. `kx token -n NS` creates or rotates it; the local side creates it on first use (ensureToken) when the
// user may create Secrets there, and reads it with readToken.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { TOKEN_SECRET_KEY, TOKEN_SECRET_NAME, newToken } from '../../proto/kx-token.ts';
import { apiError, httpStatusOf } from '../kube/api-errors.ts';
import { SecretTokens } from '../kube/secret-tokens.ts';
import { selectContext } from './context.ts';
import { MANAGED_BY, MANAGED_BY_LABEL } from './radar-objects.ts';

export interface TokenResult {
  namespace: string;
  token: string;
  action: 'created' | 'rotated' | 'existing';
}

export interface TokenOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The context in use, for messages (default: the kubeconfig's current context). */
  context?: string;
}

/** Create the Secret with a fresh token, or replace the token of the one that exists (old token stops working). */
export async function rotateToken(opts: TokenOptions): Promise<TokenResult> {
  return writeToken(opts, true);
}

/** The existing token, or a new Secret when there is none. */
export async function ensureToken(opts: TokenOptions): Promise<TokenResult> {
  return writeToken(opts, false);
}

/** The namespace's token; KxError NOT_FOUND with the hint `run kx token -n NS` when it is missing. */
export async function readToken(opts: TokenOptions): Promise<string> {
  return new SecretTokens(opts.kubeConfig, contextOf(opts)).tokenFor(opts.namespace);
}

async function writeToken(opts: TokenOptions, rotate: boolean): Promise<TokenResult> {
  const context = contextOf(opts);
  const api = opts.kubeConfig.makeApiClient(CoreV1Api);
  const { namespace } = opts;
  const where = `Secret ${TOKEN_SECRET_NAME} in namespace "${namespace}" (context "${context}")`;
  // Two tries: a concurrent `kx` may create or update the Secret between our read and write (409 Conflict).
  for (let attempt = 0; ; attempt++) {
    try {
      const current = await readSecret(api, namespace);
      if (current === undefined) {
        const token = newToken(namespace);
        await api.createNamespacedSecret({ namespace, body: secretBody(namespace, token) });
        return { namespace, token, action: 'created' };
      }
      const existing = decode(current);
      if (!rotate && existing) return { namespace, token: existing, action: 'existing' };
      const token = newToken(namespace);
      const body = secretBody(namespace, token);
      body.metadata!.resourceVersion = current.metadata?.resourceVersion;
      body.metadata!.labels = { ...current.metadata?.labels, ...body.metadata!.labels };
      await api.replaceNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace, body });
      return { namespace, token, action: existing ? 'rotated' : 'created' };
    } catch (err) {
      if (httpStatusOf(err) === 409 && attempt === 0) continue;
      throw apiError(err, `write ${where}`, context);
    }
  }
}

async function readSecret(api: CoreV1Api, namespace: string): Promise<V1Secret | undefined> {
  try {
    return await api.readNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace });
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
}

function secretBody(namespace: string, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: TOKEN_SECRET_NAME, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    type: 'Opaque',
    data: { [TOKEN_SECRET_KEY]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

function decode(secret: V1Secret): string {
  const raw = secret.data?.[TOKEN_SECRET_KEY];
  return raw ? Buffer.from(raw, 'base64').toString('utf8').trim() : '';
}

function contextOf(opts: TokenOptions): string {
  return selectContext(opts.kubeConfig, opts.context);
}
