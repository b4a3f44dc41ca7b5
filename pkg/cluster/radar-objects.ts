// The Kubernetes objects that run radar, as a pure function of a few values. `kx init` applies them and the Helm
// chart in charts/kx is generated from this same function, so there is one source of truth for both.
import { posix } from 'node:path';
import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1DaemonSet,
  V1Namespace,
  V1ResourceRequirements,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';
import { AUTO_SOCKET, KNOWN_SOCKETS, RADAR_COMMAND, type SocketRuntime } from '../../proto/radar-pod.ts';
import { RADAR_NAME, RADAR_PORT_NAME, RADAR_SELECTOR } from '../kube/radar-names.ts';

export interface RadarSockets {
  /** Docker engine socket on the node; 'auto': radar looks for it (see KNOWN_SOCKETS); '': not used. */
  docker: string;
  /** containerd socket on the node (k3s: /run/k3s/containerd/containerd.sock); 'auto' or '' as for docker. */
  containerd: string;
  /** containerd namespace that holds Kubernetes containers. */
  containerdNamespace: string;
}

/** Who may use radar without cluster-wide rights: bound to a Role in radar's namespace (see GRANT_RULES). */
export interface RadarGrants {
  groups: string[];
  users: string[];
}

export interface RadarValues {
  namespace: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** kx version radar runs; labels every object so `kx doctor` can report skew. */
  version: string;
  /** Port radar's gRPC server listens on inside its pod (reached only through a port-forward). */
  port: number;
  sockets: RadarSockets;
  tolerations: V1Toleration[];
  resources: V1ResourceRequirements;
  grants: RadarGrants;
}

export interface RadarObjects {
  namespace: V1Namespace;
  serviceAccount: V1ServiceAccount;
  clusterRole: V1ClusterRole;
  clusterRoleBinding: V1ClusterRoleBinding;
  /** radar may annotate the pods of its own namespace (its own: which runtime it uses, for kx doctor). */
  role: V1Role;
  roleBinding: V1RoleBinding;
  /** Only with grants: what a developer needs in radar's namespace to use kx. */
  grantRole?: V1Role;
  grantRoleBinding?: V1RoleBinding;
  daemonSet: V1DaemonSet;
}

/** A condition on the values or on the server the objects go to. */
export type Cond =
  | { kubeAtLeast: string }
  | { kubeBelow: string }
  | { socketAuto: string }
  | { socketGiven: string };

/**
 * How values become objects. kx init evaluates (renderOps); the chart generator (pkg/cluster/chart.ts) turns each
 * of these into a template expression instead, so both come from this one file.
 */
export interface ValueOps {
  dir(path: string): string;
  /** `keys` when `cond` holds, else nothing (spread into an object). */
  ifKeys<T extends object>(cond: Cond, keys: T): Partial<T>;
  /** `items` when `cond` holds, else none (spread into a list). */
  ifItems<T>(cond: Cond, items: T[]): T[];
  /** Whether any grant is given (the grant Role and RoleBinding exist only then). */
  hasGrants(g: RadarGrants): boolean;
  subjects(g: RadarGrants): RbacV1Subject[];
}

/** Where the node's directories appear in radar's pod (its --host-root). */
export const HOST_ROOT = '/host';
/** The first Kubernetes release with securityContext.appArmorProfile; older ones take the annotation. */
export const APPARMOR_FIELD_SINCE = '1.30';

/** Evaluating ops for a server of `kubeVersion` ("v1.24.3", "1.31"); unknown: the form every release accepts. */
export function renderOps(kubeVersion?: string): ValueOps {
  const server = kubeVersion === undefined ? undefined : parseKubeVersion(kubeVersion);
  const holds = (c: Cond): boolean => {
    if ('kubeAtLeast' in c) return server !== undefined && compareVersion(server, parseKubeVersion(c.kubeAtLeast)) >= 0;
    if ('kubeBelow' in c) return server === undefined || compareVersion(server, parseKubeVersion(c.kubeBelow)) < 0;
    if ('socketAuto' in c) return c.socketAuto === AUTO_SOCKET;
    return c.socketGiven !== AUTO_SOCKET && c.socketGiven !== '';
  };
  return {
    dir: (path) => posix.dirname(path),
    ifKeys: (c, keys) => (holds(c) ? keys : {}),
    ifItems: (c, items) => (holds(c) ? items : []),
    hasGrants: (g) => g.groups.length + g.users.length > 0,
    subjects: (g) => [
      ...g.groups.map((name) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name })),
      ...g.users.map((name) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name })),
    ],
  };
}

