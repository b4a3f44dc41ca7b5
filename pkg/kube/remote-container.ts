// One container of one pod, as kx syncs into it: where it runs (node → radar) and which runtime container it is
// right now. A restart gives the same pod/container a new containerRef, which is a new RemoteContainer.
import type { V1Pod } from '@kubernetes/client-node';
import { parseContainerRef } from '../../proto/container-ref.ts';
import type { ContainerRef } from '../../proto/container-ref.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';

export interface RemoteContainer {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly nodeName: string;
  /** The runtime's container, parsed from status.containerStatuses[].containerID. */
  readonly containerRef: ContainerRef;
  /** The pod's metadata.uid: a pod recreated under the same name is a different pod. */
  readonly uid: string;
}

/** Stable across container restarts: one row in `kx get` per namespace/pod/container. */
export function slotKey(c: Pick<RemoteContainer, 'namespace' | 'pod' | 'container'>): string {
  return `${c.namespace}/${c.pod}/${c.container}`;
}

/** Unique per runtime container: changes when the kubelet replaces the container or the pod is recreated. */
export function instanceKey(c: RemoteContainer): string {
  return `${slotKey(c)}@${c.uid}/${c.containerRef.id}`;
}

/**
 * The container of `pod` named `container` as a RemoteContainer, or undefined while it is not ready to be written
 * to (pod not Running, being deleted, not scheduled, or the container not running with an ID yet).
 * Throws KxError INVALID_ARGUMENT naming the pod's containers when the choice is ambiguous or the name is wrong.
 */
export function remoteContainerOf(pod: V1Pod, container: string | undefined): RemoteContainer | undefined {
  const name = chooseContainer(pod, container);
  const meta = pod.metadata ?? {};
  if (meta.deletionTimestamp || pod.status?.phase !== 'Running' || !pod.spec?.nodeName) return undefined;
  const status = pod.status.containerStatuses?.find((s) => s.name === name);
  if (!status?.containerID || !status.state?.running) return undefined;
  return {
    namespace: meta.namespace ?? '',
    pod: meta.name ?? '',
    container: name,
    nodeName: pod.spec.nodeName,
    containerRef: parseContainerRef(status.containerID),
    uid: meta.uid ?? '',
  };
}

/** The container name to use: the one asked for, else kubectl's default-container annotation, else the only one. */
export function chooseContainer(pod: V1Pod, wanted: string | undefined): string {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const podName = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  if (wanted !== undefined && wanted !== '') {
    if (names.includes(wanted)) return wanted;
    throw new KxError(ErrorCode.InvalidArgument, `pod ${podName} has no container "${wanted}" (containers: ${names.join(', ')})`);
  }
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated && names.includes(annotated)) return annotated;
  if (names.length === 1) return names[0];
  throw new KxError(ErrorCode.InvalidArgument,
    `pod ${podName} has ${names.length} containers (${names.join(', ')}); choose one with --container`);
}

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';
