// pods/portforward: through client-node's PortForward to a real container, and frame by frame with a plain
// WebSocket client to check the wire format recorded in README §4.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { AppsV1Api, PortForward } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { startFakeApiServer } from './fake-cluster.ts';
import type { FakeCluster, KubeObject } from './fake-cluster.ts';
import { eventually } from './helpers.ts';

const NS = 'pf';
const ECHO_PORT = 7000;
let cluster: FakeCluster;
let kc: KubeConfig;
const servers: net.Server[] = [];

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: [NS] });
  kc = cluster.kubeConfig();
  cluster.createPod(NS, { metadata: { name: 'echo', labels: { app: 'echo' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{
    name: 'echo', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'nc', '-ll', '-p', String(ECHO_PORT), '-e', '/bin/busybox', 'cat'],
    ports: [{ containerPort: ECHO_PORT }],
  }] } });
  await cluster.waitForRunning(NS, 'echo');
});
afterAll(async () => {
  for (const s of servers) s.close();
  await cluster?.close();
});

/** A host TCP server (the stand-in for a radar process); `onConn` decides what it does. */
async function hostServer(onConn: (s: net.Socket) => void): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const srv = net.createServer((s) => { n++; onConn(s); });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, connections: () => n };
}

/** client-node's documented use: a local listener, one portForward call per accepted socket. */
async function localForward(pod: string, port: number): Promise<number> {
  const pf = new PortForward(kc);
  const local = net.createServer((sock) => { void pf.portForward(NS, pod, [port], sock, null, sock).catch(() => sock.destroy()); });
  servers.push(local);
  await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
  return (local.address() as AddressInfo).port;
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => { got += d.toString(); if (got.length >= text.length) { s.destroy(); resolve(got); } });
    s.on('error', reject);
  });
}

interface Frames { ws: WebSocket; messages: Buffer[]; closed: Promise<number> }

async function openRaw(pod: string, port: number, token = cluster.adminToken): Promise<Frames> {
  const url = `${cluster.server.replace('http', 'ws')}/api/v1/namespaces/${NS}/pods/${pod}/portforward?ports=${port}`;
  const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'],
    { headers: { Authorization: `Bearer ${token}` } });
  const messages: Buffer[] = [];
  ws.on('message', (d: Buffer) => messages.push(d));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => { ws.on('open', () => resolve()); ws.on('error', reject); });
  return { ws, messages, closed };
}

describe('port-forward through client-node', () => {
  it('echoes bytes through a real container listening on a declared container port', async () => {
    const port = await localForward('echo', ECHO_PORT);
    expect(await roundTrip(port, 'hello through the pod')).toBe('hello through the pod');
    expect(await roundTrip(port, 'second connection')).toBe('second connection');
  });

  it('reaches a radar host process registered for the node of a DaemonSet pod', async () => {
    const radar = await hostServer((s) => s.pipe(s));
    cluster.setNodeAgent('node-b', radar.port);
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDaemonSet({ namespace: NS, body: { metadata: { name: 'radar', labels: { app: 'radar' } }, spec: {
      selector: { matchLabels: { app: 'radar' } },
      template: { metadata: { labels: { app: 'radar' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'radar', image: 'kx/radar:not-in-this-engine', ports: [{ containerPort: 7700 }] }] } },
    } } });
    const pod = await eventually<KubeObject>(() => cluster.listPods(NS, 'app=radar')
      .find((p) => p.spec.nodeName === 'node-b' && p.status.phase === 'Running'), 30_000, 'radar pod on node-b');
    const port = await localForward(pod.metadata.name, 7700);
    expect(await roundTrip(port, 'to radar')).toBe('to radar');
    expect(radar.connections()).toBe(1);
  });
});

describe('port-forward frames (README §4)', () => {
  it('picks v4.channel.k8s.io without compression and sends the two port-prefix frames first', async () => {
    const f = await openRaw('echo', ECHO_PORT);
    expect(f.ws.protocol).toBe('v4.channel.k8s.io');
    expect(f.ws.extensions).toBe('');
    await eventually(() => f.messages.length >= 2, 5000, 'prefix frames');
    expect(f.messages.slice(0, 2).map((m) => m.toString('hex'))).toEqual(['00581b', '01581b']);
    f.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
    await eventually(() => f.messages.length >= 3, 5000, 'echo frame');
    expect(Buffer.concat(f.messages.slice(2)).toString()).toBe('\u0000ping');
    f.ws.close();
    await f.closed;
  });

  it('answers a port nothing listens on with the error text on channel 1 and Close 1000', async () => {
    const f = await openRaw('echo', 9999);
    expect(await f.closed).toBe(1000);
    expect(f.messages.slice(0, 2).map((m) => m.toString('hex'))).toEqual(['000f27', '010f27']);
    expect(f.messages).toHaveLength(3);
    expect(f.messages[2][0]).toBe(1);
    expect(f.messages[2].subarray(1).toString()).toMatch(
      /^error forwarding port 9999 to pod [0-9a-f]{64}, uid : failed to execute portforward in network namespace "\/var\/run\/netns\/cni-[-0-9a-f]+": failed to connect to localhost:9999 inside namespace "[0-9a-f]{64}", IPv4: dial tcp4 127\.0\.0\.1:9999: connect: connection refused IPv6 dial tcp6: address localhost: no suitable address found $/);
  });

  it('sends Close 1000 after the data when the target closes its end', async () => {
    const target = await hostServer((s) => s.end('bye'));
    cluster.setPortForwardTarget((pod, port) => (pod.metadata.name === 'echo' && port === 8123 ? target.port : undefined));
    try {
      const f = await openRaw('echo', 8123);
      expect(await f.closed).toBe(1000);
      expect(Buffer.concat(f.messages.slice(2)).toString()).toBe('\u0000bye');
    } finally {
      cluster.setPortForwardTarget(null);
    }
  });

  it('opens one TCP connection per WebSocket', async () => {
    const target = await hostServer((s) => s.pipe(s));
    cluster.setPortForwardTarget((_pod, port) => (port === 8124 ? target.port : undefined));
    try {
      const a = await openRaw('echo', 8124);
      const b = await openRaw('echo', 8124);
      await eventually(() => target.connections() === 2, 5000, 'two connections');
      a.ws.close(); b.ws.close();
      await Promise.all([a.closed, b.closed]);
      expect(target.connections()).toBe(2);
    } finally {
      cluster.setPortForwardTarget(null);
    }
  });

  it('closes an open forward with Close 1000 when the pod is deleted', async () => {
    cluster.createPod(NS, { metadata: { name: 'short', labels: { app: 'short' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{
      name: 'c', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'nc', '-ll', '-p', String(ECHO_PORT), '-e', '/bin/busybox', 'cat'], ports: [{ containerPort: ECHO_PORT }],
    }] } });
    await cluster.waitForRunning(NS, 'short');
    const f = await openRaw('short', ECHO_PORT);
    await cluster.deletePod(NS, 'short');
    expect(await f.closed).toBe(1000);
    expect(f.messages.map((m) => m[0])).toEqual([0, 1]);
  });
});
