// `kx watch` as a real process on a Kubernetes spec: the test API server (pods = Docker containers) with a real
// radar per node on this host. Proves the composition root's wiring: the global --context, the token Secret made on
// first use, and tunnel drops and resumes reported in the log and in `kx get`.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleeperPod, startKubeHarness, type KubeHarness } from '../kube/harness.ts';
import { exitOf, kx, kxSpawn, randomPort, removeDir, tempDir, waitFor } from '../local/helpers.ts';

const run = promisify(execFile);
const NS = 'dev';
let h: KubeHarness;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  h = await startKubeHarness({ nodes: ['node-a'], namespaces: [NS] });
  await h.addRadar('node-a');
  home = await tempDir('cli-kube');
  // The current context of the first file is a dead cluster: only --context fake leads to the test API server.
  await writeFile(join(home, 'dead.yaml'), [
    'apiVersion: v1', 'kind: Config', 'clusters:', '- name: dead', '  cluster:', '    server: http://127.0.0.1:1', '    insecure-skip-tls-verify: true',
    'users:', '- name: dead-user', '  user:', '    token: nope', 'contexts:', '- name: dead', '  context:', '    cluster: dead', '    user: dead-user',
    'current-context: dead', '',
  ].join('\n'));
  await writeFile(join(home, 'fake.yaml'), h.cluster.kubeconfigYaml({ namespace: NS }));
  await writeFile(join(home, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
  env = { KX_HOME: home, KUBECONFIG: `${join(home, 'dead.yaml')}:${join(home, 'fake.yaml')}` };
});
afterAll(async () => {
  await h?.close();
  if (home) await removeDir(home);
});

async function readInPod(pod: string, path: string): Promise<string | null> {
  const id = h.cluster.containerId(NS, pod);
  if (!id) return null;
  return run('docker', ['exec', id, 'cat', path]).then((r) => r.stdout, () => null);
}

describe('kx watch on a Kubernetes spec', () => {
  it('uses --context, creates the token Secret on first use, and reports a tunnel drop and its resume', async () => {
    h.cluster.createPod(NS, sleeperPod('api-1', { app: 'api' }, ['app'], 'node-a'));
    await h.cluster.waitForRunning(NS, 'api-1');
    const src = join(home, 'src');
    await mkdir(src);
    await writeFile(join(src, 'index.js'), 'v1\n');
    expect((await kx(['create', '-l', 'app=api', '-n', NS, '--name', 'api', src, '/app'], env)).code).toBe(0);
    expect(h.cluster.getObject('secrets', NS, 'kx-token')).toBeUndefined();
    // A file the pod made itself in the synced path: kx never wrote it, so it must survive every sync.
    await run('docker', ['exec', h.cluster.containerId(NS, 'api-1')!, 'sh', '-c', 'mkdir -p /app && echo pod > /app/made-by-pod.txt']);

    const daemon = kxSpawn(['watch', '--context', 'fake'], env);
    try {
      await waitFor('the initial sync in the pod', async () => (await readInPod('api-1', '/app/index.js')) === 'v1\n', 60_000);
      expect(h.cluster.getObject('secrets', NS, 'kx-token')).toBeDefined();
      expect(daemon.output()).toContain('created Secret kx-token in namespace "dev" (context "fake") on first use');

      // radar goes away and comes back as a new pod: the tunnel drops, finds the new pod, and traffic resumes.
      await h.removeRadar('node-a');
      await writeFile(join(src, 'index.js'), 'v2\n');
      await waitFor('the sync to fail while radar is away', () => /tunnel to node node-a: .*radar/.test(daemon.output()));
      // The link was up before, so the row says it is reconnecting (with why), not that it failed for good.
      await waitFor('kx get to show the row reconnecting', async () => /^api\s.*\sreconnecting\s/m.test((await kx(['get'], env)).stdout));
      await h.addRadar('node-a', 'kx-radar-node-a-2');
      await waitFor('the edit in the pod', async () => (await readInPod('api-1', '/app/index.js')) === 'v2\n', 60_000);
      expect(daemon.output()).toMatch(/tunnel to node node-a resumed after \d+ ms/);
      const got = await waitFor('kx get to show the reconnect', async () => {
        const out = await kx(['get'], env);
        return /^tunnel to node node-a: up, [1-9]\d* reconnects?, last resumed after \d+ ms$/m.test(out.stdout) ? out.stdout : null;
      });
      expect(got).toMatch(/^api\s.*\swatching\s+api-1\/app\s/m);
      expect(await readInPod('api-1', '/app/made-by-pod.txt')).toBe('pod\n');
      const json = JSON.parse((await kx(['get', '-o', 'json'], env)).stdout);
      expect(json.specs[0].services[0]).toMatchObject({ foreignFiles: 1, deletedFiles: 0, conflicts: 0 });
    } finally {
      daemon.kill('SIGTERM');
      expect((await exitOf(daemon)).code).toBe(0);
    }
  });
});
