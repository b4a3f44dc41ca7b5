// radar/main.ts in node mode as a real process: the real Docker engine for containers, the test Kubernetes API
// server for the kx-token Secrets (--kubeconfig), and kx's own client and sync engine on the other end.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncTree } from '../../pkg/sync/push.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { RUNTIME_ANNOTATION } from '../../proto/radar-pod.ts';
import { KNOWN_SOCKETS } from '../../pkg/runtime/sockets.ts';
import type { FakeCluster } from '../k8s/fake-cluster.ts';
import { docker } from './containers.ts';
import { refusal } from '../support/refusal.ts';
import { startRadar, type RadarProcess } from './helpers/radar-process.ts';
import { startTeamCluster, type TeamCluster } from './helpers/team-cluster.ts';

const MAIN = resolve(import.meta.dirname, '../../radar/main.ts');
/** radar must not take this test host for a pod, whatever runs the tests. */
const { KUBERNETES_SERVICE_HOST: _inCluster, ...childEnv } = process.env;

let team: TeamCluster;
let cluster: FakeCluster;
let work: string;
let kubeconfig: string;
let tokenA: string;
let tokenB: string;
let containerA: string; // docker://… of a pod container in namespace team-a
let radar: RadarProcess;
const clients: RadarClient[] = [];

