// The containerd path against a standalone containerd in namespace k8s.io, with containers labelled as the CRI
// plugin labels a pod's containers. Nothing restarts a stopped task here: that is the kubelet's job under Kubernetes.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { newToken } from '../../proto/kx-token.ts';
import { ContainerdRuntime } from '../../pkg/runtime/containerd.ts';
import { ContainerReloader } from '../../pkg/runtime/reload.ts';
import { ContainerRootResolver } from '../../pkg/runtime/resolve.ts';
import { NamespaceAuthorizer } from '../../radar/auth/authorize.ts';
import { eventually, recorderScript, testName } from './containers.ts';
import { StandaloneContainerd } from './standalone-containerd.ts';
import { refusal } from '../support/refusal.ts';

const tokenA = newToken('team-a');
const tokenB = newToken('team-b');
const podLabels = { 'io.kubernetes.pod.namespace': 'team-b', 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.container.name': 'app' };
let ctd: StandaloneContainerd;
let runtime: ContainerdRuntime;
let resolver: ContainerRootResolver;
let reloader: ContainerReloader;
let bind: string;
let id: string;

async function log(): Promise<string[]> {
  return (await readFile(join(bind, 'signals'), 'utf8')).trim().split('\n');
}

beforeAll(async () => {
  ctd = await StandaloneContainerd.start();
  runtime = new ContainerdRuntime({ socketPath: ctd.socket }); // default namespace: k8s.io
  await runtime.start();
  resolver = new ContainerRootResolver({
    runtimes: { containerd: runtime },
    authorizer: new NamespaceAuthorizer({ tokens: { tokenFor: async (ns) => ({ 'team-a': tokenA, 'team-b': tokenB })[ns] } }),
  });
  reloader = new ContainerReloader({ runtimes: { containerd: runtime }, graceSeconds: 2 });
  bind = await mkdtemp(join(tmpdir(), 'kx-test-ctd-bind-'));
  id = await ctd.run(testName('pod'), `ln -s / /app/escape && ${recorderScript('/bind/signals')}`, {
    labels: podLabels,
    bind: { src: bind, dst: '/bind' },
  });
  await eventually(async () => (await log()).includes('start'), 'the container to start');
});

afterAll(async () => {
  await runtime?.close();
  await ctd?.close();
  if (bind) await rm(bind, { recursive: true, force: true });
});

const target = (remotePath: string) => ({ containerId: `containerd://${id}`, runtime: '', remotePath });

describe('standalone containerd (k8s.io)', () => {
  it("writes into the container's own filesystem, not on a volume", async () => {
    const root = await resolver.resolve(target('/app'), tokenB);
    await writeFile(join(root.path, 'own.txt'), 'own\n');
    expect(await ctd.ctr('tasks', 'exec', '--exec-id', testName('cat'), id, 'cat', '/app/own.txt')).toBe('own');
    expect(root.onVolume).toBe(false);
  });

  it('writes into a bind mount at the remote path, on a volume', async () => {
    const root = await resolver.resolve(target('/bind'), tokenB);
    await writeFile(join(root.path, 'bound.txt'), 'bound\n');
    expect(await readFile(join(bind, 'bound.txt'), 'utf8')).toBe('bound\n');
    expect(root.onVolume).toBe(true);
  });

  it('names the container as pod/container and reports the namespace from its labels', async () => {
    const root = await resolver.resolve(target('/app'), tokenB);
    expect(root.containerName).toBe('web-0/app');
    expect(root.namespace).toBe('team-b');
  });

  it("keeps `ln -s / /app/escape` inside the container's root", async () => {
    const root = await resolver.resolve(target('/app/escape'), tokenB);
    const name = testName('escape-probe');
    await writeFile(join(root.path, name), 'contained\n');
    try {
      expect(existsSync(`/${name}`)).toBe(false);
      expect(await ctd.ctr('tasks', 'exec', '--exec-id', testName('cat'), id, 'cat', `/${name}`)).toBe('contained');
    } finally {
      await rm(`/${name}`, { force: true });
    }
  });

  it('refuses the token of namespace A with PERMISSION_DENIED', async () => {
    expect((await refusal(resolver.resolve(target('/app'), tokenA))).code).toBe(ErrorCode.PermissionDenied);
  });

  it('refuses a wrong or missing token with UNAUTHENTICATED', async () => {
    expect((await refusal(resolver.resolve(target('/app'), 'nope'))).code).toBe(ErrorCode.Unauthenticated);
    expect((await refusal(resolver.resolve(target('/app'), undefined))).code).toBe(ErrorCode.Unauthenticated);
  });

  it('signal:HUP reaches the main process', async () => {
    await reloader.reload(target('/app'), 'signal:HUP');
    await eventually(async () => (await log()).includes('HUP'), 'the HUP to be recorded');
  });

  it('restart stops the task gracefully; then the container resolves to NOT_FOUND naming it', async () => {
    const out = await reloader.reload(target('/app'), 'restart');
    expect(out.action).toBe('stopped');
    expect(out.filesKept).toBe(false);
    expect(await log()).toContain('TERM');
    const err = await refusal(resolver.resolve(target('/app'), tokenB));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain(id);
  });
});
