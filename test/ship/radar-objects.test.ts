// The objects `kx init` applies, held to what the radar issue promises about them.
import { describe, expect, it } from 'vitest';
import {
  VERSION_LABEL,
  defaultValues,
  radarObjects,
  renderOps,
  resolveValues,
} from '../../pkg/cluster/radar-objects.ts';
import { RADAR_SELECTOR } from '../../pkg/kube/radar-names.ts';
import { KNOWN_SOCKETS } from '../../proto/radar-pod.ts';
import { TOKEN_SECRET_NAME } from '../../proto/kx-token.ts';

const objs = radarObjects(defaultValues('1.2.3'));
const pod = objs.daemonSet.spec!.template.spec!;
const radar = pod.containers[0];

describe('radar objects', () => {
  it('put everything namespaced in kx-system by default', () => {
    expect(objs.namespace.metadata!.name).toBe('kx-system');
    expect(objs.serviceAccount.metadata!.namespace).toBe('kx-system');
    expect(objs.daemonSet.metadata!.namespace).toBe('kx-system');
    expect(objs.clusterRoleBinding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kx-radar', namespace: 'kx-system' }]);
  });

  it('grant radar exactly get on Secrets named kx-token and nothing else', () => {
    expect(objs.clusterRole.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: [TOKEN_SECRET_NAME], verbs: ['get'] }]);
    expect(objs.clusterRoleBinding.roleRef.name).toBe(objs.clusterRole.metadata!.name);
    expect(pod.serviceAccountName).toBe(objs.serviceAccount.metadata!.name);
  });

  it('run one pod per node on every node, whatever its taints', () => {
    expect(objs.daemonSet.kind).toBe('DaemonSet');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.nodeSelector).toBeUndefined();
  });

  it('use the host PID namespace but neither the host network nor a host port, and listen on loopback only', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    expect(radar.args).toEqual(['--listen', '127.0.0.1:7077']);
    expect(radar.ports).toEqual([{ name: 'grpc', containerPort: 7077, protocol: 'TCP' }]);
    expect(radar.ports!.every((p) => p.hostPort === undefined)).toBe(true);
  });

  it('are not privileged: root with a short list of added capabilities', () => {
    const sc = radar.securityContext!;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities!.drop).toEqual(['ALL']);
    expect(sc.capabilities!.add).not.toContain('SYS_ADMIN');
    expect(sc.capabilities!.add).toContain('SYS_PTRACE');
  });

  it('mount the directories of every known runtime socket read-only under /host, and let radar find the runtime', () => {
    const c = radar;
    const hostPaths = pod.volumes!.filter((v) => v.hostPath).map((v) => v.hostPath!.path);
    expect(hostPaths).toEqual(KNOWN_SOCKETS.map((k) => k.path.slice(0, k.path.lastIndexOf('/'))));
    expect(c.volumeMounts!.filter((m) => m.readOnly).map((m) => m.mountPath)).toEqual(hostPaths.map((p) => `/host${p}`));
    const env = Object.fromEntries(c.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ KX_DOCKER_SOCKET: 'auto', KX_CONTAINERD_SOCKET: 'auto', KX_HOST_ROOT: '/host' });
  });

  it('mount only the given socket directories when sockets are named, and none for a runtime turned off', () => {
    const k3s = radarObjects(resolveValues('1.2.3', { sockets: { containerd: '/run/k3s/containerd/containerd.sock', docker: '' } }));
    const spec = k3s.daemonSet.spec!.template.spec!;
    const c = spec.containers[0];
    expect(spec.volumes!.filter((v) => v.hostPath).map((v) => v.hostPath!.path)).toEqual(['/run/k3s/containerd']);
    expect(c.volumeMounts!.filter((m) => m.readOnly).map((m) => m.mountPath)).toEqual(['/host/run/k3s/containerd']);
    const env = Object.fromEntries(c.env!.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ KX_DOCKER_SOCKET: '', KX_CONTAINERD_SOCKET: '/run/k3s/containerd/containerd.sock' });
  });

  it('give the AppArmor exception as the field from Kubernetes 1.30 and as the annotation before (and when unknown)', () => {
    const at = (kube?: string) => {
      const t = radarObjects(defaultValues('1.2.3'), renderOps(kube)).daemonSet.spec!.template;
      return { field: t.spec!.containers[0].securityContext!.appArmorProfile, annotations: t.metadata!.annotations };
    };
    const annotation = { 'container.apparmor.security.beta.kubernetes.io/radar': 'unconfined' };
    expect(at('v1.24.17')).toEqual({ field: undefined, annotations: annotation });
    expect(at('v1.29.0-eks-1')).toEqual({ field: undefined, annotations: annotation });
    expect(at(undefined)).toEqual({ field: undefined, annotations: annotation });
    expect(at('v1.30.0')).toEqual({ field: { type: 'Unconfined' }, annotations: undefined });
    expect(at('1.35')).toEqual({ field: { type: 'Unconfined' }, annotations: undefined });
  });

  it('let radar annotate pods of its own namespace only, and grant developers only what kx needs there', () => {
    expect(objs.role.metadata!.namespace).toBe('kx-system');
    expect(objs.role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
    expect(objs.roleBinding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kx-radar', namespace: 'kx-system' }]);
    expect(objs.grantRole).toBeUndefined();
    const g = radarObjects(resolveValues('1.2.3', { grants: { groups: ['devs'], users: ['jane'] } }));
    expect(g.grantRole!.metadata!.namespace).toBe('kx-system');
    expect(g.grantRole!.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
      { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
    ]);
    expect(g.grantRoleBinding!.subjects).toEqual([
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'devs' },
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' },
    ]);
  });

  it('mount nothing over a directory the kubelet or the image needs', () => {
    // The kubelet mounts the service-account token at /var/run/secrets/kubernetes.io/serviceaccount after the pod's
    // own volumes; a mount at or above any of these paths would hide or freeze the place it goes.
    const taken = ['/', '/var', '/var/run', '/run', '/var/run/secrets', '/var/run/secrets/kubernetes.io', '/app', '/usr', '/etc', '/dev', '/proc'];
    for (const m of radar.volumeMounts!) {
      expect(taken).not.toContain(m.mountPath.replace(/\/$/, ''));
      expect(m.mountPath === '/tmp' || m.mountPath.startsWith('/host/')).toBe(true);
    }
  });

  it('label the pods so the local side finds radar on a node, with the version for skew checks', () => {
    expect(objs.daemonSet.spec!.selector.matchLabels).toEqual(RADAR_SELECTOR);
    expect(objs.daemonSet.spec!.template.metadata!.labels).toMatchObject({ ...RADAR_SELECTOR, [VERSION_LABEL]: '1.2.3' });
    expect(objs.daemonSet.metadata!.labels![VERSION_LABEL]).toBe('1.2.3');
  });

  it('probe the gRPC port from inside the pod every second from the start, and set requests and limits', () => {
    expect(radar.readinessProbe!.exec!.command!.join(' ')).toContain("connect(7077, '127.0.0.1')");
    expect(radar.readinessProbe!.periodSeconds).toBe(1);
    expect(radar.readinessProbe!.initialDelaySeconds ?? 0).toBe(0);
    expect(radar.livenessProbe!.exec!.command).toEqual(radar.readinessProbe!.exec!.command);
    expect(radar.resources!.requests).toBeDefined();
    expect(radar.resources!.limits).toBeDefined();
  });

  it('take the image, namespace and port from the values', () => {
    const o = radarObjects(resolveValues('1.2.3', { image: 'my/radar:x', namespace: 'tools', port: 9000 }));
    const c = o.daemonSet.spec!.template.spec!.containers[0];
    expect(c.image).toBe('my/radar:x');
    expect(c.ports![0].containerPort).toBe(9000);
    expect(c.args).toEqual(['--listen', '127.0.0.1:9000']);
    expect(o.daemonSet.metadata!.namespace).toBe('tools');
    expect(o.clusterRole.metadata!.name).toBe('kx-radar-tools');
  });
});
