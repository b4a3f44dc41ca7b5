// radar as `kx init` deploys it: the kx CLI applies the manifest to the test API server, whose kubelet runs the
// DaemonSet's pods from their pod spec with radar's real image (volumes, hostPID, capabilities, read-only root,
// the exec readiness probe, the service-account token against the API server over TLS). `kx watch` then syncs
// through those pods, and the manifest kx used to apply is shown failing there as it fails on a real node.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, type V1DaemonSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import { RADAR_NAME, RADAR_SELECTOR } from '../../pkg/kube/radar-names.ts';
import { startFakeApiServer, type FakeCluster, type KubeObject } from '../k8s/fake-cluster.ts';
import { sleeperPod } from '../kube/harness.ts';
import { exitOf, kx, kxSpawn, randomPort, removeDir, tempDir, waitFor } from '../local/helpers.ts';
import { radarImage } from '../setup/radar-image.ts';

const run = promisify(execFile);
const NS = 'shop';
const RADAR_NS = 'kx-system';
const SELECTOR = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
let image: string;
let cluster: FakeCluster;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  image = await radarImage();
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: [NS], agentImage: image });
  home = await tempDir('radar-pod');
  await writeFile(join(home, 'kubeconfig'), cluster.kubeconfigYaml({ namespace: NS }));
  await writeFile(join(home, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
  env = { KX_HOME: home, KUBECONFIG: join(home, 'kubeconfig') };
}, 300_000);
afterAll(async () => {
  await cluster?.close();
  if (home) await removeDir(home);
});

async function readInPod(pod: string, path: string): Promise<string | null> {
  const id = cluster.containerId(NS, pod);
  if (!id) return null;
  return run('docker', ['exec', id, 'cat', path]).then((r) => r.stdout, () => null);
}

const radarLogs = async (pod: KubeObject): Promise<string> => {
  const id = cluster.containerId(RADAR_NS, pod.metadata.name as string, 'radar');
  return id ? run('docker', ['logs', id]).then((r) => r.stdout + r.stderr, () => '') : '';
};

