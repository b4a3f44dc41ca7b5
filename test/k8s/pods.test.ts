// Pods backed by real Docker containers, observed through client-node: start-up sequence, placement on
// simulated nodes, container restart and crash loop, graceful deletion, cleanup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster } from './fake-cluster.ts';
import { SLEEP_POD, collectWatch } from './helpers.ts';

const NS = 'pods';
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let cluster: FakeCluster;
let kc: KubeConfig;
let api: CoreV1Api;

const exists = (id: string) => docker.getContainer(id).inspect().then(() => true, () => false);

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: [NS], restartBackoffMs: 100 });
  kc = cluster.kubeConfig();
  api = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => { await cluster?.close(); });

describe('pod start-up', () => {
  it('goes Pending → scheduled → ContainerCreating → Running with the docker:// ID of a running container', async () => {
    const from = (await api.listNamespacedPod({ namespace: NS, labelSelector: 'app=start' })).metadata!.resourceVersion;
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=start', resourceVersion: from, timeoutSeconds: 60 });
    const created = await api.createNamespacedPod({ namespace: NS, body: SLEEP_POD('start-1', { app: 'start' }) });
    expect(created.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
    await w.until((e) => e.object.status?.phase === 'Running');
    w.abort();
    const steps = w.events.map((e) => [e.type, e.object.status.phase, e.object.spec.nodeName ?? '-',
      Object.keys(e.object.status.containerStatuses?.[0]?.state ?? {})[0] ?? '-']);
    expect(steps).toEqual([
      ['ADDED', 'Pending', '-', '-'],
      ['MODIFIED', 'Pending', steps[1][2], '-'],
      ['MODIFIED', 'Pending', steps[1][2], 'waiting'],
      ['MODIFIED', 'Running', steps[1][2], 'running'],
    ]);
    const running = w.events.at(-1)!.object;
    const cs = running.status.containerStatuses[0];
    expect(cs).toMatchObject({ name: 'api', ready: true, started: true, restartCount: 0, lastState: {}, image: 'docker.io/library/kx-test-busybox:1' });
    expect(cs.containerID).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
    const info = await docker.getContainer(cs.containerID.slice('docker://'.length)).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Name).toMatch(/^\/kx-test-/);
    expect(info.Config.Labels).toMatchObject({
      'io.kubernetes.pod.name': 'start-1', 'io.kubernetes.pod.namespace': NS, 'io.kubernetes.pod.uid': created.metadata!.uid,
      'io.kubernetes.container.name': 'api', 'kx-test.node': running.spec.nodeName,
    });
    expect(running.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`))
      .toEqual(['Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True']);
  });

  it('places pods on the simulated nodes round robin, and honours a pinned node', async () => {
    cluster.createPod(NS, SLEEP_POD('rr-1', { app: 'rr' }));
    cluster.createPod(NS, SLEEP_POD('rr-2', { app: 'rr' }));
    const pinned = SLEEP_POD('rr-pinned', { app: 'rr' });
    cluster.createPod(NS, { ...pinned, spec: { ...pinned.spec, nodeSelector: { 'kubernetes.io/hostname': 'node-b' } } });
    const a = await cluster.waitForRunning(NS, 'rr-1');
    const b = await cluster.waitForRunning(NS, 'rr-2');
    const c = await cluster.waitForRunning(NS, 'rr-pinned');
    const nodeOf = (p: Record<string, any>) => p.spec.nodeName;
    expect(new Set([nodeOf(a), nodeOf(b)])).toEqual(new Set(['node-a', 'node-b']));
    expect(nodeOf(c)).toBe('node-b');
    const list = await api.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.nodeName=node-b', labelSelector: 'app=rr' });
    expect(list.items.map((p) => p.metadata!.name).sort()).toEqual([nodeOf(a) === 'node-b' ? 'rr-1' : 'rr-2', 'rr-pinned'].sort());
  });

  it('runs each container of a two-container pod in its own Docker container', async () => {
    cluster.createPod(NS, { metadata: { name: 'duo', labels: { app: 'duo' } }, spec: { terminationGracePeriodSeconds: 1, containers: [
      { name: 'main', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] },
      { name: 'side', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] },
    ] } });
    const p = await cluster.waitForRunning(NS, 'duo');
    const ids = p.status!.containerStatuses.map((c: { containerID: string }) => c.containerID);
    expect(p.status!.containerStatuses.map((c: { name: string }) => c.name)).toEqual(['main', 'side']);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect((await docker.getContainer(id.slice(9)).inspect()).State.Running).toBe(true);
  });
});

describe('container restarts', () => {
  it('replaces a killed container in place: terminated, then a new Docker ID with restartCount 1', async () => {
    cluster.createPod(NS, SLEEP_POD('restart-1', { app: 'restart' }));
    await cluster.waitForRunning(NS, 'restart-1');
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { fieldSelector: 'metadata.name=restart-1', resourceVersion: cluster.resourceVersion(), timeoutSeconds: 60 });
    const { oldId, newId } = await cluster.restartContainer(NS, 'restart-1');
    await w.until((e) => e.object.status.containerStatuses[0].containerID === `docker://${newId}`);
    w.abort();
    expect(newId).not.toBe(oldId);
    const [dead, back] = w.events.map((e) => e.object.status.containerStatuses[0]);
    expect(dead).toMatchObject({ ready: false, started: false, restartCount: 0, containerID: `docker://${oldId}`,
      state: { terminated: { exitCode: 137, reason: 'Error', containerID: `docker://${oldId}` } } });
    expect(back).toMatchObject({ ready: true, started: true, restartCount: 1, containerID: `docker://${newId}`,
      lastState: { terminated: { exitCode: 137, reason: 'Error', containerID: `docker://${oldId}` } } });
    expect(w.events.map((e) => e.object.status.phase)).toEqual(['Running', 'Running']);
    expect(await exists(oldId)).toBe(false);
    expect((await docker.getContainer(newId).inspect()).State.Running).toBe(true);
  });

  it('backs off a crash-looping container (CrashLoopBackOff) and recovers when it stops crashing', async () => {
    cluster.createPod(NS, SLEEP_POD('crash-1', { app: 'crash' }));
    await cluster.waitForRunning(NS, 'crash-1');
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { fieldSelector: 'metadata.name=crash-1', resourceVersion: cluster.resourceVersion(), timeoutSeconds: 60 });
    await cluster.crashContainer(NS, 'crash-1', { times: 3 });
    const healthy = await w.until((e) => e.object.status.containerStatuses[0].restartCount === 3 && e.object.status.containerStatuses[0].ready === true);
    w.abort();
    const waits = w.events.map((e) => e.object.status.containerStatuses[0].state.waiting?.reason).filter(Boolean);
    expect(waits).toContain('CrashLoopBackOff');
    expect(healthy.object.status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
  });
});

describe('pod deletion', () => {
  it('is graceful: 200 with deletionTimestamp, then terminated, grace 0, DELETED; the container is removed', async () => {
    cluster.createPod(NS, SLEEP_POD('del-1', { app: 'del' }));
    const running = await cluster.waitForRunning(NS, 'del-1');
    const id = running.status!.containerStatuses[0].containerID.slice(9);
    const w = await collectWatch(kc, `/api/v1/namespaces/${NS}/pods`, { labelSelector: 'app=del', resourceVersion: cluster.resourceVersion(), timeoutSeconds: 60 });
    const answer = await api.deleteNamespacedPod({ namespace: NS, name: 'del-1' });
    expect(answer.metadata!.deletionGracePeriodSeconds).toBe(1);
    expect(answer.metadata!.deletionTimestamp).toBeInstanceOf(Date);
    expect(answer.status!.phase).toBe('Running');
    await w.until((e) => e.type === 'DELETED');
    w.abort();
    const steps = w.events.map((e) => [e.type, e.object.metadata.deletionGracePeriodSeconds,
      Object.keys(e.object.status.containerStatuses[0].state)[0]]);
    expect(steps).toEqual([['MODIFIED', 1, 'running'], ['MODIFIED', 1, 'terminated'], ['MODIFIED', 0, 'terminated'], ['DELETED', 0, 'terminated']]);
    // The last MODIFIED moves deletionTimestamp back to the time of the request (README §2 c).
    const first = Date.parse(w.events[0].object.metadata.deletionTimestamp);
    const final = Date.parse(w.events[2].object.metadata.deletionTimestamp);
    expect(first - final).toBeGreaterThanOrEqual(0);
    expect(w.events.every((e) => e.object.status.phase === 'Running')).toBe(true);
    expect(await exists(id)).toBe(false);
    await expect(api.readNamespacedPod({ namespace: NS, name: 'del-1' })).rejects.toMatchObject({ code: 404 });
  });
});

describe('close()', () => {
  it('removes every container the cluster made and is idempotent', async () => {
    const c = await startFakeApiServer({ nodes: ['n'], namespaces: ['x'] });
    c.createPod('x', SLEEP_POD('gone', { app: 'gone' }));
    const p = await c.waitForRunning('x', 'gone');
    const uid = p.metadata!.uid as string;
    await Promise.all([c.close(), c.close()]);
    const left = await docker.listContainers({ all: true, filters: { label: [`io.kubernetes.pod.uid=${uid}`] } });
    expect(left).toEqual([]);
  });
});
