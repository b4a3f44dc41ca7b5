// `kx doctor`'s cluster checks. Each check answers one question in one line and, when it fails, says what to do.
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import type { KubeConfig, V1DaemonSet, V1Pod, V1ResourceAttributes } from '@kubernetes/client-node';
import { TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';
import { RUNTIME_ANNOTATION } from '../../proto/radar-pod.ts';
import { notReadyReason } from '../kube/radar-locator.ts';
import { apiError, apiMessageOf, httpStatusOf } from '../kube/api-errors.ts';
import { selectContext } from './context.ts';
import { rolloutStatus } from './install.ts';
import { RADAR_NAME, RADAR_SELECTOR } from '../kube/radar-names.ts';
import { VERSION_LABEL } from './radar-objects.ts';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
  /** False when the check could not be made for certain (the detail says why); ok is then true. */
  verified?: boolean;
}

export interface DoctorOptions {
  kubeConfig: KubeConfig;
  /** The context in use, for messages (default: the kubeconfig's current context). */
  context?: string;
  /** The namespace the user syncs into (pods, kx-token). */
  namespace: string;
  /** Radar's namespace (default kx-system). */
  radarNamespace?: string;
  /** The local kx version, compared with radar's. */
  version: string;
}

export const CHECK_NAMES = {
  reachable: 'cluster reachable',
  listPods: 'may list pods',
  findRadar: 'may find radar',
  portForward: 'may port-forward to radar',
  readToken: 'may read the kx-token Secret',
  createToken: 'may create the kx-token Secret',
  rollout: 'radar rolled out on every node',
  skew: 'radar version matches kx',
  runtime: 'radar found the container runtime',
} as const;

/** All checks in order. When the cluster is unreachable the others are not attempted. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const reach = await checkReachable(opts);
  if (!reach.ok) return [reach];
  return [reach, ...(await checkRbac(opts)), await checkRollout(opts), await checkVersionSkew(opts), await checkRuntime(opts)];
}

export async function checkReachable(opts: DoctorOptions): Promise<DoctorCheck> {
  let context: string;
  try {
    context = selectContext(opts.kubeConfig, opts.context);
  } catch (err) {
    return { name: CHECK_NAMES.reachable, ok: false, detail: (err as Error).message, hint: 'pick one of the contexts listed (kubectl config get-contexts)' };
  }
  const server = opts.kubeConfig.getCurrentCluster()?.server ?? '?';
  try {
    const v = await opts.kubeConfig.makeApiClient(VersionApi).getCode();
    return { name: CHECK_NAMES.reachable, ok: true, detail: `context "${context}" at ${server}, Kubernetes ${v.gitVersion}` };
  } catch (err) {
    const status = httpStatusOf(err);
    // Any answer but 401 means the server is there and accepts us; /version may just be closed to this user.
    if (status !== undefined && status !== 401) {
      return { name: CHECK_NAMES.reachable, ok: true, detail: `context "${context}" at ${server} answers (version unknown: HTTP ${status})` };
    }
    if (status === 401) {
      return { name: CHECK_NAMES.reachable, ok: false, detail: `context "${context}" at ${server} rejects the credentials (401)`,
        hint: 'log in again or fix the user of this context in your kubeconfig' };
    }
    return { name: CHECK_NAMES.reachable, ok: false, detail: `cannot reach context "${context}" at ${server}: ${apiMessageOf(err)}`,
      hint: 'check the context (kx --context NAME) and that the cluster is up' };
  }
}

/**
 * What the user may do, asked with SelfSubjectAccessReview, each in the one namespace it concerns (a developer who
 * owns only their namespace passes with no cluster-wide right). A server without that API gets real, harmless
 * probes instead (list, get); what cannot be probed without side effects is reported as not verified.
 */
