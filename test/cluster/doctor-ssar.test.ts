// kx doctor's RBAC checks on a server with SelfSubjectAccessReview. The test API server has none, so this test
// serves just that endpoint (and Secrets, for the "token already exists" case), in the API server's wire format.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_NAMES, checkRbac } from '../../pkg/cluster/doctor-checks.ts';

interface Attrs { verb: string; resource: string; subresource?: string; namespace?: string; name?: string }

let server: http.Server;
let kc: KubeConfig;
const asked: Attrs[] = [];
/** What the user may do: "verb resource[/subresource] namespace". */
const allowed = new Set(['list pods dev', 'watch pods dev', 'get pods/portforward kx-system', 'get secrets dev']);

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const send = (code: number, obj: unknown) => {
        const text = `${JSON.stringify(obj)}\n`;
        res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.method === 'POST' && req.url === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
        const review = JSON.parse(body) as { spec: { resourceAttributes: Attrs } };
        const a = review.spec.resourceAttributes;
        asked.push(a);
        const key = `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.namespace ?? ''}`;
        const ok = allowed.has(key);
        return send(201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null },
          spec: review.spec, status: ok ? { allowed: true, reason: 'RBAC: allowed by RoleBinding' } : { allowed: false } });
      }
      if (req.method === 'GET' && req.url === '/api/v1/namespaces/dev/secrets/kx-token') {
        return send(200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'kx-token', namespace: 'dev' }, data: { token: 'eA==' }, type: 'Opaque' });
      }
      return send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'dev', cluster: 'c', user: 'u' }],
    currentContext: 'dev',
  });
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('kx doctor RBAC checks with SelfSubjectAccessReview', () => {
  it('asks about exactly the verbs kx needs and reports port-forward create as missing', async () => {
    const checks = await checkRbac({ kubeConfig: kc, namespace: 'dev', version: '0.1.0' });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));

    expect(asked).toContainEqual({ verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'kx-system' });
    expect(byName[CHECK_NAMES.listPods]).toMatchObject({ ok: true, detail: 'you may list and watch pods in namespace "dev"' });
    expect(byName[CHECK_NAMES.readToken].ok).toBe(true);
    expect(byName[CHECK_NAMES.portForward].ok).toBe(false);
    expect(byName[CHECK_NAMES.portForward].hint).toBe('ask the platform team to run kx init --grant-group <your group> (or --grant-user), which gives exactly that in namespace "kx-system"');
    expect(checks.every((c) => c.verified === undefined)).toBe(true);
  });

  it('accepts not being allowed to create Secrets when the kx-token Secret already exists', async () => {
    const checks = await checkRbac({ kubeConfig: kc, namespace: 'dev', version: '0.1.0' });
    const create = checks.find((c) => c.name === CHECK_NAMES.createToken)!;
    expect(create.ok).toBe(true);
    expect(create.detail).toBe('you may not create Secrets in namespace "dev", but Secret kx-token already exists');
  });
});
