// What the test kubelet accepts of a pod spec and what it refuses, named by field; and the Docker settings it makes
// of radar's own pod, as `kx init` applies it.
import { describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { KNOWN_SOCKETS } from '../../proto/radar-pod.ts';
import { podSpecDefaults } from './server/objects.ts';
import { PodSpecError, checkPodSpec, containerPlan, quantity, type ContainerContext } from './server/pod-spec.ts';
import type { Json } from './server/wire.ts';

const c = (extra: Json = {}): Json => ({ name: 'app', image: 'x:1', ...extra });
const refusal = (spec: Json, metadata: Json = {}): string | undefined => {
  try {
    checkPodSpec({ metadata, spec: podSpecDefaults(spec) });
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(PodSpecError);
    return (err as PodSpecError).message;
  }
};

const ctx: ContainerContext = {
  field: (p) => ({ 'spec.nodeName': 'node-a', 'metadata.namespace': 'kx-system' })[p] ?? '',
  secretKey: () => undefined,
  configMapKey: () => undefined,
  volume: (name) => ({ source: `/pods/x/${name}` }),
  serviceEnv: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
};

describe('the test kubelet and a pod spec', () => {
  it.each([
    [{ ephemeralContainers: [c()], containers: [c()] }, 'spec.ephemeralContainers is not implemented by the test kubelet'],
    [{ initContainers: [c({ readinessProbe: { exec: { command: ['true'] } } })], containers: [c()] }, 'spec.initContainers[0].readinessProbe must not be set for init containers'],
    [{ initContainers: [c({ envFrom: [{ secretRef: { name: 's' } }] })], containers: [c()] }, 'spec.initContainers[0].envFrom is not implemented by the test kubelet'],
    [{ volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'c', readOnly: true } }], containers: [c()] }, 'spec.volumes[0].persistentVolumeClaim.readOnly is not implemented by the test kubelet'],
    [{ hostIPC: true, containers: [c()] }, 'spec.hostIPC is not implemented by the test kubelet'],
    [{ securityContext: { fsGroup: 2000 }, containers: [c()] }, 'spec.securityContext.fsGroup is not implemented by the test kubelet'],
    [{ containers: [c({ envFrom: [{ secretRef: { name: 's' } }] })] }, 'spec.containers[0].envFrom is not implemented by the test kubelet'],
    [{ containers: [c({ readinessProbe: { tcpSocket: { port: 80 } } })] }, 'spec.containers[0].readinessProbe.tcpSocket is not implemented by the test kubelet'],
    [{ containers: [c({ securityContext: { seLinuxOptions: { level: 's0' } } })] }, 'spec.containers[0].securityContext.seLinuxOptions is not implemented by the test kubelet'],
    [{ containers: [c({ env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] })] }, 'spec.containers[0].env[0].valueFrom.resourceFieldRef is not implemented by the test kubelet'],
    [{ containers: [c({ env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'status.podIPs[0]' } } }] })] }, 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath "status.podIPs[0]" is not implemented by the test kubelet'],
    [{ volumes: [{ name: 'v', nfs: { server: 'x', path: '/' } }], containers: [c()] }, 'spec.volumes[0].nfs is not implemented by the test kubelet'],
    [{ volumes: [{ name: 'v', emptyDir: {} }], containers: [c({ volumeMounts: [{ name: 'v', mountPath: '/v', subPath: 'a' }] })] }, 'spec.containers[0].volumeMounts[0].subPath is not implemented by the test kubelet'],
    [{ containers: [c({ volumeMounts: [{ name: 'nope', mountPath: '/v' }] })] }, 'spec.containers[0].volumeMounts[0].name: no volume "nope" in spec.volumes'],
    [{ containers: [c({ securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } })] }, 'spec.containers[0].securityContext.seccompProfile.type "Localhost" is not implemented by the test kubelet'],
  ])('refuses %j naming the field', (spec, message) => {
    expect(refusal(spec)).toBe(message);
  });

  it('refuses a Localhost AppArmor annotation', () => {
    expect(refusal({ containers: [c()] }, { annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'localhost/mine' } }))
      .toBe('metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"] "localhost/mine" is not implemented by the test kubelet');
  });

  it("accepts radar's pod as kx init applies it, and turns it into radar's Docker settings", () => {
    const template = radarObjects(defaultValues('1.2.3')).daemonSet.spec!.template;
    const pod: Json = { metadata: { name: 'kx-radar-abcde', ...template.metadata }, spec: podSpecDefaults(template.spec as unknown as Json) };
    expect(() => checkPodSpec(pod)).not.toThrow();
    const plan = containerPlan(pod, 0, ctx);
    expect(plan).toMatchObject({
      entrypoint: ['node', '--max-semi-space-size=2', '--expose-gc', 'dist/radar.mjs'], cmd: ['--listen', '127.0.0.1:7077'], user: '0', hostPid: true, privileged: false,
      readonlyRootfs: true, capDrop: ['ALL'], capAdd: ['SYS_PTRACE', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'CHOWN', 'FOWNER', 'KILL'],
      securityOpt: ['no-new-privileges', 'apparmor=unconfined'], memoryBytes: 512 * 1024 ** 2, nanoCpus: 1e9,
    });
    expect(plan.env).toEqual(expect.arrayContaining(['KUBERNETES_SERVICE_HOST=127.0.0.1', 'KX_NODE_NAME=node-a', 'KX_POD_NAMESPACE=kx-system',
      'KX_DOCKER_SOCKET=auto', 'KX_CONTAINERD_SOCKET=auto', 'KX_HOST_ROOT=/host']));
    // Every known runtime layout's socket directory, read-only under /host; then radar's own volumes.
    const socketDirs = [...new Set(KNOWN_SOCKETS.map((k) => `/host${k.path.slice(0, k.path.lastIndexOf('/'))}:ro`))];
    expect(plan.mounts.map((m) => `${m.target}${m.readOnly ? ':ro' : ''}`)).toEqual([
      ...socketDirs, '/tmp', '/var/run/secrets/kubernetes.io/serviceaccount:ro',
    ]);
  });

  it('reads quantities as Kubernetes writes them', () => {
    expect([quantity('512Mi', 'x'), quantity('1Gi', 'x'), quantity('128M', 'x'), quantity('500m', 'x'), quantity('2', 'x')])
      .toEqual([512 * 1024 ** 2, 1024 ** 3, 128e6, 0.5, 2]);
    expect(() => quantity('lots', 'spec.containers[0].resources.limits.memory')).toThrow(/spec\.containers\[0\]\.resources\.limits\.memory: quantity "lots"/);
  });
});
