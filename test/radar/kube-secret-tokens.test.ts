// KubeSecretTokenSource against the test suite's Kubernetes API server, read with radar's own narrow rights:
// `get` on Secrets named kx-token and nothing else.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type KxError } from '../../pkg/sync/errors.ts';
import { newToken } from '../../proto/kx-token.ts';
import { NamespaceAuthorizer } from '../../radar/auth/authorize.ts';
import { KubeSecretTokenSource } from '../../radar/auth/kube-secret-token-source.ts';
import { type FakeCluster, startFakeApiServer } from '../k8s/fake-cluster.ts';

const RADAR_TOKEN = 'radar-service-account-token';
const tokenA = newToken('team-a');
let cluster: FakeCluster;
let admin: CoreV1Api;
let radarApi: CoreV1Api;

beforeAll(async () => {
  cluster = await startFakeApiServer({
    namespaces: ['team-a', 'team-b'],
    users: {
      [RADAR_TOKEN]: { name: 'system:serviceaccount:kx-system:radar', rules: [{ verbs: ['get'], resources: ['secrets'], resourceNames: ['kx-token'] }] },
    },
  });
  admin = cluster.kubeConfig().makeApiClient(CoreV1Api);
  radarApi = cluster.kubeConfig({ token: RADAR_TOKEN }).makeApiClient(CoreV1Api);
  await admin.createNamespacedSecret({
    namespace: 'team-a',
    body: { metadata: { name: 'kx-token' }, data: { token: Buffer.from(tokenA).toString('base64') } },
  });
});

afterAll(async () => {
  await cluster?.close();
});

describe('KubeSecretTokenSource with the API server', () => {
  it("reads the namespace's kx-token Secret with get-only rights", async () => {
    await expect(new KubeSecretTokenSource({ api: radarApi }).tokenFor('team-a')).resolves.toBe(tokenA);
  });

  it('answers undefined for a namespace without the Secret', async () => {
    await expect(new KubeSecretTokenSource({ api: radarApi }).tokenFor('team-b')).resolves.toBeUndefined();
  });

  it('sees a rotated token once the cached answer expires', async () => {
    let now = 0;
    const source = new KubeSecretTokenSource({ api: radarApi, ttlMs: 1_000, now: () => now });
    expect(await source.tokenFor('team-a')).toBe(tokenA);
    const rotated = newToken('team-a');
    await admin.replaceNamespacedSecret({
      name: 'kx-token',
      namespace: 'team-a',
      body: { metadata: { name: 'kx-token' }, data: { token: Buffer.from(rotated).toString('base64') } },
    });
    expect(await source.tokenFor('team-a')).toBe(tokenA);
    now += 1_000;
    expect(await source.tokenFor('team-a')).toBe(rotated);
    await admin.replaceNamespacedSecret({
      name: 'kx-token',
      namespace: 'team-a',
      body: { metadata: { name: 'kx-token' }, data: { token: Buffer.from(tokenA).toString('base64') } },
    });
  });

  it('reports missing rights as UNAVAILABLE naming the namespace', async () => {
    const noRights = cluster.kubeConfig({ token: 'nobody' });
    cluster.addUser('nobody', { name: 'nobody', rules: [] });
    const err = (await new KubeSecretTokenSource({ api: noRights.makeApiClient(CoreV1Api) }).tokenFor('team-a').catch((e: unknown) => e)) as KxError;
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain('team-a');
  });

  it('lets the authorizer refuse the token of team-a for a container of team-b', async () => {
    const authorizer = new NamespaceAuthorizer({ tokens: new KubeSecretTokenSource({ api: radarApi }) });
    await expect(authorizer.authorize({ container: 'web', namespace: 'team-a' }, tokenA)).resolves.toBeUndefined();
    const err = (await authorizer.authorize({ container: 'web', namespace: 'team-b' }, tokenA).catch((e: unknown) => e)) as KxError;
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toMatch(/team-b.*team-a/);
  });
});
