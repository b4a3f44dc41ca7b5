// Port forwards of Kubernetes specs: the daemon's Spec over KubernetesDriver, client-node's PortForward against the
// test API server, whose pods are real containers running busybox httpd. A local port serves the pod, follows the
// pod its Deployment makes after a delete, prefers a Ready pod, and a busy local port is one status line while the
// other forwards and the sync keep working.
import { PortForward } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { Spec } from '../../pkg/daemon/spec.ts';
import type { PortForwardStatus } from '../../pkg/daemon/status.ts';
import { KubernetesDriver } from '../../pkg/kube/driver.ts';
import { TransportDialer } from '../../pkg/kube/transport-dialer.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import type { Json } from '../k8s/fake-cluster.ts';
import { freePort, httpGet, listening } from '../support/http-get.ts';
import { poll } from '../support/poll.ts';
import { startKubeHarness } from './harness.ts';
import type { KubeHarness } from './harness.ts';

const run = promisify(execFile);
const NS = 'fwd';
const HTTP_PORT = 8080;
let h: KubeHarness;
let hasher: Hasher;
let scratch: string;

beforeAll(async () => {
  h = await startKubeHarness({ nodes: ['node-a'], namespaces: [NS] });
  await h.addRadar('node-a');
  await h.createToken(NS);
  hasher = await createHasher();
  scratch = mkdtempSync(join(tmpdir(), 'kx-test-kube-ports-'));
});
afterAll(async () => {
  await h?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A pod template whose busybox httpd answers GET / with the pod's name; optionally Ready only once /tmp/ready exists. */
function webTemplate(labels: Record<string, string>, opts: { readyFile?: boolean } = {}): Json {
  return {
    metadata: { labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'web', image: 'kx-test-busybox:1',
        command: ['/bin/busybox', 'sh', '-c', `mkdir -p /www /app && echo $POD > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`],
        env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        ports: [{ containerPort: HTTP_PORT }],
        ...(opts.readyFile && { readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 } }),
      }],
    },
  };
}

interface Running {
  readonly spec: Spec;
  forwards(): readonly PortForwardStatus[];
  close(): Promise<void>;
}

let specCount = 0;
async function startSpec(selector: string, ports: string[]): Promise<Running> {
  const local = mkdtempSync(join(scratch, 'local-'));
  writeFileSync(join(local, 'hello.txt'), 'hi\n');
  const driver = new KubernetesDriver({
    dialer: new TransportDialer({ clientName: 'kx-test' }),
    kubeconfig: () => ({ kc: h.cluster.kubeConfig(), context: 'fake', namespace: 'default', source: 'test' }),
    watchBackoff: { baseMs: 100, maxMs: 1000 },
    forwarder: () => new PortForward(h.cluster.kubeConfig()),
  });
  const config: SpecConfig = { name: `ports-${++specCount}`, selector, local, remote: '/app', reload: 'none', ignore: [], target: 'kubernetes', namespace: NS, ports };
  const spec = new Spec({ config, driver, engine: { syncTree, syncPaths }, hasher, log: silentLogger, onChange: () => {},
    timing: { quietMs: 10, maxWaitMs: 100, retryMs: 100 }, portBindBackoff: { baseMs: 100, maxMs: 400 } });
  await spec.start();
  return {
    spec,
    forwards: () => spec.status().ports ?? [],
    async close() {
      await spec.close();
      await driver.close();
    },
  };
}

/** GET / through the forward until it answers `expected` (or anything, when not given). */
function served(port: number, expected?: string): Promise<string> {
  return poll(`GET / through 127.0.0.1:${port}${expected ? ` answering ${expected}` : ''}`, async () => {
    const body = (await httpGet(port).catch(() => '')).trim();
    return body !== '' && (expected === undefined || body === expected) ? body : null;
  }, 30_000, 100);
}