export async function checkRbac(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const radarNs = opts.radarNamespace ?? 'kx-system';
  const ns = opts.namespace;
  const grant = `ask the platform team to run kx init --grant-group <your group> (or --grant-user), which gives exactly that in namespace "${radarNs}"`;
  const asks: Array<{ name: string; attrs: V1ResourceAttributes[]; what: string; hint: string }> = [
    { name: CHECK_NAMES.listPods, attrs: [{ verb: 'list', resource: 'pods', namespace: ns }, { verb: 'watch', resource: 'pods', namespace: ns }],
      what: `list and watch pods in namespace "${ns}"`, hint: `ask for a Role with list/watch on pods in namespace "${ns}"` },
    {
      name: CHECK_NAMES.findRadar,
      attrs: [
        { verb: 'list', resource: 'pods', namespace: radarNs },
        { verb: 'get', resource: 'daemonsets', group: 'apps', name: RADAR_NAME, namespace: radarNs },
      ],
      what: `list pods and get DaemonSet ${RADAR_NAME} in namespace "${radarNs}"`,
      hint: grant,
    },
    {
      name: CHECK_NAMES.portForward,
      // Kubernetes authorizes the WebSocket upgrade as get (up to 1.34) and also as create (1.35+).
      attrs: [
        { verb: 'get', resource: 'pods', subresource: 'portforward', namespace: radarNs },
        { verb: 'create', resource: 'pods', subresource: 'portforward', namespace: radarNs },
      ],
      what: `get and create pods/portforward in namespace "${radarNs}"`,
      hint: grant,
    },
    { name: CHECK_NAMES.readToken, attrs: [{ verb: 'get', resource: 'secrets', name: TOKEN_SECRET_NAME, namespace: ns }],
      what: `get Secret ${TOKEN_SECRET_NAME} in namespace "${ns}"`, hint: `ask for get on Secret ${TOKEN_SECRET_NAME} in namespace "${ns}"` },
    { name: CHECK_NAMES.createToken, attrs: [{ verb: 'create', resource: 'secrets', namespace: ns }],
      what: `create Secrets in namespace "${ns}"`, hint: `ask an admin to run kx token -n ${ns}, or for create on secrets in namespace "${ns}"` },
  ];
  const authz = opts.kubeConfig.makeApiClient(AuthorizationV1Api);
  const out: DoctorCheck[] = [];
  for (const ask of asks) {
    let allowed = true;
    let reason = '';
    try {
      for (const attrs of ask.attrs) {
        const r = await authz.createSelfSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } } });
        if (!r.status?.allowed) {
          allowed = false;
          reason = r.status?.reason ? ` (${r.status.reason})` : '';
          break;
        }
      }
    } catch (err) {
      if (httpStatusOf(err) === 404 || httpStatusOf(err) === 405) {
        return probeRbac(opts, asks.map((a) => ({ name: a.name, hint: a.hint, what: a.what })));
      }
      out.push({ name: ask.name, ok: false, detail: apiError(err, `ask whether you may ${ask.what}`, contextOf(opts)).message, hint: ask.hint });
      continue;
    }
    out.push(allowed
      ? { name: ask.name, ok: true, detail: `you may ${ask.what}` }
      : await deniedCheck(opts, ask.name, `you may not ${ask.what}${reason}`, ask.hint));
  }
  return out;
}

export async function checkRollout(opts: DoctorOptions): Promise<DoctorCheck> {
  const ns = opts.radarNamespace ?? 'kx-system';
  const ds = await readRadar(opts);
  if (ds instanceof Error) return { name: CHECK_NAMES.rollout, ok: false, detail: ds.message };
  if (ds === undefined) {
    return { name: CHECK_NAMES.rollout, ok: false, detail: `radar is not installed (no DaemonSet ${RADAR_NAME} in namespace "${ns}")`, hint: 'run kx init' };
  }
  const s = rolloutStatus(ds);
  if (s.done) return { name: CHECK_NAMES.rollout, ok: true, detail: `radar is ready on ${s.available} of ${s.desired} nodes` };
  const why = (await radarPods(opts)).filter((p) => !p.ready).slice(0, 3).map((p) => `radar on node "${p.node}" is not ready (${notReadyReason(p.pod) || `phase ${p.pod.status?.phase ?? 'Pending'}`})`);
  return {
    name: CHECK_NAMES.rollout,
    ok: false,
    detail: `radar is not ready on every node: ${s.updated} of ${s.desired} updated, ${s.available} available${why.length ? `; ${why.join('; ')}` : ''}`,
    hint: `run kx init to wait for the rollout; kubectl -n ${ns} get pods -l app.kubernetes.io/name=${RADAR_SELECTOR['app.kubernetes.io/name']} shows why`,
  };
}

