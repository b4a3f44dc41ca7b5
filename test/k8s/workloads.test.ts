// What the test cluster does for workloads, as a real one does, read through client-node: a Deployment's
// ReplicaSets are served (pods → ReplicaSet → Deployment by ownerReferences), a template change rolls the pods
// onto a new ReplicaSet, a bare ReplicaSet keeps its pods, init containers run to completion before the
// containers (a failing one crash-loops with the pod Pending), and a PersistentVolumeClaim outlives its pods.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeCluster, type Json, type KubeObject } from './fake-cluster.ts';
import { eventually } from './helpers.ts';

const run = promisify(execFile);
const NS = 'workloads';
const IMAGE = 'kx-test-busybox:1';
let cluster: FakeCluster;
let apps: AppsV1Api;
let core: CoreV1Api;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: [NS], restartBackoffMs: 100 });
  apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
});
afterAll(async () => {
  await cluster?.close();
});

const deployment = (name: string, spec: Json): Json => ({
  metadata: { name },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 0, ...spec } } },
});
const sleeper = (extra: Json = {}): Json => ({ name: 'app', image: IMAGE, command: ['/bin/busybox', 'sleep', '3600'], ...extra });
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const running = (p: KubeObject) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c: KubeObject) => c.ready === true) && !p.metadata.deletionTimestamp;

async function logsOf(pod: string): Promise<string> {
  const id = cluster.containerId(NS, pod);
  return id ? run('docker', ['logs', id]).then((r) => r.stdout + r.stderr) : '';
}

