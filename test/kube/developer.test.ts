// The self-service flow: a platform team runs `kx init --grant-group developers`; a developer in that group, with
// `edit` in their own namespace and nothing cluster-wide, passes kx doctor, syncs into their pods, and cannot use
// their token on another namespace's pods. Rights come from the RBAC objects in the test API server (Roles,
// RoleBindings, the aggregated `edit` ClusterRole), and kx doctor asks them with SelfSubjectAccessReview.
import { AuthorizationV1Api, CoreV1Api, PortForward, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../pkg/cluster/chart.ts';
import { runDoctor } from '../../pkg/cluster/doctor-checks.ts';
import { init } from '../../pkg/cluster/install.ts';
import { resolveValues } from '../../pkg/cluster/radar-objects.ts';
import { RADAR_NAME } from '../../pkg/kube/radar-names.ts';
import { ensureToken, rotateToken } from '../../pkg/cluster/token.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { Spec } from '../../pkg/daemon/spec.ts';
import { KubernetesDriver } from '../../pkg/kube/driver.ts';
import { RadarLocator } from '../../pkg/kube/radar-locator.ts';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import { Tunnel } from '../../pkg/kube/tunnel.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { NamespaceAuthorizer } from '../../radar/auth/authorize.ts';
import { KubeSecretTokenSource } from '../../radar/auth/kube-secret-token-source.ts';
import { RadarServer } from '../../radar/grpc/server.ts';
import { DockerRuntime } from '../../pkg/runtime/docker.ts';
import { ContainerRootResolver } from '../../pkg/runtime/resolve.ts';
import { RADAR_NS, sleeperPod, startKubeHarness, type KubeHarness } from './harness.ts';
import { refusal } from '../support/refusal.ts';

const run = promisify(execFile);
const JANE = 'jane-token';
let h: KubeHarness;
let radar: RadarServer;
let docker: DockerRuntime;
let scratch: string;
let version: string;

beforeAll(async () => {
  h = await startKubeHarness({ nodes: ['node-a'], namespaces: ['dev', 'other'], accessReviews: true });
  version = await packageVersion();
  const admin = h.cluster.kubeConfig();
  // The platform team: radar with a grant for group "developers", and `edit` for that group in namespace dev only.
  await init({ kubeConfig: admin, values: resolveValues(version, { image: 'kx-test-radar-absent:1', grants: { groups: ['developers'], users: [] } }), pollMs: 100 });
  await admin.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({ namespace: 'dev', body: {
    metadata: { name: 'developers-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'developers' }],
  } });
  h.cluster.addUser(JANE, { name: 'jane', groups: ['developers', 'system:authenticated'] });
  // radar on node-a as a host process behind the DaemonSet's pod (radar's own ServiceAccount reads kx-token Secrets).
  docker = new DockerRuntime();
  radar = new RadarServer({
    listen: '127.0.0.1:0', hasher: await createHasher(), name: 'radar@node-a', closeGraceMs: 200,
    resolver: new ContainerRootResolver({ runtimes: { docker }, authorizer: new NamespaceAuthorizer({ tokens: new KubeSecretTokenSource({ api: admin.makeApiClient(CoreV1Api), ttlMs: 0 }) }) }),
  });
  h.cluster.setNodeAgent('node-a', (await radar.start()).port);
  h.cluster.createPod('dev', sleeperPod('web', { app: 'web' }));
  h.cluster.createPod('other', sleeperPod('theirs', { app: 'theirs' }));
  await Promise.all([h.cluster.waitForRunning('dev', 'web'), h.cluster.waitForRunning('other', 'theirs')]);
  scratch = mkdtempSync(join(tmpdir(), 'kx-test-developer-'));
}, 120_000);

afterAll(async () => {
  await radar?.close();
  await docker?.close();
  await h?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const jane = () => h.cluster.kubeConfig({ token: JANE, namespace: 'dev' });

describe('a developer who owns only their namespace', () => {
  it('has no cluster-wide rights', async () => {
    const authz = jane().makeApiClient(AuthorizationV1Api);
    const may = async (verb: string, resource: string, namespace?: string) => (await authz.createSelfSubjectAccessReview({ body: {
      spec: { resourceAttributes: { verb, resource, ...(namespace ? { namespace } : {}) } } } })).status?.allowed;
    expect(await may('list', 'pods')).toBe(false);
    expect(await may('list', 'pods', 'other')).toBe(false);
    expect(await may('get', 'secrets', 'other')).toBe(false);
    expect(await may('create', 'pods', RADAR_NS)).toBe(false);
    expect(await may('list', 'pods', 'dev')).toBe(true);
  });

  it('passes every kx doctor check, asked with SelfSubjectAccessReview in the namespaces concerned', async () => {
    await rotateToken({ kubeConfig: jane(), namespace: 'dev' });
    const checks = await runDoctor({ kubeConfig: jane(), namespace: 'dev', radarNamespace: RADAR_NS, version });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.filter((c) => /probed/.test(c.detail))).toEqual([]);
    expect(checks.find((c) => c.name === 'may port-forward to radar')!.detail).toBe(`you may get and create pods/portforward in namespace "${RADAR_NS}"`);
  });

  it('syncs a folder into their pod through radar, and each edit after', async () => {
    const local = mkdtempSync(join(scratch, 'local-'));
    writeFileSync(join(local, 'hello.txt'), 'v1\n');
    const driver = new KubernetesDriver({
      dialer: new TransportDialer({ clientName: 'kx-test' }),
      kubeconfig: () => ({ kc: jane(), context: 'fake', namespace: 'dev', source: 'test' }),
      watchBackoff: { baseMs: 100, maxMs: 1000 },
    });
    const config: SpecConfig = { name: 'jane', local, remote: '/app', reload: 'none', ignore: [], target: 'kubernetes', namespace: 'dev', selector: 'app=web' };
    const spec = new Spec({ config, driver, engine: { syncTree, syncPaths }, hasher: await createHasher(), log: silentLogger, onChange: () => {},
      timing: { quietMs: 10, maxWaitMs: 100, retryMs: 100 } });
    await spec.start();
    const id = h.cluster.containerId('dev', 'web')!;
    const inPod = (path: string) => run('docker', ['exec', id, 'cat', path]).then((r) => r.stdout, () => null);
    try {
      await expect.poll(() => inPod('/app/hello.txt'), { timeout: 30_000 }).toBe('v1\n');
      await writeFile(join(local, 'hello.txt'), 'v2\n');
      await expect.poll(() => inPod('/app/hello.txt'), { timeout: 30_000 }).toBe('v2\n');
    } finally {
      await spec.close();
      await driver.close();
    }
  });

  it("cannot read another namespace's token, and radar refuses their own token on that namespace's pods (PERMISSION_DENIED)", async () => {
    await ensureToken({ kubeConfig: h.cluster.kubeConfig(), namespace: 'other' });
    await expect(jane().makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'kx-token', namespace: 'other' })).rejects.toMatchObject({ code: 403 });

    const kc = jane();
    const locator = new RadarLocator({ kc, context: 'fake' });
    const tunnel = new Tunnel({ kc, context: 'fake', locate: () => locator.locate('node-a'), forwarder: new PortForward(kc) });
    await tunnel.start();
    try {
      const token = await ensureToken({ kubeConfig: jane(), namespace: 'dev' }).then((r) => r.token);
      const theirs = h.cluster.containerId('other', 'theirs')!;
      const err = await refusal(new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: theirs }, remotePath: '/app/from-jane' }));
      expect(err.code).toBe(ErrorCode.PermissionDenied);
      await expect(run('docker', ['exec', theirs, 'test', '-e', '/app/from-jane'])).rejects.toThrow();
    } finally {
      await tunnel.close();
    }
  });

  it('someone outside the granted group is told which grant to ask for', async () => {
    h.cluster.addUser('sam-token', { name: 'sam', groups: ['contractors'] });
    const err = await refusal(new RadarLocator({ kc: h.cluster.kubeConfig({ token: 'sam-token' }), context: 'fake' }).locate('node-a'));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toMatch(/^cannot list radar pods in namespace "kx-system" \(context "fake"\): RBAC forbids it \(.*\); a cluster admin can grant what kx needs there with kx init --grant-group <your group> \(or --grant-user\)$/);
  });

  it('are only what the grant Role holds in radar\'s namespace', async () => {
    const role = h.cluster.getObject('roles', RADAR_NS, `${RADAR_NAME}-user`)!;
    expect(role.rules.map((r: { resources: string[] }) => r.resources.join())).toEqual(['pods', 'pods/portforward', 'daemonsets']);
  });
});
