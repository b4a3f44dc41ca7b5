// Simulated nodes: Node objects in the store and the scheduler's choice of node for a pod.
import type { ObjectStore } from './store.ts';
import { META_ORDER, getPath, ordered, timestamp } from './objects.ts';
import { randomUUID } from 'node:crypto';
import type { Json } from './wire.ts';

export class NodeRegistry {
  private readonly store: ObjectStore;
  private readonly names: string[] = [];
  private next = 0;

  constructor(store: ObjectStore) {
    this.store = store;
  }

  list(): string[] { return [...this.names]; }

  has(name: string): boolean { return this.names.includes(name); }

  /** Data only: never connected to. */
  hostIP(name: string): string {
    return `10.89.0.${this.names.indexOf(name) + 2}`;
  }

  add(name: string): void {
    if (this.names.includes(name)) return;
    this.names.push(name);
    const now = timestamp(new Date());
    this.store.create('nodes', '', {
      kind: 'Node', apiVersion: 'v1',
      metadata: ordered({ name, uid: randomUUID(), creationTimestamp: now,
        labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } }, META_ORDER),
      spec: {},
      status: {
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now,
          reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        addresses: [{ type: 'InternalIP', address: this.hostIP(name) }, { type: 'Hostname', address: name }],
        nodeInfo: { kubeletVersion: 'v1.24.0-alpha.1', containerRuntimeVersion: 'docker://20.10', operatingSystem: 'linux', architecture: 'amd64' },
      },
    });
  }

  remove(name: string): void {
    const i = this.names.indexOf(name);
    if (i < 0) return;
    this.names.splice(i, 1);
    this.store.remove('nodes', '', name);
  }

  /**
   * The scheduler: a node named by DaemonSet-style affinity (matchFields metadata.name In [...]) or by the
   * `kubernetes.io/hostname` nodeSelector wins; otherwise round robin. Undefined when no node fits.
   */
  pick(pod: Json): string | undefined {
    const wanted = pinnedNode(pod);
    if (wanted !== undefined) return this.names.includes(wanted) ? wanted : undefined;
    if (this.names.length === 0) return undefined;
    const n = this.names[this.next % this.names.length];
    this.next++;
    return n;
  }
}

function pinnedNode(pod: Json): string | undefined {
  const terms = getPath(pod, ['spec', 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms']) as Json[] | undefined;
  for (const t of terms ?? []) {
    for (const f of (t.matchFields as Json[] | undefined) ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In') return (f.values as string[])[0];
    }
  }
  const sel = getPath(pod, ['spec', 'nodeSelector', 'kubernetes.io/hostname']);
  return typeof sel === 'string' ? sel : undefined;
}
