// Which workload owns a pod, through ownerReferences as the controllers set them: Pod → ReplicaSet → Deployment,
// or a StatefulSet, DaemonSet or bare ReplicaSet directly. A pod kx cannot persist in (no owner, or one managed by
// something else, such as an operator's custom resource) gets a reason instead.
import type { JsonObject } from './template-patch.ts';
import type { WorkloadRef, Workloads } from './workloads.ts';

export type Ownership = { readonly ref: WorkloadRef } | { readonly refused: string };

interface OwnerReference { kind?: string; name?: string; apiVersion?: string; controller?: boolean }

export async function ownerOf(pod: JsonObject, api: Workloads): Promise<Ownership> {
  const meta = pod.metadata as JsonObject;
  const namespace = String(meta.namespace);
  const podName = String(meta.name);
  const ref = controllerOf(meta);
  if (!ref) return { refused: `pod ${podName} has no owner (a bare pod): its containers cannot get a volume without deleting it; give it a Deployment, or add the volume yourself` };
  if (ref.apiVersion === 'apps/v1' && (ref.kind === 'StatefulSet' || ref.kind === 'DaemonSet')) {
    return { ref: { kind: ref.kind, namespace, name: String(ref.name) } };
  }
  if (ref.apiVersion === 'apps/v1' && ref.kind === 'ReplicaSet') {
    const rs = await api.read({ kind: 'ReplicaSet', namespace, name: String(ref.name) });
    const up = controllerOf(rs.metadata as JsonObject);
    if (!up) return { ref: { kind: 'ReplicaSet', namespace, name: String(ref.name) } };
    if (up.apiVersion === 'apps/v1' && up.kind === 'Deployment') return { ref: { kind: 'Deployment', namespace, name: String(up.name) } };
    return { refused: operator(`replicaset/${String(ref.name)}`, up) };
  }
  return { refused: operator(`pod ${podName}`, ref) };
}

function operator(what: string, ref: OwnerReference): string {
  return `${what} is managed by ${String(ref.kind)}/${String(ref.name)} (${String(ref.apiVersion)}), which would undo a change kx made to it; persist the path in that resource instead`;
}

function controllerOf(meta: JsonObject): OwnerReference | undefined {
  return ((meta.ownerReferences as OwnerReference[] | undefined) ?? []).find((r) => r.controller === true);
}
