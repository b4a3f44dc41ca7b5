// Which cluster and namespace a spec's persistence acts in: the spec's context and namespace, else kx.yaml's,
// else the kubeconfig's (as the Kubernetes driver resolves them for following pods). One API per context.
import type { SpecConfig } from '../../config/types.ts';
import { loadKubeconfig } from '../kubeconfig.ts';
import type { LoadedKubeconfig } from '../kubeconfig.ts';
import { KubePersistence } from './persistence.ts';
import type { PersistenceDeps } from './persistence.ts';
import { WorkloadApi } from './workloads.ts';

export interface PersistenceOptions {
  readonly defaults?: { readonly context?: string | undefined; readonly namespace?: string | undefined };
  readonly log: PersistenceDeps['log'];
  /** Default: loadKubeconfig({ context }). */
  readonly kubeconfig?: (context: string | undefined) => LoadedKubeconfig;
  readonly pollMs?: number;
  readonly seedTimeoutMs?: number;
}

export function kubePersistence(opts: PersistenceOptions): KubePersistence {
  const apis = new Map<string, { loaded: LoadedKubeconfig; api: WorkloadApi }>();
  const load = opts.kubeconfig ?? ((context) => loadKubeconfig(context !== undefined ? { context } : {}));
  return new KubePersistence({
    cluster: (spec: SpecConfig) => {
      const context = spec.context ?? opts.defaults?.context;
      let c = apis.get(context ?? '');
      if (!c) {
        const loaded = load(context);
        c = { loaded, api: new WorkloadApi(loaded.kc) };
        apis.set(context ?? '', c);
      }
      return { api: c.api, namespace: spec.namespace ?? opts.defaults?.namespace ?? c.loaded.namespace };
    },
    log: opts.log,
    ...(opts.pollMs !== undefined && { pollMs: opts.pollMs }),
    ...(opts.seedTimeoutMs !== undefined && { seedTimeoutMs: opts.seedTimeoutMs }),
  });
}
