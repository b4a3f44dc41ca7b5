// One source of truth: charts/kx is generated from radarObjects(), and the real Helm (from the npm layer.zip, see
// kube-tools.ts) lints it and renders it to exactly the objects `kx init` applies — for default and non-default
// values, for a 1.24 server and a current one.
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { chartFiles, packageVersion } from '../../pkg/cluster/chart.ts';
import { objectList, radarObjects, renderOps, resolveValues, type RadarOverrides } from '../../pkg/cluster/radar-objects.ts';
import { startFakeApiServer } from '../k8s/fake-cluster.ts';
import { unpackKubeTools, type KubeTools } from './kube-tools.ts';

const chartDir = resolve(import.meta.dirname, '../../charts/kx');
const KX = resolve(import.meta.dirname, '../../cmd/kx.ts');
const run = promisify(execFile);
let tools: KubeTools;

beforeAll(async () => {
  tools = await unpackKubeTools();
}, 60_000);
afterAll(async () => {
  await tools?.close();
});

/** Non-default values: every value changed, explicit sockets (k3s containerd, no Docker), grants. */
const custom: RadarOverrides = {
  namespace: 'dev-tools',
  image: 'registry.example/kx-radar:9.9.9',
  imagePullPolicy: 'Always',
  port: 9001,
  sockets: { docker: '', containerd: '/run/k3s/containerd/containerd.sock', containerdNamespace: 'k8s.io' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'dev', effect: 'NoSchedule' }],
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
  grants: { groups: ['developers', 'oncall'], users: ['jane@example.com'] },
};

function parseStream(text: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length) throw new Error(doc.errors[0].message);
    const js = doc.toJS() as unknown;
    return js === null ? [] : [js];
  });
}

async function helmTemplate(kubeVersion: string, overrides: RadarOverrides = {}): Promise<unknown[]> {
  const valuesFile = join(tools.dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(valuesFile, stringify(overrides));
  const r = await tools.helm(['template', 'kx', chartDir, '--kube-version', kubeVersion, '-f', valuesFile]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseStream(r.stdout);
}

const key = (o: unknown) => {
  const x = o as { kind: string; metadata: { name: string } };
  return `${x.kind}/${x.metadata.name}`;
};
const sorted = (objs: readonly unknown[]) => [...objs].sort((a, b) => key(a).localeCompare(key(b)));

describe('charts/kx', () => {
  it('is exactly what `npm run chart` generates from radar-objects.ts', async () => {
    const expected = chartFiles(await packageVersion());
    const onDisk = new Map<string, string>();
    for (const name of ['Chart.yaml', 'values.yaml', ...(await readdir(join(chartDir, 'templates'))).map((n) => `templates/${n}`)]) {
      onDisk.set(name, await readFile(join(chartDir, name), 'utf8'));
    }
    expect(Object.fromEntries(onDisk)).toEqual(Object.fromEntries(expected));
  });

  it('passes helm lint --strict with its default values and with non-default ones', async () => {
    const plain = await tools.helm(['lint', '--strict', chartDir]);
    expect(plain.stdout + plain.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(plain.code).toBe(0);
    const valuesFile = join(tools.dir, 'custom-values.yaml');
    await writeFile(valuesFile, stringify(custom));
    const set = await tools.helm(['lint', '--strict', chartDir, '-f', valuesFile, '--kube-version', '1.24.0']);
    expect(set.stdout + set.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(set.code).toBe(0);
  });

  for (const kube of ['1.24.0', '1.35.0']) {
    it(`renders with helm template for Kubernetes ${kube} to the objects kx init applies there, default values`, async () => {
      const version = await packageVersion();
      expect(sorted(await helmTemplate(kube))).toEqual(sorted(objectList(radarObjects(resolveValues(version), renderOps(kube)))));
    });

    it(`renders with helm template for Kubernetes ${kube} like kx init, non-default values (sockets, grants, image, namespace…)`, async () => {
      const version = await packageVersion();
      expect(sorted(await helmTemplate(kube, custom))).toEqual(sorted(objectList(radarObjects(resolveValues(version, custom), renderOps(kube)))));
    });
  }

  it("refuses servers older than 1.24 (the chart's kubeVersion)", async () => {
    const r = await tools.helm(['template', 'kx', chartDir, '--kube-version', '1.23.0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('kubeVersion');
  });

  it("is taken by the real kubectl: `kubectl create --dry-run=client` maps every object of kx init's output to a resource, unchanged", async () => {
    // kubectl maps kinds to resources with the server's discovery: the test API server on loopback gives it.
    const cluster = await startFakeApiServer({ nodes: [] });
    try {
      const kubeconfig = join(tools.dir, 'kubeconfig');
      await writeFile(kubeconfig, cluster.kubeconfigYaml());
      const { stdout: manifest } = await run(process.execPath, [KX, 'init', '--dry-run', '-o', 'yaml', '--kube-version', '1.24.0', '--grant-group', 'developers']);
      const file = join(tools.dir, 'kx-init.yaml');
      await writeFile(file, manifest);
      const r = await tools.kubectl(['create', '--dry-run=client', '--validate=false', '-o', 'yaml', '-f', file], { KUBECONFIG: kubeconfig });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(sorted(parseStream(r.stdout))).toEqual(sorted(parseStream(manifest)));
    } finally {
      await cluster.close();
    }
  });

  it('matches what `kx init --dry-run -o yaml` prints for the same settings given as flags', async () => {
    const { stdout } = await run(process.execPath, [KX, 'init', '--dry-run', '-o', 'yaml', '--kube-version', '1.24.0',
      '--namespace', 'dev-tools', '--image', 'registry.example/kx-radar:9.9.9',
      '--containerd-socket', '/run/k3s/containerd/containerd.sock', '--docker-socket', '/var/lib/docker.sock',
      '--grant-group', 'developers', '--grant-group', 'oncall', '--grant-user', 'jane@example.com'], { env: { ...process.env, NO_COLOR: '1' } });
    const helm = await helmTemplate('1.24.0', {
      namespace: 'dev-tools', image: 'registry.example/kx-radar:9.9.9',
      sockets: { containerd: '/run/k3s/containerd/containerd.sock', docker: '/var/lib/docker.sock' },
      grants: { groups: ['developers', 'oncall'], users: ['jane@example.com'] },
    });
    expect(sorted(parseStream(stdout))).toEqual(sorted(helm));
  });
});