/** "v1.24.3-eks-1", "1.31", "1.24+" → [1, 24]. Throws on anything else. */
export function parseKubeVersion(v: string): [number, number] {
  const m = /^v?(\d+)\.(\d+)/.exec(v.trim());
  if (!m) throw new Error(`not a Kubernetes version: ${JSON.stringify(v)} (expected e.g. 1.30 or v1.30.2)`);
  return [Number(m[1]), Number(m[2])];
}

function compareVersion(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/**
 * What a developer who owns only their own namespace needs in radar's namespace to use kx: find the radar pod on
 * a node (list/watch pods), port-forward to it, and let kx doctor read the DaemonSet's rollout and radar's pods.
 * Their own namespace needs the usual `edit` (pods, the kx-token Secret).
 */
export const GRANT_RULES = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  // Kubernetes authorizes the port-forward upgrade as get (up to 1.34) and also as create (1.35+).
  { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
  { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
];

export const VERSION_LABEL = 'app.kubernetes.io/version';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kx';

/** Why radar's pod has the powers it has; printed above the DaemonSet in `kx init -o yaml` and the chart. */
export const PRIVILEGE_NOTE = `radar runs as root with hostPID, but is not privileged and gets no host network or hostPort.
hostPID: a container's files are reached through /proc/<pid>/root of its init process, which honours the
  container's mount namespace (volumes, emptyDir, bind mounts).
Capabilities: SYS_PTRACE to open /proc/<pid>/root of other containers; DAC_OVERRIDE and DAC_READ_SEARCH to write
  files owned by the container's users; CHOWN and FOWNER to give written files their expected owner, mode and
  mtime; KILL for the signal reload mode. uid 0 because the runtime sockets (mounted read-only) are root-owned.
radar listens on 127.0.0.1 in its own pod: the only way in is a port-forward through the API server, and clients
  must present the kx-token of the target pod's namespace.`;

export function defaultValues(version: string): RadarValues {
  return {
    namespace: 'kx-system',
    image: `kx-radar:${version}`,
    imagePullPolicy: 'IfNotPresent',
    version,
    port: 7077,
    // radar finds the runtime among the known node layouts; a path here names the socket on the node instead.
    sockets: {
      docker: AUTO_SOCKET,
      containerd: AUTO_SOCKET,
      containerdNamespace: 'k8s.io',
    },
    // One radar per node means every node, whatever its taints (control plane, NoExecute, dedicated pools).
    tolerations: [{ operator: 'Exists' }],
    resources: {
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    },
    grants: { groups: [], users: [] },
  };
}

export type RadarOverrides = {
  [K in keyof RadarValues]?: RadarValues[K] extends unknown[] ? RadarValues[K] : RadarValues[K] extends object ? Partial<RadarValues[K]> | { [k: string]: unknown } : RadarValues[K];
};

/** Defaults overlaid with `overrides` the way Helm merges values: maps deeply, lists and scalars replaced. */
export function resolveValues(version: string, overrides: RadarOverrides = {}): RadarValues {
  return deepMerge(defaultValues(version), overrides) as RadarValues;
}

function deepMerge(base: object, over: object): object {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? deepMerge(b, v) : v;
  }
  return out;
}

const isMap = (x: unknown): x is object => !!x && typeof x === 'object' && !Array.isArray(x);

export function radarObjects(v: RadarValues, ops: ValueOps = renderOps()): RadarObjects {
  const labels = { ...RADAR_SELECTOR, [VERSION_LABEL]: v.version, [MANAGED_BY_LABEL]: MANAGED_BY };
  const meta = (name: string, namespaced: boolean) => ({
    name,
    ...(namespaced ? { namespace: v.namespace } : {}),
    labels: { ...labels },
  });
  // The socket's directory is mounted, not the socket itself: a hostPath of a missing socket would either stop the
  // pod on nodes without that runtime (type Socket) or make the kubelet create a directory in its place. Each goes
  // to its node path under HOST_ROOT, never over a directory of radar's image or one the kubelet mounts into.
  const hostDir = (name: string, dir: string) => ({
    volume: { name, hostPath: { path: dir, type: 'DirectoryOrCreate' } } satisfies V1Volume,
    mount: { name, mountPath: `${HOST_ROOT}${dir}`, readOnly: true } satisfies V1VolumeMount,
  });
  const socketDirs = <K extends 'volume' | 'mount'>(pick: K): Array<ReturnType<typeof hostDir>[K]> =>
    (['containerd', 'docker'] as const satisfies SocketRuntime[]).flatMap((runtime) => {
      const setting = v.sockets[runtime];
      const known = KNOWN_SOCKETS.filter((k) => k.runtime === runtime).map((k) => posix.dirname(k.path));
      return [
        ...ops.ifItems({ socketAuto: setting }, known.map((dir) => hostDir(hostDirName(dir), dir)[pick])),
        ...ops.ifItems({ socketGiven: setting }, [hostDir(`${runtime}-socket-dir`, ops.dir(setting))[pick]]),
      ];
    });
  const clusterName = `${RADAR_NAME}-${v.namespace}`;
  const grantName = `${RADAR_NAME}-user`;
  // Before 1.30 the API server does not know securityContext.appArmorProfile (and drops or refuses it).
  const appArmorSince = { kubeAtLeast: APPARMOR_FIELD_SINCE };
  const appArmorBefore = { kubeBelow: APPARMOR_FIELD_SINCE };

  return {
    namespace: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: v.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    },
    serviceAccount: {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(RADAR_NAME, true),
    },
    clusterRole: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(clusterName, false),
      // radar checks a client's token against the kx-token Secret of the target pod's namespace. It needs to read
      // exactly those Secrets, in any namespace, and nothing else.
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [TOKEN_SECRET_NAME], verbs: ['get'] }],
    },
    clusterRoleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(clusterName, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterName },
      subjects: [{ kind: 'ServiceAccount', name: RADAR_NAME, namespace: v.namespace }],
    },
    role: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(RADAR_NAME, true),
      // Pod names are generated, so the right cannot name radar's own pods; it stays within radar's namespace.
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }],
    },
    roleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(RADAR_NAME, true),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: RADAR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: RADAR_NAME, namespace: v.namespace }],
    },
    ...(ops.hasGrants(v.grants)
      ? {
          grantRole: {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: meta(grantName, true),
            rules: GRANT_RULES.map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
          },
          grantRoleBinding: {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: meta(grantName, true),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: grantName },
            subjects: ops.subjects(v.grants),
          },
        }
      : {}),
    daemonSet: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta(RADAR_NAME, true),
      spec: {
        selector: { matchLabels: { ...RADAR_SELECTOR } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: {
            labels: { ...labels },
            // The runtime's default AppArmor profile allows ptrace only towards containers that run under the same
            // profile; pods with their own profile would be out of reach. The field form is below, from 1.30.
            ...ops.ifKeys(appArmorBefore, { annotations: { 'container.apparmor.security.beta.kubernetes.io/radar': 'unconfined' } }),
          },
          spec: {
            serviceAccountName: RADAR_NAME,
            // hostPID: radar reaches a container's files through /proc/<pid>/root of its init process, which is
            // the only path that honours the container's mount namespace (volumes, emptyDir, bind mounts).
            hostPID: true,
            // radar's writes are atomic (temp file + rename), so stopping needs only to end open streams; a long
            // grace would only slow every upgrade by that much per node.
            terminationGracePeriodSeconds: 5,
            // No hostNetwork and no hostPort: the only way in is a port-forward through the API server, which
            // authenticates and authorizes the user (pods/portforward in this namespace).
            tolerations: v.tolerations,
            containers: [
              {
                name: 'radar',
                image: v.image,
                imagePullPolicy: v.imagePullPolicy,
                command: [...RADAR_COMMAND],
                // Loopback only: a port-forward connects to 127.0.0.1 inside the pod, and nothing else can, not
                // even other pods through the pod IP. That is why the probes below exec instead of tcpSocket/grpc
                // (the kubelet probes the pod IP).
                args: ['--listen', `127.0.0.1:${v.port}`],
                env: [
                  { name: 'KX_DOCKER_SOCKET', value: v.sockets.docker },
                  { name: 'KX_CONTAINERD_SOCKET', value: v.sockets.containerd },
                  { name: 'KX_CONTAINERD_NAMESPACE', value: v.sockets.containerdNamespace },
                  { name: 'KX_HOST_ROOT', value: HOST_ROOT },
                  { name: 'KX_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'KX_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'KX_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                ],
                // When radar exits with an error (say, no runtime found), its last log lines become the container's
                // termination message, which kx shows where it finds radar not ready.
                terminationMessagePolicy: 'FallbackToLogsOnError',
                ports: [{ name: RADAR_PORT_NAME, containerPort: v.port, protocol: 'TCP' }],
                // Every second, from the start: a replaced radar pod is Ready about as soon as it listens, not a
                // probe period later. Three misses in a row before it counts as not ready.
                readinessProbe: { exec: { command: probe(v.port) }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 3 },
                livenessProbe: { exec: { command: probe(v.port) }, initialDelaySeconds: 10, periodSeconds: 30, timeoutSeconds: 5 },
                resources: v.resources,
                // Not privileged. radar runs as root with only the capabilities its job needs:
                //  SYS_PTRACE      open /proc/<pid>/root of processes of other containers (ptrace access check);
                //  DAC_OVERRIDE,   write into directories and files owned by the container's users;
                //  DAC_READ_SEARCH
                //  CHOWN, FOWNER   give written files the owner and mode the container expects, set mtimes;
                //  KILL            signal a container's main process (reload mode signal:<NAME>).
                // The runtime sockets are root-owned (0660), which is the other reason for uid 0.
                securityContext: {
                  runAsUser: 0,
                  runAsNonRoot: false,
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: {
                    drop: ['ALL'],
                    add: ['SYS_PTRACE', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'CHOWN', 'FOWNER', 'KILL'],
                  },
                  ...ops.ifKeys(appArmorSince, { appArmorProfile: { type: 'Unconfined' } }),
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                // The image carries these mount points (radar/image/rootfs.sh) for every known node layout, so they
                // need no directory created in the read-only root.
                volumeMounts: [...socketDirs('mount'), { name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [...socketDirs('volume'), { name: 'tmp', emptyDir: {} }],
          },
        },
      },
    },
  };
}

/** Health probe: radar accepts TCP connections on its loopback port (the image has node and no shell). */
function probe(port: number): string[] {
  return ['node', '-e', `require('node:net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`];
}

/** 'host-run-k3s-containerd' for /run/k3s/containerd. */
function hostDirName(dir: string): string {
  return `host${dir.replace(/[^a-z0-9]+/g, '-')}`.replace(/-+$/, '');
}

export type RadarObject = V1Namespace | V1ServiceAccount | V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding | V1DaemonSet;

/** The objects in the order they must be applied (deleted in reverse). */
export function objectList(o: RadarObjects): RadarObject[] {
  return OBJECT_ORDER.flatMap((k) => (o[k] ? [o[k]] : []));
}

export const OBJECT_ORDER = [
  'namespace', 'serviceAccount', 'clusterRole', 'clusterRoleBinding', 'role', 'roleBinding', 'grantRole', 'grantRoleBinding', 'daemonSet',
] as const satisfies ReadonlyArray<keyof RadarObjects>;
