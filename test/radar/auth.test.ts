import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { newToken, tokenNamespace } from '../../proto/kx-token.ts';
import { NamespaceAuthorizer, REFUSED_TOKEN_MESSAGE, type TokenSource } from '../../radar/auth/authorize.ts';
import { KubeSecretTokenSource, type SecretReader } from '../../radar/auth/kube-secret-token-source.ts';
import { refusal } from '../support/refusal.ts';

class MemoryTokens implements TokenSource {
  readonly tokens: Map<string, string>;
  constructor(tokens: Record<string, string>) {
    this.tokens = new Map(Object.entries(tokens));
  }
  async tokenFor(namespace: string): Promise<string | undefined> {
    return this.tokens.get(namespace);
  }
}

const tokenA = newToken('team-a');
const tokenB = newToken('team-b');
const authorizer = new NamespaceAuthorizer({ tokens: new MemoryTokens({ 'team-a': tokenA, 'team-b': tokenB }) });

describe('kx token format', () => {
  it('names its namespace', () => {
    expect(tokenNamespace(newToken('dev-1'))).toBe('dev-1');
  });

  it('is fresh each time', () => {
    expect(newToken('dev-1')).not.toBe(newToken('dev-1'));
  });

  it('reports no namespace for an opaque token', () => {
    expect(tokenNamespace('s3cr3t')).toBeUndefined();
  });
});

describe('NamespaceAuthorizer', () => {
  it("grants the namespace's own token", async () => {
    await expect(authorizer.authorize({ container: 'web', namespace: 'team-a' }, tokenA)).resolves.toBeUndefined();
  });

  it('refuses a valid token of another namespace with PERMISSION_DENIED naming both', async () => {
    const err = await refusal(authorizer.authorize({ container: 'web', namespace: 'team-b' }, tokenA));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toMatch(/team-b.*team-a/);
  });

  it('refuses a missing token with UNAUTHENTICATED', async () => {
    expect((await refusal(authorizer.authorize({ container: 'web', namespace: 'team-a' }, undefined))).code).toBe(ErrorCode.Unauthenticated);
    expect((await refusal(authorizer.authorize({ container: 'web', namespace: 'team-a' }, ''))).code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses a wrong token with UNAUTHENTICATED', async () => {
    const err = await refusal(authorizer.authorize({ container: 'web', namespace: 'team-a' }, newToken('team-a')));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses a forged token claiming another namespace with UNAUTHENTICATED', async () => {
    const err = await refusal(authorizer.authorize({ container: 'web', namespace: 'team-a' }, newToken('team-b')));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses every token when the namespace has no Secret', async () => {
    const err = await refusal(authorizer.authorize({ container: 'web', namespace: 'kube-system' }, tokenA));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    const forged = await refusal(authorizer.authorize({ container: 'web', namespace: 'kube-system' }, newToken('kube-system')));
    expect(forged.code).toBe(ErrorCode.Unauthenticated);
    expect(forged.message).toContain('kube-system');
  });

  it('refuses a container without a pod namespace label', async () => {
    const err = await refusal(authorizer.authorize({ container: 'web', namespace: undefined }, tokenA));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain('io.kubernetes.pod.namespace');
  });

  it('accepts an opaque token stored in the Secret', async () => {
    const opaque = new NamespaceAuthorizer({ tokens: new MemoryTokens({ dev: 'plain-secret-value' }) });
    await expect(opaque.authorize({ container: 'web', namespace: 'dev' }, 'plain-secret-value')).resolves.toBeUndefined();
  });
});

function secretReader(answers: Record<string, string | undefined>): SecretReader & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async readNamespacedSecret({ name, namespace }) {
      calls.push(`${namespace}/${name}`);
      if (namespace === 'broken') throw Object.assign(new Error('connection refused'), { code: 503 });
      const token = answers[namespace];
      if (token === undefined) throw Object.assign(new Error('secrets "kx-token" not found'), { code: 404 });
      return { data: { token: Buffer.from(token).toString('base64') } };
    },
  };
}

