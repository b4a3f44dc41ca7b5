// Kubernetes specs end to end: the daemon's Spec over KubernetesDriver, the real sync engine, client-node against
// the test API server, port-forward tunnels to real radar servers, files checked inside the pods' containers.
import { PortForward } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { Spec } from '../../pkg/daemon/spec.ts';
import type { ServiceStatus, SpecStatus } from '../../pkg/daemon/status.ts';
import { KubernetesDriver } from '../../pkg/kube/driver.ts';
import type { PortForwarder, TunnelEvent } from '../../pkg/kube/tunnel.ts';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { sleeperPod, startKubeHarness } from './harness.ts';
import type { KubeHarness } from './harness.ts';

const run = promisify(execFile);
const NS = 'e2e';
let h: KubeHarness;
let hasher: Hasher;
let scratch: string;

beforeAll(async () => {
  h = await startKubeHarness({ nodes: ['node-a', 'node-b'], namespaces: [NS, 'no-token'] });
  await Promise.all([h.addRadar('node-a'), h.addRadar('node-b')]);
  await h.createToken(NS);
  hasher = await createHasher();
  scratch = mkdtempSync(join(tmpdir(), 'kx-test-kube-e2e-'));
});
afterAll(async () => {
  await h?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** client-node's PortForward that keeps its WebSockets, so a test can cut them like a failing network. */
class CuttableForwarder implements PortForwarder {
  readonly #inner: PortForward;
  readonly #open: { terminate(): void }[] = [];
  constructor(inner: PortForward) { this.#inner = inner; }
  async portForward(ns: string, pod: string, ports: number[], out: Writable, err: Writable | null, input: Socket): Promise<unknown> {
    const ws = await this.#inner.portForward(ns, pod, ports, out, err, input);
    this.#open.push(ws as unknown as { terminate(): void });
    return ws;
  }
  cutAll(): number {
    const all = this.#open.splice(0);
    for (const ws of all) ws.terminate();
    return all.length;
  }
}

interface Running {
  readonly spec: Spec;
  readonly driver: KubernetesDriver;
  readonly local: string;
  readonly forwarder: CuttableForwarder;
  readonly tunnelEvents: TunnelEvent[];
  status(): SpecStatus;
  until(what: string, cond: (s: SpecStatus) => boolean, timeoutMs?: number): Promise<SpecStatus>;
  close(): Promise<void>;
}

let specCount = 0;
async function startSpec(over: Partial<SpecConfig> & { token?: string; driver?: KubernetesDriver } = {}): Promise<Running> {
  const local = over.local ?? mkdtempSync(join(scratch, 'local-'));
  const forwarder = new CuttableForwarder(new PortForward(h.cluster.kubeConfig(over.token ? { token: over.token } : {})));
  const tunnelEvents: TunnelEvent[] = [];
  const driver = over.driver ?? new KubernetesDriver({
    dialer: new TransportDialer({ clientName: 'kx-test' }),
    kubeconfig: () => ({ kc: h.cluster.kubeConfig(over.token ? { token: over.token } : {}), context: 'fake', namespace: 'default', source: 'test' }),
    watchBackoff: { baseMs: 100, maxMs: 1000 },
    forwarder: () => forwarder,
    onTunnelEvent: (_node, e) => tunnelEvents.push(e),
  });
  const config: SpecConfig = {
    name: `spec-${++specCount}`, local, remote: '/app', reload: 'none', ignore: [], target: 'kubernetes', namespace: NS,
    ...over,
  };
  const spec = new Spec({ config, driver, engine: { syncTree, syncPaths }, hasher, log: silentLogger, onChange: () => {},
    timing: { quietMs: 10, maxWaitMs: 100, retryMs: 100 } });
  await spec.start();
  const status = (): SpecStatus => spec.status();
  return {
    spec, driver, local, forwarder, tunnelEvents, status,
    async until(what, cond, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = status();
        if (cond(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out: ${what}; status ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await spec.close();
      if (!over.driver) await driver.close();
    },
  };
}

async function readInPod(pod: string, path: string, container?: string): Promise<string | null> {
  const id = h.cluster.containerId(NS, pod, container);
  if (!id) return null;
  try {
    return (await run('docker', ['exec', id, 'cat', path])).stdout;
  } catch {
    return null;
  }
}

async function untilInPod(pod: string, path: string, content: string, container?: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = await readInPod(pod, path, container);
    if (got === content) return;
    if (Date.now() > deadline) throw new Error(`${pod}:${path} is ${JSON.stringify(got)}, expected ${JSON.stringify(content)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const watching = (s: SpecStatus, n: number): boolean =>
  s.services.length === n && s.services.every((x: ServiceStatus) => x.state === 'watching' && x.lastSyncAt !== undefined);

describe('Kubernetes specs end to end', () => {
  it('syncs a folder into every matching pod on every node, then each edit', async () => {
    h.cluster.createPod(NS, sleeperPod('every-a', { app: 'every' }, ['app'], 'node-a'));
    h.cluster.createPod(NS, sleeperPod('every-b', { app: 'every' }, ['app'], 'node-b'));
    h.cluster.createPod(NS, sleeperPod('other', { app: 'other' }, ['app'], 'node-a'));
    await Promise.all(['every-a', 'every-b', 'other'].map((p) => h.cluster.waitForRunning(NS, p)));
    const local = mkdtempSync(join(scratch, 'every-'));
    writeFileSync(join(local, 'hello.txt'), 'v1\n');
    const r = await startSpec({ selector: 'app=every', local });
    try {
      const s = await r.until('both pods watching', (x) => watching(x, 2));
      expect(s.services.map((x) => x.target).sort()).toEqual(['every-a/app', 'every-b/app']);
      expect(await readInPod('every-a', '/app/hello.txt')).toBe('v1\n');
      expect(await readInPod('every-b', '/app/hello.txt')).toBe('v1\n');
      await writeFile(join(local, 'hello.txt'), 'v2\n');
      await mkdir(join(local, 'src'));
      await writeFile(join(local, 'src', 'new.js'), 'x = 1\n');
      for (const pod of ['every-a', 'every-b']) {
        await untilInPod(pod, '/app/hello.txt', 'v2\n');
        await untilInPod(pod, '/app/src/new.js', 'x = 1\n');
      }
      expect(await readInPod('other', '/app/hello.txt')).toBeNull();
      expect([...r.driver.tunnels().keys()].sort()).toEqual(['fake/node-a', 'fake/node-b']);
    } finally {
      await r.close();
    }
  });

  it('re-syncs a container restarted in place into a single row', async () => {
    h.cluster.createPod(NS, sleeperPod('restart-1', { app: 'restart' }));
    await h.cluster.waitForRunning(NS, 'restart-1');
    const local = mkdtempSync(join(scratch, 'restart-'));
    writeFileSync(join(local, 'code.txt'), 'kept\n');
    const r = await startSpec({ selector: 'app=restart', local });
    try {
      await r.until('watching', (x) => watching(x, 1));
      const { newId } = await h.cluster.restartContainer(NS, 'restart-1');
      const s = await r.until('new container synced', (x) => watching(x, 1) && x.services[0].targetId.endsWith(newId));
      expect(s.services).toHaveLength(1);
      await untilInPod('restart-1', '/app/code.txt', 'kept\n');
    } finally {
      await r.close();
    }
  });

  it('syncs two specs into the same pod over one shared tunnel', async () => {
    h.cluster.createPod(NS, sleeperPod('shared-1', { app: 'shared' }, ['app'], 'node-a'));
    await h.cluster.waitForRunning(NS, 'shared-1');
    const driver = new KubernetesDriver({
      dialer: new TransportDialer(),
      kubeconfig: () => ({ kc: h.cluster.kubeConfig(), context: 'fake', namespace: 'default', source: 'test' }),
    });
    const one = mkdtempSync(join(scratch, 'one-'));
    const two = mkdtempSync(join(scratch, 'two-'));
    writeFileSync(join(one, 'a.txt'), 'from one\n');
    writeFileSync(join(two, 'b.txt'), 'from two\n');
    const r1 = await startSpec({ selector: 'app=shared', local: one, remote: '/app/one', driver });
    const r2 = await startSpec({ pod: 'shared-1', local: two, remote: '/app/two', driver });
    try {
      await r1.until('one watching', (x) => watching(x, 1));
      await r2.until('two watching', (x) => watching(x, 1));
      expect(await readInPod('shared-1', '/app/one/a.txt')).toBe('from one\n');
      expect(await readInPod('shared-1', '/app/two/b.txt')).toBe('from two\n');
      expect([...driver.tunnels().keys()]).toEqual(['fake/node-a']);
    } finally {
      await r1.close();
      await r2.close();
      await driver.close();
    }
  });

  it('resumes an initial sync cut mid-way by a dropped tunnel, leaving nothing half-written', async () => {
    h.cluster.createPod(NS, sleeperPod('cut-1', { app: 'cut' }));
    await h.cluster.waitForRunning(NS, 'cut-1');
    const local = mkdtempSync(join(scratch, 'cut-'));
    const chunk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < 40; i++) {
      chunk.fill(i);
      writeFileSync(join(local, `f${i}.bin`), chunk);
    }
    const r = await startSpec({ selector: 'app=cut', local });
    try {
      await r.until('sending', (x) => (x.services[0]?.progress?.bytes ?? 0) > 0 || x.services[0]?.state === 'watching');
      const cut = r.forwarder.cutAll();
      expect(cut).toBeGreaterThan(0);
      await r.until('watching after resume', (x) => watching(x, 1));
      const id = h.cluster.containerId(NS, 'cut-1')!;
      const listing = (await run('docker', ['exec', id, 'ls', '-a', '/app'])).stdout.split('\n').filter((n) => n && n !== '.' && n !== '..');
      expect(listing.filter((n) => n.startsWith('.kx-tmp-'))).toEqual([]);
      expect(listing.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `f${i}.bin`).sort());
      const sums = (await run('docker', ['exec', id, 'sh', '-c', 'cd /app && md5sum *.bin'])).stdout;
      const local5 = (await run('sh', ['-c', `cd ${local} && md5sum *.bin`])).stdout;
      expect(sums.split('\n').sort()).toEqual(local5.split('\n').sort());
      expect(r.tunnelEvents.some((e) => e.kind === 'dropped')).toBe(true);
      expect(r.tunnelEvents.some((e) => e.kind === 'resumed')).toBe(true);
    } finally {
      await r.close();
    }
  });

  it('says in the row that radar is missing on the pod\'s node, and that the token Secret is missing', async () => {
    h.cluster.addNode('node-bare');
    h.cluster.addNamespace('no-token');
    h.cluster.createPod(NS, sleeperPod('bare-1', { app: 'bare' }, ['app'], 'node-bare'));
    h.cluster.createPod('no-token', sleeperPod('tokenless-1', { app: 'tokenless' }, ['app'], 'node-a'));
    await h.cluster.waitForRunning(NS, 'bare-1');
    await h.cluster.waitForRunning('no-token', 'tokenless-1');
    const bare = await startSpec({ selector: 'app=bare' });
    const tokenless = await startSpec({ selector: 'app=tokenless', namespace: 'no-token' });
    try {
      const b = await bare.until('error shown', (x) => x.services[0]?.lastError !== undefined);
      expect(b.services[0].lastError).toMatch(/^no radar pod on node "node-bare" \(radar runs on: node-a, node-b\); check the kx-radar DaemonSet/);
      const t = await tokenless.until('error shown', (x) => x.services[0]?.lastError !== undefined);
      expect(t.services[0].lastError).toBe('token Secret kx-token is missing in namespace "no-token": run kx token -n no-token');
    } finally {
      await bare.close();
      await tokenless.close();
      // Later tests schedule round robin: leave no radar-less node behind.
      await h.cluster.deletePod(NS, 'bare-1', 0);
      h.cluster.removeNode('node-bare');
    }
  });

  it('says in the row that RBAC forbids port-forward to radar (403)', async () => {
    const token = `e2e-nopf-${Math.random().toString(36).slice(2)}`;
    h.cluster.addUser(token, { name: 'dev', rules: [{ verbs: ['get', 'list', 'watch'], resources: ['pods', 'secrets'] }] });
    h.cluster.createPod(NS, sleeperPod('nopf-1', { app: 'nopf' }, ['app'], 'node-a'));
    await h.cluster.waitForRunning(NS, 'nopf-1');
    const r = await startSpec({ selector: 'app=nopf', token });
    try {
      const s = await r.until('error shown', (x) => x.services[0]?.lastError !== undefined);
      expect(s.services[0].lastError).toBe('RBAC forbids port-forward to radar pod "kx-radar-node-a" in namespace "kx-system" for context "fake": grant get and create on pods/portforward in namespace "kx-system"');
    } finally {
      await r.close();
    }
  });

  it('follows a Deployment: scaled up the new pod is synced, scaled down its row goes, a deleted pod\'s replacement is synced', async () => {
    const template = sleeperPod('unused', { app: 'deploy' });
    h.cluster.scale(NS, 'deploy', 1, { metadata: template.metadata, spec: template.spec });
    const local = mkdtempSync(join(scratch, 'deploy-'));
    writeFileSync(join(local, 'index.html'), 'hi\n');
    const r = await startSpec({ selector: 'app=deploy', local });
    const podOf = (x: SpecStatus): string[] => x.services.map((svc) => svc.target.split('/')[0]).sort();
    try {
      const one = await r.until('one pod', (x) => watching(x, 1));
      const [first] = podOf(one);
      h.cluster.scale(NS, 'deploy', 2);
      const two = await r.until('scaled up', (x) => watching(x, 2));
      const added = podOf(two).find((p) => p !== first)!;
      await untilInPod(added, '/app/index.html', 'hi\n');

      await h.cluster.deletePod(NS, first, 0);
      const replaced = await r.until('replacement synced', (x) => watching(x, 2) && !podOf(x).includes(first));
      const replacement = podOf(replaced).find((p) => p !== added)!;
      await untilInPod(replacement, '/app/index.html', 'hi\n');

      h.cluster.scale(NS, 'deploy', 1);
      const down = await r.until('scaled down', (x) => watching(x, 1));
      expect(down.services).toHaveLength(1);
    } finally {
      await r.close();
      h.cluster.scale(NS, 'deploy', 0);
    }
  });
});
