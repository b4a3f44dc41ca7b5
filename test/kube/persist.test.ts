// Persisted paths against the test API server through the real client-node, pods run as real containers: the
// Deployment found from its pods through the ReplicaSet, the volume seeded from the image (or empty when the
// image has no cp), the record on the workload, undo that removes exactly kx's entries while keeping other
// edits (also when they land between kx's read and its patch), idempotence, a changed path, and the workloads
// kx cannot patch (bare pod, an operator's, RBAC, a Deployment's pod named by the spec) reported in one line.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { kubePersistence } from '../../pkg/kube/persist/clusters.ts';
import type { PersistReport } from '../../pkg/kube/persist/persistence.ts';
import { PERSIST_ANNOTATION } from '../../pkg/kube/persist/record.ts';
import { WorkloadApi } from '../../pkg/kube/persist/workloads.ts';
import type { Workloads } from '../../pkg/kube/persist/workloads.ts';
import { startFakeApiServer, type FakeCluster, type Json, type KubeObject } from '../k8s/fake-cluster.ts';
import { eventually, rawRequest } from '../k8s/helpers.ts';
import { buildAppImages, type AppImages } from './persist-images.ts';

const run = promisify(execFile);
const NS = 'persist';
let cluster: FakeCluster;
let images: AppImages;
let apps: AppsV1Api;

beforeAll(async () => {
  images = await buildAppImages();
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: [NS], restartBackoffMs: 100 });
  apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
}, 120_000);
afterAll(async () => {
  await cluster?.close();
  await images?.remove();
});

const spec = (name: string, extra: Partial<SpecConfig> = {}): SpecConfig => ({
  name, selector: `app=${name}`, local: '/tmp', remote: '/app', reload: 'restart', ignore: [], target: 'kubernetes', namespace: NS, persist: true, ...extra,
});
const deployment = (name: string, image: string, extra: Json = {}): Json => ({
  metadata: { name, labels: { app: name } },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: {
    terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, command: ['/bin/busybox', 'sleep', '3600'] }], ...extra,
  } } },
});

function persistence(token?: string) {
  const kc = cluster.kubeConfig(token ? { token } : {});
  const lines: string[] = [];
  const p = kubePersistence({
    kubeconfig: () => ({ kc, context: 'fake', namespace: NS, source: 'test' }),
    log: (level, line) => lines.push(`${level}: ${line}`),
    pollMs: 100,
    seedTimeoutMs: 60_000,
  });
  return { p, lines };
}

/** Apply and wait until the seed's outcome is known; the reports in order. */
async function applyAndSettle(p: ReturnType<typeof persistence>['p'], s: SpecConfig): Promise<PersistReport[]> {
  const reports: PersistReport[] = [];
  const { settled } = await p.apply(s, (r) => reports.push(r), new AbortController().signal);
  await settled;
  return reports;
}

/** The Deployment exactly as the API server sends it. */
async function rawDeployment(name: string): Promise<KubeObject> {
  const r = await rawRequest(cluster.server, 'GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`, cluster.adminToken);
  return JSON.parse(r.body) as KubeObject;
}

const running = (p: KubeObject) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.containerStatuses ?? []).every((c: KubeObject) => c.ready === true);
const onePodWith = (app: string, pred: (p: KubeObject) => boolean) => eventually(() => {
  const pods = cluster.listPods(NS, `app=${app}`);
  return pods.length === 1 && running(pods[0]) && pred(pods[0]) ? pods[0] : undefined;
}, 60_000, `one running ${app} pod as expected`);
const mountsApp = (p: KubeObject) => (p.spec.containers[0].volumeMounts ?? []).some((m: KubeObject) => m.mountPath === '/app');

async function ls(pod: KubeObject, dir: string): Promise<string> {
  const id = cluster.containerId(NS, pod.metadata.name as string)!;
  return (await run('docker', ['exec', id, '/bin/busybox', 'ls', '-a', dir])).stdout.split('\n').filter((x) => x && x !== '.' && x !== '..').join(' ');
}

async function createDeployment(name: string, image: string, extra: Json = {}): Promise<KubeObject> {
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment(name, image, extra) });
  return onePodWith(name, () => true);
}

