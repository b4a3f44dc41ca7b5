// Hot reload on Kubernetes with a persisted path, as a user runs it: kx init installs radar's real image, kx create
// --persist --reload restart, kx watch. The Deployment's container prints a synced file when it starts; after a
// save, the restarted container prints the new content (the path is a volume, so the restart runs the saved
// code). kx delete leaves the pod template byte-for-byte as it was while keeping another user's label;
// persist: session is undone when kx watch exits; a bare pod and a workload RBAC forbids patching each get one
// line while their sync goes on.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSIST_ANNOTATION } from '../../pkg/kube/persist/record.ts';
import { startFakeApiServer, type FakeCluster, type Json, type KubeObject } from '../k8s/fake-cluster.ts';
import { rawRequest } from '../k8s/helpers.ts';
import { buildAppImages, type AppImages } from '../kube/persist-images.ts';
import { exitOf, kx, kxSpawn, randomPort, removeDir, tempDir, waitFor } from '../local/helpers.ts';
import { radarImage } from '../setup/radar-image.ts';

const run = promisify(execFile);
const NS = 'dev';
let cluster: FakeCluster;
let images: AppImages;
let home: string;
let env: Record<string, string>;
let apps: AppsV1Api;

beforeAll(async () => {
  const image = await radarImage();
  images = await buildAppImages();
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: [NS], agentImage: image, restartBackoffMs: 100 });
  apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
  home = await tempDir('persist-e2e');
  await writeFile(join(home, 'kubeconfig'), cluster.kubeconfigYaml({ namespace: NS }));
  await writeFile(join(home, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
  env = { KX_HOME: home, KUBECONFIG: join(home, 'kubeconfig') };
  const init = await kx(['init', '--timeout', '120'], env);
  expect(init.code, init.stdout + init.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await cluster?.close();
  await images?.remove();
  if (home) await removeDir(home);
});

/** A Deployment whose container prints /app/msg.txt at start, then idles. */
function printer(name: string): Json {
  return {
    metadata: { name, labels: { app: name } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'app', image: images.withCp, command: ['/bin/busybox', 'sh', '-c', 'cat /app/msg.txt 2>&1; exec sleep 3600'] }],
    } } },
  };
}

const rawDeployment = async (name: string): Promise<KubeObject> =>
  JSON.parse((await rawRequest(cluster.server, 'GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`, cluster.adminToken)).body) as KubeObject;
const running = (p: KubeObject) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.containerStatuses ?? []).every((c: KubeObject) => c.ready === true);
const mountsApp = (p: KubeObject) => (p.spec.containers[0].volumeMounts ?? []).some((m: KubeObject) => m.mountPath === '/app');
const thePod = (app: string, pred: (p: KubeObject) => boolean) => () => {
  const pods = cluster.listPods(NS, `app=${app}`);
  return pods.length === 1 && running(pods[0]) && pred(pods[0]) ? pods[0] : undefined;
};

async function logsOf(pod: KubeObject): Promise<string> {
  const id = cluster.containerId(NS, pod.metadata.name as string);
  return id ? run('docker', ['logs', id]).then((r) => r.stdout + r.stderr, () => '') : '';
}

async function readInPod(pod: KubeObject, path: string): Promise<string | null> {
  const id = cluster.containerId(NS, pod.metadata.name as string);
  return id ? run('docker', ['exec', id, 'cat', path]).then((r) => r.stdout, () => null) : null;
}

async function getJson(): Promise<{ specs: { name: string; remote: string; persist?: { state: string; detail: string } }[] }> {
  const out = await kx(['get', '-o', 'json'], env);
  return JSON.parse(out.stdout) as never;
}

async function makeSrc(name: string, content: string): Promise<string> {
  const src = join(home, name);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'msg.txt'), content);
  return src;
}

