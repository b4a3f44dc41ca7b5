// What the test kubelet makes of a pod spec: the fields it implements, each turned into Docker settings, and a
// refusal naming the first field it does not implement (instead of silently running something else). The pod spec
// fields and their Docker counterparts are listed in test/k8s/README.md ("The test kubelet").
import type { Mount } from './docker-runtime.ts';
import { getPath, meta } from './objects.ts';
import type { Json } from './wire.ts';

/** The pod cannot run as specified; `reason` is the kubelet's waiting reason, `message` names the field. */
export class PodSpecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export const UNSUPPORTED = 'CreateContainerConfigError';

/** Fields with no effect on a single simulated node (scheduling, registry, DNS) are accepted as no-ops. */
const POD_FIELDS = new Set([
  'containers', 'initContainers', 'volumes', 'restartPolicy', 'terminationGracePeriodSeconds', 'dnsPolicy', 'serviceAccountName',
  'serviceAccount', 'automountServiceAccountToken', 'nodeName', 'nodeSelector', 'affinity', 'tolerations',
  'schedulerName', 'priority', 'priorityClassName', 'enableServiceLinks', 'preemptionPolicy', 'securityContext',
  'hostPID', 'hostname', 'imagePullSecrets',
]);
const CONTAINER_FIELDS = new Set([
  'name', 'image', 'command', 'args', 'workingDir', 'env', 'ports', 'resources', 'volumeMounts', 'readinessProbe',
  'livenessProbe', 'startupProbe', 'securityContext', 'imagePullPolicy', 'terminationMessagePath', 'terminationMessagePolicy',
]);
const PROBE_FIELDS = new Set(['exec', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold']);
const CONTAINER_SECURITY = new Set(['runAsUser', 'runAsGroup', 'runAsNonRoot', 'privileged', 'allowPrivilegeEscalation',
  'readOnlyRootFilesystem', 'capabilities', 'seccompProfile', 'appArmorProfile']);
const POD_SECURITY = new Set(['runAsUser', 'runAsGroup', 'runAsNonRoot', 'seccompProfile', 'appArmorProfile']);
const VOLUME_KINDS = new Set(['hostPath', 'emptyDir', 'projected', 'secret', 'configMap', 'persistentVolumeClaim']);
/** What an init container may not have (the API server's validation rejects these on init containers). */
const NOT_FOR_INIT = new Set(['readinessProbe', 'livenessProbe', 'startupProbe', 'lifecycle']);
const DOWNWARD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName',
  'status.hostIP', 'status.podIP', 'status.podIPs'];
export const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

/** Throws PodSpecError naming the first field of `pod` the test kubelet does not implement. */
export function checkPodSpec(pod: Json): void {
  const spec = (pod.spec as Json | undefined) ?? {};
  const refuse = (path: string, what = 'is not implemented by the test kubelet') => {
    throw new PodSpecError(UNSUPPORTED, `${path} ${what}`);
  };
  for (const [k, v] of Object.entries(spec)) {
    if (POD_FIELDS.has(k) || isEmpty(v)) continue;
    refuse(k === 'hostNetwork' ? 'spec.hostNetwork' : `spec.${k}`,
      k === 'hostNetwork' ? 'is refused: test pods never share the host network' : undefined);
  }
  const aff = (spec.affinity as Json | undefined) ?? {};
  for (const k of Object.keys(aff)) if (k !== 'nodeAffinity' && !isEmpty(aff[k])) refuse(`spec.affinity.${k}`);
  const psc = (spec.securityContext as Json | undefined) ?? {};
  for (const [k, v] of Object.entries(psc)) if (!POD_SECURITY.has(k) && !isEmpty(v)) refuse(`spec.securityContext.${k}`);
  ((spec.volumes as Json[] | undefined) ?? []).forEach((v, i) => {
    const kinds = Object.keys(v).filter((k) => k !== 'name');
    const kind = kinds[0];
    if (kinds.length !== 1 || !kind || !VOLUME_KINDS.has(kind)) refuse(`spec.volumes[${i}].${kind ?? '(no source)'}`);
    if (kind === 'emptyDir' && ((v.emptyDir as Json).sizeLimit !== undefined)) refuse(`spec.volumes[${i}].emptyDir.sizeLimit`);
    if (kind === 'persistentVolumeClaim') {
      for (const k of Object.keys(v.persistentVolumeClaim as Json)) if (k !== 'claimName') refuse(`spec.volumes[${i}].persistentVolumeClaim.${k}`);
    }
    if (kind === 'projected') {
      ((v.projected as Json).sources as Json[] ?? []).forEach((s, j) => {
        const k = Object.keys(s)[0];
        if (!['serviceAccountToken', 'configMap', 'secret', 'downwardAPI'].includes(k ?? '')) refuse(`spec.volumes[${i}].projected.sources[${j}].${k}`);
        if (k === 'serviceAccountToken' && (s.serviceAccountToken as Json).audience) refuse(`spec.volumes[${i}].projected.sources[${j}].serviceAccountToken.audience`);
        if (k === 'downwardAPI') checkDownwardItems((s.downwardAPI as Json).items as Json[] | undefined, `spec.volumes[${i}].projected.sources[${j}].downwardAPI`, refuse);
      });
    }
  });
  const names = new Set(((spec.volumes as Json[] | undefined) ?? []).map((v) => String(v.name)));
  const containers = [
    ...((spec.initContainers as Json[] | undefined) ?? []).map((c, i) => ({ c, at: `spec.initContainers[${i}]`, init: true })),
    ...((spec.containers as Json[] | undefined) ?? []).map((c, i) => ({ c, at: `spec.containers[${i}]`, init: false })),
  ];
  containers.forEach(({ c, at, init }) => {
    for (const [k, v] of Object.entries(c)) {
      if (init && NOT_FOR_INIT.has(k) && !isEmpty(v)) refuse(`${at}.${k}`, 'must not be set for init containers');
      if (!CONTAINER_FIELDS.has(k) && !isEmpty(v)) refuse(`${at}.${k}`);
    }
    ((c.ports as Json[] | undefined) ?? []).forEach((p, j) => {
      if (p.hostPort !== undefined || p.hostIP !== undefined) refuse(`${at}.ports[${j}].hostPort`, 'is refused: test pods publish nothing on the host network');
    });
    ((c.env as Json[] | undefined) ?? []).forEach((e, j) => {
      const from = e.valueFrom as Json | undefined;
      if (!from) return;
      const k = Object.keys(from)[0];
      if (k === 'fieldRef') {
        const path = String((from.fieldRef as Json).fieldPath);
        if (!DOWNWARD_PATHS.includes(path) && !/^metadata\.(labels|annotations)\['[^']+'\]$/.test(path)) refuse(`${at}.env[${j}].valueFrom.fieldRef.fieldPath ${JSON.stringify(path)}`);
      } else if (k !== 'secretKeyRef' && k !== 'configMapKeyRef') refuse(`${at}.env[${j}].valueFrom.${k}`);
    });
    ((c.volumeMounts as Json[] | undefined) ?? []).forEach((m, j) => {
      for (const k of Object.keys(m)) {
        if (!['name', 'mountPath', 'readOnly'].includes(k) && !(k === 'mountPropagation' && m[k] === 'None')) refuse(`${at}.volumeMounts[${j}].${k}`);
      }
      if (!names.has(String(m.name))) throw new PodSpecError(UNSUPPORTED, `${at}.volumeMounts[${j}].name: no volume ${JSON.stringify(m.name)} in spec.volumes`);
    });
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const probe = c[p] as Json | undefined;
      if (!probe) continue;
      for (const k of Object.keys(probe)) if (!PROBE_FIELDS.has(k)) refuse(`${at}.${p}.${k}`);
      if (!probe.exec) refuse(`${at}.${p}`, 'without exec is not implemented by the test kubelet');
    }
    const sc = (c.securityContext as Json | undefined) ?? {};
    for (const [k, v] of Object.entries(sc)) if (!CONTAINER_SECURITY.has(k) && !isEmpty(v)) refuse(`${at}.securityContext.${k}`);
    for (const [k, v] of [['seccompProfile', sc.seccompProfile ?? psc.seccompProfile], ['appArmorProfile', sc.appArmorProfile ?? psc.appArmorProfile]] as const) {
      const type = (v as Json | undefined)?.type;
      if (type !== undefined && type !== 'RuntimeDefault' && type !== 'Unconfined') refuse(`${at}.securityContext.${k}.type ${JSON.stringify(type)}`);
    }
    const res = (c.resources as Json | undefined) ?? {};
    for (const k of Object.keys(res)) if (!['limits', 'requests'].includes(k)) refuse(`${at}.resources.${k}`);
    for (const k of Object.keys((res.limits as Json | undefined) ?? {})) if (!['cpu', 'memory'].includes(k)) refuse(`${at}.resources.limits.${k}`);
  });
  for (const [k, v] of Object.entries((meta(pod).annotations as Record<string, string> | undefined) ?? {})) {
    if (k.startsWith(APPARMOR_ANNOTATION) && v !== 'unconfined' && v !== 'runtime/default') refuse(`metadata.annotations[${JSON.stringify(k)}] ${JSON.stringify(v)}`);
  }
}

function checkDownwardItems(items: Json[] | undefined, at: string, refuse: (path: string) => never): void {
  (items ?? []).forEach((it, k) => {
    const path = getPath(it, ['fieldRef', 'fieldPath']);
    if (path === undefined || !DOWNWARD_PATHS.includes(String(path))) refuse(`${at}.items[${k}]`);
  });
}

export interface ContainerContext {
  /** Values of downward-API fields and of Secrets/ConfigMaps in the pod's namespace. */
  field(path: string): string;
  secretKey(name: string, key: string): string | undefined;
  configMapKey(name: string, key: string): string | undefined;
  /** Host source of each volume (bind), or a tmpfs. */
  volume(name: string): { source?: string; tmpfs?: boolean };
  /** Environment the kubelet adds (the kubernetes Service's variables), before the container's own. */
  serviceEnv: Record<string, string>;
}

export interface ContainerPlan {
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  mounts: Mount[];
  user?: string;
  runAsNonRoot: boolean;
  capAdd: string[];
  capDrop: string[];
  readonlyRootfs: boolean;
  securityOpt: string[];
  hostPid: boolean;
  privileged: boolean;
  memoryBytes?: number;
  nanoCpus?: number;
}

/** Docker settings for container `index` of a pod checkPodSpec accepted (of its init containers with `list`). */
export function containerPlan(pod: Json, index: number, ctx: ContainerContext, list: 'containers' | 'initContainers' = 'containers'): ContainerPlan {
  const spec = pod.spec as Json;
  const c = (spec[list] as Json[])[index];
  const at = `spec.${list}[${index}]`;
  const env: Array<[string, string]> = Object.entries(ctx.serviceEnv);
  for (const e of (c.env as Json[] | undefined) ?? []) {
    const name = String(e.name);
    const from = e.valueFrom as Json | undefined;
    let value: string | undefined;
    if (!from) value = expand(String(e.value ?? ''), env);
    else if (from.fieldRef) value = ctx.field(String((from.fieldRef as Json).fieldPath));
    else {
      const ref = (from.secretKeyRef ?? from.configMapKeyRef) as Json;
      const kind = from.secretKeyRef ? 'secret' : 'configmap';
      value = from.secretKeyRef ? ctx.secretKey(String(ref.name), String(ref.key)) : ctx.configMapKey(String(ref.name), String(ref.key));
      if (value === undefined && ref.optional !== true) {
        throw new PodSpecError(UNSUPPORTED, `${kind} ${JSON.stringify(ref.name)} not found or has no key ${JSON.stringify(ref.key)} (${at}.env ${name})`);
      }
    }
    if (value !== undefined) env.push([name, value]);
  }
  const mounts: Mount[] = ((c.volumeMounts as Json[] | undefined) ?? []).map((m) => {
    const v = ctx.volume(String(m.name));
    return v.tmpfs
      ? { type: 'tmpfs', target: String(m.mountPath), readOnly: m.readOnly === true }
      : { type: 'bind', source: v.source!, target: String(m.mountPath), readOnly: m.readOnly === true };
  });
  const psc = (spec.securityContext as Json | undefined) ?? {};
  const sc = (c.securityContext as Json | undefined) ?? {};
  const uid = sc.runAsUser ?? psc.runAsUser;
  const gid = sc.runAsGroup ?? psc.runAsGroup;
  const caps = (sc.capabilities as Json | undefined) ?? {};
  const securityOpt: string[] = [];
  if (sc.allowPrivilegeEscalation === false) securityOpt.push('no-new-privileges');
  if (getPath((sc.seccompProfile ?? psc.seccompProfile ?? {}) as Json, ['type']) === 'Unconfined') securityOpt.push('seccomp=unconfined');
  const annotation = ((meta(pod).annotations as Record<string, string> | undefined) ?? {})[`${APPARMOR_ANNOTATION}${String(c.name)}`];
  if (getPath((sc.appArmorProfile ?? psc.appArmorProfile ?? {}) as Json, ['type']) === 'Unconfined' || annotation === 'unconfined') securityOpt.push('apparmor=unconfined');
  const limits = (getPath(c, ['resources', 'limits']) as Json | undefined) ?? {};
  const vars = env;
  const plan: ContainerPlan = {
    env: env.map(([k, v]) => `${k}=${v}`),
    mounts,
    runAsNonRoot: (sc.runAsNonRoot ?? psc.runAsNonRoot) === true,
    capAdd: ((caps.add as string[] | undefined) ?? []).map(capName),
    capDrop: ((caps.drop as string[] | undefined) ?? []).map(capName),
    readonlyRootfs: sc.readOnlyRootFilesystem === true,
    securityOpt,
    hostPid: spec.hostPID === true,
    privileged: sc.privileged === true,
  };
  if (c.command) plan.entrypoint = (c.command as string[]).map((a) => expand(a, vars));
  if (c.args) plan.cmd = (c.args as string[]).map((a) => expand(a, vars));
  if (c.workingDir) plan.workingDir = String(c.workingDir);
  if (uid !== undefined) plan.user = gid !== undefined ? `${String(uid)}:${String(gid)}` : String(uid);
  if (limits.memory !== undefined) plan.memoryBytes = quantity(String(limits.memory), `${at}.resources.limits.memory`);
  if (limits.cpu !== undefined) plan.nanoCpus = Math.round(quantity(String(limits.cpu), `${at}.resources.limits.cpu`) * 1e9);
  return plan;
}

/** `$(VAR)` references to variables defined before, as the kubelet expands them; `$$` escapes. */
function expand(s: string, vars: ReadonlyArray<[string, string]>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    const hit = [...vars].reverse().find(([k]) => k === name);
    return hit ? hit[1] : whole;
  });
}

function capName(c: string): string {
  return c.toUpperCase() === 'ALL' ? 'ALL' : c.toUpperCase().replace(/^CAP_/, '');
}

const SUFFIX: Record<string, number> = {
  m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/** A Kubernetes quantity ("512Mi", "500m", "1") as a number. */
export function quantity(q: string, at: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q.trim());
  if (!m) throw new PodSpecError(UNSUPPORTED, `${at}: quantity ${JSON.stringify(q)} is not one the test kubelet reads`);
  return Number(m[1]) * SUFFIX[m[2] ?? ''];
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
}
