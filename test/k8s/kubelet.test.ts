// The test kubelet runs pods from their pod spec: env (downward API, $(VAR)), volumes with readOnly, the
// service-account volume, the container securityContext, exec probes driving Ready, and refusals of what it does
// not implement — each checked inside the real Docker container.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeCluster, type Json, type KubeObject } from './fake-cluster.ts';

const run = promisify(execFile);
const NS = 'kubelet';
const IMAGE = 'kx-test-busybox:1';
let cluster: FakeCluster;
let hostDir: string;

beforeAll(async () => {
  cluster = await startFakeApiServer({ nodes: ['node-a'], namespaces: [NS] });
  hostDir = await mkdtemp(join(tmpdir(), 'kx-test-hostpath-'));
  await writeFile(join(hostDir, 'from-host.txt'), 'node file\n');
});
afterAll(async () => {
  await cluster?.close();
  if (hostDir) await rm(hostDir, { recursive: true, force: true });
});

/** Runs `script` with sh in the pod's container and returns stdout (stderr too when it fails). */
async function sh(pod: string, script: string, container?: string): Promise<string> {
  const id = cluster.containerId(NS, pod, container)!;
  try {
    return (await run('docker', ['exec', id, '/bin/busybox', 'sh', '-c', script])).stdout.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `failed: ${(e.stdout ?? '').trim()} ${(e.stderr ?? '').trim()}`.trim();
  }
}

const sleeper = (extra: Json = {}): Json => ({ name: 'app', image: IMAGE, command: ['/bin/busybox', 'sleep', '3600'], ...extra });
const pod = (name: string, spec: Json, metadata: Json = {}): Json => ({ metadata: { name, ...metadata }, spec: { terminationGracePeriodSeconds: 0, ...spec } });
const waiting = (p: KubeObject | undefined) => (p?.status?.containerStatuses ?? []).find((c: KubeObject) => c.state?.waiting?.message)?.state?.waiting;

