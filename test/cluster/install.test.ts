// kx init / kx clean against the test API server: the real client-node, DaemonSet pods backed by Docker containers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clean, init, type InitProgress } from '../../pkg/cluster/install.ts';
import { resolveValues } from '../../pkg/cluster/radar-objects.ts';
import { RADAR_NAME } from '../../pkg/kube/radar-names.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';

// An image the engine does not have: the test kubelet runs such pods as an idle test container, which is all a
// rollout needs (radar's own behaviour is tested elsewhere).
const IMAGE = 'kx-test-radar-absent:1';
let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'] });
});
afterAll(async () => {
  await cluster?.close();
});

const values = (namespace: string, overrides: Parameters<typeof resolveValues>[1] = {}) =>
  resolveValues('0.1.0', { namespace, image: IMAGE, ...overrides });


describe('kx init', () => {
  it('applies the namespace, service account, RBAC and DaemonSet and waits until radar is ready on every node', async () => {
    const progress: InitProgress[] = [];
    const result = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-a'), pollMs: 100, onProgress: (p) => progress.push(p) });

    expect(result.applied.map((a) => `${a.kind}/${a.name}:${a.action}`)).toEqual([
      'Namespace/kx-a:created', 'ServiceAccount/kx-radar:created', 'ClusterRole/kx-radar-kx-a:created',
      'ClusterRoleBinding/kx-radar-kx-a:created', 'Role/kx-radar:created', 'RoleBinding/kx-radar:created', 'DaemonSet/kx-radar:created',
    ]);
    expect(result.rollout).toEqual({ done: true, desired: 2, updated: 2, available: 2, ready: 2 });
    expect(progress.filter((p) => p.phase === 'rollout').at(-1)).toEqual({ phase: 'rollout', status: result.rollout });
    expect(cluster.getObject('serviceaccounts', 'kx-a', RADAR_NAME)).toBeDefined();
    expect(cluster.getObject('clusterroles', '', 'kx-radar-kx-a')).toBeDefined();
    expect(cluster.getObject('clusterrolebindings', '', 'kx-radar-kx-a')).toBeDefined();
    const ds = cluster.getObject('daemonsets', 'kx-a', RADAR_NAME) as { status: Record<string, number> };
    expect(ds.status.numberAvailable).toBe(2);
  });

  it('replaces existing objects on a second run and waits for the new template to roll out', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-b'), pollMs: 100 });
    const result = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-b', { image: 'kx-test-radar-absent:2' }), pollMs: 100 });

    expect(result.applied.map((a) => a.action)).toEqual(['exists', 'configured', 'configured', 'configured', 'configured', 'configured', 'configured']);
    const ds = cluster.getObject('daemonsets', 'kx-b', RADAR_NAME) as { metadata: { generation: number }; status: Record<string, number> };
    expect(ds.metadata.generation).toBe(2);
    expect(ds.status.observedGeneration).toBe(2);
    expect(result.rollout).toMatchObject({ done: true, desired: 2, updated: 2, available: 2 });
  });

  it('renders for the server it talks to: the AppArmor annotation on 1.24, the securityContext field on 1.31', async () => {
    const old = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-v124'), timeoutMs: 0 });
    const oldDs = cluster.getObject('daemonsets', 'kx-v124', RADAR_NAME)!;
    expect(old.kubeVersion).toBe('v1.24.0-alpha.1');
    expect(oldDs.spec.template.metadata.annotations).toEqual({ 'container.apparmor.security.beta.kubernetes.io/radar': 'unconfined' });
    expect(oldDs.spec.template.spec.containers[0].securityContext.appArmorProfile).toBeUndefined();

    const newer = await startFakeApiServer({ nodes: ['node-a'], kubeVersion: 'v1.31.2' });
    try {
      const r = await init({ kubeConfig: newer.kubeConfig(), values: values('kx-v131'), timeoutMs: 0 });
      const ds = newer.getObject('daemonsets', 'kx-v131', RADAR_NAME)!;
      expect(r.kubeVersion).toBe('v1.31.2');
      expect(ds.spec.template.metadata.annotations).toBeUndefined();
      expect(ds.spec.template.spec.containers[0].securityContext.appArmorProfile).toEqual({ type: 'Unconfined' });
    } finally {
      await newer.close();
    }
  });

  it('with grants creates the Role and RoleBinding for those developers in radar\'s namespace', async () => {
    const r = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-g', { grants: { groups: ['devs'], users: ['jane'] } }), timeoutMs: 0 });
    expect(r.applied.map((a) => `${a.kind}/${a.name}`)).toContain('Role/kx-radar-user');
    expect(cluster.getObject('roles', 'kx-g', 'kx-radar-user')).toBeDefined();
    expect(cluster.getObject('rolebindings', 'kx-g', 'kx-radar-user')!.subjects.map((s: { name: string }) => s.name)).toEqual(['devs', 'jane']);
    const cleaned = await clean({ kubeConfig: cluster.kubeConfig(), namespace: 'kx-g' });
    expect(cleaned.applied.filter((a) => a.kind.startsWith('Role')).map((a) => `${a.kind}/${a.name}:${a.action}`)).toEqual([
      'RoleBinding/kx-radar-user:deleted', 'RoleBinding/kx-radar:deleted', 'Role/kx-radar-user:deleted', 'Role/kx-radar:deleted',
    ]);
  });

  it('with dryRun prints every object as YAML and applies nothing', async () => {
    const result = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-dry'), dryRun: true, output: 'yaml' });

    const docs = parseAllDocuments(result.manifest!).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'DaemonSet']);
    expect(result.applied).toEqual([]);
    expect(cluster.getObject('namespaces', '', 'kx-dry')).toBeUndefined();
    expect(cluster.getObject('daemonsets', 'kx-dry', RADAR_NAME)).toBeUndefined();
  });

  it('with dryRun and json output prints a v1 List of the objects', async () => {
    const result = await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-dry'), dryRun: true, output: 'json' });

    const list = JSON.parse(result.manifest!) as { kind: string; items: Array<{ kind: string }> };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => i.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'DaemonSet']);
  });

  it('says in one line that the credentials were rejected (401), naming the context', async () => {
    const err = await init({ kubeConfig: cluster.kubeConfig({ token: 'not-a-valid-token', context: 'dev' }), context: 'dev', values: values('kx-401') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KxError);
    expect((err as KxError).code).toBe(ErrorCode.Unauthenticated);
    expect((err as KxError).message).toMatch(/context "dev".*401/);
    expect((err as KxError).message).not.toContain('\n');
  });

  it('refuses a context the kubeconfig does not have, naming the ones it has', async () => {
    const err = await init({ kubeConfig: cluster.kubeConfig({ context: 'dev' }), context: 'prod', values: values('kx-ctx') }).catch((e: unknown) => e);
    expect((err as KxError).code).toBe(ErrorCode.InvalidConfig);
    expect((err as KxError).message).toBe('context "prod" not found in the kubeconfig (available: dev)');
  });

  it('says in one line which object RBAC forbids (403)', async () => {
    cluster.addUser('viewer-token', { name: 'viewer', rules: [{ verbs: ['get', 'list'], resources: ['*'] }] });
    const err = await init({ kubeConfig: cluster.kubeConfig({ token: 'viewer-token' }), values: values('kx-403') }).catch((e: unknown) => e);
    expect((err as KxError).code).toBe(ErrorCode.PermissionDenied);
    expect((err as KxError).message).toMatch(/apply Namespace kx-403: RBAC forbids it/);
  });

  it('says the cluster is unreachable when nothing answers at its address', async () => {
    const kc = cluster.kubeConfig();
    const dead = await import('node:net').then(({ createServer }) => new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    }));
    kc.loadFromString(cluster.kubeconfigYaml().replace(cluster.server, `http://127.0.0.1:${dead}`));
    const err = await init({ kubeConfig: kc, values: values('kx-gone') }).catch((e: unknown) => e);
    expect((err as KxError).code).toBe(ErrorCode.Unavailable);
    expect((err as KxError).message).toMatch(/unreachable/);
  });
});