describe('test cluster: workloads', { timeout: 180_000 }, () => {
  it('serves the ReplicaSet a Deployment owns, and its pods are owned by it', async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('web', { containers: [sleeper()] }) });
    const pod = await eventually(() => cluster.listPods(NS, 'app=web').find(running), 60_000, 'a running web pod');
    const owner = pod.metadata.ownerReferences[0];
    expect(owner).toMatchObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', controller: true });
    const rs = await apps.readNamespacedReplicaSet({ namespace: NS, name: owner.name as string });
    expect(rs.metadata?.uid).toBe(owner.uid);
    const dep = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
    expect(rs.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web', uid: dep.metadata?.uid, controller: true });
    expect(rs.metadata?.labels?.['pod-template-hash']).toBe(pod.metadata.labels['pod-template-hash']);
    expect(rs.spec?.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': pod.metadata.labels['pod-template-hash'] });
    const list = await apps.listNamespacedReplicaSet({ namespace: NS });
    expect(list.items.map((r) => r.metadata?.name)).toContain(owner.name);
  });

  it('rolls the pods when the template changes: new ReplicaSet, new pods, the old ones deleted; changing it back reuses the old ReplicaSet', async () => {
    const before = cluster.listPods(NS, 'app=web').find(running)!;
    const oldRs = before.metadata.ownerReferences[0].name as string;
    await apps.patchNamespacedDeployment({ namespace: NS, name: 'web', body: [
      { op: 'add', path: '/spec/template/spec/containers/0/env', value: [{ name: 'V', value: '2' }] },
    ] }, jsonPatch);
    const after = await eventually(() => {
      const pods = cluster.listPods(NS, 'app=web');
      return pods.length === 1 && running(pods[0]) && pods[0].metadata.name !== before.metadata.name ? pods[0] : undefined;
    }, 60_000, 'the pod replaced by the rollout');
    const newRs = after.metadata.ownerReferences[0].name as string;
    expect(newRs).not.toBe(oldRs);
    expect(after.spec.containers[0].env).toEqual([{ name: 'V', value: '2' }]);
    expect((await apps.readNamespacedReplicaSet({ namespace: NS, name: oldRs })).spec?.replicas).toBe(0);

    await apps.patchNamespacedDeployment({ namespace: NS, name: 'web', body: [{ op: 'remove', path: '/spec/template/spec/containers/0/env' }] }, jsonPatch);
    const back = await eventually(() => cluster.listPods(NS, 'app=web').find((p) => running(p) && p.metadata.ownerReferences[0].name === oldRs), 60_000, 'a pod of the old ReplicaSet again');
    expect(back.spec.containers[0].env).toBeUndefined();
  });

  it('a bare ReplicaSet keeps its pods and does not roll them when its template changes', async () => {
    await apps.createNamespacedReplicaSet({ namespace: NS, body: {
      metadata: { name: 'bare' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'bare' } }, template: { metadata: { labels: { app: 'bare' } }, spec: { terminationGracePeriodSeconds: 0, containers: [sleeper()] } } },
    } as never });
    const pod = await eventually(() => cluster.listPods(NS, 'app=bare').find(running), 60_000, 'the bare ReplicaSet\'s pod');
    expect(pod.metadata.ownerReferences[0]).toMatchObject({ kind: 'ReplicaSet', name: 'bare' });
    await apps.patchNamespacedReplicaSet({ namespace: NS, name: 'bare', body: [{ op: 'add', path: '/spec/template/spec/containers/0/env', value: [{ name: 'V', value: '2' }] }] }, jsonPatch);
    await eventually(async () => (await apps.readNamespacedReplicaSet({ namespace: NS, name: 'bare' })).status?.observedGeneration === 2, 30_000, 'the controller to see the change');
    expect(cluster.listPods(NS, 'app=bare').map((p) => p.metadata.name)).toEqual([pod.metadata.name]);
    await cluster.deletePod(NS, pod.metadata.name as string, 0);
    const next = await eventually(() => cluster.listPods(NS, 'app=bare').find(running), 60_000, 'the replacement pod');
    // Only a pod made after the change has it; the one running at the change was left alone until deleted.
    expect(next.spec.containers[0].env).toEqual([{ name: 'V', value: '2' }]);
  });

  it('a StatefulSet makes NAME-0, NAME-1 in order with their claims, and rolls them from the highest ordinal on a template change', async () => {
    await apps.createNamespacedStatefulSet({ namespace: NS, body: {
      metadata: { name: 'db' },
      spec: { replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { terminationGracePeriodSeconds: 0, containers: [sleeper({ volumeMounts: [{ name: 'data', mountPath: '/data' }] })] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] },
    } as never });
    const pods = await eventually(() => {
      const list = cluster.listPods(NS, 'app=db');
      return list.length === 2 && list.every(running) ? list : undefined;
    }, 60_000, 'db-0 and db-1 running');
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['db-0', 'db-1']);
    expect(pods[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'StatefulSet', name: 'db', controller: true });
    expect(pods.find((p) => p.metadata.name === 'db-1')!.spec.volumes[0]).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'data-db-1' } });
    expect((await core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data-db-0' })).status?.phase).toBe('Bound');
    const oldRevision = pods[0].metadata.labels['controller-revision-hash'];

    const uids = new Map(pods.map((p) => [p.metadata.name as string, p.metadata.uid as string]));
    const deleted: string[] = [];
    const seen = setInterval(() => {
      for (const [name, uid] of uids) if (cluster.getPod(NS, name)?.metadata.uid !== uid && !deleted.includes(name)) deleted.push(name);
    }, 20);
    try {
      await apps.patchNamespacedStatefulSet({ namespace: NS, name: 'db', body: [{ op: 'add', path: '/spec/template/spec/containers/0/env', value: [{ name: 'V', value: '2' }] }] }, jsonPatch);
      await eventually(() => {
        const list = cluster.listPods(NS, 'app=db');
        return list.length === 2 && list.every((p) => running(p) && p.metadata.labels['controller-revision-hash'] !== oldRevision);
      }, 90_000, 'both pods on the new revision');
    } finally {
      clearInterval(seen);
    }
    expect(deleted).toEqual(['db-1', 'db-0']);
    const sts = await apps.readNamespacedStatefulSet({ namespace: NS, name: 'db' });
    expect(sts.status).toMatchObject({ replicas: 2, readyReplicas: 2, updatedReplicas: 2 });
    expect(sts.status?.updateRevision).not.toBe(oldRevision);
  });

  it('runs init containers to completion, in order, before the containers; they share the pod\'s volumes', async () => {
    cluster.createPod(NS, { metadata: { name: 'init-ok' }, spec: {
      terminationGracePeriodSeconds: 0,
      volumes: [{ name: 'v', emptyDir: {} }],
      initContainers: [
        { name: 'one', image: IMAGE, command: ['/bin/busybox', 'sh', '-c', 'echo first > /v/log'], volumeMounts: [{ name: 'v', mountPath: '/v' }] },
        { name: 'two', image: IMAGE, command: ['/bin/busybox', 'sh', '-c', 'echo second >> /v/log'], volumeMounts: [{ name: 'v', mountPath: '/v' }] },
      ],
      containers: [sleeper({ command: ['/bin/busybox', 'sh', '-c', 'cat /v/log; exec sleep 3600'], volumeMounts: [{ name: 'v', mountPath: '/v' }] })],
    } });
    const p = await cluster.waitForRunning(NS, 'init-ok', 60_000);
    // Running is the container started: what its first command prints reaches the log a moment later.
    await eventually(async () => (await logsOf('init-ok')) === 'first\nsecond\n', 10_000, 'the container printing what both init containers wrote');
    expect(await logsOf('init-ok')).toBe('first\nsecond\n');
    expect(p.status.initContainerStatuses.map((s: KubeObject) => [s.name, s.state.terminated?.reason, s.state.terminated?.exitCode, s.ready]))
      .toEqual([['one', 'Completed', 0, true], ['two', 'Completed', 0, true]]);
    expect(p.status.conditions.find((c: KubeObject) => c.type === 'Initialized').status).toBe('True');
    // As read through the API: defaults filled into init containers, the token volume mounted in them too.
    const read = await core.readNamespacedPod({ namespace: NS, name: 'init-ok' });
    expect(read.spec?.initContainers?.[0]).toMatchObject({ terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'IfNotPresent' });
    expect(read.spec?.initContainers?.[0].volumeMounts?.map((m) => m.mountPath)).toContain('/var/run/secrets/kubernetes.io/serviceaccount');
  });

  it('a failing init container crash-loops (Init:CrashLoopBackOff) and the containers never start; one whose command is not in the image fails to start (StartError, exit 128)', async () => {
    cluster.createPod(NS, { metadata: { name: 'init-fails' }, spec: {
      terminationGracePeriodSeconds: 0,
      initContainers: [{ name: 'seed', image: IMAGE, command: ['/bin/busybox', 'sh', '-c', 'echo no; exit 3'] }],
      containers: [sleeper()],
    } });
    const failed = await cluster.waitForPod(NS, 'init-fails', (x) => (x?.status?.initContainerStatuses?.[0]?.restartCount ?? 0) >= 1
      && x?.status?.initContainerStatuses?.[0]?.lastState?.terminated !== undefined, 60_000);
    const s = failed!.status.initContainerStatuses[0];
    expect(s.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(failed!.status.phase).toBe('Pending');
    expect(failed!.status.containerStatuses[0].state.waiting.reason).toBe('PodInitializing');
    expect(failed!.status.conditions.find((c: KubeObject) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
    expect(cluster.containerId(NS, 'init-fails')).toBeUndefined();

    cluster.createPod(NS, { metadata: { name: 'init-noexec' }, spec: {
      terminationGracePeriodSeconds: 0,
      initContainers: [{ name: 'seed', image: IMAGE, command: ['no-such-binary', '-a'] }],
      containers: [sleeper()],
    } });
    const noexec = await cluster.waitForPod(NS, 'init-noexec', (x) => x?.status?.initContainerStatuses?.[0]?.lastState?.terminated !== undefined, 60_000);
    expect(noexec!.status.initContainerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 128, reason: 'StartError' });
    expect(noexec!.status.initContainerStatuses[0].lastState.terminated.message).toMatch(/no-such-binary/);
    expect(noexec!.status.initContainerStatuses[0].state.waiting.reason).toBe('CrashLoopBackOff');
    await cluster.deletePod(NS, 'init-noexec', 0);
    await cluster.deletePod(NS, 'init-fails', 0);
  });

  it('a PersistentVolumeClaim is bound on first use and its files outlive the pod', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
    expect((await core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data' })).status?.phase).toBe('Pending');
    const pvcPod = (name: string, script: string): Json => ({ metadata: { name }, spec: {
      terminationGracePeriodSeconds: 0, volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }],
      containers: [sleeper({ command: ['/bin/busybox', 'sh', '-c', `${script}; exec sleep 3600`], volumeMounts: [{ name: 'd', mountPath: '/data' }] })],
    } });
    cluster.createPod(NS, pvcPod('writer', 'echo kept > /data/f && echo written'));
    await cluster.waitForRunning(NS, 'writer', 60_000);
    // Running means started, not that the script got to its write: delete the writer only after it says so.
    expect(await eventually(async () => (await logsOf('writer')) || undefined, 10_000, 'the writer\'s output')).toBe('written\n');
    const bound = await core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data' });
    expect(bound.status?.phase).toBe('Bound');
    expect(bound.spec?.volumeName).toMatch(/^pvc-/);
    await cluster.deletePod(NS, 'writer', 0);
    cluster.createPod(NS, pvcPod('reader', 'cat /data/f'));
    await cluster.waitForRunning(NS, 'reader', 60_000);
    expect(await eventually(async () => (await logsOf('reader')) || undefined, 10_000, 'the reader\'s output')).toBe('kept\n');

    cluster.createPod(NS, { metadata: { name: 'no-claim' }, spec: { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'nope' } }], containers: [sleeper({ volumeMounts: [{ name: 'd', mountPath: '/d' }] })] } });
    await eventually(() => cluster.podEvents(NS, 'no-claim').find((e) => /persistentvolumeclaim "nope" not found/.test(String(e.message))), 30_000, 'the FailedMount event');
  });
});