/** Runs radar/main.ts to its exit. */
async function runRadar(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

function client(token: string | undefined, remotePath: string, containerId = containerA): RadarClient {
  const c = new RadarClient({ address: radar.address, ...(token === undefined ? {} : { token }), target: { containerId, remotePath } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  team = await startTeamCluster('kx-test-radar-node-');
  ({ cluster, work, kubeconfig, tokenA, tokenB, containerA } = team);
  // Docker only: this host's containerd is Docker's own (namespace moby), which holds no Kubernetes labels.
  radar = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--containerd-socket', '', '--node-name', 'node-1']);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await radar?.stop();
  await team?.close();
});

describe('radar node mode', () => {
  it("syncs a local tree into a pod's container, creating the remote path that did not exist yet", async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'hello.txt'), 'hello from kx\n');
    await writeFile(join(src, 'sub', 'deep.txt'), 'deep\n');
    const id = containerA.slice('docker://'.length);
    await expect(docker('exec', id, 'test', '-e', '/app/new')).rejects.toThrow();

    const c = client(tokenA, '/app/new');
    await c.start();
    const result = await syncTree({ root: src, receiver: c, hasher: await createHasher(), rules: [] });

    expect(result.errors).toEqual([]);
    expect(await docker('exec', id, 'cat', '/app/new/hello.txt')).toBe('hello from kx');
    expect(await docker('exec', id, 'cat', '/app/new/sub/deep.txt')).toBe('deep');
  });

  it('reports the namespace the runtime gives the container', async () => {
    const info = await client(tokenA, '/app').describe();
    expect(info).toMatchObject({ runtime: 'docker', namespace: 'team-a' });
  });

  it("refuses the token of another namespace with PERMISSION_DENIED, and writes nothing", async () => {
    const err = await refusal(client(tokenB, '/app/other-ns').start());
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(err.message).toContain('team-a');
    await expect(docker('exec', containerA.slice('docker://'.length), 'test', '-e', '/app/other-ns')).rejects.toThrow();
  });

  it('refuses a missing token with UNAUTHENTICATED', async () => {
    expect((await refusal(client(undefined, '/app').start())).code).toBe(ErrorCode.Unauthenticated);
  });

  it('refuses a container that does not exist with NOT_FOUND naming it', async () => {
    const ghost = `docker://${'0'.repeat(64)}`;
    const err = await refusal(client(tokenA, '/app', ghost).start());
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain('0'.repeat(12));
  });

  it('logs one line for a runtime whose socket is missing and serves with the others', async () => {
    const missing = join(work, 'no-containerd.sock');
    const r = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--containerd-socket', missing]);
    try {
      const lines = r.stderr().split('\n').filter((l) => l.includes(missing));
      expect(lines).toEqual([`radar: no containerd runtime: ${missing} does not exist`]);
    } finally {
      r.child.kill('SIGTERM');
      await once(r.child, 'exit');
    }
  });

  it('exits 0 on SIGTERM after closing', async () => {
    const r = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--containerd-socket', '']);
    r.child.kill('SIGTERM');
    const [code, signal] = (await once(r.child, 'exit')) as [number | null, string | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it('exits 0 on SIGINT too', async () => {
    const r = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--containerd-socket', '']);
    r.child.kill('SIGINT');
    const [code] = (await once(r.child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});

describe('radar finding the runtime on its node', () => {
  /** A radar pod object to annotate (the kubelet runs a sleeper for it). */
  async function radarPod(name: string): Promise<void> {
    cluster.createPod('team-a', { metadata: { name }, spec: { terminationGracePeriodSeconds: 0,
      containers: [{ name: 'radar', image: 'kx-test-busybox:1', command: ['/bin/busybox', 'sleep', '3600'] }] } });
    await cluster.waitForRunning('team-a', name);
  }
  const annotation = (pod: string) => cluster.getPod('team-a', pod)?.metadata?.annotations?.[RUNTIME_ANNOTATION] as string | undefined;

  it('finds the k3s containerd socket and the Docker socket under --host-root, logs and annotates which it uses', async () => {
    // A node laid out like k3s, mounted under a host root as in radar's pod: the sockets are this host's own.
    const host = join(work, 'host-k3s');
    await mkdir(join(host, 'run/k3s/containerd'), { recursive: true });
    await mkdir(join(host, 'var/run'), { recursive: true });
    await symlink('/var/run/docker/containerd/containerd.sock', join(host, 'run/k3s/containerd/containerd.sock'));
    await symlink('/var/run/docker.sock', join(host, 'var/run/docker.sock'));
    await radarPod('radar-k3s');
    const r = await startRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--host-root', host, '--pod-name', 'radar-k3s', '--pod-namespace', 'team-a']);
    try {
      const lines = r.stderr().split('\n').filter((l) => l.startsWith('radar: using'));
      expect(lines).toEqual([
        `radar: using containerd at /run/k3s/containerd/containerd.sock (k3s, RKE2 layout), seen at ${host}/run/k3s/containerd/containerd.sock, namespace k8s.io`,
        `radar: using docker at /var/run/docker.sock (Docker, cri-dockerd layout), seen at ${host}/var/run/docker.sock`,
      ]);
      await expect.poll(() => annotation('radar-k3s')).toBe(
        'containerd at /run/k3s/containerd/containerd.sock (k3s, RKE2 layout), namespace k8s.io; docker at /var/run/docker.sock (Docker, cri-dockerd layout)');
    } finally {
      r.child.kill('SIGTERM');
      await once(r.child, 'exit');
    }
  });

  it('names every known socket path it tried, in one line and on its pod, when it finds none', async () => {
    const host = join(work, 'host-empty');
    await mkdir(host, { recursive: true });
    await radarPod('radar-none');
    const r = await runRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--host-root', host, '--pod-name', 'radar-none', '--pod-namespace', 'team-a']);
    expect(r.code).not.toBe(0);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^radar: no container runtime found: tried /);
    for (const k of KNOWN_SOCKETS) expect(last).toContain(`${k.path} (does not exist)`);
    expect(last).toContain(`under ${host}`);
    expect(annotation('radar-none')).toBe(`none: ${last.slice('radar: '.length)}`);
  });
});

describe('radar startup errors', () => {
  it('names every socket it tried when no container runtime is found', async () => {
    const a = join(work, 'no-docker.sock');
    const b = join(work, 'no-containerd.sock');
    const r = await runRadar(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--docker-socket', a, '--containerd-socket', b]);
    expect(r.code).not.toBe(0);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^radar: no container runtime found/);
    expect(last).toContain(a);
    expect(last).toContain(b);
  });

  it('says how to point it at an API server when it runs outside a pod without --kubeconfig', async () => {
    const r = await runRadar(['--listen', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('radar: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): pass --kubeconfig FILE');
  });

  it('refuses an unknown flag in one line pointing at --help', async () => {
    const r = await runRadar(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--bogus');
  });
});

describe('radar --help', () => {
  it('exits 0 and lists every flag the DaemonSet passes and every env var it sets', async () => {
    const r = await runRadar(['--help']);
    expect(r.code).toBe(0);
    const container = radarObjects(defaultValues('0.0.0')).daemonSet.spec!.template.spec!.containers[0];
    const flags = (container.args ?? []).filter((a) => a.startsWith('--'));
    const envs = (container.env ?? []).map((e) => e.name);
    expect(flags.length).toBeGreaterThan(0);
    expect(envs.length).toBeGreaterThan(0);
    for (const word of [...flags, ...envs]) expect(r.stdout, word).toContain(word);
  });

  it('lists every flag radar accepts', async () => {
    const r = await runRadar(['--help']);
    const flags = ['--listen', '--fsync', '--help', '--root', '--token-file', '--docker-socket', '--containerd-socket', '--containerd-namespace', '--kubeconfig', '--node-name', '--pod-namespace', '--pod-name', '--host-root', '--restart-grace'];
    for (const flag of flags) expect(r.stdout, flag).toContain(`${flag} `);
    for (const env of ['KX_TOKEN', 'KX_DOCKER_SOCKET', 'KX_CONTAINERD_SOCKET', 'KX_CONTAINERD_NAMESPACE', 'KX_NODE_NAME', 'KX_POD_NAMESPACE', 'KX_POD_NAME', 'KX_HOST_ROOT']) expect(r.stdout, env).toContain(env);
  });
});
