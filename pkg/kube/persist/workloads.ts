// The workload kinds kx persists paths in, read and patched through client-node's typed AppsV1Api. Objects are
// handled as plain JSON (what the API server sent), so a patch is computed against exactly what is stored.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { JsonObject, PatchOp } from './template-patch.ts';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'];

export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
}

/** What persistence needs of the API server; WorkloadApi is the real one, tests may give another. */
export interface Workloads {
  read(ref: WorkloadRef): Promise<JsonObject>;
  patch(ref: WorkloadRef, ops: readonly PatchOp[]): Promise<JsonObject>;
  list(kind: WorkloadKind, namespace: string): Promise<JsonObject[]>;
  /** Pods matching a label selector and/or name in the namespace. */
  pods(namespace: string, selector: { labelSelector?: string | undefined; name?: string | undefined }): Promise<JsonObject[]>;
}

export function describeRef(ref: WorkloadRef): string {
  return `${ref.kind.toLowerCase()}/${ref.name}`;
}

export class WorkloadApi implements Workloads {
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  async read(ref: WorkloadRef): Promise<JsonObject> {
    const a = this.#apps;
    const p = { name: ref.name, namespace: ref.namespace };
    const obj = await ({
      Deployment: () => a.readNamespacedDeployment(p),
      StatefulSet: () => a.readNamespacedStatefulSet(p),
      DaemonSet: () => a.readNamespacedDaemonSet(p),
      ReplicaSet: () => a.readNamespacedReplicaSet(p),
    } as const)[ref.kind]();
    return plain(obj);
  }

  async patch(ref: WorkloadRef, ops: readonly PatchOp[]): Promise<JsonObject> {
    const a = this.#apps;
    const p = { name: ref.name, namespace: ref.namespace, body: ops, fieldManager: 'kx' };
    const o = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    const obj = await ({
      Deployment: () => a.patchNamespacedDeployment(p, o),
      StatefulSet: () => a.patchNamespacedStatefulSet(p, o),
      DaemonSet: () => a.patchNamespacedDaemonSet(p, o),
      ReplicaSet: () => a.patchNamespacedReplicaSet(p, o),
    } as const)[ref.kind]();
    return plain(obj);
  }

  async list(kind: WorkloadKind, namespace: string): Promise<JsonObject[]> {
    const a = this.#apps;
    const list = await ({
      Deployment: () => a.listNamespacedDeployment({ namespace }),
      StatefulSet: () => a.listNamespacedStatefulSet({ namespace }),
      DaemonSet: () => a.listNamespacedDaemonSet({ namespace }),
      ReplicaSet: () => a.listNamespacedReplicaSet({ namespace }),
    } as const)[kind]();
    return list.items.map(plain);
  }

  async pods(namespace: string, selector: { labelSelector?: string | undefined; name?: string | undefined }): Promise<JsonObject[]> {
    const list = await this.#core.listNamespacedPod({
      namespace,
      ...(selector.labelSelector !== undefined && { labelSelector: selector.labelSelector }),
      ...(selector.name !== undefined && { fieldSelector: `metadata.name=${selector.name}` }),
    });
    return list.items.map(plain);
  }
}

/** client-node's typed object as the JSON the server sent (Dates back to strings, no undefined keys). */
function plain(obj: unknown): JsonObject {
  return JSON.parse(JSON.stringify(obj)) as JsonObject;
}