describe('radar as kx init deploys it', () => {
  it('kx init applies the manifest and waits until radar, run from its pod spec, is Ready on every node', async () => {
    const out = await kx(['init', '--timeout', '120'], env);
    expect(out.code, out.stdout + out.stderr).toBe(0);

    const pods = cluster.listPods(RADAR_NS, SELECTOR);
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual(['node-a', 'node-b']);
    expect(cluster.getObject('daemonsets', RADAR_NS, RADAR_NAME)?.status?.numberReady).toBe(2);
    for (const p of pods) {
      expect(p.status.containerStatuses[0]).toMatchObject({ name: 'radar', ready: true, image: `docker.io/library/${image}` });
      // radar found the node's Docker through the socket directory mounted under /host, and listens on loopback.
      const logs = await radarLogs(p);
      expect(logs).toContain('radar: using docker at /var/run/docker.sock (Docker, cri-dockerd layout), seen at /host/var/run/docker.sock');
      expect(logs).toMatch(/radar listening on 127\.0\.0\.1:7077/);
    }
  });

  it('kx watch syncs through the radar pods: an edit shows up in the containers of pods on both nodes', async () => {
    cluster.createPod(NS, sleeperPod('web-a', { app: 'web' }, ['app'], 'node-a'));
    cluster.createPod(NS, sleeperPod('web-b', { app: 'web' }, ['app'], 'node-b'));
    await Promise.all([cluster.waitForRunning(NS, 'web-a'), cluster.waitForRunning(NS, 'web-b')]);
    const src = join(home, 'src');
    await mkdir(src);
    await writeFile(join(src, 'index.js'), 'v1\n');
    expect((await kx(['create', '-l', 'app=web', '-n', NS, '--name', 'web', src, '/app'], env)).code).toBe(0);

    const daemon = kxSpawn(['watch'], env);
    try {
      for (const p of ['web-a', 'web-b']) {
        await waitFor(`the initial sync in ${p}`, async () => (await readInPod(p, '/app/index.js')) === 'v1\n', 60_000);
      }
      await writeFile(join(src, 'index.js'), 'v2\n');
      for (const p of ['web-a', 'web-b']) {
        await waitFor(`the edit in ${p}`, async () => (await readInPod(p, '/app/index.js')) === 'v2\n', 30_000);
      }

      // radar's pod on node-a is deleted: the DaemonSet starts a new one, which is Ready once radar listens, and
      // kx follows it there.
      const old = cluster.listPods(RADAR_NS, SELECTOR).find((p) => p.spec.nodeName === 'node-a')!;
      await cluster.deletePod(RADAR_NS, old.metadata.name as string);
      await writeFile(join(src, 'index.js'), 'v3\n');
      await waitFor('the edit in web-a through the new radar pod', async () => (await readInPod('web-a', '/app/index.js')) === 'v3\n', 60_000);
      const replacement = cluster.listPods(RADAR_NS, SELECTOR).find((p) => p.spec.nodeName === 'node-a')!;
      expect(replacement.metadata.name).not.toBe(old.metadata.name);
      expect(daemon.output()).toMatch(/tunnel to node node-a resumed after \d+ ms/);
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code, daemon.output()).toBe(0);
    }
  });

  it("onSync runs in the pod's container through radar's pod (no pods/exec), only when its paths change", async () => {
    // The pods web-a and web-b of the test above; a spec of its own, beside that test's, with a command for package.json.
    const src = join(home, 'src-deps');
    await mkdir(src);
    await writeFile(join(src, 'index.js'), 'v1\n');
    await writeFile(join(src, 'package.json'), '{"v":1}\n');
    await new ConfigStore(join(home, 'kx.yaml')).addSpec({
      name: 'deps', selector: 'app=web', namespace: NS, local: src, remote: '/deps', reload: 'none', ignore: [], target: 'kubernetes',
      onSync: [{ when: ['package.json'], run: ['sh', '-c', 'echo "$(cat package.json) in $(pwd)" >> /tmp/deps.log'] }],
    });
    const daemon = kxSpawn(['watch'], env);
    try {
      await waitFor('the initial sync in web-a', async () => (await readInPod('web-a', '/deps/index.js')) === 'v1\n', 60_000);
      await writeFile(join(src, 'index.js'), 'v2\n');
      await waitFor('the edit in web-a', async () => (await readInPod('web-a', '/deps/index.js')) === 'v2\n', 30_000);
      await writeFile(join(src, 'package.json'), '{"v":2}\n');
      for (const p of ['web-a', 'web-b']) {
        await waitFor(`the command in ${p}`, async () => (await readInPod(p, '/tmp/deps.log')) !== null, 30_000).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}\n--- kx watch ---\n${daemon.output().split('\n').slice(-30).join('\n')}`, { cause: err });
        });
        // One line: the index.js batch ran nothing, the package.json batch ran the command once, in the remote path.
        expect(await readInPod(p, '/tmp/deps.log')).toBe('{"v":2} in /deps\n');
      }
      expect(daemon.output()).toMatch(/\[deps\/web-a\/app onSync\] sh -c .*: done in \d+ ms/);
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code, daemon.output()).toBe(0);
    }
  });

  it('radar checks tokens with its service-account token: the token the pod was given reads kx-token Secrets only', async () => {
    const pod = cluster.listPods(RADAR_NS, SELECTOR)[0];
    const id = cluster.containerId(RADAR_NS, pod.metadata.name as string, 'radar')!;
    const token = (await run('docker', ['exec', id, 'node', '-p', "require('fs').readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8')"])).stdout.trim();
    const api = cluster.kubeConfig({ token }).makeApiClient(CoreV1Api);
    await expect(api.readNamespacedSecret({ namespace: NS, name: 'kx-token' })).resolves.toMatchObject({ metadata: { name: 'kx-token' } });
    await expect(api.listNamespacedSecret({ namespace: NS })).rejects.toMatchObject({ code: 403 });
    await expect(api.listNamespacedPod({ namespace: NS })).rejects.toMatchObject({ code: 403 });
  });

  it("the manifest's old /var/run mount fails there as on a real node: the token's mount point cannot be made", async () => {
    // What kx init applied before: the socket directory (/var/run) mounted read-only at its node path.
    const ns = 'kx-old';
    cluster.addNamespace(ns);
    const ds = radarObjects({ ...defaultValues('0.1.0'), namespace: ns, image }).daemonSet as V1DaemonSet & { spec: { template: { spec: KubeObject } } };
    const spec = ds.spec.template.spec;
    spec.volumes = [{ name: 'docker-socket-dir', hostPath: { path: '/var/run', type: 'DirectoryOrCreate' } }, { name: 'tmp', emptyDir: {} }];
    spec.containers[0].volumeMounts = [{ name: 'docker-socket-dir', mountPath: '/var/run', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }];
    await cluster.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDaemonSet({ namespace: ns, body: ds });

    const waiting = (p: KubeObject) => p.status?.containerStatuses?.[0]?.state?.waiting as { reason: string; message: string } | undefined;
    const failed = await waitFor('the radar pod to fail', () => cluster.listPods(ns, SELECTOR).find((p) => waiting(p)?.message), 60_000);
    expect(waiting(failed)!.reason).toMatch(/^(RunContainerError|CreateContainerError)$/);
    expect(waiting(failed)!.message).toMatch(/mkdir \S*\/var\/run\/secrets: read-only file system/);
    expect(cluster.podEvents(ns, failed.metadata.name as string).find((e) => e.type === 'Warning')?.message).toMatch(/read-only file system/);
    expect(cluster.getObject('daemonsets', ns, RADAR_NAME)?.status?.numberReady ?? 0).toBe(0);
  });
});
