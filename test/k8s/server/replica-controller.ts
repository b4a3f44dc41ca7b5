// The Deployment and ReplicaSet controllers, as kube-controller-manager runs them: a Deployment owns one
// ReplicaSet per pod template (named DEPLOYMENT-HASH, labelled pod-template-hash); a template change makes a new
// ReplicaSet with the replicas and scales the old ones to 0 (a Recreate-shaped rollout: the old pods go, new ones
// come); a template changed back reuses the ReplicaSet of that hash. A ReplicaSet keeps `replicas` pods of its
// template and never replaces pods when its own template changes (a bare ReplicaSet does not roll).
import { createHash } from 'node:crypto';
import { META_ORDER, getPath, meta, ordered, templateDefaults } from './objects.ts';
import { typeOf } from './resources.ts';
import type { ObjectStore } from './store.ts';
import type { Json } from './wire.ts';

export interface PodOps {
  create(namespace: string, body: Json, writer: string): Json;
  delete(namespace: string, name: string): void;
}

const RS_STATUS_ORDER = ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration', 'conditions'];
const DEPLOY_STATUS_ORDER = ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas',
  'unavailableReplicas', 'conditions', 'collisionCount'];

export class ReplicaController {
  private readonly store: ObjectStore;
  private readonly pods: PodOps;

  constructor(store: ObjectStore, pods: PodOps) {
    this.store = store;
    this.pods = pods;
  }

  /** The Deployment that controls a ReplicaSet, if any. */
  deploymentOf(namespace: string, rsName: string): string | undefined {
    const rs = this.store.get('replicasets', namespace, rsName);
    const ref = rs && controllerRef(rs);
    return ref?.kind === 'Deployment' ? String(ref.name) : undefined;
  }

  syncDeployment(namespace: string, name: string): void {
    const d = this.store.get('deployments', namespace, name);
    if (!d) return;
    const m = meta(d);
    const template = getPath(d, ['spec', 'template']) as Json;
    const hash = templateHash(template);
    const want = Number(getPath(d, ['spec', 'replicas']) ?? 1);
    const owned = this.store.list('replicasets', namespace).filter((rs) => controllerRef(rs)?.uid === m.uid);
    const rsName = `${name}-${hash}`;
    const current = owned.find((rs) => meta(rs).name === rsName);
    for (const rs of owned) {
      if (rs !== current && Number(getPath(rs, ['spec', 'replicas']) ?? 0) !== 0) this.setReplicas(namespace, rs, 0);
    }
    if (!current) {
      const tm = (template.metadata as Json | undefined) ?? {};
      const labels = { ...((tm.labels as Json | undefined) ?? {}), 'pod-template-hash': hash };
      const selector = (getPath(d, ['spec', 'selector', 'matchLabels']) as Json | undefined) ?? {};
      this.store.create('replicasets', namespace, typeOf('replicasets').create({
        metadata: {
          name: rsName, labels,
          annotations: { 'deployment.kubernetes.io/desired-replicas': String(want), 'deployment.kubernetes.io/max-replicas': String(want + 1) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: m.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          replicas: want,
          selector: { matchLabels: { ...selector, 'pod-template-hash': hash } },
          template: { ...template, metadata: ordered({ ...tm, labels }, META_ORDER) },
        },
      }, { namespace, now: new Date(), writer: 'kube-controller-manager', apiVersion: 'apps/v1' }));
    } else if (Number(getPath(current, ['spec', 'replicas']) ?? 0) !== want) {
      this.setReplicas(namespace, current, want);
    }
    const rsUids = new Set(this.store.list('replicasets', namespace).filter((rs) => controllerRef(rs)?.uid === m.uid).map((rs) => meta(rs).uid));
    const live = this.store.list('pods', namespace).filter((p) => rsUids.has(controllerRef(p)?.uid) && !meta(p).deletionTimestamp);
    const updated = live.filter((p) => ((meta(p).labels as Json | undefined) ?? {})['pod-template-hash'] === hash);
    const ready = live.filter(podReady).length;
    const status = ordered({
      observedGeneration: m.generation, replicas: live.length || undefined, updatedReplicas: updated.length || undefined,
      readyReplicas: ready || undefined, availableReplicas: ready || undefined,
      unavailableReplicas: want - ready > 0 ? want - ready : undefined,
    }, DEPLOY_STATUS_ORDER);
    if (JSON.stringify(status) !== JSON.stringify(d.status)) {
      this.store.mutate('deployments', namespace, name, (x) => { x.status = status; });
    }
  }

  syncReplicaSet(namespace: string, name: string): void {
    const rs = this.store.get('replicasets', namespace, name);
    if (!rs) return;
    const m = meta(rs);
    const template = getPath(rs, ['spec', 'template']) as Json;
    const want = Number(getPath(rs, ['spec', 'replicas']) ?? 1);
    const pods = this.store.list('pods', namespace).filter((p) => controllerRef(p)?.uid === m.uid);
    const live = pods.filter((p) => !meta(p).deletionTimestamp);
    const tm = (template.metadata as Json | undefined) ?? {};
    for (let i = live.length; i < want; i++) {
      this.pods.create(namespace, {
        metadata: ordered({
          generateName: `${name}-`,
          labels: tm.labels,
          annotations: tm.annotations,
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: m.uid, controller: true, blockOwnerDeletion: true }],
        }, META_ORDER),
        spec: template.spec,
      }, 'kube-controller-manager');
    }
    // Scale down: the newest pods go first.
    const extra = [...live].sort((a, b) => String(meta(b).creationTimestamp).localeCompare(String(meta(a).creationTimestamp)))
      .slice(0, Math.max(0, live.length - want));
    for (const p of extra) this.pods.delete(namespace, String(meta(p).name));
    const ready = live.filter(podReady).length;
    const status = ordered({
      replicas: Math.min(live.length, Math.max(want, live.length - extra.length)), fullyLabeledReplicas: live.length || undefined,
      readyReplicas: ready || undefined, availableReplicas: ready || undefined, observedGeneration: m.generation,
    }, RS_STATUS_ORDER);
    if (JSON.stringify(status) !== JSON.stringify(rs.status)) {
      this.store.mutate('replicasets', namespace, name, (x) => { x.status = status; });
    }
  }

  private setReplicas(namespace: string, rs: Json, replicas: number): void {
    const t = typeOf('replicasets');
    this.store.replace('replicasets', namespace, t.update(rs, { ...rs, spec: { ...(rs.spec as Json), replicas } }));
  }
}

export function podReady(p: Json): boolean {
  const conds = (getPath(p, ['status', 'conditions']) as Json[] | undefined) ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function controllerRef(o: Json): Json | undefined {
  return ((meta(o).ownerReferences as Json[] | undefined) ?? []).find((r) => r.controller === true);
}

/** Like the pod-template-hash: 10 hex digits derived from the template (defaults applied, so equal templates agree). */
export function templateHash(template: Json): string {
  const t = templateDefaults(template);
  return createHash('sha256').update(JSON.stringify(t)).digest('hex').slice(0, 10);
}
