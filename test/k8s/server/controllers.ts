// The controller-manager stand-in: a DaemonSet controller (one pod per simulated node, rolling update with
// maxUnavailable 1, status as recorded in README §6) and the Deployment and ReplicaSet controllers
// (replica-controller.ts: a ReplicaSet per template, rollout on a template change, replicas, scale), and the
// StatefulSet controller (statefulset-controller.ts: ordered pods, rolling update, per-pod claims).
import { createHash } from 'node:crypto';
import type { NodeRegistry } from './nodes.ts';
import { DS_STATUS_ORDER, META_ORDER, getPath, meta, ordered } from './objects.ts';
import { labelSelectorFromMatchLabels } from './selectors.ts';
import { ReplicaController, controllerRef, podReady } from './replica-controller.ts';
import { syncStatefulSet } from './statefulset-controller.ts';
import type { PodOps } from './replica-controller.ts';
import type { ObjectStore, StoreEvent } from './store.ts';
import type { Json } from './wire.ts';

export type { PodOps } from './replica-controller.ts';
export { podReady } from './replica-controller.ts';

export interface ControllerOptions { store: ObjectStore; nodes: NodeRegistry; pods: PodOps }

const DS_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

export class Controllers {
  private readonly o: ControllerOptions;
  private readonly replicas: ReplicaController;
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private unsubscribe = () => {};

  constructor(opts: ControllerOptions) {
    this.o = opts;
    this.replicas = new ReplicaController(opts.store, opts.pods);
  }

  start(): void {
    this.unsubscribe = this.o.store.subscribe((e) => this.onEvent(e));
  }

  close(): void {
    this.unsubscribe();
    this.dirty.clear();
  }

  /** Reconcile every workload now (e.g. after nodes changed). */
  resyncAll(): void {
    for (const ds of this.o.store.list('daemonsets')) this.mark('daemonsets', ds);
    for (const d of this.o.store.list('deployments')) this.mark('deployments', d);
    for (const rs of this.o.store.list('replicasets')) this.mark('replicasets', rs);
    for (const sts of this.o.store.list('statefulsets')) this.mark('statefulsets', sts);
  }

  private onEvent(e: StoreEvent): void {
    if (e.resource === 'daemonsets' || e.resource === 'deployments' || e.resource === 'replicasets' || e.resource === 'statefulsets') {
      if (e.type === 'DELETED') this.cascade(e.resource, e.object);
      else this.mark(e.resource, e.object);
      const owner = e.resource === 'replicasets' ? controllerRef(e.object) : undefined;
      if (owner?.kind === 'Deployment') this.markName('deployments', e.namespace, String(owner.name));
    } else if (e.resource === 'pods') {
      const owner = controllerRef(e.object);
      if (!owner) return;
      if (owner.kind === 'DaemonSet') this.markName('daemonsets', e.namespace, String(owner.name));
      if (owner.kind === 'StatefulSet') this.markName('statefulsets', e.namespace, String(owner.name));
      if (owner.kind === 'ReplicaSet') {
        this.markName('replicasets', e.namespace, String(owner.name));
        const dep = this.replicas.deploymentOf(e.namespace, String(owner.name));
        if (dep) this.markName('deployments', e.namespace, dep);
      }
    } else if (e.resource === 'nodes') {
      this.resyncAll();
    }
  }

  private mark(resource: string, obj: Json): void {
    this.markName(resource, String(meta(obj).namespace), String(meta(obj).name));
  }