describe('KubeSecretTokenSource', () => {
  it('reads key token of Secret kx-token in the namespace', async () => {
    const api = secretReader({ 'team-a': tokenA });
    await expect(new KubeSecretTokenSource({ api }).tokenFor('team-a')).resolves.toBe(tokenA);
    expect(api.calls).toEqual(['team-a/kx-token']);
  });

  it('answers undefined when the Secret does not exist', async () => {
    await expect(new KubeSecretTokenSource({ api: secretReader({}) }).tokenFor('team-a')).resolves.toBeUndefined();
  });

  it('reuses an answer within the TTL and asks again after it', async () => {
    let now = 1_000;
    const api = secretReader({ 'team-a': tokenA });
    const source = new KubeSecretTokenSource({ api, ttlMs: 500, now: () => now });
    await source.tokenFor('team-a');
    await source.tokenFor('team-a');
    expect(api.calls).toHaveLength(1);
    now += 500;
    await source.tokenFor('team-a');
    expect(api.calls).toHaveLength(2);
  });

  it('reports an API failure as UNAVAILABLE naming the namespace, and does not cache it', async () => {
    const api = secretReader({});
    const source = new KubeSecretTokenSource({ api });
    const err = await refusal(source.tokenFor('broken'));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.message).toContain('broken');
    await refusal(source.tokenFor('broken'));
    expect(api.calls).toHaveLength(2);
  });
});

describe('NamespaceAuthorizer.authenticate (the token alone, before any message is read)', () => {
  function counting(tokens: Record<string, string>): TokenSource & { asked: string[] } {
    const asked: string[] = [];
    return { asked, tokenFor: async (ns) => (asked.push(ns), tokens[ns]) };
  }

  it("accepts a namespace's own token", async () => {
    await expect(authorizer.authenticate(tokenA)).resolves.toBeUndefined();
  });

  it('refuses a missing, opaque, forged or made-up token with one and the same message', async () => {
    const refused = await Promise.all([undefined, '', 'opaque', newToken('team-a'), newToken('no-such-ns')].map((t) => refusal(authorizer.authenticate(t))));
    for (const err of refused) {
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.message).toBe(REFUSED_TOKEN_MESSAGE);
    }
  });

  it('remembers a refused token briefly, so repeating it costs no Secret look-up, and forgets it after', async () => {
    let now = 0;
    const tokens = counting({ 'team-a': tokenA });
    const auth = new NamespaceAuthorizer({ tokens, refusedTtlMs: 2_000, now: () => now });
    const forged = newToken('team-a');
    await refusal(auth.authenticate(forged));
    await refusal(auth.authenticate(forged));
    expect(tokens.asked).toEqual(['team-a']);
    now += 2_000;
    await refusal(auth.authenticate(forged));
    expect(tokens.asked).toEqual(['team-a', 'team-a']);
  });

  it('remembers a bounded number of refused tokens', async () => {
    const tokens = counting({});
    const auth = new NamespaceAuthorizer({ tokens, refusedMax: 2 });
    const [t1, t2, t3] = [newToken('x1'), newToken('x2'), newToken('x3')];
    for (const t of [t1, t2, t3]) await refusal(auth.authenticate(t));
    await refusal(auth.authenticate(t3)); // remembered
    await refusal(auth.authenticate(t1)); // forgotten: asked again
    expect(tokens.asked).toEqual(['x1', 'x2', 'x3', 'x1']);
  });
});

describe('KubeSecretTokenSource limits', () => {
  it('keeps a bounded number of namespaces, forgetting the least recently asked', async () => {
    const api = secretReader({ a: 'ta', b: 'tb', c: 'tc' });
    const source = new KubeSecretTokenSource({ api, maxCached: 2 });
    for (const ns of ['a', 'b', 'a', 'c', 'a', 'b']) await source.tokenFor(ns);
    expect(api.calls).toEqual(['a/kx-token', 'b/kx-token', 'c/kx-token', 'b/kx-token']);
  });

  it('rate-limits Secret look-ups: past the burst it answers UNAVAILABLE until the bucket refills', async () => {
    let now = 0;
    const api = secretReader({});
    const source = new KubeSecretTokenSource({ api, readsPerSecond: 1, burst: 2, now: () => now });
    await source.tokenFor('n1');
    await source.tokenFor('n2');
    const err = await refusal(source.tokenFor('n3'));
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(api.calls).toHaveLength(2);
    now += 1_000;
    await expect(source.tokenFor('n3')).resolves.toBeUndefined();
  });
});
