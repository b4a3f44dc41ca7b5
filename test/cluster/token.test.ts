// The per-namespace kx-token Secret: created on first use, rotated by `kx token -n NS`, read by the local side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureToken, readToken, rotateToken } from '../../pkg/cluster/token.ts';
import { tokenNamespace } from '../../proto/kx-token.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ namespaces: ['team-a', 'team-b', 'team-c', 'team-d', 'team-e'] });
});
afterAll(async () => {
  await cluster?.close();
});

const secretToken = (namespace: string): string => {
  const s = cluster.getObject('secrets', namespace, 'kx-token') as { data: Record<string, string> } | undefined;
  return s ? Buffer.from(s.data.token, 'base64').toString('utf8') : '';
};

describe('kx-token', () => {
  it('is created with a random token of its namespace under the key "token"', async () => {
    const r = await rotateToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-a' });
    expect(r.action).toBe('created');
    expect(secretToken('team-a')).toBe(r.token);
    expect(tokenNamespace(r.token)).toBe('team-a');
    expect(Buffer.from(r.token.split('.').at(-1)!, 'base64url')).toHaveLength(32);
  });

  it('is rotated: a new token replaces the old one in the same Secret', async () => {
    const first = await rotateToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-b' });
    const second = await rotateToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-b' });
    expect(second.action).toBe('rotated');
    expect(second.token).not.toBe(first.token);
    expect(secretToken('team-b')).toBe(second.token);
  });

  it('is kept as it is by ensureToken when it exists, and created by it when missing', async () => {
    const created = await ensureToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-c' });
    const again = await ensureToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-c' });
    expect(created.action).toBe('created');
    expect(again).toEqual({ namespace: 'team-c', token: created.token, action: 'existing' });
  });

  it('is read back as the token last written', async () => {
    const r = await rotateToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-d' });
    expect(await readToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-d' })).toBe(r.token);
  });

  it('when missing, reading it fails with NOT_FOUND and the command that creates it', async () => {
    const err = await readToken({ kubeConfig: cluster.kubeConfig(), namespace: 'team-e' }).catch((e: unknown) => e);
    expect((err as KxError).code).toBe(ErrorCode.NotFound);
    expect((err as KxError).message).toContain('run kx token -n team-e');
  });

  it('cannot be created by a user RBAC forbids, and says so in one line', async () => {
    cluster.addUser('reader', { name: 'reader', rules: [{ verbs: ['get'], resources: ['secrets'] }] });
    const err = await rotateToken({ kubeConfig: cluster.kubeConfig({ token: 'reader' }), namespace: 'team-e' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KxError);
    expect((err as KxError).code).toBe(ErrorCode.PermissionDenied);
    expect((err as KxError).message).toMatch(/Secret kx-token in namespace "team-e".*forbids/);
  });
});
