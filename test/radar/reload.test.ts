// Reload modes against the real engines: Docker through its API, containerd through Docker's own containerd
// (namespace moby). Each container's PID 1 is a shell that records the signals it gets in a log on a volume.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { ContainerdRuntime } from '../../pkg/runtime/containerd.ts';
import { DockerRuntime } from '../../pkg/runtime/docker.ts';
import { ContainerReloader, parseReloadMode } from '../../pkg/runtime/reload.ts';
import { Containers, DOCKER_CONTAINERD_SOCKET, docker, eventually, recorderScript } from './containers.ts';
import { refusal } from '../support/refusal.ts';

const containers = new Containers();
const dockerRt = new DockerRuntime();
const containerdRt = new ContainerdRuntime({ socketPath: DOCKER_CONTAINERD_SOCKET, namespace: 'moby' });
const reloader = new ContainerReloader({ runtimes: { docker: dockerRt, containerd: containerdRt }, graceSeconds: 2 });

/** A recorder container with its log at /log/signals on a fresh volume. */
async function recorder(opts: { ignoreTerm?: boolean; args?: string[] } = {}): Promise<string> {
  const vol = await containers.volume();
  const id = await containers.run(recorderScript('/log/signals', opts), { args: ['-v', `${vol}:/log`, ...(opts.args ?? [])] });
  await eventually(async () => (await log(id)).includes('start'), 'the recorder to start');
  return id;
}

async function log(id: string): Promise<string[]> {
  return (await docker('exec', id, 'cat', '/log/signals')).split('\n');
}

async function pidOf(id: string): Promise<number> {
  return Number(await docker('inspect', '-f', '{{.State.Pid}}', id));
}

beforeAll(async () => {
  await Promise.all([dockerRt.start(), containerdRt.start()]);
});

afterAll(async () => {
  await containers.cleanup();
  await Promise.all([dockerRt.close(), containerdRt.close()]);
});

describe('reload modes', () => {
  it('parses restart, none and signal:NAME with or without SIG', () => {
    expect(parseReloadMode('restart')).toEqual({ kind: 'restart' });
    expect(parseReloadMode('none')).toEqual({ kind: 'none' });
    expect(parseReloadMode('signal:HUP')).toEqual({ kind: 'signal', signal: 'SIGHUP' });
    expect(parseReloadMode('signal:sigusr2')).toEqual({ kind: 'signal', signal: 'SIGUSR2' });
  });

  it('refuses signals that are not reloads, and unknown modes', () => {
    for (const bad of ['signal:KILL', 'signal:STOP', 'signal:NOPE', 'signal:', 'reboot']) {
      expect(() => parseReloadMode(bad), bad).toThrow(/reload mode/);
    }
  });
});

describe('Docker', () => {
  it('restart is graceful (SIGTERM first) and keeps files on the writable layer', async () => {
    const id = await recorder();
    await docker('exec', id, 'sh', '-c', 'echo kept > /app/synced.txt');
    const out = await reloader.reload({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' }, 'restart');
    expect(out.action).toBe('restarted');
    expect(out.filesKept).toBe(true);
    expect(await docker('exec', id, 'cat', '/app/synced.txt')).toBe('kept');
    expect(await log(id)).toEqual(['start', 'TERM', 'start']);
  });

  it('signal:HUP reaches the main process, which keeps running', async () => {
    const id = await recorder();
    const pid = await pidOf(id);
    await reloader.reload({ containerId: id, runtime: 'docker', remotePath: '/app' }, 'signal:HUP');
    await eventually(async () => (await log(id)).includes('HUP'), 'the HUP to be recorded');
    expect(await pidOf(id)).toBe(pid);
  });

  it('none does nothing', async () => {
    const id = await recorder();
    const out = await reloader.reload({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' }, 'none');
    expect(out.action).toBe('none');
    expect(await log(id)).toEqual(['start']);
  });

  it('a stopped container gives NOT_FOUND naming it', async () => {
    const id = await containers.run('exec sleep 3600');
    await docker('stop', '-t', '0', id);
    const err = await refusal(reloader.reload({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' }, 'signal:HUP'));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain(id);
  });
});

describe('containerd', () => {
  it('signal:USR2 reaches the main process, which keeps running', async () => {
    const id = await recorder();
    const pid = await pidOf(id);
    await reloader.reload({ containerId: `containerd://${id}`, runtime: '', remotePath: '/app' }, 'signal:USR2');
    await eventually(async () => (await log(id)).includes('USR2'), 'the USR2 to be recorded');
    expect(await pidOf(id)).toBe(pid);
  });

  it('restart stops the task with SIGTERM and leaves the restart to its supervisor', async () => {
    // Docker's restart policy stands in for the kubelet here: it starts the container again once the task exits.
    const id = await recorder({ args: ['--restart', 'always'] });
    const pid = await pidOf(id);
    const out = await reloader.reload({ containerId: `containerd://${id}`, runtime: '', remotePath: '/app' }, 'restart');
    expect(out.action).toBe('stopped');
    expect(out.filesKept).toBe(false);
    await eventually(async () => (await log(id)).filter((l) => l === 'start').length === 2, 'the supervisor to start it again');
    expect(await log(id)).toEqual(['start', 'TERM', 'start']);
    expect(await pidOf(id)).not.toBe(pid);
  });

  it('restart escalates to SIGKILL after the grace when SIGTERM is ignored', async () => {
    const id = await recorder({ ignoreTerm: true });
    const out = await reloader.reload({ containerId: `containerd://${id}`, runtime: '', remotePath: '/app' }, 'restart');
    expect(out.action).toBe('killed');
    expect(await docker('inspect', '-f', '{{.State.Running}}', id)).toBe('false');
    expect((await docker('run', '--rm', '--volumes-from', id, 'kx-test-busybox:1', 'cat', '/log/signals')).split('\n')).toEqual(['start', 'TERM-ignored']);
  });

  it('a removed container gives NOT_FOUND naming it', async () => {
    const id = await containers.run('exec sleep 3600');
    await docker('rm', '-f', id);
    const err = await refusal(reloader.reload({ containerId: `containerd://${id}`, runtime: '', remotePath: '/app' }, 'restart'));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain(id);
  });
});
