// `kx init` and `kx clean`: apply radar's objects (pkg/cluster/radar-objects.ts) with the user's credentials, wait
// until radar is rolled out on every node, and remove them again.
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api, VersionApi } from '@kubernetes/client-node';
import type {
  KubeConfig, V1ClusterRoleBinding, V1DaemonSet, V1Namespace, V1Pod, V1RoleBinding,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError, httpStatusOf } from '../kube/api-errors.ts';
import { RADAR_NAME, RADAR_SELECTOR } from '../kube/radar-names.ts';
import { selectContext } from './context.ts';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PRIVILEGE_NOTE,
  objectList,
  radarObjects,
  renderOps,
  resolveValues,
  type RadarObject,
  type RadarObjects,
  type RadarValues,
} from './radar-objects.ts';

export type ApplyAction = 'created' | 'configured' | 'exists' | 'deleted' | 'absent' | 'kept';

export type InitProgress =
  | { phase: 'render'; kubeVersion: string | undefined }
  | { phase: 'apply'; kind: string; name: string; action: ApplyAction }
  | { phase: 'rollout'; status: RolloutStatus };

export interface InitOptions {
  kubeConfig: KubeConfig;
  /** The context in use, for messages (default: the kubeconfig's current context). */
  context?: string;
  values: RadarValues;
  /**
   * The Kubernetes version to render the objects for (fields older servers do not know are left out). Default:
   * the server's, read from /version; a dry run without it renders what every supported release accepts.
   */
  kubeVersion?: string;
  /** Apply nothing; only render the objects (into `manifest`). */
  dryRun?: boolean;
  /** Render the objects as this format into `manifest` (always set for a dry run; yaml by default). */
  output?: 'yaml' | 'json';
  /** Give up waiting for the rollout after this long (default 5 minutes). 0: do not wait. */
  timeoutMs?: number;
  /** How often the DaemonSet's status is read while waiting (default 1 s). */
  pollMs?: number;
  onProgress?: (p: InitProgress) => void;
  signal?: AbortSignal;
}

export interface InitResult {
  manifest?: string;
  /** The server version the objects were rendered for (undefined: unknown, rendered for every release). */
  kubeVersion?: string;
  applied: Array<{ kind: string; name: string; action: ApplyAction }>;
  /** The final status; undefined for a dry run or when not waiting. */
  rollout?: RolloutStatus;
}

export interface RolloutStatus {
  done: boolean;
  desired: number;
  updated: number;
  available: number;
  ready: number;
}

export interface CleanOptions {
  kubeConfig: KubeConfig;
  context?: string;
  /** Radar's namespace (default kx-system). It is deleted only if kx created it (label managed-by=kx). */
  namespace?: string;
  onProgress?: (p: InitProgress) => void;
}

export async function init(opts: InitOptions): Promise<InitResult> {
  if (opts.dryRun) {
    const objects = radarObjects(opts.values, renderOps(opts.kubeVersion));
    return { manifest: renderManifest(objects, opts.output ?? 'yaml'), applied: [], ...(opts.kubeVersion && { kubeVersion: opts.kubeVersion }) };
  }
  const context = selectContext(opts.kubeConfig, opts.context);
  const api = clients(opts.kubeConfig);
  const kubeVersion = opts.kubeVersion ?? (await serverVersion(opts.kubeConfig));
  opts.onProgress?.({ phase: 'render', kubeVersion });
  const objects = radarObjects(opts.values, renderOps(kubeVersion));
  const manifest = opts.output ? renderManifest(objects, opts.output) : undefined;
  const applied: InitResult['applied'] = [];
  const report = (kind: string, name: string, action: ApplyAction) => {
    applied.push({ kind, name, action });
    opts.onProgress?.({ phase: 'apply', kind, name, action });
  };
  for (const obj of objectList(objects)) {
    const kind = obj.kind!;
    const name = obj.metadata!.name!;
    const action = await call(context, `apply ${kind} ${name}`, () => applyOne(api, obj));
    report(kind, name, action);
  }
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const base = { manifest, applied, ...(kubeVersion && { kubeVersion }) };
  if (timeoutMs === 0) return base;
  const rollout = await waitForRollout(api, opts.values.namespace, context, timeoutMs, opts.pollMs ?? 1000, opts.onProgress, opts.signal);
  return { ...base, rollout };
}