describe('hot reload on Kubernetes with persist', { timeout: 300_000 }, () => {
  it('save → restart runs the saved file; kx delete leaves the pod template as it was and keeps another user\'s label', async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: printer('api') });
    await waitFor('the api pod', thePod('api', () => true), 60_000);
    const before = await rawDeployment('api');
    const src = await makeSrc('api-src', 'v1\n');
    const created = await kx(['create', '--persist', '--reload', 'restart', '-l', 'app=api', '-n', NS, '--name', 'api', src, '/app'], env);
    expect(created.code, created.stderr).toBe(0);

    const daemon = kxSpawn(['watch'], env);
    try {
      // The rollout replaces the pod with one whose /app is a volume seeded from the image; kx syncs into it.
      const pod = await waitFor('the persisted pod', thePod('api', mountsApp), 90_000);
      await waitFor('the initial sync', async () => (await readInPod(pod, '/app/msg.txt')) === 'v1\n', 60_000);
      expect(await readInPod(pod, '/app/from-image.txt')).toBe('image\n');
      await waitFor('kx get to say seeded', async () => (await getJson()).specs.find((s) => s.name === 'api')?.persist?.state === 'seeded', 60_000);
      const table = await kx(['get'], env);
      expect(table.stdout).toMatch(/^api\s+\S+\s+\/app \[persisted, seeded\]\s+/m);

      const firstId = cluster.containerId(NS, pod.metadata.name as string);
      await writeFile(join(src, 'msg.txt'), 'v2\n');
      // kx syncs, then restarts the container: the new container's process prints the saved file first thing.
      const restarted = await waitFor('the restarted container printing v2', async () => {
        const p = cluster.getPod(NS, pod.metadata.name as string);
        if (!p || cluster.containerId(NS, p.metadata.name as string) === firstId || !running(p)) return false;
        return (await logsOf(p)) === 'v2\n' ? p : false;
      }, 60_000);
      expect(restarted.status.containerStatuses[0].restartCount).toBeGreaterThanOrEqual(1);
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code, daemon.output()).toBe(0);
    }
    // persist: true outlives kx watch: the next kx watch finds it recorded and does not patch again.
    expect(JSON.parse((await rawDeployment('api')).metadata.annotations[PERSIST_ANNOTATION] as string)).toHaveProperty('api');

    await apps.patchNamespacedDeployment({ namespace: NS, name: 'api', body: [{ op: 'add', path: '/metadata/labels/owner', value: 'team-b' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    const deleted = await kx(['delete', 'api'], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe('api: persist undone in deployment/api (their pods roll back to the template as it was)\ndeleted api\n');
    const after = await rawDeployment('api');
    expect(JSON.stringify(after.spec.template)).toBe(JSON.stringify(before.spec.template));
    expect(after.metadata.labels).toEqual({ app: 'api', owner: 'team-b' });
    expect(after.metadata.annotations?.[PERSIST_ANNOTATION]).toBeUndefined();
    await waitFor('the pod back on the template as it was', thePod('api', (p) => !mountsApp(p)), 60_000);
  });

  it('persist: session is undone when kx watch exits (SIGTERM); kx reset undoes a persist: true spec and keeps it', async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: printer('web') });
    await waitFor('the web pod', thePod('web', () => true), 60_000);
    const before = await rawDeployment('web');
    const src = await makeSrc('web-src', 'hello\n');
    expect((await kx(['create', '--persist=session', '-l', 'app=web', '-n', NS, '--name', 'web', src, '/app'], env)).code).toBe(0);
    const daemon = kxSpawn(['watch'], env);
    try {
      const pod = await waitFor('the persisted web pod', thePod('web', mountsApp), 90_000);
      await waitFor('the initial sync', async () => (await readInPod(pod, '/app/msg.txt')) === 'hello\n', 60_000);
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code, daemon.output()).toBe(0);
    }
    expect(daemon.output()).toMatch(/web: persist \(session\) undone in deployment\/web/);
    const after = await rawDeployment('web');
    expect(JSON.stringify(after.spec.template)).toBe(JSON.stringify(before.spec.template));
    expect(after.metadata.annotations?.[PERSIST_ANNOTATION]).toBeUndefined();

    // kx reset on a persist: true spec: the workload is restored, the spec stays in kx.yaml.
    expect((await kx(['create', '--force', '--persist', '-l', 'app=web', '-n', NS, '--name', 'web', src, '/app'], env)).code).toBe(0);
    const second = kxSpawn(['watch'], env);
    try {
      await waitFor('the persisted web pod again', thePod('web', mountsApp), 90_000);
    } finally {
      second.kill('SIGTERM');
      expect((await exitOf(second)).code, second.output()).toBe(0);
    }
    const reset = await kx(['reset', 'web'], env);
    expect([reset.code, reset.stdout]).toEqual([0, 'web: persist undone in deployment/web (their pods roll back to the template as it was)\n']);
    expect(JSON.stringify((await rawDeployment('web')).spec.template)).toBe(JSON.stringify(before.spec.template));
    expect((await kx(['reset', 'web'], env)).stdout).toBe('web: nothing persisted to undo\n');
    expect((await kx(['delete', 'web'], env)).code).toBe(0);
  });

  it('a bare pod and a workload RBAC forbids patching get one line each, and their sync goes on', async () => {
    cluster.createPod(NS, { metadata: { name: 'solo', labels: { app: 'solo' } }, spec: { terminationGracePeriodSeconds: 0,
      containers: [{ name: 'app', image: images.withCp, command: ['/bin/busybox', 'sleep', '3600'] }] } });
    await apps.createNamespacedDeployment({ namespace: NS, body: printer('locked') });
    await waitFor('the pods', () => thePod('solo', () => true)() && thePod('locked', () => true)(), 60_000);
    const lockedBefore = await rawDeployment('locked');
    // A developer who may sync (pods, port-forwards, the kx-token Secret) and read workloads, but not patch them.
    cluster.addUser('dev-token', { name: 'dev', rules: [
      { verbs: ['*'], resources: ['pods', 'pods/portforward', 'secrets', 'daemonsets'] },
      { verbs: ['get', 'list', 'watch'], resources: ['deployments', 'replicasets', 'statefulsets'] },
    ] });
    const devHome = await tempDir('persist-dev');
    await writeFile(join(devHome, 'kubeconfig'), cluster.kubeconfigYaml({ namespace: NS, token: 'dev-token' }));
    await writeFile(join(devHome, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    const devEnv = { KX_HOME: devHome, KUBECONFIG: join(devHome, 'kubeconfig') };
    const solo = await makeSrc('solo-src', 'solo\n');
    const locked = await makeSrc('locked-src', 'locked\n');
    expect((await kx(['create', '--persist', '-l', 'app=solo', '--name', 'solo', solo, '/app'], devEnv)).code).toBe(0);
    expect((await kx(['create', '--persist', '-l', 'app=locked', '--name', 'locked', locked, '/app'], devEnv)).code).toBe(0);
    const daemon = kxSpawn(['watch'], devEnv);
    try {
      const soloPod = cluster.getPod(NS, 'solo')!;
      const lockedPod = thePod('locked', () => true)()!;
      await waitFor('the sync into the bare pod', async () => (await readInPod(soloPod, '/app/msg.txt')) === 'solo\n', 60_000);
      await waitFor('the sync into the locked pod', async () => (await readInPod(lockedPod, '/app/msg.txt')) === 'locked\n', 60_000);
      const warnings = daemon.output().split('\n').filter((l) => l.includes('not persisted'));
      expect(warnings).toHaveLength(2);
      expect(warnings.find((l) => l.includes('solo:'))).toMatch(/solo: not persisted: pod solo has no owner \(a bare pod\): .*; syncing without it$/);
      expect(warnings.find((l) => l.includes('locked:'))).toMatch(/locked: not persisted: cannot patch deployment\/locked: RBAC forbids it \(.*cannot patch resource "deployments".*\); syncing without it$/);
      const table = await kx(['get'], devEnv);
      expect(table.stdout).toMatch(/^solo\s+\S+\s+\/app \[not persisted\].*has no owner/m);
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code, daemon.output()).toBe(0);
      await removeDir(devHome);
    }
    expect((await rawDeployment('locked')).metadata.resourceVersion).toBe(lockedBefore.metadata.resourceVersion);
  });
});
