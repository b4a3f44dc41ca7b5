// The StatefulSet controller, as kube-controller-manager runs it with the defaults (podManagementPolicy
// OrderedReady, updateStrategy RollingUpdate): pods NAME-0 … NAME-(n-1), each created once the one before is Running
// and Ready, removed from the highest ordinal down; a template change (a new controller-revision-hash) replaces the
// pods one at a time from the highest ordinal, each after the others are Ready. volumeClaimTemplates give each pod
// its claim CLAIM-NAME-i, created when missing and kept when the pod goes.
import { META_ORDER, getPath, meta, ordered } from './objects.ts';
import { controllerRef, podReady, templateHash } from './replica-controller.ts';
import type { PodOps } from './replica-controller.ts';
import { typeOf } from './resources.ts';
import type { ObjectStore } from './store.ts';
import type { Json } from './wire.ts';

const STATUS_ORDER = ['observedGeneration', 'replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'currentRevision',
  'updateRevision', 'collisionCount', 'conditions', 'availableReplicas'];

export function syncStatefulSet(store: ObjectStore, pods: PodOps, namespace: string, name: string): void {
  const sts = store.get('statefulsets', namespace, name);
  if (!sts) return;
  const m = meta(sts);
  const template = getPath(sts, ['spec', 'template']) as Json;
  const revision = `${name}-${templateHash(template)}`;
  const want = Number(getPath(sts, ['spec', 'replicas']) ?? 1);
  const owned = store.list('pods', namespace).filter((p) => controllerRef(p)?.uid === m.uid);
  const byOrdinal = new Map<number, Json>();
  for (const p of owned) byOrdinal.set(Number(/-(\d+)$/.exec(String(meta(p).name))?.[1] ?? -1), p);
  const revisionOf = (p: Json) => ((meta(p).labels as Json | undefined) ?? {})['controller-revision-hash'];
  const settled = () => owned.every((p) => !meta(p).deletionTimestamp && podReady(p));

  // Scale down from the top, one at a time.
  const extra = [...byOrdinal.keys()].filter((i) => i >= want).sort((a, b) => b - a);
  if (extra.length > 0) {
    const p = byOrdinal.get(extra[0])!;
    if (!meta(p).deletionTimestamp && settled()) pods.delete(namespace, String(meta(p).name));
  } else {
    // Create the lowest missing ordinal once every lower one is Ready.
    for (let i = 0; i < want; i++) {
      const p = byOrdinal.get(i);
      if (!p) {
        createPod(store, pods, sts, template, revision, i);
        break;
      }
      if (!podReady(p) || meta(p).deletionTimestamp) break;
    }
    // Rolling update: the highest outdated ordinal goes first, only while every pod is Ready.
    const outdated = [...byOrdinal.entries()].filter(([i, p]) => i < want && revisionOf(p) !== revision).sort((a, b) => b[0] - a[0]);
    if (outdated.length > 0 && byOrdinal.size === want && settled()) pods.delete(namespace, String(meta(outdated[0][1]).name));
  }

  const live = owned.filter((p) => !meta(p).deletionTimestamp);
  const ready = live.filter(podReady).length;
  const updated = live.filter((p) => revisionOf(p) === revision).length;
  const status = ordered({
    observedGeneration: m.generation, replicas: live.length, readyReplicas: ready || undefined,
    currentReplicas: updated || undefined, updatedReplicas: updated || undefined,
    currentRevision: updated === live.length ? revision : (getPath(sts, ['status', 'currentRevision']) ?? revision), updateRevision: revision,
    collisionCount: 0, availableReplicas: ready,
  }, STATUS_ORDER);
  if (JSON.stringify(status) !== JSON.stringify(sts.status)) {
    store.mutate('statefulsets', namespace, name, (x) => { x.status = status; });
  }
}

function createPod(store: ObjectStore, pods: PodOps, sts: Json, template: Json, revision: string, ordinal: number): void {
  const m = meta(sts);
  const namespace = String(m.namespace);
  const name = `${String(m.name)}-${ordinal}`;
  const tm = (template.metadata as Json | undefined) ?? {};
  const spec = { ...(template.spec as Json) };
  const claims = (getPath(sts, ['spec', 'volumeClaimTemplates']) as Json[] | undefined) ?? [];
  if (claims.length > 0) {
    const volumes = [...((spec.volumes as Json[] | undefined) ?? [])];
    for (const c of claims) {
      const claim = String(meta(c).name);
      const claimName = `${claim}-${name}`;
      if (!store.get('persistentvolumeclaims', namespace, claimName)) {
        store.create('persistentvolumeclaims', namespace, typeOf('persistentvolumeclaims').create({
          metadata: { name: claimName, labels: tm.labels }, spec: c.spec,
        }, { namespace, now: new Date(), writer: 'kube-controller-manager', apiVersion: 'v1' }));
      }
      volumes.push({ name: claim, persistentVolumeClaim: { claimName } });
    }
    spec.volumes = volumes;
  }
  spec.hostname = name;
  pods.create(namespace, {
    metadata: ordered({
      name,
      labels: { ...((tm.labels) ?? {}), 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': name },
      annotations: tm.annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: m.name, uid: m.uid, controller: true, blockOwnerDeletion: true }],
    }, META_ORDER),
    spec,
  }, 'kube-controller-manager');
}
