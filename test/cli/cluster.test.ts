// The cluster commands as a user runs them: the kx CLI as a real process, KUBECONFIG pointing at a kubeconfig file
// for the test API server (real client-node; DaemonSet pods backed by Docker containers).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';
import { kx, randomPort, removeDir, tempDir } from '../local/helpers.ts';

// An image the engine lacks: the test kubelet runs such pods as idle containers, which is all a rollout needs.
const IMAGE = 'kx-test-radar-absent:1';
let cluster: FakeCluster;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: ['dev'] });
  home = await tempDir('cli-cluster');
  await writeFile(join(home, 'kubeconfig'), cluster.kubeconfigYaml({ namespace: 'dev' }));
  await writeFile(join(home, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
  env = { KX_HOME: home, KUBECONFIG: join(home, 'kubeconfig') };
});
afterAll(async () => {
  await cluster?.close();
  if (home) await removeDir(home);
});

const secretToken = (namespace: string): string | undefined => {
  const data = cluster.getObject('secrets', namespace, 'kx-token')?.data as Record<string, string> | undefined;
  return data?.token;
};

describe('kx init', () => {
  it('with --dry-run -o yaml prints every object and applies nothing', async () => {
    const out = await kx(['init', '--dry-run', '-o', 'yaml', '--namespace', 'kx-dry', '--image', IMAGE], env);

    expect(out.code).toBe(0);
    const docs = parseAllDocuments(out.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'DaemonSet']);
    expect(docs[6].metadata.namespace).toBe('kx-dry');
    expect(cluster.getObject('namespaces', '', 'kx-dry')).toBeUndefined();
    expect(cluster.getObject('daemonsets', 'kx-dry', 'kx-radar')).toBeUndefined();
  });

  it('with --dry-run -o json prints a v1 List', async () => {
    const out = await kx(['init', '--dry-run', '-o', 'json'], env);

    expect(out.code).toBe(0);
    expect((JSON.parse(out.stdout) as { kind: string; items: unknown[] })).toMatchObject({ kind: 'List', items: expect.any(Array) });
  });

  it('applies the objects, reports the rollout while waiting, and ends when radar is ready on every node', async () => {
    const out = await kx(['init', '--namespace', 'kx-a', '--image', IMAGE], env);

    expect(out.stderr).toContain('  Kubernetes v1.24.0-alpha.1: objects made for that release');
    expect(out.stderr).toContain('  DaemonSet kx-radar: created');
    expect(out.stderr).toMatch(/rollout: ready on 2 of 2 node\(s\)/);
    expect(out.stdout).toMatch(/^radar \S+ is ready on 2 of 2 node\(s\) in namespace "kx-a"\n$/);
    expect(out.code).toBe(0);
    expect((cluster.getObject('daemonsets', 'kx-a', 'kx-radar') as { status: { numberAvailable: number } }).status.numberAvailable).toBe(2);
    expect(cluster.getObject('clusterroles', '', 'kx-radar-kx-a')).toBeDefined();
  });
});

describe('kx clean', () => {
  it('removes what kx init applied, namespace included', async () => {
    expect((await kx(['init', '--namespace', 'kx-c', '--image', IMAGE, '--timeout', '0'], env)).code).toBe(0);
    const out = await kx(['clean', '--namespace', 'kx-c'], env);

    expect(out.code).toBe(0);
    expect(out.stderr).toContain('  DaemonSet kx-radar: deleted');
    expect(cluster.getObject('daemonsets', 'kx-c', 'kx-radar')).toBeUndefined();
    expect(cluster.getObject('clusterroles', '', 'kx-radar-kx-c')).toBeUndefined();
    expect(out.stderr).toContain('  Namespace kx-c: deleted');
    const ns = cluster.getObject('namespaces', '', 'kx-c');
    expect(ns === undefined || ns.metadata.deletionTimestamp !== undefined).toBe(true);
  });
});

describe('kx token', () => {
  it('creates the namespace\'s kx-token Secret, then rotates it', async () => {
    const first = await kx(['token', '-n', 'dev'], env);
    expect(first.stdout).toBe('Secret kx-token in namespace "dev" (context "fake"): created\n');
    expect(first.code).toBe(0);
    const created = secretToken('dev');
    expect(created).toBeDefined();

    const second = await kx(['token', '-n', 'dev'], env);
    expect(second.stdout).toBe('Secret kx-token in namespace "dev" (context "fake"): token rotated (the old one no longer works)\n');
    expect(secretToken('dev')).toBeDefined();
    expect(secretToken('dev')).not.toBe(created);
  });
});

describe('kx doctor', () => {
  it('prints a table and fails naming the missing radar, with the hint to run kx init', async () => {
    const docHome = await tempDir('cli-doctor');
    try {
      await writeFile(join(docHome, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
      const docEnv = { ...env, KX_HOME: docHome };
      expect((await kx(['create', '-l', 'app=api', '-n', 'dev', '--name', 'api', docHome, '/app'], docEnv)).code).toBe(0);

      const out = await kx(['doctor', '--radar-namespace', 'kx-none'], docEnv);

      expect(out.code).not.toBe(0);
      const lines = out.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^CHECK\s+RESULT\s+DETAIL\s+HINT$/);
      expect(lines.find((l) => l.startsWith('cluster reachable'))).toMatch(/^cluster reachable\s+pass\s+context "fake"/);
      expect(lines.find((l) => l.startsWith('radar rolled out on every node'))).toMatch(/^radar rolled out on every node\s+fail\s+radar is not installed .*\s+run kx init$/);
      expect(lines.find((l) => l.startsWith('config valid'))).toMatch(/\spass\s/);
      expect(out.stderr).toMatch(/^kx doctor: \d+ check\(s\) failed: .*radar rolled out on every node/);
    } finally {
      await removeDir(docHome);
    }
  });
});

describe('an unknown --context', () => {
  for (const args of [['init'], ['clean'], ['token', '-n', 'dev'], ['watch']]) {
    it(`kx ${args[0]} says so in one line listing the contexts, and exits 1`, async () => {
      const out = await kx([...args, '--context', 'nope'], env);

      expect(out.code).toBe(1);
      expect(out.stderr).toBe(`kx: context "nope" not found in kubeconfig ${join(home, 'kubeconfig')} (available: fake)\n`);
    });
  }
});

describe('a bad flag', () => {
  const cases: Array<[string[], string]> = [
    [['init', '-o', 'xml'], 'kx: Invalid values: Argument: output, Given: "xml", Choices: "yaml", "json" (see kx --help)\n'],
    [['init', '--timeout', 'soon'], 'kx: --timeout: expected seconds (a number ≥ 0)\n'],
    [['init', '--containerd-socket', 'run/containerd.sock'], 'kx: --containerd-socket "run/containerd.sock": expected an absolute path on the nodes, or auto\n'],
    [['init', '--grant-group', ''], 'kx: --grant-group: expected a name\n'],
    [['init', '--dry-run', '--kube-version', 'latest'], 'kx: --kube-version: not a Kubernetes version: "latest" (expected e.g. 1.30 or v1.30.2)\n'],
    [['watch', '--status-port', 'x'], 'kx: --status-port: expected a port number (0-65535)\n'],
    [['token', '--nmspace', 'dev'], 'kx: Unknown argument: nmspace (see kx --help)\n'],
  ];
  for (const [args, line] of cases) {
    it(`kx ${args.join(' ')} is refused in one line naming the flag, before doing anything`, async () => {
      const out = await kx(args, env);

      expect(out.code).toBe(1);
      expect(out.stderr).toBe(line);
      expect(out.stdout).toBe('');
    });
  }
});