describe('kx clean', () => {
  it('removes the DaemonSet, RBAC, service account and the namespace kx created', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: values('kx-c'), pollMs: 100 });
    const result = await clean({ kubeConfig: cluster.kubeConfig(), namespace: 'kx-c' });

    expect(result.applied.map((a) => `${a.kind}:${a.action}`)).toEqual([
      'DaemonSet:deleted', 'ClusterRoleBinding:deleted', 'ClusterRole:deleted', 'RoleBinding:absent', 'RoleBinding:deleted',
      'Role:absent', 'Role:deleted', 'ServiceAccount:deleted', 'Namespace:deleted',
    ]);
    expect(cluster.getObject('daemonsets', 'kx-c', RADAR_NAME)).toBeUndefined();
    expect(cluster.getObject('clusterroles', '', 'kx-radar-kx-c')).toBeUndefined();
    expect(cluster.getObject('clusterrolebindings', '', 'kx-radar-kx-c')).toBeUndefined();
    expect(cluster.getObject('serviceaccounts', 'kx-c', RADAR_NAME)).toBeUndefined();
  });

  it('keeps a namespace that existed before kx init', async () => {
    cluster.addNamespace('team-tools');
    await init({ kubeConfig: cluster.kubeConfig(), values: values('team-tools'), pollMs: 100 });
    const result = await clean({ kubeConfig: cluster.kubeConfig(), namespace: 'team-tools' });

    expect(result.applied.at(-1)).toEqual({ kind: 'Namespace', name: 'team-tools', action: 'kept' });
    expect(cluster.getObject('namespaces', '', 'team-tools')).toBeDefined();
    expect(cluster.getObject('daemonsets', 'team-tools', RADAR_NAME)).toBeUndefined();
  });

  it('reports objects that are already gone as absent', async () => {
    const result = await clean({ kubeConfig: cluster.kubeConfig(), namespace: 'never-installed' });
    expect(result.applied.map((a) => a.action)).toEqual(['absent', 'absent', 'absent', 'absent', 'absent', 'absent', 'absent', 'absent', 'absent']);
  });
});
