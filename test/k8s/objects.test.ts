// DaemonSet rollout status (README §6), Deployments and scale, and the plain stored objects `kx init` applies:
// Secrets, Namespaces, ServiceAccounts, ClusterRoles, ClusterRoleBindings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig, V1DaemonSet } from '@kubernetes/client-node';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster } from './fake-cluster.ts';
import { eventually, rawRequest } from './helpers.ts';

const NS = 'wire';
let cluster: FakeCluster;
let kc: KubeConfig;
let apps: AppsV1Api;
let core: CoreV1Api;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: [NS] });
  kc = cluster.kubeConfig();
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => { await cluster?.close(); });

/** The predicate README §6 recommends. */
function rolledOut(ds: V1DaemonSet): boolean {
  const s = ds.status!;
  return (s.observedGeneration ?? 0) >= (ds.metadata!.generation ?? 0) &&
    (s.updatedNumberScheduled ?? 0) === s.desiredNumberScheduled && (s.numberAvailable ?? 0) === s.desiredNumberScheduled;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('DaemonSet', () => {
  it('creates with generation 1 and the four always-present status fields, then rolls out one pod per node', async () => {
    const created = await apps.createNamespacedDaemonSet({ namespace: NS, body: {
      metadata: { name: 'agent', labels: { app: 'agent' } },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: {
        terminationGracePeriodSeconds: 1, containers: [{ name: 'agent', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] }],
      } } },
    } });
    expect(created.metadata!.generation).toBe(1);
    expect(created.status).toEqual({ currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 });
    const seen: V1DaemonSet[] = [];
    const done = await eventually(async () => {
      const ds = await apps.readNamespacedDaemonSetStatus({ namespace: NS, name: 'agent' });
      seen.push(ds);
      return rolledOut(ds) && ds.status!.desiredNumberScheduled === 2 ? ds : undefined;
    }, 30_000, 'rollout');
    expect(done.status).toEqual({ currentNumberScheduled: 2, numberMisscheduled: 0, desiredNumberScheduled: 2, numberReady: 2, observedGeneration: 1, updatedNumberScheduled: 2, numberAvailable: 2 });
    const pods = cluster.listPods(NS, 'app=agent');
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual(['node-a', 'node-b']);
    expect(pods[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'DaemonSet', name: 'agent', controller: true });
  });

  it('after a template patch reports the new generation but no updated pods until they are replaced', async () => {
    const patched = await apps.patchNamespacedDaemonSet({ namespace: NS, name: 'agent', body: { spec: { template: { metadata: { annotations: { 'wire/rev': '2' } } } } } }, merge);
    expect(patched.metadata!.generation).toBe(2);
    expect(patched.metadata!.annotations!['deprecated.daemonset.template.generation']).toBe('2');
    const first = await apps.readNamespacedDaemonSetStatus({ namespace: NS, name: 'agent' });
    expect(first.status!.observedGeneration).toBe(2);
    expect(rolledOut(first)).toBe(false);
    const done = await eventually(async () => {
      const ds = await apps.readNamespacedDaemonSetStatus({ namespace: NS, name: 'agent' });
      return rolledOut(ds) ? ds : undefined;
    }, 60_000, 'second rollout');
    expect(done.status!.updatedNumberScheduled).toBe(2);
    const pods = cluster.listPods(NS, 'app=agent').filter((p) => !p.metadata.deletionTimestamp);
    expect(pods.map((p) => p.metadata.annotations?.['wire/rev'])).toEqual(['2', '2']);
  });

  it('puts a pod on a node added later', async () => {
    cluster.addNode('node-c');
    const ds = await eventually(async () => {
      const d = await apps.readNamespacedDaemonSetStatus({ namespace: NS, name: 'agent' });
      return d.status!.desiredNumberScheduled === 3 && rolledOut(d) ? d : undefined;
    }, 30_000, 'pod on node-c');
    expect(ds.status!.numberReady).toBe(3);
  });

  it('answers DELETE with a Success Status and removes its pods', async () => {
    const uid = (await apps.readNamespacedDaemonSet({ namespace: NS, name: 'agent' })).metadata!.uid;
    const r = await rawRequest(cluster.server, 'DELETE', `/apis/apps/v1/namespaces/${NS}/daemonsets/agent`, cluster.adminToken);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"agent","group":"apps","kind":"daemonsets","uid":"${uid}"}}\n`);
    await eventually(() => cluster.listPods(NS, 'app=agent').length === 0, 30_000, 'pods gone');
  });
});

describe('Deployment', () => {
  it('scales up and down through the scale subresource', async () => {
    await apps.createNamespacedDeployment({ namespace: NS, body: {
      metadata: { name: 'api', labels: { app: 'api' } },
      spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: {
        terminationGracePeriodSeconds: 1, containers: [{ name: 'api', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] }],
      } } },
    } });
    await eventually(() => cluster.listPods(NS, 'app=api').filter((p) => p.status.phase === 'Running').length === 2, 30_000, '2 running');
    const scale = await apps.patchNamespacedDeploymentScale({ namespace: NS, name: 'api', body: { spec: { replicas: 0 } } }, merge);
    expect(scale.spec).toEqual({});
    expect(scale.status).toEqual({ replicas: 2, selector: 'app=api' });
    await eventually(() => cluster.listPods(NS, 'app=api').length === 0, 30_000, 'scaled to 0');
  });

  it('replaces a deleted pod (the scale helper makes the Deployment)', async () => {
    cluster.scale(NS, 'rep', 1, { metadata: { labels: { app: 'rep' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] }] } });
    const first = await eventually(() => cluster.listPods(NS, 'app=rep').find((p) => p.status.phase === 'Running'), 30_000, 'first pod');
    await cluster.deletePod(NS, first.metadata.name);
    const second = await eventually(() => cluster.listPods(NS, 'app=rep').find((p) => p.status.phase === 'Running'), 30_000, 'replacement');
    expect(second.metadata.name).not.toBe(first.metadata.name);
    cluster.scale(NS, 'rep', 0);
    await eventually(() => cluster.listPods(NS, 'app=rep').length === 0, 30_000, 'scaled to 0');
  });
});

describe('stored objects', () => {
  it('keeps a Secret through create, get, replace, merge-patch and delete', async () => {
    const created = await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'kx-token' }, stringData: { token: 'abc' } } });
    expect(created.data).toEqual({ token: Buffer.from('abc').toString('base64') });
    expect(created.type).toBe('Opaque');
    const replaced = await core.replaceNamespacedSecret({ namespace: NS, name: 'kx-token', body: { ...created, data: { token: Buffer.from('def').toString('base64') } } });
    expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(created.metadata!.resourceVersion));
    await expect(core.replaceNamespacedSecret({ namespace: NS, name: 'kx-token', body: created })).rejects.toMatchObject({ code: 409 });
    const patched = await core.patchNamespacedSecret({ namespace: NS, name: 'kx-token', body: { metadata: { labels: { kx: 'yes' } } } }, merge);
    expect(patched.metadata!.labels).toEqual({ kx: 'yes' });
    expect((await core.readNamespacedSecret({ namespace: NS, name: 'kx-token' })).data!.token).toBe(Buffer.from('def').toString('base64'));
    await expect(core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'kx-token' } } })).rejects.toMatchObject({ code: 409 });
    await core.deleteNamespacedSecret({ namespace: NS, name: 'kx-token' });
    await expect(core.readNamespacedSecret({ namespace: NS, name: 'kx-token' })).rejects.toMatchObject({ code: 404 });
  });

  it('serves the configured namespaces and refuses creates in a missing one', async () => {
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata!.name)).toEqual(expect.arrayContaining(['default', 'kube-system', NS]));
    expect((await core.readNamespace({ name: NS })).status!.phase).toBe('Active');
    await expect(core.createNamespacedSecret({ namespace: 'nowhere', body: { metadata: { name: 's' } } })).rejects.toMatchObject({ code: 404 });
  });

  it('stores ServiceAccounts, ClusterRoles and ClusterRoleBindings', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'kx-radar' } } });
    await rbac.createClusterRole({ body: { metadata: { name: 'kx-radar' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: 'kx-radar' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kx-radar' }, subjects: [{ kind: 'ServiceAccount', name: 'kx-radar', namespace: NS }] } });
    expect((await core.readNamespacedServiceAccount({ namespace: NS, name: 'kx-radar' })).metadata!.name).toBe('kx-radar');
    expect((await rbac.readClusterRole({ name: 'kx-radar' })).rules![0].verbs).toEqual(['get', 'list', 'watch']);
    const crb = await rbac.readClusterRoleBinding({ name: 'kx-radar' });
    expect(crb.roleRef.name).toBe('kx-radar');
    expect(crb.metadata!.namespace).toBeUndefined();
    await rbac.deleteClusterRoleBinding({ name: 'kx-radar' });
    await expect(rbac.readClusterRoleBinding({ name: 'kx-radar' })).rejects.toMatchObject({ code: 404 });
  });

  it('applies manifests through KubernetesObjectApi (discovery, create, read, patch, delete)', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'applied', namespace: NS } };
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'applied' }, rules: [] };
    for (const spec of [sa, role]) {
      await objects.create(spec);
      const patched = await objects.patch({ ...spec, metadata: { ...spec.metadata, labels: { applied: 'yes' } } });
      expect(patched.metadata.labels).toEqual({ applied: 'yes' });
      expect((await objects.read({ apiVersion: spec.apiVersion, kind: spec.kind, metadata: spec.metadata })).metadata!.labels).toEqual({ applied: 'yes' });
      await objects.delete(spec);
      await expect(objects.read({ apiVersion: spec.apiVersion, kind: spec.kind, metadata: spec.metadata })).rejects.toMatchObject({ code: 404 });
    }
  });
});