describe('port forwards to Kubernetes pods', () => {
  it('serves the pod, follows the pod its Deployment makes after a delete, and reports a busy port and a closed one', async () => {
    h.cluster.scale(NS, 'web', 1, webTemplate({ app: 'web' }));
    const [port, busyPort, deadPort] = [await freePort(), await freePort(), await freePort()];
    const busy: Server = await listening(busyPort);
    const r = await startSpec('app=web', [`${port}:${HTTP_PORT}`, `${busyPort}:${HTTP_PORT}`, `${deadPort}:9999`]);
    try {
      const first = await served(port);
      expect(h.cluster.listPods(NS, 'app=web').map((p) => p.metadata.name as string)).toEqual([first]);
      const [ok, inUse] = r.forwards();
      expect(ok).toMatchObject({ local: port, remote: HTTP_PORT, state: 'ok', target: `${first}/web` });
      expect(inUse).toMatchObject({ local: busyPort, state: 'in-use', message: `127.0.0.1:${busyPort} is in use by another program; retrying` });

      // A port nothing in the pod listens on: the connection closes, and the forward says why.
      await httpGet(deadPort).then(() => expect.fail('port 9999 answered'), () => undefined);
      const dead = await poll('the dead forward\'s reason', () => r.forwards()[2].state === 'error' && r.forwards()[2], 20_000);
      expect(dead.message).toMatch(new RegExp(`^${first}/web port 9999: error forwarding port 9999 to pod`));
      // Meanwhile the spec syncs as usual.
      await poll('the sync', () => r.spec.status().services.some((s) => s.state === 'watching' && s.lastSyncAt !== undefined), 30_000);
      expect((await served(port))).toBe(first);

      // A connection open through the forward closes with its pod; new ones reach the replacement.
      const held = connect(port, '127.0.0.1');
      const heldClosed = new Promise<void>((resolve) => held.once('close', () => resolve()));
      held.on('error', () => undefined);
      await new Promise<void>((resolve) => held.once('connect', () => resolve()));
      await poll('the held connection counted', () => r.forwards()[0].connections >= 1);
      await h.cluster.deletePod(NS, first);
      await heldClosed;
      const second = await poll('a replacement pod', () => h.cluster.listPods(NS, 'app=web').find((p) => p.metadata.name !== first)?.metadata.name as string | undefined);
      expect(await served(port, second)).toBe(second);
      expect(r.forwards()[0]).toMatchObject({ state: 'ok', target: `${second}/web` });

      // The busy port is taken again with back-off once its owner lets go.
      await new Promise((resolve) => busy.close(resolve));
      expect(await served(busyPort, second)).toBe(second);
      expect(r.forwards()[1]).toMatchObject({ state: 'ok' });
    } finally {
      busy.close();
      await r.close();
    }
    // Closed with the spec: every local port is free again.
    for (const p of [port, busyPort, deadPort]) await new Promise<void>((resolve, reject) => { void listening(p).then((s) => s.close(() => resolve()), reject); });
    await r.close(); // idempotent
  });

  it('forwards to a Ready pod rather than one that runs but is not ready', async () => {
    const pod = (name: string, template: Json): Json => ({ ...template, metadata: { ...(template.metadata as Json), name } });
    h.cluster.createPod(NS, pod('probe-a', webTemplate({ app: 'probe' }, { readyFile: true })));
    await h.cluster.waitForPod(NS, 'probe-a', (p) => p?.status?.phase === 'Running');
    h.cluster.createPod(NS, pod('probe-b', webTemplate({ app: 'probe' })));
    await h.cluster.waitForRunning(NS, 'probe-b');
    const port = await freePort();
    const r = await startSpec('app=probe', [`${port}:${HTTP_PORT}`]);
    try {
      expect(await served(port)).toBe('probe-b');
      // probe-a turns Ready, probe-b goes: the forward moves to probe-a.
      await run('docker', ['exec', h.cluster.containerId(NS, 'probe-a')!, 'touch', '/tmp/ready']);
      await h.cluster.waitForRunning(NS, 'probe-a');
      expect(r.forwards()[0]).toMatchObject({ target: 'probe-b/web' }); // stays while its target is ready
      await h.cluster.deletePod(NS, 'probe-b');
      expect(await served(port, 'probe-a')).toBe('probe-a');
    } finally {
      await r.close();
    }
  });
});