describe('test kubelet: the pod spec', () => {
  it('sets env from values, $(VAR) references and downward-API fields', async () => {
    cluster.createPod(NS, pod('env', { containers: [sleeper({ env: [
      { name: 'GREETING', value: 'hello' },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
      { name: 'BOTH', value: '$(GREETING) from $(POD_NAME)' },
    ] })] }, { labels: { tier: 'web' } }));
    const p = await cluster.waitForRunning(NS, 'env');
    const env = Object.fromEntries((await sh('env', 'env')).split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    expect(env).toMatchObject({ GREETING: 'hello', NODE: 'node-a', POD_NS: NS, POD_NAME: 'env', POD_IP: p.status.podIP, TIER: 'web', BOTH: 'hello from env' });
  });

  it('mounts hostPath and emptyDir volumes, honouring readOnly, and emptyDir is shared by the containers', async () => {
    cluster.createPod(NS, pod('vols', {
      volumes: [{ name: 'node', hostPath: { path: hostDir, type: 'Directory' } }, { name: 'scratch', emptyDir: {} }],
      containers: [
        sleeper({ volumeMounts: [{ name: 'node', mountPath: '/node', readOnly: true }, { name: 'scratch', mountPath: '/scratch' }] }),
        sleeper({ name: 'side', volumeMounts: [{ name: 'scratch', mountPath: '/shared' }] }),
      ],
    }));
    await cluster.waitForRunning(NS, 'vols');
    expect(await sh('vols', 'cat /node/from-host.txt')).toBe('node file');
    expect(await sh('vols', 'touch /node/x')).toMatch(/Read-only file system/);
    await sh('vols', 'echo shared > /scratch/f');
    expect(await sh('vols', 'cat /shared/f', 'side')).toBe('shared');
  });

  it('mounts the service-account volume (token, ca.crt, namespace) and the token works against the API server', async () => {
    cluster.createPod(NS, pod('sa', { containers: [sleeper()] }));
    await cluster.waitForRunning(NS, 'sa');
    const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
    expect(await sh('sa', `cat ${dir}/namespace`)).toBe(NS);
    expect(await sh('sa', `cat ${dir}/ca.crt`)).toBe(cluster.caCert.trim());
    expect(await sh('sa', `touch ${dir}/x`)).toMatch(/Read-only file system/);
    const token = await sh('sa', `cat ${dir}/token`);
    const api = cluster.kubeConfig({ token }).makeApiClient(CoreV1Api);

    // RBAC objects decide: nothing before a binding, list pods in this namespace after one.
    await expect(api.listNamespacedPod({ namespace: NS })).rejects.toMatchObject({ code: 403 });
    const admin = cluster.kubeConfig();
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: NS, body: { metadata: { name: 'sa-reads' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: NS }] } });
    expect((await api.listNamespacedPod({ namespace: NS })).items.length).toBeGreaterThan(0);
    await expect(api.listNamespacedPod({ namespace: 'default' })).rejects.toMatchObject({ code: 403 });

    // The token is bound to its pod: once the pod is gone, it is refused.
    await cluster.deletePod(NS, 'sa', 0);
    await expect(api.listNamespacedPod({ namespace: NS })).rejects.toMatchObject({ code: 401 });
  });

  it('applies the container securityContext: user, capabilities, read-only root, no privilege escalation', async () => {
    cluster.createPod(NS, pod('sec', { containers: [sleeper({ securityContext: {
      runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'], add: ['KILL'] },
    } })] }));
    await cluster.waitForRunning(NS, 'sec');
    expect(await sh('sec', 'id -u; id -g')).toBe('1000\n1000');
    expect(await sh('sec', 'touch /root-file')).toMatch(/Read-only file system/);
    const status = await sh('sec', 'grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status');
    expect(status).toMatch(/CapBnd:\s+0000000000000020/); // CAP_KILL only
    expect(status).toMatch(/NoNewPrivs:\s+1/);
  });

  it('shares the host PID namespace with hostPID', async () => {
    cluster.createPod(NS, pod('hostpid', { hostPID: true, containers: [sleeper()] }));
    await cluster.waitForRunning(NS, 'hostpid');
    // PID 1 is the node's init, not the container's sleep.
    expect(await sh('hostpid', 'cat /proc/1/comm')).not.toBe('sleep');
  });

  it('keeps a pod not Ready until its exec readiness probe passes, and the DaemonSet counts it only then', async () => {
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    const body: Json = {
      metadata: { name: 'probed' },
      spec: { selector: { matchLabels: { app: 'probed' } }, template: { metadata: { labels: { app: 'probed' } }, spec: {
        terminationGracePeriodSeconds: 0,
        containers: [sleeper({ readinessProbe: { exec: { command: ['/bin/busybox', 'test', '-f', '/tmp/ready'] }, periodSeconds: 1 } })],
      } } },
    };
    await apps.createNamespacedDaemonSet({ namespace: NS, body: body });
    await expect.poll(() => cluster.listPods(NS, 'app=probed')[0]?.status?.phase, { timeout: 20_000 }).toBe('Running');
    const name = cluster.listPods(NS, 'app=probed')[0].metadata.name as string;
    const ready = () => cluster.getPod(NS, name)?.status?.conditions?.find((c: KubeObject) => c.type === 'Ready')?.status;
    const numberReady = () => cluster.getObject('daemonsets', NS, 'probed')?.status?.numberReady;
    expect(ready()).toBe('False');
    expect(cluster.getPod(NS, name)!.status.containerStatuses[0].ready).toBe(false);
    expect(numberReady()).toBe(0);

    await sh(name, 'touch /tmp/ready');
    await expect.poll(ready, { timeout: 10_000 }).toBe('True');
    await expect.poll(numberReady, { timeout: 10_000 }).toBe(1);
    await sh(name, 'rm /tmp/ready');
    await expect.poll(ready, { timeout: 10_000 }).toBe('False');
  });

  it('restarts a container whose liveness probe fails', async () => {
    cluster.createPod(NS, pod('live', { containers: [sleeper({ livenessProbe: { exec: { command: ['/bin/busybox', 'false'] }, periodSeconds: 1, failureThreshold: 2 } })] }));
    await cluster.waitForRunning(NS, 'live');
    await expect.poll(() => cluster.getPod(NS, 'live')?.status?.containerStatuses?.[0]?.restartCount, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(cluster.podEvents(NS, 'live').map((e) => e.reason)).toContain('Killing');
  });

  it('fails a pod with a field it does not implement, naming the field in the status and an event', async () => {
    cluster.createPod(NS, pod('hook', { containers: [sleeper({ lifecycle: { preStop: { exec: { command: ['true'] } } } })] }));
    const p = await cluster.waitForPod(NS, 'hook', (x) => !!waiting(x));
    expect(waiting(p)).toEqual({ reason: 'CreateContainerConfigError', message: 'spec.containers[0].lifecycle is not implemented by the test kubelet' });
    expect(p!.status.phase).toBe('Pending');
    expect(cluster.podEvents(NS, 'hook').map((e) => [e.type, e.reason, e.message])).toContainEqual(
      ['Warning', 'Failed', 'spec.containers[0].lifecycle is not implemented by the test kubelet']);
  });

  it('refuses the host network and host ports', async () => {
    cluster.createPod(NS, pod('hostnet', { hostNetwork: true, containers: [sleeper()] }));
    cluster.createPod(NS, pod('hostport', { containers: [sleeper({ ports: [{ containerPort: 80, hostPort: 8080 }] })] }));
    expect(waiting(await cluster.waitForPod(NS, 'hostnet', (x) => !!waiting(x)))?.message).toMatch(/^spec\.hostNetwork is refused/);
    expect(waiting(await cluster.waitForPod(NS, 'hostport', (x) => !!waiting(x)))?.message).toMatch(/^spec\.containers\[0\]\.ports\[0\]\.hostPort is refused/);
  });

  it('fails to start a container whose read-only hostPath hides where the service-account token is mounted, as a real node does', async () => {
    // The service-account volume goes to /var/run/secrets/kubernetes.io/serviceaccount after the pod's own volumes:
    // with the node's /var/run mounted read-only at /var/run, the runtime cannot create that mount point.
    cluster.createPod(NS, pod('varrun', {
      volumes: [{ name: 'run', hostPath: { path: '/var/run', type: 'DirectoryOrCreate' } }],
      containers: [sleeper({ volumeMounts: [{ name: 'run', mountPath: '/var/run', readOnly: true }] })],
    }));
    const p = await cluster.waitForPod(NS, 'varrun', (x) => !!waiting(x));
    expect(waiting(p)!.reason).toMatch(/^(RunContainerError|CreateContainerError)$/);
    expect(waiting(p)!.message).toMatch(/mkdir .*\/var\/run\/secrets: read-only file system/);
    expect(cluster.podEvents(NS, 'varrun').find((e) => e.reason === 'Failed')?.message).toMatch(/read-only file system/);
  });
});
