// Object shapes as the apiserver stores them: Go struct field order, defaults filled in, zero values left out.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Json } from './wire.ts';

/** Known keys first in Go's order, then whatever else the client sent, in its order. */
export function ordered(obj: Json, order: readonly string[]): Json {
  const out: Json = {};
  for (const k of order) if (obj[k] !== undefined) out[k] = obj[k];
  for (const k of Object.keys(obj)) if (!(k in out) && obj[k] !== undefined) out[k] = obj[k];
  return out;
}

export const TOP_ORDER = ['kind', 'apiVersion', 'metadata', 'spec', 'status'] as const;
export const META_ORDER = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences',
  'finalizers', 'managedFields'] as const;
export const POD_SPEC_ORDER = ['volumes', 'initContainers', 'containers', 'ephemeralContainers', 'restartPolicy',
  'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'dnsPolicy', 'nodeSelector', 'serviceAccountName',
  'serviceAccount', 'automountServiceAccountToken', 'nodeName', 'hostNetwork', 'hostPID', 'hostIPC',
  'shareProcessNamespace', 'securityContext', 'imagePullSecrets', 'hostname', 'subdomain', 'affinity', 'schedulerName',
  'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates', 'runtimeClassName',
  'enableServiceLinks', 'preemptionPolicy', 'overhead', 'topologySpreadConstraints', 'setHostnameAsFQDN', 'os'] as const;
const CONTAINER_ORDER = ['name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources',
  'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce',
  'tty'] as const;
const PORT_ORDER = ['name', 'hostPort', 'containerPort', 'protocol', 'hostIP'] as const;
export const POD_STATUS_ORDER = ['phase', 'conditions', 'message', 'reason', 'nominatedNodeName', 'hostIP', 'podIP',
  'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses', 'qosClass'] as const;
export const DS_STATUS_ORDER = ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady',
  'observedGeneration', 'updatedNumberScheduled', 'numberAvailable', 'numberUnavailable', 'collisionCount',
  'conditions'] as const;

/** What the create request adds to metadata; `writer` names the managedFields manager. */
export interface CreateContext { namespace?: string; now: Date; writer: string; apiVersion: string }

export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Kubernetes' generateName suffix alphabet (no vowels, no look-alikes). */
export function randomSuffix(n = 5): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function newMetadata(input: Json | undefined, ctx: CreateContext, extra: Json = {}): Json {
  const m: Json = { ...(input ?? {}) };
  if (!m.name && m.generateName) m.name = `${String(m.generateName)}${randomSuffix()}`;
  if (ctx.namespace !== undefined) m.namespace = ctx.namespace;
  m.uid = randomUUID();
  m.creationTimestamp = timestamp(ctx.now);
  delete m.resourceVersion;
  Object.assign(m, extra);
  m.managedFields = [{
    manager: ctx.writer, operation: 'Update', apiVersion: ctx.apiVersion, time: timestamp(ctx.now),
    fieldsType: 'FieldsV1', fieldsV1: fieldsOf({ metadata: pick(input ?? {}, ['labels', 'annotations', 'generateName']) }),
  }];
  return ordered(m, META_ORDER);
}

function pick(o: Json, keys: string[]): Json {
  const out: Json = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** A FieldsV1 set naming the fields the writer set (structure only, which is all clients look at). */
export function fieldsOf(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    out[`f:${k}`] = v && typeof v === 'object' && !Array.isArray(v) ? { '.': {}, ...fieldsOf(v as Json) } : {};
  }
  return out;
}

function containerDefaults(c: Json, extraMounts: Json[]): Json {
  const image = String(c.image ?? '');
  const out: Json = {
    ...c,
    resources: c.resources ?? {},
    terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
    terminationMessagePolicy: c.terminationMessagePolicy ?? 'File',
    imagePullPolicy: c.imagePullPolicy ?? (image.endsWith(':latest') || !image.includes(':') ? 'Always' : 'IfNotPresent'),
  };
  if (Array.isArray(c.ports)) out.ports = (c.ports as Json[]).map((p) => ordered({ ...p, protocol: p.protocol ?? 'TCP' }, PORT_ORDER));
  if (extraMounts.length) out.volumeMounts = [...((c.volumeMounts as Json[] | undefined) ?? []), ...extraMounts];
  return ordered(out, CONTAINER_ORDER);
}

/** Defaults the apiserver gives a pod template (DaemonSet/Deployment `spec.template.spec`). */
export function templateSpecDefaults(spec: Json): Json {
  const out: Json = {
    ...spec,
    ...(Array.isArray(spec.initContainers) && { initContainers: (spec.initContainers as Json[]).map((c) => containerDefaults(c, [])) }),
    containers: ((spec.containers as Json[] | undefined) ?? []).map((c) => containerDefaults(c, [])),
    restartPolicy: spec.restartPolicy ?? 'Always',
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    dnsPolicy: spec.dnsPolicy ?? 'ClusterFirst',
    securityContext: spec.securityContext ?? {},
    schedulerName: spec.schedulerName ?? 'default-scheduler',
  };
  return ordered(out, POD_SPEC_ORDER);
}

/** Defaults for a Pod's spec, with the service-account token volume admission adds. */
export function podSpecDefaults(spec: Json): Json {
  const mounts: Json[] = [];
  const volumes = [...((spec.volumes as Json[] | undefined) ?? [])];
  if (spec.automountServiceAccountToken !== false) {
    const vol = `kube-api-access-${randomSuffix()}`;
    volumes.push({ name: vol, projected: { sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ], defaultMode: 420 } });
    mounts.push({ name: vol, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' });
  }
  const sa = spec.serviceAccountName ?? spec.serviceAccount ?? 'default';
  const tolerations = [...((spec.tolerations as Json[] | undefined) ?? [])];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerations.some((t) => t.key === key)) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  const out: Json = {
    ...spec,
    volumes: volumes.length ? volumes : undefined,
    // Admission mounts the token volume into init containers too.
    ...(Array.isArray(spec.initContainers) && { initContainers: (spec.initContainers as Json[]).map((c) => containerDefaults(c, mounts)) }),
    containers: ((spec.containers as Json[] | undefined) ?? []).map((c) => containerDefaults(c, mounts)),
    restartPolicy: spec.restartPolicy ?? 'Always',
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    dnsPolicy: spec.dnsPolicy ?? 'ClusterFirst',
    serviceAccountName: sa,
    serviceAccount: sa,
    securityContext: spec.securityContext ?? {},
    schedulerName: spec.schedulerName ?? 'default-scheduler',
    tolerations,
    priority: spec.priority ?? 0,
    enableServiceLinks: spec.enableServiceLinks ?? true,
    preemptionPolicy: spec.preemptionPolicy ?? 'PreemptLowerPriority',
  };
  return ordered(out, POD_SPEC_ORDER);
}

/** `spec.template` of a workload: metadata carries `creationTimestamp: null` as Go marshals an empty time. */
export function templateDefaults(template: Json | undefined): Json {
  const t = template ?? {};
  const meta = ordered({ ...((t.metadata as Json | undefined) ?? {}), creationTimestamp: null }, META_ORDER);
  return { metadata: meta, spec: templateSpecDefaults((t.spec as Json | undefined) ?? {}) };
}

export function getPath(o: Json, path: string[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[p];
  }
  return cur;
}

export function meta(o: Json): Json {
  return o.metadata as Json;
}
