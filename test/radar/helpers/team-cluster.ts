// What radar's node-mode tests start from: the test API server with namespaces team-a and team-b, each with its
// kx-token Secret, a running pod `web` in team-a (its /app made), and a kubeconfig file radar can be pointed at.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { TOKEN_SECRET_KEY, TOKEN_SECRET_NAME, newToken } from '../../../proto/kx-token.ts';
import { startFakeApiServer, type FakeCluster } from '../../k8s/fake-cluster.ts';

export interface TeamCluster {
  readonly cluster: FakeCluster;
  /** A temp directory of the test's own, removed by close(). */
  readonly work: string;
  readonly kubeconfig: string;
  readonly tokenA: string;
  readonly tokenB: string;
  /** docker://<64 hex> of pod web's container in namespace team-a. */
  readonly containerA: string;
  close(): Promise<void>;
}

export async function startTeamCluster(tempPrefix: string): Promise<TeamCluster> {
  const cluster = await startFakeApiServer({ namespaces: ['team-a', 'team-b'] });
  const work = await mkdtemp(join(tmpdir(), tempPrefix));
  const kubeconfig = join(work, 'kubeconfig');
  await writeFile(kubeconfig, cluster.kubeconfigYaml());
  const api = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const secret = async (namespace: string): Promise<string> => {
    const token = newToken(namespace);
    await api.createNamespacedSecret({
      namespace,
      body: { metadata: { name: TOKEN_SECRET_NAME }, type: 'Opaque', data: { [TOKEN_SECRET_KEY]: Buffer.from(token).toString('base64') } },
    });
    return token;
  };
  const [tokenA, tokenB] = await Promise.all([secret('team-a'), secret('team-b')]);
  cluster.createPod('team-a', {
    metadata: { name: 'web' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sh', '-c', 'mkdir -p /app && exec sleep 3600'] }],
    },
  });
  const pod = await cluster.waitForRunning('team-a', 'web');
  const containerA = String(pod.status.containerStatuses[0].containerID);
  return {
    cluster, work, kubeconfig, tokenA, tokenB, containerA,
    close: async () => {
      await cluster.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}
