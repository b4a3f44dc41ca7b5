// kx token -n NS: create the namespace's kx-token Secret, or rotate its token (the old one stops working).
// The token itself is not printed: kx reads it from the Secret with the user's credentials when it connects.

import { rotateToken } from '../../pkg/cluster/token.ts';
import { clusterTarget } from './cluster-target.ts';
import { fail } from './fail.ts';

export async function tokenCommand(args: { config?: string | undefined; context?: string | undefined; namespace?: string | undefined }): Promise<void> {
  try {
    const { cluster, config } = await clusterTarget(args);
    const namespace = args.namespace ?? config.settings.namespace ?? cluster.namespace;
    const result = await rotateToken({ kubeConfig: cluster.kc, context: cluster.context, namespace });
    const what = result.action === 'rotated' ? 'token rotated (the old one no longer works)' : 'created';
    process.stdout.write(`Secret kx-token in namespace "${namespace}" (context "${cluster.context}"): ${what}\n`);
  } catch (err) {
    fail(err);
  }
}
