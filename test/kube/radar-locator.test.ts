// What kx says about radar on a node: not installed (run kx init), restarting while the DaemonSet replaces its pod,
// or not ready with the kubelet's reason — against the test API server and its kubelet.
import { AppsV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { RADAR_NAME } from '../../pkg/kube/radar-names.ts';
import { RadarLocator } from '../../pkg/kube/radar-locator.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { startFakeApiServer, type FakeCluster, type KubeObject } from '../k8s/fake-cluster.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: ['kx-gone', 'kx-restart', 'kx-broken'] });
});
afterAll(async () => {
  await cluster?.close();
});

const locate = (namespace: string) =>
  new RadarLocator({ kc: cluster.kubeConfig(), context: 'fake', namespace }).locate('node-a').then(() => undefined, (e: unknown) => e as KxError);

/** radar's DaemonSet as kx init applies it, with `change` applied to its pod template spec. */
async function applyDaemonSet(namespace: string, image: string, change: (spec: KubeObject) => void = () => {}): Promise<void> {
  const ds = radarObjects({ ...defaultValues('0.1.0'), namespace, image }).daemonSet;
  change(ds.spec!.template.spec as KubeObject);
  await cluster.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDaemonSet({ namespace, body: ds });
}

describe('locating radar on a node', () => {
  it('says radar is not installed, with the hint to run kx init, when there is no DaemonSet', async () => {
    const err = await locate('kx-gone');
    expect(err).toBeInstanceOf(KxError);
    expect(err!.code).toBe(ErrorCode.NotFound);
    expect(err!.message).toBe('radar is not installed in namespace "kx-gone" of context "fake": run kx init');
  });

  it('says radar is restarting, not that it is missing, while the DaemonSet replaces its pod on the node', async () => {
    // An image the engine lacks runs as an idle stand-in whose main process ignores SIGTERM: the pod terminates
    // for its whole grace period.
    await applyDaemonSet('kx-restart', 'kx-test-radar-absent:1', (spec) => { spec.terminationGracePeriodSeconds = 2; });
    const pod = await waitForRadarPod('kx-restart', (p) => p.status?.phase === 'Running');
    const deleted = cluster.deletePod('kx-restart', pod.metadata.name as string);
    try {
      await waitForRadarPod('kx-restart', (p) => !!p.metadata.deletionTimestamp);
      const err = await locate('kx-restart');
      expect(err!.code).toBe(ErrorCode.Unavailable);
      expect(err!.message).toBe(`radar is restarting on node "node-a": pod "${pod.metadata.name as string}" is terminating and the ${RADAR_NAME} DaemonSet in namespace "kx-restart" replaces it`);
      expect(err!.message).not.toMatch(/kx init/);
    } finally {
      await deleted;
    }
  });

  it("says why radar's pod is not ready, in the kubelet's words", async () => {
    // The mount kx init used to apply: the node's /var/run read-only over /var/run.
    await applyDaemonSet('kx-broken', 'kx-test-busybox:1', (spec) => {
      spec.containers[0].command = ['/bin/busybox', 'sleep', '3600'];
      spec.containers[0].args = [];
      spec.volumes = [{ name: 'run', hostPath: { path: '/var/run', type: 'DirectoryOrCreate' } }];
      spec.containers[0].volumeMounts = [{ name: 'run', mountPath: '/var/run', readOnly: true }];
    });
    await waitForRadarPod('kx-broken', (p) => !!p.status?.containerStatuses?.[0]?.state?.waiting?.message);
    const err = await locate('kx-broken');
    expect(err!.code).toBe(ErrorCode.Unavailable);
    expect(err!.message).toMatch(/^radar pod "kx-radar-\w+" on node "node-a" is not ready yet \(phase Pending\): RunContainerError \(.*mkdir \S*\/var\/run\/secrets: read-only file system/);
  });
});

async function waitForRadarPod(namespace: string, ok: (p: KubeObject) => boolean): Promise<KubeObject> {
  let found: KubeObject | undefined;
  await expect.poll(() => (found = cluster.listPods(namespace).find(ok)), { timeout: 30_000 }).toBeDefined();
  return found!;
}