export async function checkVersionSkew(opts: DoctorOptions): Promise<DoctorCheck> {
  const ns = opts.radarNamespace ?? 'kx-system';
  const ds = await readRadar(opts);
  if (ds instanceof Error) return { name: CHECK_NAMES.skew, ok: false, detail: ds.message };
  if (ds === undefined) return { name: CHECK_NAMES.skew, ok: false, detail: `radar is not installed in namespace "${ns}"`, hint: 'run kx init' };
  const versions = new Map<string, number>();
  try {
    const selector = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await opts.kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns, labelSelector: selector });
    for (const p of pods.items) {
      if (p.metadata?.deletionTimestamp) continue;
      const v = p.metadata?.labels?.[VERSION_LABEL] ?? 'unknown';
      versions.set(v, (versions.get(v) ?? 0) + 1);
    }
  } catch {
    // Listing pods may be forbidden; the DaemonSet's own label still tells what is being rolled out.
  }
  if (versions.size === 0) versions.set(ds.metadata?.labels?.[VERSION_LABEL] ?? 'unknown', 0);
  const other = [...versions.keys()].filter((v) => v !== opts.version);
  const summary = [...versions].map(([v, n]) => (n > 0 ? `${v} on ${n} node${n === 1 ? '' : 's'}` : `${v} (DaemonSet)`)).join(', ');
  if (other.length === 0) return { name: CHECK_NAMES.skew, ok: true, detail: `radar ${summary}; kx ${opts.version}` };
  return { name: CHECK_NAMES.skew, ok: false, detail: `radar ${summary}; kx ${opts.version}`,
    hint: `run kx init to install radar ${opts.version}` };
}

/**
 * Which runtime radar uses on each node, as radar annotated its own pod: it looked among the known node layouts
 * (or at the socket kx init was given) and says which answered, or every path it tried.
 */
export async function checkRuntime(opts: DoctorOptions): Promise<DoctorCheck> {
  const name = CHECK_NAMES.runtime;
  const pods = await radarPods(opts);
  if (pods.length === 0) return { name, ok: true, verified: false, detail: 'no radar pod to ask (see the checks above)' };
  const byWhat = new Map<string, string[]>();
  const none: string[] = [];
  const silent: string[] = [];
  for (const p of pods) {
    const said = p.pod.metadata?.annotations?.[RUNTIME_ANNOTATION];
    if (said === undefined) silent.push(p.node);
    else if (said.startsWith('none')) none.push(`radar on node "${p.node}": ${said.replace(/^none: /, '')}`);
    else byWhat.set(said, [...(byWhat.get(said) ?? []), p.node]);
  }
  const found = [...byWhat].map(([what, nodes]) => `${what} on ${nodes.length === 1 ? `node "${nodes[0]}"` : `${nodes.length} nodes`}`);
  const quiet = silent.length ? [`not reported yet by radar on ${silent.map((n) => `"${n}"`).join(', ')} (starting, or older than kx ${opts.version})`] : [];
  if (none.length > 0) {
    return { name, ok: false, detail: [...none, ...found, ...quiet].join('; '),
      hint: 'name the socket on your nodes: kx init --containerd-socket PATH (or --docker-socket PATH)' };
  }
  if (found.length === 0) return { name, ok: true, verified: false, detail: quiet.join('; ') };
  return { name, ok: true, detail: [...found, ...quiet].join('; ') };
}

