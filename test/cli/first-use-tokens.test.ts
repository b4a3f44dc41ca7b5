// The token the daemon presents to radar: read from the namespace's kx-token Secret, created on first use when the
// user may create Secrets there; otherwise the plain "missing" error with the command that fixes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirstUseTokens } from '../../cmd/composition/first-use-tokens.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ namespaces: ['mine', 'theirs', 'kept'] });
  cluster.addUser('reader', { name: 'reader', rules: [{ verbs: ['get'], resources: ['secrets'], namespaces: ['theirs'] }] });
});
afterAll(async () => {
  await cluster?.close();
});

const decoded = (ns: string): string | undefined => {
  const data = cluster.getObject('secrets', ns, 'kx-token')?.data as Record<string, string> | undefined;
  return data?.token ? Buffer.from(data.token, 'base64').toString('utf8') : undefined;
};

describe('tokens on first use', () => {
  it('creates the Secret when it is missing and the user may create it, and uses that token', async () => {
    const tokens = new FirstUseTokens(cluster.kubeConfig(), 'fake', silentLogger);
    const token = await tokens.tokenFor('mine');
    expect(token).toBe(decoded('mine'));
    expect(await tokens.tokenFor('mine')).toBe(token);
  });

  it('reads an existing Secret without changing it', async () => {
    await new FirstUseTokens(cluster.kubeConfig(), 'fake', silentLogger).tokenFor('kept');
    const before = decoded('kept');
    expect(await new FirstUseTokens(cluster.kubeConfig(), 'fake', silentLogger).tokenFor('kept')).toBe(before);
  });

  it('says the Secret is missing, with kx token -n NS, when the user may not create it', async () => {
    const tokens = new FirstUseTokens(cluster.kubeConfig({ token: 'reader' }), 'fake', silentLogger);
    const err = await tokens.tokenFor('theirs').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KxError);
    expect((err as KxError).code).toBe(ErrorCode.NotFound);
    expect((err as KxError).message).toBe('token Secret kx-token is missing in namespace "theirs": run kx token -n theirs');
    expect(decoded('theirs')).toBeUndefined();
  });
});
