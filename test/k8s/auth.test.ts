// 401, 403 and 404 bodies and headers as recorded (README §5, §6), for typed calls and WebSocket upgrades.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster } from './fake-cluster.ts';
import { rawRequest } from './helpers.ts';

const NS = 'wire';
const NOBODY = 'system:serviceaccount:wire:nobody';
let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({
    nodes: [], namespaces: [NS],
    users: {
      'nobody-token': { name: NOBODY, rules: [] },
      'reader-token': { name: 'system:serviceaccount:wire:reader', rules: [
        { verbs: ['get', 'list', 'watch'], resources: ['pods'], namespaces: [NS] },
        { verbs: ['get'], resources: ['secrets'], namespaces: [NS], resourceNames: ['kx-token'] },
      ] },
    },
  });
  cluster.createPod(NS, { metadata: { name: 'web2' }, spec: { containers: [{ name: 'web2', image: 'kx-test-busybox:1' }] } });
});
afterAll(async () => { await cluster?.close(); });

/** A WebSocket upgrade written by hand, to see the plain HTTP answer the server gives before upgrading. */
function rawUpgrade(path: string, token: string): Promise<string> {
  const url = new URL(cluster.server);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nSec-WebSocket-Version: 13\r\n` +
        'Sec-WebSocket-Key: 812+Pqnx/IObr251LrqR1g==\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io\r\n\r\n');
    });
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

function headerNames(raw: string): string[] {
  return raw.split('\r\n\r\n')[0].split('\r\n').slice(1).map((l) => l.split(':')[0]);
}

describe('403 Forbidden', () => {
  it('refuses a list with the recorded Status body and headers; client-node throws ApiException 403', async () => {
    const api = cluster.kubeConfig({ token: 'nobody-token' }).makeApiClient(CoreV1Api);
    const err = await api.listNamespacedPod({ namespace: NS, labelSelector: 'app=api' }).catch((e: unknown) => e) as ApiException<string>;
    expect(err).toBeInstanceOf(ApiException);
    expect(err.code).toBe(403);
    const want = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \\"system:serviceaccount:wire:nobody\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace \\"wire\\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}\n';
    expect(err.body).toBe(want);
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dapi`, 'nobody-token');
    expect(r.body).toBe(want);
    expect(r.headers['content-length']).toBe('275');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-kubernetes-pf-flowschema-uid']).toBeTruthy();
  });

  it('refuses a port-forward upgrade with a plain HTTP 403 naming verb get on pods/portforward', async () => {
    const raw = await rawUpgrade(`/api/v1/namespaces/${NS}/pods/web2/portforward?ports=8080`, 'nobody-token');
    expect(raw.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(headerNames(raw)).toEqual(['Audit-Id', 'Cache-Control', 'Content-Type', 'X-Content-Type-Options', 'Date', 'Content-Length']);
    expect(raw.split('\r\n\r\n')[1]).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"web2\\" is forbidden: User \\"system:serviceaccount:wire:nobody\\" cannot get resource \\"pods/portforward\\" in API group \\"\\" in the namespace \\"wire\\"","reason":"Forbidden","details":{"name":"web2","kind":"pods"},"code":403}\n');
    expect(raw).toContain('Content-Length: 309\r\n');
  });

  it('allows what a user\'s rules allow and nothing else (resource names, namespaces)', async () => {
    const api = cluster.kubeConfig({ token: 'reader-token' }).makeApiClient(CoreV1Api);
    await expect(api.listNamespacedPod({ namespace: NS })).resolves.toBeTruthy();
    await expect(api.readNamespacedSecret({ namespace: NS, name: 'kx-token' })).rejects.toMatchObject({ code: 404 });
    await expect(api.readNamespacedSecret({ namespace: NS, name: 'other' })).rejects.toMatchObject({ code: 403 });
    await expect(api.listNamespacedPod({ namespace: 'default' })).rejects.toMatchObject({ code: 403 });
    await expect(api.deleteNamespacedPod({ namespace: NS, name: 'web2' })).rejects.toMatchObject({ code: 403 });
  });
});

describe('401 Unauthorized', () => {
  it('answers an unknown token with the recorded body and no flow-control headers', async () => {
    const api = cluster.kubeConfig({ token: 'bogus' }).makeApiClient(CoreV1Api);
    const err = await api.listNamespacedPod({ namespace: NS }).catch((e: unknown) => e) as ApiException<unknown>;
    expect(err.code).toBe(401);
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${NS}/pods`, 'bogus');
    expect(r.status).toBe(401);
    expect(r.body).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}\n');
    expect(r.headers['content-length']).toBe('129');
    expect(r.headers['x-kubernetes-pf-flowschema-uid']).toBeUndefined();
  });

  it('answers a port-forward upgrade with an unknown token with a plain HTTP 401', async () => {
    const raw = await rawUpgrade(`/api/v1/namespaces/${NS}/pods/web2/portforward?ports=8080`, 'bogus');
    expect(raw.startsWith('HTTP/1.1 401 Unauthorized\r\n')).toBe(true);
    expect(headerNames(raw)).toEqual(['Audit-Id', 'Cache-Control', 'Content-Type', 'Date', 'Content-Length']);
    expect(raw.split('\r\n\r\n')[1]).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}\n');
  });
});

describe('404 NotFound', () => {
  it.each([NS, 'no-such-ns'])('answers a missing pod in namespace %s with the recorded body', async (ns) => {
    const api = cluster.kubeConfig().makeApiClient(CoreV1Api);
    await expect(api.readNamespacedPod({ namespace: ns, name: 'does-not-exist' })).rejects.toMatchObject({ code: 404 });
    const r = await rawRequest(cluster.server, 'GET', `/api/v1/namespaces/${ns}/pods/does-not-exist`, cluster.adminToken);
    expect(r.body).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"does-not-exist\\" not found","reason":"NotFound","details":{"name":"does-not-exist","kind":"pods"},"code":404}\n');
    expect(r.headers['content-length']).toBe('196');
  });

  it('names the group of an apps resource', async () => {
    const r = await rawRequest(cluster.server, 'GET', `/apis/apps/v1/namespaces/${NS}/daemonsets/nope`, cluster.adminToken);
    expect(JSON.parse(r.body)).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'daemonsets.apps "nope" not found', reason: 'NotFound', details: { name: 'nope', group: 'apps', kind: 'daemonsets' }, code: 404 });
  });
});
