// What the cluster commands (init, clean, token) act on: the kubeconfig context from --context or kx.yaml, loaded
// as kubectl would, and kx.yaml's namespace. A bad kx.yaml or an unknown context is one line naming it.

import type { KxConfig } from '../../pkg/config/types.ts';
import type { LoadedKubeconfig } from '../../pkg/kube/kubeconfig.ts';
import { configStore, kubeconfig, kubeContext, type GlobalOptions } from '../composition/root.ts';

export interface ClusterTarget {
  readonly cluster: LoadedKubeconfig;
  readonly config: KxConfig;
}

export async function clusterTarget(args: GlobalOptions): Promise<ClusterTarget> {
  const { config } = await configStore(args).load();
  return { cluster: await kubeconfig(kubeContext(args.context, config)), config };
}
