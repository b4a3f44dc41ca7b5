// radar's --docker-target mode: the command line kx starts it with, and its one-token check, which refuses a caller
// before the engine is asked anything about the container.
import { describe, expect, it } from 'vitest';
import { ContainerRootResolver, type ContainerInspector } from '../../pkg/runtime/resolve.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { StaticTokenAuthorizer } from '../../radar/auth/static-token.ts';
import { parseRadarArgs } from '../../radar/options.ts';
import { refusalOf } from '../support/refusal.ts';

describe('radar --docker-target', () => {
  it('parses the flags kx starts radar with: a socket, or a tcp engine with its TLS directory', () => {
    expect(parseRadarArgs(['--docker-target', '--listen', '0.0.0.0:7077', '--docker-socket', '/var/run/docker.sock'], {})).toEqual({
      mode: 'docker', listen: '0.0.0.0:7077', dockerSocket: '/var/run/docker.sock', restartGraceSeconds: 5, fsync: false, idleExitSeconds: 0,
    });
    // A radar kx leaves running for its next kx watch exits by itself after this long with no client.
    expect(parseRadarArgs(['--docker-target', '--idle-exit', '600'], {})).toMatchObject({ mode: 'docker', idleExitSeconds: 600 });
    expect(parseRadarArgs(['--docker-target', '--listen', '127.0.0.1:0', '--docker-host', 'tcp://127.0.0.1:2376', '--docker-tls-dir', '/tls'], {})).toMatchObject({
      mode: 'docker', dockerHost: 'tcp://127.0.0.1:2376', tlsDir: '/tls',
    });
  });

  it('refuses flags of other modes, a malformed engine address and TLS without tcp, naming the flag', () => {
    expect(refusalOf(() => parseRadarArgs(['--docker-target', '--root', '/x'], {})).message).toBe('--root cannot be combined with --docker-target');
    expect(refusalOf(() => parseRadarArgs(['--docker-target', '--docker-host', 'unix:///x'], {})).message).toMatch(/^--docker-host "unix:\/\/\/x": expected tcp:\/\/HOST:PORT/);
    expect(refusalOf(() => parseRadarArgs(['--docker-target', '--docker-tls-dir', '/tls'], {})).message).toMatch(/^--docker-tls-dir is for a tcp engine/);
    expect(refusalOf(() => parseRadarArgs(['--docker-host', 'tcp://h:1'], {})).message).toBe('--docker-host is for --docker-target mode');
    expect(refusalOf(() => parseRadarArgs(['--root', '/x', '--idle-exit', '5'], {})).message).toBe('--idle-exit is for --docker-target mode');
    expect(refusalOf(() => parseRadarArgs(['--docker-target', '--idle-exit=-1'], {})).message).toBe('--idle-exit "-1": expected whole seconds ≥ 0');
    expect(refusalOf(() => parseRadarArgs(['--docker-target', '--idle-exit', 'soon'], {})).message).toBe('--idle-exit "soon": expected whole seconds ≥ 0');
  });

  it('refuses a missing or wrong token before asking the engine anything', async () => {
    const asked: string[] = [];
    const docker: ContainerInspector = {
      inspect: async (id) => {
        asked.push(id);
        return { id, name: 'web', pid: process.pid, labels: {} };
      },
    };
    const resolver = new ContainerRootResolver({ runtimes: { docker }, authorizer: new StaticTokenAuthorizer('s3cret'), createMissing: false });
    const target = { containerId: 'docker://abc', runtime: 'docker', remotePath: '/' };
    await expect(resolver.resolve(target, undefined)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated, message: expect.stringMatching(/no token presented/) });
    await expect(resolver.resolve(target, 'guess')).rejects.toMatchObject({ code: ErrorCode.Unauthenticated, message: expect.stringMatching(/not this radar's/) });
    expect(asked).toEqual([]);
    // The right token gets as far as the engine, whatever labels (namespace or none) the container has.
    // (The resolver asks again after pinning the root, to check the PID is still the container's.)
    await resolver.resolve(target, 's3cret').catch(() => undefined);
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked)).toEqual(new Set(['abc']));
  });

  it('refuses to start with an empty token', () => {
    expect(refusalOf(() => new StaticTokenAuthorizer('')).code).toBe(ErrorCode.InvalidConfig);
  });
});
