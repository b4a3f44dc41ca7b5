// The resource types this server serves: their REST names, and how a create/update body becomes the stored
// object (defaults, Go field order, generation).
import { DS_STATUS_ORDER, META_ORDER, newMetadata, ordered, podSpecDefaults, templateDefaults } from './objects.ts';
import type { CreateContext } from './objects.ts';
import type { Json } from './wire.ts';

export interface ResourceType {
  resource: string;
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
  /** The stored object for a create body. */
  create(body: Json, ctx: CreateContext): Json;
  /** The stored object for an update (PUT, or a patched copy) of `existing`. */
  update(existing: Json, body: Json): Json;
  /** The empty object a BOOKMARK event carries. */
  bookmark(rv: number): Json;
  verbs: readonly string[];
  /** Served from the apiserver's watch cache (true for all but events). */
  watchCache: boolean;
}

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

interface Shape {
  resource: string; group?: string; version?: string; kind: string; namespaced?: boolean;
  /** Top-level keys after kind/apiVersion/metadata, in Go order. */
  order?: readonly string[];
  /** Fill defaults into a body copy (metadata already built). */
  defaults?: (obj: Json, ctx: CreateContext) => void;
  /** Spec changes bump metadata.generation (workloads). */
  generation?: boolean;
  /** Status is owned by a controller: an update keeps the stored status. */
  keepsStatus?: boolean;
  bookmarkBody?: Json;
  watchCache?: boolean;
  /** Defaults are idempotent for most types; a pod's (token volume) must run on create only. */
  defaultsOnCreateOnly?: boolean;
}

function define(s: Shape): ResourceType {
  const group = s.group ?? '';
  const version = s.version ?? 'v1';
  const apiVersion = group ? `${group}/${version}` : version;
  const order = ['kind', 'apiVersion', 'metadata', ...(s.order ?? ['spec', 'status'])];
  return {
    resource: s.resource, group, version, kind: s.kind, namespaced: s.namespaced ?? true, verbs: ALL_VERBS,
    watchCache: s.watchCache ?? true,
    create(body, ctx) {
      const extra: Json = s.generation ? { generation: 1 } : {};
      const obj: Json = { ...body, kind: s.kind, apiVersion, metadata: newMetadata(body.metadata as Json | undefined, { ...ctx, apiVersion }, extra) };
      if (!s.namespaced && s.namespaced !== undefined) delete (obj.metadata as Json).namespace;
      s.defaults?.(obj, ctx);
      return ordered(obj, order);
    },
    update(existing, body) {
      const em = existing.metadata as Json;
      const bm = { ...((body.metadata as Json | undefined) ?? {}) };
      for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'generation', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
        if (em[k] !== undefined) bm[k] = em[k]; else delete bm[k];
      }
      bm.resourceVersion = em.resourceVersion;
      const next: Json = { ...body, kind: s.kind, apiVersion, metadata: ordered(bm, META_ORDER) };
      if (s.keepsStatus) next.status = existing.status;
      if (s.generation && JSON.stringify(next.spec) !== JSON.stringify(existing.spec)) {
        (next.metadata as Json).generation = Number(em.generation ?? 1) + 1;
      }
      if (!s.defaultsOnCreateOnly) s.defaults?.(next, { now: new Date(), writer: '', apiVersion });
      return ordered(next, order);
    },
    bookmark(rv) {
      return { kind: s.kind, apiVersion, metadata: { resourceVersion: String(rv), creationTimestamp: null }, ...(s.bookmarkBody ?? {}) };
    },
  };
}

function secretDefaults(o: Json): void {
  const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
  for (const [k, v] of Object.entries((o.stringData as Record<string, string> | undefined) ?? {})) data[k] = Buffer.from(v).toString('base64');
  delete o.stringData;
  o.data = Object.keys(data).length ? data : undefined;
  o.type = o.type ?? 'Opaque';
}

function dsDefaults(o: Json): void {
  const spec = { ...((o.spec as Json | undefined) ?? {}) };
  spec.template = templateDefaults(spec.template as Json | undefined);
  spec.updateStrategy = spec.updateStrategy ?? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
  spec.revisionHistoryLimit = spec.revisionHistoryLimit ?? 10;
  o.spec = ordered(spec, ['selector', 'template', 'updateStrategy', 'minReadySeconds', 'revisionHistoryLimit']);
  const m = o.metadata as Json;
  m.annotations = { ...((m.annotations) ?? {}), 'deprecated.daemonset.template.generation': String(m.generation ?? 1) };
  o.metadata = ordered(m, META_ORDER);
  o.status = ordered((o.status as Json | undefined) ?? { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 }, DS_STATUS_ORDER);
}

function deploymentDefaults(o: Json): void {
  const spec = { ...((o.spec as Json | undefined) ?? {}) };
  spec.replicas = spec.replicas ?? 1;
  spec.template = templateDefaults(spec.template as Json | undefined);
  spec.strategy = spec.strategy ?? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
  spec.revisionHistoryLimit = spec.revisionHistoryLimit ?? 10;
  spec.progressDeadlineSeconds = spec.progressDeadlineSeconds ?? 600;
  o.spec = ordered(spec, ['replicas', 'selector', 'template', 'strategy', 'minReadySeconds', 'revisionHistoryLimit', 'paused', 'progressDeadlineSeconds']);
  o.status = o.status ?? {};
}

