// kx clean: remove what kx init installed (radar's namespace only if kx created it).

import { clean } from '../../pkg/cluster/install.ts';
import { clusterTarget } from './cluster-target.ts';
import { fail } from './fail.ts';
import { progressLine } from './init.ts';

export async function cleanCommand(args: { config?: string | undefined; context?: string | undefined; namespace?: string | undefined }): Promise<void> {
  try {
    const { cluster } = await clusterTarget(args);
    const namespace = args.namespace ?? 'kx-system';
    await clean({ kubeConfig: cluster.kc, context: cluster.context, namespace, onProgress: (p) => void process.stderr.write(`${progressLine(p)}\n`) });
    process.stdout.write(`radar removed from namespace "${namespace}" of context "${cluster.context}"\n`);
  } catch (err) {
    fail(err);
  }
}