describe('persisted paths in a workload', { timeout: 180_000 }, () => {
  it('finds the Deployment through the ReplicaSet, mounts a volume at the path and seeds it with the image\'s content', async () => {
    await createDeployment('seeded', images.withCp);
    const { p, lines } = persistence();
    const reports = await applyAndSettle(p, spec('seeded'));
    expect(reports.at(-1)).toEqual({ state: 'seeded', detail: 'seeded: deployment/seeded' });
    expect(reports.map((r) => r.state)).toContain('seeding');
    const pod = await onePodWith('seeded', mountsApp);
    expect(await ls(pod, '/app')).toBe('from-image.txt');
    expect(pod.spec.volumes.find((v: KubeObject) => v.name === 'kx-seeded')).toEqual({ name: 'kx-seeded', emptyDir: {} });
    const d = await rawDeployment('seeded');
    expect(JSON.parse(d.metadata.annotations[PERSIST_ANNOTATION] as string)).toEqual({ seeded: {
      container: 'app', mountPath: '/app', volume: 'kx-seeded', init: 'kx-seed-seeded', seeding: 'seeded', created: ['volumes', 'volumeMounts', 'initContainers'],
    } });
    expect(d.spec.template.spec.initContainers[0]).toMatchObject({ name: 'kx-seed-seeded', image: images.withCp, command: ['cp', '-a', '/app/.', '/kx-persist/'] });
    expect(lines.join('\n')).toMatch(/seeded: deployment\/seeded: the volume at \/app was seeded with the image's content/);
  });

  it('applying again changes nothing (a restarted kx watch does not patch twice)', async () => {
    const before = await rawDeployment('seeded');
    const { p } = persistence();
    const reports = await applyAndSettle(p, spec('seeded'));
    expect(reports.at(-1)?.state).toBe('seeded');
    const after = await rawDeployment('seeded');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('an image without cp: the seed fails to start, kx drops it and the volume starts empty', async () => {
    await createDeployment('nocp', images.withoutCp);
    const { p, lines } = persistence();
    const reports = await applyAndSettle(p, spec('nocp'));
    expect(reports.at(-1)).toEqual({ state: 'empty', detail: 'empty: deployment/nocp' });
    const pod = await onePodWith('nocp', (x) => mountsApp(x) && !x.spec.initContainers);
    expect(await ls(pod, '/app')).toBe('');
    const d = await rawDeployment('nocp');
    expect(d.spec.template.spec.initContainers).toBeUndefined();
    expect(JSON.parse(d.metadata.annotations[PERSIST_ANNOTATION] as string).nocp).toEqual({
      container: 'app', mountPath: '/app', volume: 'kx-nocp', seeding: 'empty', created: ['volumes', 'volumeMounts'],
    });
    expect(lines.join('\n')).toMatch(/the image cannot copy \/app \(.*cp.*\); the volume starts empty and kx's initial sync fills it/);
  });

  it('undo removes exactly what kx added: the template is as before, and edits others made meanwhile stay', async () => {
    await createDeployment('undo', images.withCp, { volumes: [{ name: 'theirs', emptyDir: {} }] });
    const before = await rawDeployment('undo');
    const { p } = persistence();
    await applyAndSettle(p, spec('undo'));
    // Someone else edits the workload after kx: a label on the Deployment, a volume appended after kx's.
    await apps.patchNamespacedDeployment({ namespace: NS, name: 'undo', body: [
      { op: 'add', path: '/metadata/labels/team', value: 'blue' },
      { op: 'add', path: '/spec/template/spec/volumes/-', value: { name: 'later', emptyDir: {} } },
    ] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    expect(await p.undo(spec('undo'))).toEqual(['deployment/undo']);
    const after = await rawDeployment('undo');
    const expected = structuredClone(before.spec.template);
    expected.spec.volumes.push({ name: 'later', emptyDir: {} });
    expect(JSON.stringify(after.spec.template)).toBe(JSON.stringify(expected));
    expect(after.metadata.labels.team).toBe('blue');
    expect(after.metadata.annotations?.[PERSIST_ANNOTATION]).toBeUndefined();
    await onePodWith('undo', (x) => !mountsApp(x));
    expect(await p.undo(spec('undo'))).toEqual([]);
  });

  it('an edit that lands between kx\'s read and its patch fails kx\'s tests (422): kx reads again, and the edit stays', async () => {
    await createDeployment('race', images.withCp, { volumes: [{ name: 'theirs', emptyDir: {} }] });
    const before = await rawDeployment('race');
    await applyAndSettle(persistence().p, spec('race'));
    // A Workloads whose first patch is preceded by someone inserting a volume in front of kx's (kx's index moves).
    const real = new WorkloadApi(cluster.kubeConfig());
    let raced = false;
    const statuses: number[] = [];
    const racing: Workloads = {
      read: (ref) => real.read(ref),
      list: (kind, ns) => real.list(kind, ns),
      pods: (ns, sel) => real.pods(ns, sel),
      patch: async (ref, ops) => {
        if (!raced) {
          raced = true;
          await real.patch(ref, [{ op: 'add', path: '/spec/template/spec/volumes/0', value: { name: 'first', emptyDir: {} } }]);
        }
        try {
          return await real.patch(ref, ops);
        } catch (err) {
          statuses.push((err as { code: number }).code);
          throw err;
        }
      },
    };
    const { KubePersistence } = await import('../../pkg/kube/persist/persistence.ts');
    const p = new KubePersistence({ cluster: () => ({ api: racing, namespace: NS }), log: () => {} });
    expect(await p.undo(spec('race'))).toEqual(['deployment/race']);
    expect(statuses).toEqual([422]);
    const after = await rawDeployment('race');
    const expected = structuredClone(before.spec.template);
    expected.spec.volumes.unshift({ name: 'first', emptyDir: {} });
    expect(JSON.stringify(after.spec.template)).toBe(JSON.stringify(expected));
  });

  it('a changed remote path undoes the old volume and persists the new path', async () => {
    const { p } = persistence();
    await applyAndSettle(p, spec('seeded', { remote: '/app/sub' }));
    const d = await rawDeployment('seeded');
    const mounts = d.spec.template.spec.containers[0].volumeMounts.filter((m: KubeObject) => m.name === 'kx-seeded');
    expect(mounts).toEqual([{ name: 'kx-seeded', mountPath: '/app/sub' }]);
    expect(Object.keys(JSON.parse(d.metadata.annotations[PERSIST_ANNOTATION] as string))).toEqual(['seeded']);
    expect(d.spec.template.spec.volumes.filter((v: KubeObject) => v.name === 'kx-seeded')).toHaveLength(1);
  });

  it('a StatefulSet and a DaemonSet are patched directly (their pods\' owners)', async () => {
    const template = (app: string) => ({ metadata: { labels: { app } }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: images.withCp, command: ['/bin/busybox', 'sleep', '3600'] }] } });
    await apps.createNamespacedStatefulSet({ namespace: NS, body: { metadata: { name: 'sts' }, spec: { replicas: 1, serviceName: 'sts', selector: { matchLabels: { app: 'sts' } }, template: template('sts') } } });
    await apps.createNamespacedDaemonSet({ namespace: NS, body: { metadata: { name: 'ds' }, spec: { selector: { matchLabels: { app: 'ds' } }, template: template('ds') } } });
    await onePodWith('sts', () => true);
    await onePodWith('ds', () => true);
    const { p } = persistence();
    expect((await applyAndSettle(p, spec('sts'))).at(-1)).toEqual({ state: 'seeded', detail: 'seeded: statefulset/sts' });
    expect((await applyAndSettle(p, spec('ds'))).at(-1)).toEqual({ state: 'seeded', detail: 'seeded: daemonset/ds' });
    for (const app of ['sts', 'ds']) expect(await ls(await onePodWith(app, mountsApp), '/app')).toBe('from-image.txt');
    expect(await p.undo(spec('sts'))).toEqual(['statefulset/sts']);
    expect(await p.undo(spec('ds'))).toEqual(['daemonset/ds']);
    await onePodWith('sts', (x) => !mountsApp(x));
  });

  it('persistClaim mounts the claim instead of an emptyDir', async () => {
    await cluster.kubeConfig().makeApiClient((await import('@kubernetes/client-node')).CoreV1Api).createNamespacedPersistentVolumeClaim({
      namespace: NS, body: { metadata: { name: 'code' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
    await createDeployment('claimed', images.withCp);
    const reports = await applyAndSettle(persistence().p, spec('claimed', { persistClaim: 'code' }));
    expect(reports.at(-1)?.state).toBe('seeded');
    const pod = await onePodWith('claimed', mountsApp);
    expect(pod.spec.volumes.find((v: KubeObject) => v.name === 'kx-claimed')).toEqual({ name: 'kx-claimed', persistentVolumeClaim: { claimName: 'code' } });
    expect(await ls(pod, '/app')).toBe('from-image.txt');
    // The claim outlives the pod: a file only the claim has is still there in the next pod, beside the re-seeded image files.
    const id = cluster.containerId(NS, pod.metadata.name as string)!;
    await run('docker', ['exec', id, '/bin/busybox', 'sh', '-c', 'echo kept > /app/only-on-claim.txt']);
    await cluster.deletePod(NS, pod.metadata.name as string, 0);
    const next = await onePodWith('claimed', (x) => x.metadata.name !== pod.metadata.name);
    expect(await ls(next, '/app')).toBe('from-image.txt only-on-claim.txt');
  });

  it('a bare pod, a pod an operator manages, a Deployment\'s pod named by the spec, and a workload RBAC forbids patching each get one line, and no patch', async () => {
    cluster.createPod(NS, { metadata: { name: 'bare', labels: { app: 'bare' } }, spec: { containers: [{ name: 'app', image: images.withCp, command: ['/bin/busybox', 'sleep', '3600'] }] } });
    const { p, lines } = persistence();
    const bare = await applyAndSettle(p, spec('bare'));
    expect(bare.at(-1)).toEqual({ state: 'off', detail: 'pod bare has no owner (a bare pod): its containers cannot get a volume without deleting it; give it a Deployment, or add the volume yourself' });
    expect(lines.filter((l) => l.startsWith('warn'))).toEqual([`warn: bare: not persisted: ${bare.at(-1)!.detail}; syncing without it`]);

    cluster.createPod(NS, { metadata: { name: 'op', labels: { app: 'op' }, ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'op', uid: '0b5c3c0e-0000-4000-8000-000000000001', controller: true }] },
      spec: { containers: [{ name: 'app', image: images.withCp, command: ['/bin/busybox', 'sleep', '3600'] }] } });
    const op = await applyAndSettle(p, spec('op'));
    expect(op.at(-1)?.state).toBe('off');
    expect(op.at(-1)?.detail).toBe('pod op is managed by Rollout/op (argoproj.io/v1alpha1), which would undo a change kx made to it; persist the path in that resource instead');

    // A spec naming a Deployment's pod: the rollout would replace it by a pod of another name.
    await createDeployment('named', images.withCp);
    const podName = cluster.listPods(NS, 'app=named')[0].metadata.name as string;
    const named = await applyAndSettle(p, spec('named', { selector: undefined, pod: podName }));
    expect(named.at(-1)).toEqual({ state: 'off', detail: `pod ${podName} belongs to deployment/named, whose rollout replaces it by a pod of another name: select the pods with a label selector to persist` });

    await createDeployment('forbidden', images.withCp);
    const before = await rawDeployment('forbidden');
    cluster.addUser('reader', { name: 'reader', rules: [{ verbs: ['get', 'list', 'watch'], resources: ['pods', 'replicasets', 'deployments', 'statefulsets', 'daemonsets'] }] });
    const ro = persistence('reader');
    const denied = await applyAndSettle(ro.p, spec('forbidden'));
    expect(denied.at(-1)?.state).toBe('off');
    expect(denied.at(-1)?.detail).toMatch(/^cannot patch deployment\/forbidden: RBAC forbids it \(deployments.apps "forbidden" is forbidden: User "reader" cannot patch resource "deployments" in API group "apps" in the namespace "persist"\)$/);
    expect(ro.lines.filter((l) => l.startsWith('warn'))).toHaveLength(1);
    expect((await rawDeployment('forbidden')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});
