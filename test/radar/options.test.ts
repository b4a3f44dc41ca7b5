// radar's command line: flags over environment variables over defaults, as the DaemonSet starts it.
import { describe, expect, it } from 'vitest';
import { defaultValues, radarObjects } from '../../pkg/cluster/radar-objects.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { parseRadarArgs } from '../../radar/options.ts';
import { refusalOf } from '../support/refusal.ts';

describe('parseRadarArgs', () => {
  it("takes the DaemonSet's args and env as node mode on its sockets and containerd namespace", () => {
    const values = { ...defaultValues('1.2.3'), port: 7123, sockets: { docker: '/d/docker.sock', containerd: '/k3s/containerd.sock', containerdNamespace: 'ns-x' } };
    const container = radarObjects(values).daemonSet.spec!.template.spec!.containers[0];
    // fieldRef values are filled in by the kubelet; stand in for them.
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? `from-${e.valueFrom?.fieldRef?.fieldPath}`]));
    const cmd = parseRadarArgs(container.args ?? [], env);
    expect(cmd).toMatchObject({
      mode: 'node',
      listen: '127.0.0.1:7123',
      dockerSocket: '/d/docker.sock',
      containerdSocket: '/k3s/containerd.sock',
      containerdNamespace: 'ns-x',
      nodeName: 'from-spec.nodeName',
      podNamespace: 'from-metadata.namespace',
    });
    expect(cmd).not.toHaveProperty('kubeconfig');
  });

  it("looks for the runtimes under the pod's host root by default, as the DaemonSet starts it", () => {
    const container = radarObjects(defaultValues('1.2.3')).daemonSet.spec!.template.spec!.containers[0];
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? `from-${e.valueFrom?.fieldRef?.fieldPath}`]));
    expect(parseRadarArgs(container.args ?? [], env)).toMatchObject({
      dockerSocket: 'auto', containerdSocket: 'auto', hostRoot: '/host', podName: 'from-metadata.name',
    });
    expect(parseRadarArgs([], {})).toMatchObject({ dockerSocket: 'auto', containerdSocket: 'auto', hostRoot: '' });
  });

  it('refuses a relative --host-root, naming the flag', () => {
    const err = refusalOf(() => parseRadarArgs(['--host-root', 'host'], {}));
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toBe('--host-root "host": expected an absolute path');
  });

  it('lets a flag win over its environment variable', () => {
    const cmd = parseRadarArgs(['--docker-socket', '/flag.sock'], { KX_DOCKER_SOCKET: '/env.sock' });
    expect(cmd).toMatchObject({ mode: 'node', dockerSocket: '/flag.sock' });
  });

  it('keeps an empty socket path, which disables that runtime', () => {
    expect(parseRadarArgs([], { KX_DOCKER_SOCKET: '' })).toMatchObject({ dockerSocket: '' });
    expect(parseRadarArgs(['--containerd-socket', ''], {})).toMatchObject({ containerdSocket: '' });
  });

  it('serves one directory with --root', () => {
    expect(parseRadarArgs(['--root', '/srv', '--token-file', '/t'], {})).toEqual({ mode: 'root', listen: '127.0.0.1:7077', root: '/srv', tokenFile: '/t', fsync: false });
  });

  it('refuses node-mode flags together with --root, naming the flag', () => {
    const err = refusalOf(() => parseRadarArgs(['--root', '/srv', '--kubeconfig', '/k'], {}));
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toContain('--kubeconfig');
  });

  it('refuses a restart grace that is not whole seconds', () => {
    expect(refusalOf(() => parseRadarArgs(['--restart-grace', '1.5'], {})).message).toContain('--restart-grace');
  });

  it('answers --help and -h', () => {
    expect(parseRadarArgs(['--help'], {})).toEqual({ mode: 'help' });
    expect(parseRadarArgs(['-h'], {})).toEqual({ mode: 'help' });
  });
});
