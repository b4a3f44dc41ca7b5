// The node tunnel: gRPC to a real radar through client-node's port-forward WebSocket on the test API server.
import { PortForward } from '@kubernetes/client-node';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RadarLocator } from '../../pkg/kube/radar-locator.ts';
import { Tunnel, TunnelPool } from '../../pkg/kube/tunnel.ts';
import type { PortForwarder, TunnelEvent } from '../../pkg/kube/tunnel.ts';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import { RADAR_NS, sleeperPod, startKubeHarness } from './harness.ts';
import type { KubeHarness } from './harness.ts';
import { poll } from '../support/poll.ts';

const NS = 'tun';
let h: KubeHarness;
let token: string;
let containerId: string;

beforeAll(async () => {
  h = await startKubeHarness({ nodes: ['node-a'], namespaces: [NS] });
  await h.addRadar('node-a');
  token = await h.createToken(NS);
  h.cluster.createPod(NS, sleeperPod('app-1', { app: 'tun' }));
  await h.cluster.waitForRunning(NS, 'app-1');
  containerId = h.cluster.containerId(NS, 'app-1')!;
});
afterAll(async () => {
  await h?.close();
});

/** client-node's PortForward, keeping hold of the WebSockets it opens so a test can cut them like a network would. */
class CuttableForwarder implements PortForwarder {
  readonly sockets: { terminate(): void }[] = [];
  readonly #inner: PortForward;
  constructor(inner: PortForward) { this.#inner = inner; }
  async portForward(ns: string, pod: string, ports: number[], out: Writable, err: Writable | null, input: Socket): Promise<unknown> {
    const ws = await this.#inner.portForward(ns, pod, ports, out, err, input);
    this.sockets.push(ws as unknown as { terminate(): void });
    return ws;
  }
  cutAll(): void {
    for (const ws of this.sockets.splice(0)) ws.terminate();
  }
}

/** Retries `fn` until it stops throwing (a reconnect takes a few attempts). */
async function eventually<T>(what: string, fn: () => Promise<T>): Promise<T> {
  return (await poll(what, async () => ({ value: await fn() }), 4_000, 100)).value;
}

function tunnelFor(forwarder?: PortForwarder, events?: TunnelEvent[], token?: string): Tunnel {
  const kc = h.cluster.kubeConfig(token ? { token } : {});
  const locator = new RadarLocator({ kc, context: 'fake' });
  return new Tunnel({ kc, context: 'fake', locate: () => locator.locate('node-a'), forwarder, onEvent: (e) => events?.push(e) });
}

describe('Tunnel', () => {
  it('carries a gRPC handshake and a manifest to the radar on the node through the port-forward', async () => {
    const tunnel = tunnelFor();
    await tunnel.start();
    const session = await new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: containerId }, remotePath: '/app' });
    try {
      const manifest = await session.receiver.manifest([]);
      expect(manifest.size).toBe(0);
      expect(tunnel.stats().forwards).toBe(1);
      expect(tunnel.address).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await session.close();
      await tunnel.close();
    }
  });

  it('survives a killed WebSocket: gRPC dials again through a fresh forward and the resume is reported', async () => {
    const forwarder = new CuttableForwarder(new PortForward(h.cluster.kubeConfig()));
    const events: TunnelEvent[] = [];
    const tunnel = tunnelFor(forwarder, events);
    await tunnel.start();
    const session = await new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: containerId }, remotePath: '/app' });
    try {
      await session.receiver.manifest([]);
      forwarder.cutAll();
      await eventually('manifest after the cut', () => session.receiver.manifest([]));
      const kinds = events.map((e) => e.kind);
      expect(kinds).toContain('dropped');
      expect(kinds[kinds.length - 1]).toBe('resumed');
      expect(tunnel.stats().reconnects).toBe(1);
      expect(tunnel.stats().lastResumeMs).toBeGreaterThanOrEqual(0);
      expect(tunnel.stats().forwards).toBe(2);
    } finally {
      await session.close();
      await tunnel.close();
    }
  });

  it('finds the radar pod again when it is replaced, and resumes through the new one', async () => {
    const tunnel = tunnelFor();
    await tunnel.start();
    const session = await new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: containerId }, remotePath: '/app' });
    try {
      await session.receiver.manifest([]);
      await h.removeRadar('node-a');
      await h.addRadar('node-a', 'kx-radar-node-a-2');
      const before = tunnel.stats().forwards;
      await eventually('manifest through the new radar pod', () => session.receiver.manifest([]));
      expect(tunnel.stats().forwards).toBeGreaterThan(before);
      expect(tunnel.lastError).toBeUndefined();
    } finally {
      await session.close();
      await tunnel.close();
      await h.removeRadar('node-a');
      await h.addRadar('node-a');
    }
  });

  it('says plainly that RBAC forbids port-forward in the radar namespace (403)', async () => {
    const limited = `pf-denied-${Math.random().toString(36).slice(2)}`;
    h.cluster.addUser(limited, { name: 'system:serviceaccount:tun:dev', rules: [{ verbs: ['get', 'list', 'watch'], resources: ['pods', 'secrets'] }] });
    const events: TunnelEvent[] = [];
    const tunnel = tunnelFor(undefined, events, limited);
    await tunnel.start();
    const dial = new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: containerId }, remotePath: '/app' });
    try {
      await expect(dial).rejects.toThrow();
      expect(tunnel.lastError?.code).toBe('PERMISSION_DENIED');
      expect(tunnel.lastError?.message).toBe(`RBAC forbids port-forward to radar pod "kx-radar-node-a" in namespace "${RADAR_NS}" for context "fake": grant get and create on pods/portforward in namespace "${RADAR_NS}"`);
      expect(events.some((e) => e.kind === 'failed')).toBe(true);
    } finally {
      await tunnel.close();
    }
  });

  it('closes idempotently, waiting for the sockets it bridged', async () => {
    const tunnel = tunnelFor();
    await tunnel.start();
    const session = await new TransportDialer().dial({ address: tunnel.address, token, container: { runtime: 'docker', id: containerId }, remotePath: '/app' });
    await session.receiver.manifest([]);
    expect(tunnel.stats().open).toBe(1);
    const first = tunnel.close();
    expect(tunnel.close()).toBe(first);
    await first;
    expect(tunnel.stats().open).toBe(0);
    await session.close();
  });
});

describe('TunnelPool', () => {
  it('shares one started tunnel per key and closes it when the last holder releases it', async () => {
    const pool = new TunnelPool();
    let made = 0;
    const create = (): Tunnel => { made++; return tunnelFor(); };
    const a = await pool.acquire('fake/node-a', create);
    const b = await pool.acquire('fake/node-a', create);
    expect(made).toBe(1);
    expect(b.tunnel).toBe(a.tunnel);
    await a.release();
    await a.release();
    expect(pool.tunnels().size).toBe(1);
    await b.release();
    expect(pool.tunnels().size).toBe(0);
    await pool.close();
  });
});