/** radar's live pods with their node and readiness; [] when they may not be listed. */
async function radarPods(opts: DoctorOptions): Promise<Array<{ pod: V1Pod; node: string; ready: boolean }>> {
  const ns = opts.radarNamespace ?? 'kx-system';
  try {
    const selector = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await opts.kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns, labelSelector: selector });
    return pods.items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((pod) => ({ pod, node: pod.spec?.nodeName ?? '?', ready: pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' }))
      .sort((a, b) => a.node.localeCompare(b.node));
  } catch {
    return [];
  }
}

async function readRadar(opts: DoctorOptions): Promise<V1DaemonSet | undefined | Error> {
  const ns = opts.radarNamespace ?? 'kx-system';
  try {
    return await opts.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ name: RADAR_NAME, namespace: ns });
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    return apiError(err, `read DaemonSet ${RADAR_NAME} in namespace "${ns}"`, contextOf(opts));
  }
}

/** Not being allowed to create the token Secret is fine when it already exists. */
async function deniedCheck(opts: DoctorOptions, name: string, detail: string, hint: string): Promise<DoctorCheck> {
  if (name === CHECK_NAMES.createToken && (await tokenExists(opts)) === true) {
    return { name, ok: true, detail: `${detail}, but Secret ${TOKEN_SECRET_NAME} already exists` };
  }
  return { name, ok: false, detail, hint };
}

async function tokenExists(opts: DoctorOptions): Promise<boolean | undefined> {
  try {
    await opts.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace: opts.namespace });
    return true;
  } catch (err) {
    return httpStatusOf(err) === 404 ? false : undefined;
  }
}

async function probeRbac(opts: DoctorOptions, asks: Array<{ name: string; what: string; hint: string }>): Promise<DoctorCheck[]> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const ns = opts.namespace;
  const noSsar = 'the API server has no SelfSubjectAccessReview';
  const probe = async (name: string, what: string, hint: string, fn: () => Promise<unknown>): Promise<DoctorCheck> => {
    try {
      await fn();
      return { name, ok: true, detail: `you may ${what} (probed: ${noSsar})` };
    } catch (err) {
      const status = httpStatusOf(err);
      // Authorization comes before lookup, so a 404 means the request was allowed.
      if (status === 404) return { name, ok: true, detail: `you may ${what} (probed: ${noSsar})` };
      if (status === 403) return { name, ok: false, detail: `you may not ${what}: ${apiMessageOf(err)}`, hint };
      return { name, ok: false, detail: apiError(err, what, contextOf(opts)).message, hint };
    }
  };
  const out: DoctorCheck[] = [];
  for (const a of asks) {
    if (a.name === CHECK_NAMES.listPods) out.push(await probe(a.name, a.what, a.hint, () => core.listNamespacedPod({ namespace: ns, limit: 1 })));
    else if (a.name === CHECK_NAMES.findRadar) {
      const radarNs = opts.radarNamespace ?? 'kx-system';
      out.push(await probe(a.name, a.what, a.hint, async () => {
        await core.listNamespacedPod({ namespace: radarNs, limit: 1 });
        await opts.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDaemonSet({ name: RADAR_NAME, namespace: radarNs });
      }));
    } else if (a.name === CHECK_NAMES.readToken) {
      out.push(await probe(a.name, a.what, a.hint, () => core.readNamespacedSecret({ name: TOKEN_SECRET_NAME, namespace: ns })));
    } else {
      out.push({ name: a.name, ok: true, verified: false, detail: `not verified: ${noSsar}, and probing whether you may ${a.what} would change the cluster` });
    }
  }
  return out;
}

function contextOf(opts: DoctorOptions): string {
  return opts.context ?? opts.kubeConfig.getCurrentContext();
}