  private markName(resource: string, namespace: string, name: string): void {
    this.dirty.add(`${resource}/${namespace}/${name}`);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const k of keys) {
        const [resource, ns, n] = k.split('/') as [string, string, string];
        if (resource === 'daemonsets') this.syncDaemonSet(ns, n);
        else if (resource === 'replicasets') this.replicas.syncReplicaSet(ns, n);
        else if (resource === 'statefulsets') syncStatefulSet(this.o.store, this.o.pods, ns, n);
        else this.replicas.syncDeployment(ns, n);
      }
    });
  }

  private ownedPods(namespace: string, uid: string): Json[] {
    return this.o.store.list('pods', namespace).filter((p) => ((meta(p).ownerReferences as Json[] | undefined) ?? []).some((r) => r.uid === uid));
  }

  /** Garbage collection of what the deleted object controlled: a Deployment's ReplicaSets, a set's pods. */
  private cascade(resource: string, owner: Json): void {
    const m = meta(owner);
    const uid = String(m.uid);
    const ns = String(m.namespace);
    if (resource === 'deployments') {
      for (const rs of this.o.store.list('replicasets', ns)) {
        if (controllerRef(rs)?.uid === uid) this.o.store.remove('replicasets', ns, String(meta(rs).name));
      }
      return;
    }
    for (const p of this.o.store.list('pods', ns)) {
      if (controllerRef(p)?.uid === uid && !meta(p).deletionTimestamp) this.o.pods.delete(ns, String(meta(p).name));
    }
  }

  // ---- DaemonSet

  private syncDaemonSet(namespace: string, name: string): void {
    const ds = this.o.store.get('daemonsets', namespace, name);
    if (!ds) return;
    const m = meta(ds);
    const generation = Number(m.generation ?? 1);
    const template = getPath(ds, ['spec', 'template']) as Json;
    const hash = templateHash(template);
    const nodes = this.o.nodes.list();
    const pods = this.ownedPods(namespace, String(m.uid));
    const live = pods.filter((p) => !meta(p).deletionTimestamp);
    const isCurrent = (p: Json) => ((meta(p).labels as Json | undefined) ?? {})['controller-revision-hash'] === hash;

    for (const p of live) {
      const node = getPath(p, ['spec', 'nodeName']) as string | undefined ?? pinned(p);
      if (node && !nodes.includes(node)) this.o.pods.delete(namespace, String(meta(p).name));
    }
    for (const node of nodes) {
      const onNode = pods.filter((p) => (getPath(p, ['spec', 'nodeName']) ?? pinned(p)) === node);
      if (onNode.length === 0) this.o.pods.create(namespace, this.dsPod(ds, template, hash, generation, node), 'kube-controller-manager');
    }
    // Rolling update, maxUnavailable 1: replace one outdated pod at a time, only while all others are available.
    const outdated = live.filter((p) => !isCurrent(p));
    const unavailable = pods.filter((p) => !podReady(p) || meta(p).deletionTimestamp).length;
    if (outdated.length && unavailable === 0) this.o.pods.delete(namespace, String(meta(outdated[0]).name));

    const scheduled = nodes.filter((n) => pods.some((p) => (getPath(p, ['spec', 'nodeName']) ?? pinned(p)) === n));
    // A terminating pod still counts as ready until its container stops (README §6, the polls after the patch).
    const ready = pods.filter(podReady).length;
    const updated = live.filter(isCurrent).length;
    const status = ordered({
      currentNumberScheduled: scheduled.length, numberMisscheduled: 0, desiredNumberScheduled: nodes.length,
      numberReady: ready, observedGeneration: generation, updatedNumberScheduled: updated || undefined,
      numberAvailable: ready || undefined, numberUnavailable: nodes.length - ready > 0 ? nodes.length - ready : undefined,
    }, DS_STATUS_ORDER);
    if (JSON.stringify(status) !== JSON.stringify(ds.status)) {
      this.o.store.mutate('daemonsets', namespace, name, (d) => { d.status = status; });
    }
  }

  private dsPod(ds: Json, template: Json, hash: string, generation: number, node: string): Json {
    const m = meta(ds);
    const tm = (template.metadata as Json | undefined) ?? {};
    const spec = { ...(template.spec as Json) };
    spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }] } } };
    spec.tolerations = [...((spec.tolerations as Json[] | undefined) ?? []), ...DS_TOLERATIONS];
    return {
      metadata: ordered({
        generateName: `${String(m.name)}-`,
        labels: { ...((tm.labels) ?? {}), 'controller-revision-hash': hash, 'pod-template-generation': String(generation) },
        annotations: tm.annotations,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: m.name, uid: m.uid, controller: true, blockOwnerDeletion: true }],
      }, META_ORDER),
      spec,
    };
  }
}

/** The autoscaling/v1 Scale view of a Deployment (README §2: spec.replicas 0 is left out). */
export function scaleOf(d: Json): Json {
  const m = meta(d);
  const replicas = Number(getPath(d, ['spec', 'replicas']) ?? 0);
  const statusReplicas = Number(getPath(d, ['status', 'replicas']) ?? 0);
  const selector = labelSelectorFromMatchLabels(getPath(d, ['spec', 'selector', 'matchLabels']) as Record<string, string> | undefined);
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: replicas ? { replicas } : {},
    status: statusReplicas ? { replicas: statusReplicas, selector } : { selector },
  };
}

function pinned(p: Json): string | undefined {
  const terms = getPath(p, ['spec', 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms']) as Json[] | undefined;
  return ((terms?.[0]?.matchFields as Json[] | undefined)?.[0]?.values as string[] | undefined)?.[0];
}

/** Like the pod-template-hash: 10 hex digits derived from the template. */
function templateHash(template: Json): string {
  return createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
}

