// The Kubernetes objects that run radar, as a pure function of a few values. `kx init` applies them and the Helm
// chart in charts/kx is generated from this same function, so there is one source of truth for both.
import { posix } from 'node:path';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1DaemonSet,
  V1Namespace,
  V1ResourceRequirements,
  V1ServiceAccount,
  V1Toleration,
} from '@kubernetes/client-node';
import { TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';
import { RADAR_NAME, RADAR_PORT_NAME, RADAR_SELECTOR } from '../kube/radar-names.ts';

export interface RadarSockets {
  /** Docker engine socket on the node. */
  docker: string;
  /** containerd socket on the node (k3s: /run/k3s/containerd/containerd.sock). */
  containerd: string;
  /** containerd namespace that holds Kubernetes containers. */
  containerdNamespace: string;
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
}

export interface RadarObjects {
  namespace: V1Namespace;
  serviceAccount: V1ServiceAccount;
  clusterRole: V1ClusterRole;
  clusterRoleBinding: V1ClusterRoleBinding;
  daemonSet: V1DaemonSet;
}

/** Derived strings, so the chart generator can substitute template expressions (see pkg/cluster/chart.ts). */
export interface ValueOps {
  dir(path: string): string;
}

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
    sockets: {
      docker: '/var/run/docker.sock',
      containerd: '/run/containerd/containerd.sock',
      containerdNamespace: 'k8s.io',
    },
    // One radar per node means every node, whatever its taints (control plane, NoExecute, dedicated pools).
    tolerations: [{ operator: 'Exists' }],
    resources: {
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { cpu: '1', memory: '512Mi' },
    },
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

export function radarObjects(v: RadarValues, ops: ValueOps = { dir: posix.dirname }): RadarObjects {
  const labels = { ...RADAR_SELECTOR, [VERSION_LABEL]: v.version, [MANAGED_BY_LABEL]: MANAGED_BY };
  const meta = (name: string, namespaced: boolean) => ({
    name,
    ...(namespaced ? { namespace: v.namespace } : {}),
    labels: { ...labels },
  });
  // The socket's directory is mounted, not the socket itself: a hostPath of a missing socket would either stop the
  // pod on nodes without that runtime (type Socket) or make the kubelet create a directory in its place. It is
  // mounted under radar's own /host, never at its node path: a read-only mount over /var/run hides the directory
  // where the kubelet mounts the service-account token, and the container then cannot start.
  const dockerDir = ops.dir(v.sockets.docker);
  const containerdDir = ops.dir(v.sockets.containerd);
  const clusterName = `${RADAR_NAME}-${v.namespace}`;

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
    daemonSet: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta(RADAR_NAME, true),
      spec: {
        selector: { matchLabels: { ...RADAR_SELECTOR } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels: { ...labels } },
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
                command: ['node', 'radar/main.ts'],
                // Loopback only: a port-forward connects to 127.0.0.1 inside the pod, and nothing else can, not
                // even other pods through the pod IP. That is why the probes below exec instead of tcpSocket/grpc
                // (the kubelet probes the pod IP).
                args: ['--listen', `127.0.0.1:${v.port}`],
                env: [
                  { name: 'KX_DOCKER_SOCKET', value: onHost(v.sockets.docker) },
                  { name: 'KX_CONTAINERD_SOCKET', value: onHost(v.sockets.containerd) },
                  { name: 'KX_CONTAINERD_NAMESPACE', value: v.sockets.containerdNamespace },
                  { name: 'KX_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                  { name: 'KX_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ],
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
                  // The runtime's default AppArmor profile allows ptrace only towards containers that run under
                  // the same profile; pods with their own profile would be out of reach.
                  appArmorProfile: { type: 'Unconfined' },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                // The image carries these mount points (radar/image/rootfs.sh) for the default and known node
                // layouts, so they need no directory created in the read-only root.
                volumeMounts: [
                  { name: 'docker-socket-dir', mountPath: onHost(dockerDir), readOnly: true },
                  { name: 'containerd-socket-dir', mountPath: onHost(containerdDir), readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'docker-socket-dir', hostPath: { path: dockerDir, type: 'DirectoryOrCreate' } },
              { name: 'containerd-socket-dir', hostPath: { path: containerdDir, type: 'DirectoryOrCreate' } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
  };
}

/** Where radar sees a node path it mounts: under its own /host, so no node directory hides one of the image's. */
export const HOST_MOUNT_ROOT = '/host';

function onHost(nodePath: string): string {
  return `${HOST_MOUNT_ROOT}${nodePath}`;
}

/** Health probe: radar accepts TCP connections on its loopback port (the image has node and no shell). */
function probe(port: number): string[] {
  return ['node', '-e', `require('node:net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`];
}

/** The objects in the order they must be applied (deleted in reverse). */
export function objectList(o: RadarObjects): [V1Namespace, V1ServiceAccount, V1ClusterRole, V1ClusterRoleBinding, V1DaemonSet] {
  return [o.namespace, o.serviceAccount, o.clusterRole, o.clusterRoleBinding, o.daemonSet];
}