/** The server's gitVersion, or undefined when /version is closed to this user (then render for every release). */
async function serverVersion(kc: KubeConfig): Promise<string | undefined> {
  try {
    return (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  } catch {
    return undefined;
  }
}

export async function clean(opts: CleanOptions): Promise<InitResult> {
  const namespace = opts.namespace ?? 'kx-system';
  const context = selectContext(opts.kubeConfig, opts.context);
  const api = clients(opts.kubeConfig);
  const names = radarObjects(resolveValues('', { namespace, grants: { groups: ['-'], users: [] } }));
  const applied: InitResult['applied'] = [];
  const report = (kind: string, name: string, action: ApplyAction) => {
    applied.push({ kind, name, action });
    opts.onProgress?.({ phase: 'apply', kind, name, action });
  };
  const step = async (kind: string, name: string, del: () => Promise<unknown>) => {
    const action = await call(context, `delete ${kind} ${name}`, async () => {
      try {
        await del();
        return 'deleted' as const;
      } catch (err) {
        if (httpStatusOf(err) === 404) return 'absent' as const;
        throw err;
      }
    });
    report(kind, name, action);
  };
  await step('DaemonSet', RADAR_NAME, () => api.apps.deleteNamespacedDaemonSet({ name: RADAR_NAME, namespace }));
  await step('ClusterRoleBinding', names.clusterRoleBinding.metadata!.name!, () =>
    api.rbac.deleteClusterRoleBinding({ name: names.clusterRoleBinding.metadata!.name! }));
  await step('ClusterRole', names.clusterRole.metadata!.name!, () => api.rbac.deleteClusterRole({ name: names.clusterRole.metadata!.name! }));
  for (const rb of [names.grantRoleBinding!, names.roleBinding]) {
    await step('RoleBinding', rb.metadata!.name!, () => api.rbac.deleteNamespacedRoleBinding({ name: rb.metadata!.name!, namespace }));
  }
  for (const r of [names.grantRole!, names.role]) {
    await step('Role', r.metadata!.name!, () => api.rbac.deleteNamespacedRole({ name: r.metadata!.name!, namespace }));
  }
  await step('ServiceAccount', RADAR_NAME, () => api.core.deleteNamespacedServiceAccount({ name: RADAR_NAME, namespace }));

  // A namespace that existed before `kx init` (say, the user's own) holds other things: never delete it.
  const ns = await call(context, `read Namespace ${namespace}`, async () => {
    try {
      return await api.core.readNamespace({ name: namespace });
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw err;
    }
  });
  if (ns === undefined) report('Namespace', namespace, 'absent');
  else if (ns.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) report('Namespace', namespace, 'kept');
  else await step('Namespace', namespace, () => api.core.deleteNamespace({ name: namespace }));
  return { applied };
}

/** The objects as a multi-document YAML stream (with why radar needs its powers) or a JSON v1 List. */
export function renderManifest(objects: RadarObjects, format: 'yaml' | 'json'): string {
  const list = objectList(objects);
  if (format === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: list }, null, 2)}\n`;
  return list
    .map((o) => {
      const note = o.kind === 'DaemonSet' ? `${PRIVILEGE_NOTE.split('\n').map((l) => `# ${l}`).join('\n')}\n` : '';
      return `---\n${note}${stringify(o, { lineWidth: 0 })}`;
    })
    .join('');
}

/**
 * Rolled out on every node. observedGeneration alone is not enough: right after a spec change it already equals
 * generation while updatedNumberScheduled is still absent (0), as recorded from a real API server.
 */
export function rolloutStatus(ds: V1DaemonSet): RolloutStatus {
  const s = ds.status;
  const desired = s?.desiredNumberScheduled ?? 0;
  const updated = s?.updatedNumberScheduled ?? 0;
  const available = s?.numberAvailable ?? 0;
  const done = (s?.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1) && updated === desired && available === desired;
  return { done, desired, updated, available, ready: s?.numberReady ?? 0 };
}

interface Clients {
  core: CoreV1Api;
  apps: AppsV1Api;
  rbac: RbacAuthorizationV1Api;
}

function clients(kc: KubeConfig): Clients {
  return { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), rbac: kc.makeApiClient(RbacAuthorizationV1Api) };
}

async function call<T>(context: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw apiError(err, what, context);
  }
}

type AnyObject = RadarObject;

/** Create, or replace what exists (a Namespace that exists is left as it is: it may be the user's). */
async function applyOne(api: Clients, obj: AnyObject): Promise<ApplyAction> {
  const name = obj.metadata!.name!;
  const ns = obj.metadata!.namespace!;
  const ops = operations(api, obj, name, ns);
  try {
    await ops.create();
    return 'created';
  } catch (err) {
    if (httpStatusOf(err) !== 409) throw err;
  }
  if (obj.kind === 'Namespace') return 'exists';
  const current = await ops.read();
  await ops.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata?.resourceVersion } });
  return 'configured';
}

interface Ops {
  create(): Promise<unknown>;
  read(): Promise<{ metadata?: { resourceVersion?: string } }>;
  replace(body: AnyObject): Promise<unknown>;
}

function operations(api: Clients, obj: AnyObject, name: string, namespace: string): Ops {
  switch (obj.kind) {
    case 'Namespace':
      return { create: () => api.core.createNamespace({ body: obj as V1Namespace }), read: () => api.core.readNamespace({ name }), replace: async () => undefined };
    case 'ServiceAccount':
      return {
        create: () => api.core.createNamespacedServiceAccount({ namespace, body: obj }),
        read: () => api.core.readNamespacedServiceAccount({ name, namespace }),
        replace: (body) => api.core.replaceNamespacedServiceAccount({ name, namespace, body: body }),
      };
    case 'ClusterRole':
      return {
        create: () => api.rbac.createClusterRole({ body: obj }),
        read: () => api.rbac.readClusterRole({ name }),
        replace: (body) => api.rbac.replaceClusterRole({ name, body: body }),
      };
    case 'ClusterRoleBinding':
      return {
        create: () => api.rbac.createClusterRoleBinding({ body: obj as V1ClusterRoleBinding }),
        read: () => api.rbac.readClusterRoleBinding({ name }),
        replace: (body) => api.rbac.replaceClusterRoleBinding({ name, body: body as V1ClusterRoleBinding }),
      };
    case 'Role':
      return {
        create: () => api.rbac.createNamespacedRole({ namespace, body: obj }),
        read: () => api.rbac.readNamespacedRole({ name, namespace }),
        replace: (body) => api.rbac.replaceNamespacedRole({ name, namespace, body: body }),
      };
    case 'RoleBinding':
      return {
        create: () => api.rbac.createNamespacedRoleBinding({ namespace, body: obj as V1RoleBinding }),
        read: () => api.rbac.readNamespacedRoleBinding({ name, namespace }),
        replace: (body) => api.rbac.replaceNamespacedRoleBinding({ name, namespace, body: body as V1RoleBinding }),
      };
    case 'DaemonSet':
      return {
        create: () => api.apps.createNamespacedDaemonSet({ namespace, body: obj as V1DaemonSet }),
        read: () => api.apps.readNamespacedDaemonSet({ name, namespace }),
        replace: (body) => api.apps.replaceNamespacedDaemonSet({ name, namespace, body: body as V1DaemonSet }),
      };
    default:
      throw new KxError(ErrorCode.Internal, `kx init: no apply operations for kind ${String(obj.kind)}`);
  }
}

async function waitForRollout(
  api: Clients,
  namespace: string,
  context: string,
  timeoutMs: number,
  pollMs: number,
  onProgress: InitOptions['onProgress'],
  signal: AbortSignal | undefined,
): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  for (;;) {
    if (signal?.aborted) throw new KxError(ErrorCode.Cancelled, `kx init: cancelled while waiting for DaemonSet ${RADAR_NAME} in namespace "${namespace}"`);
    const ds = await call(context, `read DaemonSet ${RADAR_NAME} in namespace "${namespace}"`, () =>
      api.apps.readNamespacedDaemonSet({ name: RADAR_NAME, namespace }));
    const status = rolloutStatus(ds);
    if (!last || JSON.stringify(last) !== JSON.stringify(status)) onProgress?.({ phase: 'rollout', status });
    last = status;
    if (status.done) return status;
    if (Date.now() >= deadline) {
      const why = await podProblems(api, namespace);
      throw new KxError(ErrorCode.Unavailable,
        `radar did not roll out on every node within ${Math.round(timeoutMs / 1000)}s in namespace "${namespace}": ` +
        `${status.updated} of ${status.desired} updated, ${status.available} available${why ? ` (${why})` : ''}; ` +
        `see kubectl -n ${namespace} get pods -l app.kubernetes.io/name=${RADAR_SELECTOR['app.kubernetes.io/name']}`);
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), signal);
  }
}

/** Waiting reasons of radar's containers (ImagePullBackOff, CrashLoopBackOff…), to say why a rollout is stuck. */
async function podProblems(api: Clients, namespace: string): Promise<string> {
  let pods: V1Pod[];
  try {
    const selector = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
    pods = (await api.core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  } catch {
    return '';
  }
  const reasons = pods.flatMap((p) =>
    (p.status?.containerStatuses ?? [])
      .filter((c) => c.state?.waiting?.reason)
      .map((c) => `${p.metadata?.name} on ${p.spec?.nodeName ?? '?'}: ${c.state!.waiting!.reason}`));
  return reasons.slice(0, 3).join(', ');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
