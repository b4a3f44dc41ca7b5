// A cluster for pkg/kube's tests: the test API server (pods = real Docker containers) plus, per node, a radar pod
// object in kx-system whose port-forwards reach a real RadarServer running on this host — resolving containers
// through the Docker engine and checking tokens against the kx-token Secrets in the API server, as radar does.
import { CoreV1Api } from '@kubernetes/client-node';
import { RADAR_SELECTOR } from '../../pkg/kube/radar-names.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { TOKEN_SECRET_KEY, TOKEN_SECRET_NAME, newToken } from '../../proto/kx-token.ts';
import { KubeSecretTokenSource } from '../../radar/auth/kube-secret-token-source.ts';
import { NamespaceAuthorizer } from '../../radar/auth/authorize.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { DockerRuntime } from '../../pkg/runtime/docker.ts';
import { ContainerReloader } from '../../pkg/runtime/reload.ts';
import { ContainerRootResolver } from '../../pkg/runtime/resolve.ts';
import { startFakeApiServer } from '../k8s/fake-cluster.ts';
import type { FakeCluster, FakeClusterOptions, Json } from '../k8s/fake-cluster.ts';

export const RADAR_NS = 'kx-system';
const RADAR_LABELS = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');

export interface Radar {
  readonly node: string;
  readonly pod: string;
  readonly server: RadarServer;
  readonly port: number;
}

export interface KubeHarness {
  readonly cluster: FakeCluster;
  /** Creates the radar pod on `node` (Running) and starts its RadarServer. */
  addRadar(node: string, podName?: string): Promise<Radar>;
  /** Stops radar's server and deletes its pod. */
  removeRadar(node: string): Promise<void>;
  /** Creates Secret kx-token in `namespace` and returns the token. */
  createToken(namespace: string): Promise<string>;
  close(): Promise<void>;
}

export async function startKubeHarness(opts: FakeClusterOptions = {}): Promise<KubeHarness> {
  const cluster = await startFakeApiServer({ ...opts, namespaces: [RADAR_NS, ...(opts.namespaces ?? [])] });
  const api = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const docker = new DockerRuntime();
  const hasher = await createHasher();
  const radars = new Map<string, Radar>();

  const addRadar = async (node: string, podName = `kx-radar-${node}`): Promise<Radar> => {
    cluster.createPod(RADAR_NS, radarPod(podName, node));
    await cluster.waitForRunning(RADAR_NS, podName);
    const server = new RadarServer({
      listen: '127.0.0.1:0',
      hasher,
      name: `radar@${node}`,
      closeGraceMs: 200,
      resolver: new ContainerRootResolver({ runtimes: { docker }, authorizer: new NamespaceAuthorizer({ tokens: new KubeSecretTokenSource({ api, ttlMs: 0 }) }) }),
      reloader: new ContainerReloader({ runtimes: { docker }, graceSeconds: 1 }),
    });
    const { port } = await server.start();
    cluster.setNodeAgent(node, port, { labelSelector: RADAR_LABELS });
    const radar = { node, pod: podName, server, port };
    radars.set(node, radar);
    return radar;
  };

  const removeRadar = async (node: string): Promise<void> => {
    const r = radars.get(node);
    if (!r) return;
    radars.delete(node);
    await r.server.close();
    await cluster.deletePod(RADAR_NS, r.pod, 0);
  };

  let closed: Promise<void> | undefined;
  return {
    cluster,
    addRadar,
    removeRadar,
    async createToken(namespace) {
      const token = newToken(namespace);
      await api.createNamespacedSecret({ namespace, body: {
        metadata: { name: TOKEN_SECRET_NAME }, type: 'Opaque', data: { [TOKEN_SECRET_KEY]: Buffer.from(token).toString('base64') },
      } });
      return token;
    },
    close() {
      closed ??= (async () => {
        await Promise.all([...radars.values()].map((r) => r.server.close()));
        radars.clear();
        await cluster.close();
        await docker.close();
      })();
      return closed;
    },
  };
}

/** A pod running a long sleep, labelled as given. */
export function sleeperPod(name: string, labels: Record<string, string>, containers: readonly string[] = ['app'], node?: string): Json {
  return {
    metadata: { name, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      ...(node ? { nodeSelector: { 'kubernetes.io/hostname': node } } : {}),
      containers: containers.map((c) => ({ name: c, image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sh', '-c', 'mkdir -p /app && exec sleep 3600'] })),
    },
  };
}

function radarPod(name: string, node: string): Json {
  return {
    metadata: { name, labels: { ...RADAR_SELECTOR } },
    spec: {
      terminationGracePeriodSeconds: 0,
      nodeSelector: { 'kubernetes.io/hostname': node },
      containers: [{ name: 'radar', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'], ports: [{ name: 'grpc', containerPort: 7077 }] }],
    },
  };
}
