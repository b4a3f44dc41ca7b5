// kx doctor's cluster checks against the test API server (which, like some servers, has no SelfSubjectAccessReview).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { CHECK_NAMES, checkRbac, checkRollout, checkRuntime, checkVersionSkew, runDoctor } from '../../pkg/cluster/doctor-checks.ts';
import { RUNTIME_ANNOTATION } from '../../proto/radar-pod.ts';
import { init } from '../../pkg/cluster/install.ts';
import { resolveValues } from '../../pkg/cluster/radar-objects.ts';
import { rotateToken } from '../../pkg/cluster/token.ts';
import { startFakeApiServer, type FakeCluster } from '../k8s/fake-cluster.ts';

let cluster: FakeCluster;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a', 'node-b'], namespaces: ['dev'] });
  cluster.addUser('dev-token', {
    name: 'dev',
    rules: [
      { verbs: ['list', 'watch', 'get'], resources: ['pods'], namespaces: ['dev'] },
      { verbs: ['get'], resources: ['secrets'], resourceNames: ['kx-token'], namespaces: ['dev'] },
    ],
  });
});
afterAll(async () => {
  await cluster?.close();
});

const opts = (radarNamespace: string, extra: { token?: string; version?: string } = {}) => ({
  kubeConfig: cluster.kubeConfig(extra.token ? { token: extra.token } : {}),
  namespace: 'dev',
  radarNamespace,
  version: extra.version ?? '0.1.0',
});

describe('kx doctor', () => {
  it('reports radar missing with the hint to run kx init', async () => {
    const checks = await runDoctor(opts('kx-none'));
    const rollout = checks.find((c) => c.name === CHECK_NAMES.rollout)!;
    expect(rollout.ok).toBe(false);
    expect(rollout.detail).toMatch(/not installed/);
    expect(rollout.hint).toBe('run kx init');
  });

  it('passes every check once radar is rolled out at the same version', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: resolveValues('0.1.0', { namespace: 'kx-ok', image: 'kx-test-radar-absent:1' }), pollMs: 100 });
    const checks = await runDoctor(opts('kx-ok'));
    expect(checks.map((c) => c.name)).toEqual(Object.values(CHECK_NAMES));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === CHECK_NAMES.rollout)!.detail).toBe('radar is ready on 2 of 2 nodes');
  });

  it('reports version skew between kx and the radar pods, with the fix', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: resolveValues('0.0.9', { namespace: 'kx-old', image: 'kx-test-radar-absent:1' }), pollMs: 100 });
    const skew = await checkVersionSkew(opts('kx-old'));
    expect(skew.ok).toBe(false);
    expect(skew.detail).toBe('radar 0.0.9 on 2 nodes; kx 0.1.0');
    expect(skew.hint).toBe('run kx init to install radar 0.1.0');
    expect((await checkRollout(opts('kx-old'))).ok).toBe(true);
  });

  it('says which runtime radar uses on each node, and fails naming the paths radar tried where it found none', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: resolveValues('0.1.0', { namespace: 'kx-rt', image: 'kx-test-radar-absent:1' }), pollMs: 100 });
    expect(await checkRuntime(opts('kx-rt'))).toMatchObject({ ok: true, verified: false, detail: expect.stringContaining('not reported yet by radar on "node-a", "node-b"') as string });
    // What radar/node.ts writes on its pod, written here as radar's ServiceAccount would.
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const say = async (node: string, text: string) => {
      const pod = cluster.listPods('kx-rt').find((p) => p.spec.nodeName === node)!;
      await core.patchNamespacedPod({ name: pod.metadata.name, namespace: 'kx-rt', body: { metadata: { annotations: { [RUNTIME_ANNOTATION]: text } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    };
    const k3s = 'containerd at /run/k3s/containerd/containerd.sock (k3s, RKE2 layout), namespace k8s.io';
    await say('node-a', k3s);
    await say('node-b', k3s);
    expect(await checkRuntime(opts('kx-rt'))).toEqual({ name: CHECK_NAMES.runtime, ok: true, detail: `${k3s} on 2 nodes` });

    await say('node-b', 'none: no container runtime found: tried /run/containerd/containerd.sock (does not exist), /var/run/docker.sock (does not exist) under /host');
    const c = await checkRuntime(opts('kx-rt'));
    expect(c.ok).toBe(false);
    expect(c.detail).toBe(`radar on node "node-b": no container runtime found: tried /run/containerd/containerd.sock (does not exist), /var/run/docker.sock (does not exist) under /host; ${k3s} on node "node-a"`);
    expect(c.hint).toBe('name the socket on your nodes: kx init --containerd-socket PATH (or --docker-socket PATH)');
  });

  it('says why radar is not ready on a node while it crash-loops, not that it is missing', async () => {
    await init({ kubeConfig: cluster.kubeConfig(), values: resolveValues('0.1.0', { namespace: 'kx-crash', image: 'kx-test-radar-absent:1' }), pollMs: 100 });
    const pod = cluster.listPods('kx-crash').find((p) => p.spec.nodeName === 'node-b')!;
    await cluster.crashContainer('kx-crash', pod.metadata.name, { times: 5 });
    await cluster.waitForPod('kx-crash', pod.metadata.name, (p) => p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    const rollout = await checkRollout(opts('kx-crash'));
    expect(rollout.ok).toBe(false);
    expect(rollout.detail).toMatch(/radar on node "node-b" is not ready \(CrashLoopBackOff( \(.*\))?, \d+ restarts?; last exit/);
    expect(rollout.detail).not.toMatch(/not installed/);
  });

  it('says which permission a restricted user lacks, probing with real requests when there is no SelfSubjectAccessReview', async () => {
    await rotateToken({ kubeConfig: cluster.kubeConfig(), namespace: 'dev' });
    const checks = await checkRbac(opts('kx-ok', { token: 'dev-token' }));
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName[CHECK_NAMES.listPods]).toMatchObject({ ok: true });
    expect(byName[CHECK_NAMES.listPods].detail).toMatch(/probed: the API server has no SelfSubjectAccessReview/);
    expect(byName[CHECK_NAMES.readToken]).toMatchObject({ ok: true });
    expect(byName[CHECK_NAMES.portForward]).toMatchObject({ ok: true, verified: false });
  });

  it('fails the RBAC check for a user who may not read the token Secret', async () => {
    cluster.addUser('nobody-token', { name: 'nobody', rules: [] });
    const checks = await checkRbac(opts('kx-ok', { token: 'nobody-token' }));
    const read = checks.find((c) => c.name === CHECK_NAMES.readToken)!;
    expect(read.ok).toBe(false);
    expect(read.detail).toMatch(/you may not get Secret kx-token in namespace "dev"/);
    expect(read.hint).toMatch(/kx-token/);
  });

  it('fails reachability for a context the kubeconfig does not have', async () => {
    const checks = await runDoctor({ ...opts('kx-ok'), context: 'nowhere' });
    expect(checks).toEqual([{ name: CHECK_NAMES.reachable, ok: false, detail: expect.stringMatching(/context "nowhere" not found/) as string,
      hint: 'pick one of the contexts listed (kubectl config get-contexts)' }]);
  });

  it('stops at reachability, with a hint, when the credentials are rejected', async () => {
    const checks = await runDoctor(opts('kx-ok', { token: 'wrong' }));
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ name: CHECK_NAMES.reachable, ok: false });
    expect(checks[0].detail).toMatch(/401/);
  });
});
