// Finding radar on a node: "not installed" only when its DaemonSet is missing; while radar restarts on the node kx
// says so, with the kubelet's reason, instead of sending the user to kx init.
import { AppsV1Api } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RADAR_NAME, RADAR_SELECTOR } from '../../pkg/kube/radar-names.ts';
import { RadarLocator, notReadyReason } from '../../pkg/kube/radar-locator.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';
import { refusal } from '../support/refusal.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: ['kx-system'] });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

describe('RadarLocator', () => {
  it('says radar is not installed, and to run kx init, when there is no DaemonSet and no radar pod', async () => {
    const err = await refusal(new RadarLocator({ kc: cluster.kubeConfig(), context: 'fake' }).locate('node-a'));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toBe('radar is not installed in namespace "kx-system" of context "fake": run kx init');
  });

  it("says radar on the node is restarting, with the kubelet's reason, while its pod crash-loops", async () => {
    // radar's DaemonSet with a test container in place of radar (the crash is what matters here).
    await cluster.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDaemonSet({ namespace: 'kx-system', body: {
      metadata: { name: RADAR_NAME },
      spec: {
        selector: { matchLabels: { ...RADAR_SELECTOR } },
        template: { metadata: { labels: { ...RADAR_SELECTOR } }, spec: { terminationGracePeriodSeconds: 0,
          containers: [{ name: 'radar', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'], ports: [{ name: 'grpc', containerPort: 7077 }] }] } },
      },
    } });
    const locator = new RadarLocator({ kc: cluster.kubeConfig(), context: 'fake' });
    await expect.poll(() => locator.locate('node-a').catch(() => undefined), { timeout: 30_000 }).toBeDefined();
    const pod = cluster.listPods('kx-system')[0];
    await cluster.crashContainer('kx-system', pod.metadata.name, { times: 5 });
    await cluster.waitForPod('kx-system', pod.metadata.name, (p) => p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');

    const err = await refusal(locator.locate('node-a'));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toMatch(/^radar pod "kx-radar-\w+" on node "node-a" is not ready yet \(phase \w+\): CrashLoopBackOff( \(.*\))?, \d+ restarts?; last exit \d+/);
    expect(err.message).not.toContain('kx init');
  });

  it('names the last line radar wrote before exiting, and a pod that is still starting', () => {
    const crashing: V1Pod = {
      metadata: { name: 'kx-radar-x1' },
      status: { phase: 'Running', containerStatuses: [{
        name: 'radar', image: 'kx-radar', imageID: '', ready: false, restartCount: 3,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { exitCode: 1, message: 'radar: no container runtime found: tried /run/containerd/containerd.sock (does not exist)\n' } },
      }] },
    };
    expect(notReadyReason(crashing)).toBe(
      'CrashLoopBackOff, 3 restarts; last exit 1: radar: no container runtime found: tried /run/containerd/containerd.sock (does not exist)');
    const starting: V1Pod = {
      metadata: { name: 'kx-radar-x2' },
      status: { phase: 'Pending', containerStatuses: [{ name: 'radar', image: 'kx-radar', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] },
    };
    expect(notReadyReason(starting)).toBe('ContainerCreating');
  });
});
