// RBAC from the stored objects for users with groups: RoleBindings in their namespace only, ClusterRoleBindings
// everywhere, the aggregated `edit` ClusterRole (view ⊂ edit), and SelfSubjectAccessReview answering the same way.
import { AuthorizationV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeCluster } from './fake-cluster.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: [], namespaces: ['mine', 'yours'], accessReviews: true });
  const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRoleBinding({ namespace: 'mine', body: {
    metadata: { name: 'team-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team' }],
  } });
  await rbac.createNamespacedRole({ namespace: 'yours', body: { metadata: { name: 'see-pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: 'yours', body: {
    metadata: { name: 'sam-sees' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'see-pods' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'sam' }],
  } });
  cluster.addUser('sam-token', { name: 'sam', groups: ['team'] });
});
afterAll(async () => {
  await cluster?.close();
});

const sam = () => cluster.kubeConfig({ token: 'sam-token' });
const may = async (verb: string, resource: string, namespace?: string, subresource?: string) =>
  (await sam().makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: {
    spec: { resourceAttributes: { verb, resource, ...(subresource ? { subresource } : {}), ...(namespace ? { namespace } : {}) } } } })).status?.allowed;

describe('RBAC from the stored objects', () => {
  it("gives a group member `edit` (with view's reads aggregated in) where the group is bound, and nowhere else", async () => {
    expect(await may('create', 'secrets', 'mine')).toBe(true);
    expect(await may('list', 'pods', 'mine')).toBe(true);
    expect(await may('create', 'pods', 'mine', 'portforward')).toBe(true);
    expect(await may('create', 'rolebindings', 'mine')).toBe(false);
    expect(await may('create', 'secrets', 'yours')).toBe(false);
    expect(await may('list', 'pods')).toBe(false);
  });

  it('binds a Role to a user in its own namespace only, and enforces the answers on real requests', async () => {
    expect(await may('list', 'pods', 'yours')).toBe(true);
    expect(await may('get', 'pods', 'yours')).toBe(false);
    const core = sam().makeApiClient(CoreV1Api);
    await expect(core.listNamespacedPod({ namespace: 'yours' })).resolves.toBeDefined();
    await expect(core.listNamespacedSecret({ namespace: 'yours' })).rejects.toMatchObject({ code: 403 });
    await expect(core.createNamespacedSecret({ namespace: 'mine', body: { metadata: { name: 's' }, data: {} } })).resolves.toBeDefined();
  });
});
