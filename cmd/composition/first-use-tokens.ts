// Namespace tokens for the Kubernetes driver: read the namespace's kx-token Secret, and create it on first use when
// it is missing and the user may create Secrets there. A user who may not keeps the plain "missing" error, whose
// hint (kx token -n NS, by someone who may) is what they can act on.

import type { KubeConfig } from '@kubernetes/client-node';
import { ensureToken } from '../../pkg/cluster/token.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import type { NamespaceTokens } from '../../pkg/kube/radar-dial.ts';
import { SecretTokens } from '../../pkg/kube/secret-tokens.ts';
import { ErrorCode, isKxError } from '../../pkg/sync/errors.ts';

export class FirstUseTokens implements NamespaceTokens {
  private readonly kc: KubeConfig;
  private readonly context: string;
  private readonly secrets: SecretTokens;
  private readonly log: Logger;

  constructor(kc: KubeConfig, context: string, log: Logger) {
    this.kc = kc;
    this.context = context;
    this.secrets = new SecretTokens(kc, context);
    this.log = log;
  }

  async tokenFor(namespace: string): Promise<string> {
    try {
      return await this.secrets.tokenFor(namespace);
    } catch (missing) {
      if (!isKxError(missing, ErrorCode.NotFound)) throw missing;
      let created;
      try {
        created = await ensureToken({ kubeConfig: this.kc, context: this.context, namespace });
      } catch (err) {
        if (isKxError(err, ErrorCode.PermissionDenied)) throw missing;
        throw err;
      }
      if (created.action !== 'existing') this.log.info(`created Secret kx-token in namespace "${namespace}" (context "${this.context}") on first use`);
      return created.token;
    }
  }
}