function replicaSetDefaults(o: Json): void {
  const spec = { ...((o.spec as Json | undefined) ?? {}) };
  spec.replicas = spec.replicas ?? 1;
  spec.template = templateDefaults(spec.template as Json | undefined);
  o.spec = ordered(spec, ['replicas', 'minReadySeconds', 'selector', 'template']);
  o.status = o.status ?? { replicas: 0 };
}

function statefulSetDefaults(o: Json): void {
  const spec = { ...((o.spec as Json | undefined) ?? {}) };
  spec.replicas = spec.replicas ?? 1;
  spec.template = templateDefaults(spec.template as Json | undefined);
  spec.podManagementPolicy = spec.podManagementPolicy ?? 'OrderedReady';
  spec.updateStrategy = spec.updateStrategy ?? { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
  spec.revisionHistoryLimit = spec.revisionHistoryLimit ?? 10;
  o.spec = ordered(spec, ['replicas', 'selector', 'template', 'volumeClaimTemplates', 'serviceName', 'podManagementPolicy',
    'updateStrategy', 'revisionHistoryLimit', 'minReadySeconds', 'persistentVolumeClaimRetentionPolicy', 'ordinals']);
  o.status = o.status ?? { replicas: 0, availableReplicas: 0 };
}

function claimDefaults(o: Json): void {
  const spec = { ...((o.spec as Json | undefined) ?? {}) };
  spec.volumeMode = spec.volumeMode ?? 'Filesystem';
  // The local-path provisioner's class binds on first use (WaitForFirstConsumer): Pending until a pod mounts it.
  spec.storageClassName = spec.storageClassName ?? 'local-path';
  o.spec = ordered(spec, ['accessModes', 'selector', 'resources', 'volumeName', 'storageClassName', 'volumeMode', 'dataSource', 'dataSourceRef']);
  o.status = o.status ?? { phase: 'Pending' };
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  define({
    resource: 'pods', kind: 'Pod', keepsStatus: true, defaultsOnCreateOnly: true, bookmarkBody: { spec: { containers: null }, status: {} },
    defaults: (o) => {
      o.spec = podSpecDefaults((o.spec as Json | undefined) ?? {});
      o.status = o.status ?? { phase: 'Pending', qosClass: 'BestEffort' };
    },
  }),
  define({ resource: 'secrets', kind: 'Secret', order: ['immutable', 'data', 'type'], defaults: secretDefaults }),
  define({ resource: 'configmaps', kind: 'ConfigMap', order: ['immutable', 'data', 'binaryData'] }),
  define({ resource: 'serviceaccounts', kind: 'ServiceAccount', order: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'] }),
  define({ resource: 'events', kind: 'Event', order: [], watchCache: false }),
  define({
    resource: 'namespaces', kind: 'Namespace', namespaced: false,
    defaults: (o) => {
      const m = o.metadata as Json;
      m.labels = { ...((m.labels) ?? {}), 'kubernetes.io/metadata.name': m.name };
      o.metadata = ordered(m, META_ORDER);
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    },
  }),
  define({ resource: 'nodes', kind: 'Node', namespaced: false, keepsStatus: true }),
  define({
    resource: 'daemonsets', group: 'apps', kind: 'DaemonSet', generation: true, keepsStatus: true, defaults: dsDefaults,
    bookmarkBody: { spec: { selector: null, template: { metadata: { creationTimestamp: null }, spec: { containers: null } } }, status: { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 } },
  }),
  define({ resource: 'deployments', group: 'apps', kind: 'Deployment', generation: true, keepsStatus: true, defaults: deploymentDefaults }),
  define({ resource: 'statefulsets', group: 'apps', kind: 'StatefulSet', generation: true, keepsStatus: true, defaults: statefulSetDefaults }),
  define({ resource: 'replicasets', group: 'apps', kind: 'ReplicaSet', generation: true, keepsStatus: true, defaults: replicaSetDefaults }),
  define({ resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', keepsStatus: true, defaults: claimDefaults }),
  ...(['clusterroles', 'roles'] as const).map((r) => define({
    resource: r, group: 'rbac.authorization.k8s.io', kind: r === 'roles' ? 'Role' : 'ClusterRole', namespaced: r === 'roles',
    order: ['rules', 'aggregationRule'],
  })),
  ...(['clusterrolebindings', 'rolebindings'] as const).map((r) => define({
    resource: r, group: 'rbac.authorization.k8s.io', kind: r === 'rolebindings' ? 'RoleBinding' : 'ClusterRoleBinding',
    namespaced: r === 'rolebindings', order: ['subjects', 'roleRef'],
  })),
];

export function findType(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.resource === resource);
}

export function typeOf(resource: string): ResourceType {
  const t = RESOURCE_TYPES.find((x) => x.resource === resource);
  if (!t) throw new Error(`no resource type ${resource}`);
  return t;
}
