// ContainerRootResolver against the real Docker engine and the real containerd behind it (namespace moby, where
// containers started by Docker appear with their full ID).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import { newToken } from '../../proto/kx-token.ts';
import { NamespaceAuthorizer, type TokenSource } from '../../radar/auth/authorize.ts';
import { ContainerdRuntime } from '../../pkg/runtime/containerd.ts';
import { DockerRuntime } from '../../pkg/runtime/docker.ts';
import { ContainerRootResolver, mountPointOf, parseMountPoints } from '../../pkg/runtime/resolve.ts';
import { Containers, DOCKER_CONTAINERD_SOCKET, ctrMoby, docker, testName } from './containers.ts';
import { refusal } from '../support/refusal.ts';

const containers = new Containers();
const dockerRt = new DockerRuntime();
const containerdRt = new ContainerdRuntime({ socketPath: DOCKER_CONTAINERD_SOCKET, namespace: 'moby' });
const local = new ContainerRootResolver({ runtimes: { docker: dockerRt, containerd: containerdRt }, localDockerTarget: true });
const noCreate = new ContainerRootResolver({ runtimes: { docker: dockerRt, containerd: containerdRt }, localDockerTarget: true, createMissing: false });
let bindDir: string;
let id: string; // a running container with a named volume at /data and a bind mount at /bind
let probe: string; // a file name unique to this run, for escape checks on the node

beforeAll(async () => {
  await Promise.all([dockerRt.start(), containerdRt.start()]);
  bindDir = await mkdtemp(join(tmpdir(), 'kx-test-bind-'));
  const vol = await containers.volume();
  probe = testName('escape-probe');
  id = await containers.run(
    [
      'mkdir -p /app/src /app/owned && chown 1234:2345 /app/owned',
      'ln -s / /app/escape', // absolute link to the container's root
      'ln -s /etc /app/etc-link', // absolute link to a directory that also exists on the node
      'ln -s ../../../../../../../.. /app/up', // relative link climbing above the root
      'touch /app/src/ready',
      'exec sleep 3600',
    ].join(' && '),
    { args: ['-v', `${vol}:/data`, '-v', `${bindDir}:/bind`] },
  );
  await docker('exec', id, 'sh', '-c', 'while [ ! -e /app/src/ready ]; do sleep 0.1; done');
});

afterAll(async () => {
  await containers.cleanup();
  await Promise.all([dockerRt.close(), containerdRt.close()]);
  if (bindDir) await rm(bindDir, { recursive: true, force: true });
});

for (const runtime of ['docker', 'containerd'] as const) {
  describe(`resolving through ${runtime}`, () => {
    const target = (remotePath: string) => ({ containerId: `${runtime}://${id}`, runtime: '', remotePath });

    it("writes into the container's own filesystem", async () => {
      const root = await local.resolve(target('/app/src'), undefined);
      await writeFile(join(root.path, `own-${runtime}.txt`), 'own fs\n');
      expect(await docker('exec', id, 'cat', `/app/src/own-${runtime}.txt`)).toBe('own fs');
      expect(root.onVolume).toBe(false);
    });

    it('writes into a named volume at the remote path', async () => {
      const root = await local.resolve(target('/data'), undefined);
      await writeFile(join(root.path, `vol-${runtime}.txt`), 'on a volume\n');
      expect(await docker('exec', id, 'cat', `/data/vol-${runtime}.txt`)).toBe('on a volume');
      expect(root.onVolume).toBe(true);
    });

    it('writes into a bind mount at the remote path, beneath it too', async () => {
      await docker('exec', id, 'mkdir', '-p', '/bind/sub');
      const root = await local.resolve(target('/bind/sub'), undefined);
      await writeFile(join(root.path, `bind-${runtime}.txt`), 'bound\n');
      expect(await docker('exec', id, 'cat', `/bind/sub/bind-${runtime}.txt`)).toBe('bound');
      expect(await readFile(join(bindDir, 'sub', `bind-${runtime}.txt`), 'utf8')).toBe('bound\n');
      expect(root.onVolume).toBe(true);
    });

    it("reports the target directory's owner", async () => {
      const root = await local.resolve(target('/app/owned'), undefined);
      expect(root.owner).toEqual({ uid: 1234, gid: 2345 });
    });

    it('takes the owner from the target when the spec overrides it', async () => {
      const root = await local.resolve({ ...target('/app/owned'), owner: { uid: 7, gid: 8 } }, undefined);
      expect(root.owner).toEqual({ uid: 7, gid: 8 });
    });

    it('creates a remote path that does not exist yet, each new directory owned like its nearest ancestor', async () => {
      const root = await local.resolve(target(`/app/owned/new-${runtime}/deeper`), undefined);
      expect(root.created).toBe(true);
      expect(root.exists).toBe(true);
      expect(root.owner).toEqual({ uid: 1234, gid: 2345 });
      expect(root.containerPath).toBe(`/app/owned/new-${runtime}/deeper`);
      const owners = await docker('exec', id, 'stat', '-c', '%F %u:%g', `/app/owned/new-${runtime}`, `/app/owned/new-${runtime}/deeper`);
      expect(owners.split('\n')).toEqual(['directory 1234:2345', 'directory 1234:2345']);
    });

    it("creates a missing remote path with the spec's owner when it overrides the owner", async () => {
      await local.resolve({ ...target(`/app/made-${runtime}`), owner: { uid: 77, gid: 88 } }, undefined);
      expect(await docker('exec', id, 'stat', '-c', '%u:%g', `/app/made-${runtime}`)).toBe('77:88');
    });

    it('creates nothing on a second resolve of a path that now exists', async () => {
      await local.resolve(target(`/app/twice-${runtime}`), undefined);
      const again = await local.resolve(target(`/app/twice-${runtime}`), undefined);
      expect(again.created).toBe(false);
      expect(again.exists).toBe(true);
    });

    it("creates a missing path behind `ln -s / /app/escape` in the container's root, never on the node", async () => {
      const name = `${probe}-${runtime}-dir`;
      const root = await local.resolve(target(`/app/escape/${name}`), undefined);
      try {
        expect(root.created).toBe(true);
        expect(existsSync(`/${name}`)).toBe(false);
        expect(await docker('exec', id, 'stat', '-c', '%F', `/${name}`)).toBe('directory');
      } finally {
        await docker('exec', id, 'rm', '-rf', `/${name}`);
        await rm(`/${name}`, { recursive: true, force: true });
      }
    });

    it('only reports a missing remote path when told not to create it', async () => {
      const root = await noCreate.resolve(target('/app/owned/not/yet'), undefined);
      expect(root.exists).toBe(false);
      expect(root.created).toBe(false);
      expect(root.owner).toEqual({ uid: 1234, gid: 2345 });
      await expect(docker('exec', id, 'test', '-e', '/app/owned/not')).rejects.toThrow();
    });

    it('names the runtime and the container', async () => {
      const root = await local.resolve(target('/app'), undefined);
      expect(root.runtime).toBe(runtime);
      expect(root.containerId).toBe(id);
      expect(root.containerName.length).toBeGreaterThan(0);
    });

    it("keeps `ln -s / /app/escape` inside the container's root: radar never writes on the node", async () => {
      const root = await local.resolve(target('/app/escape'), undefined);
      const name = `${probe}-${runtime}`;
      await writeFile(join(root.path, name), 'contained\n');
      try {
        expect(existsSync(`/${name}`)).toBe(false);
        expect(await docker('exec', id, 'cat', `/${name}`)).toBe('contained');
        expect(root.containerPath).toBe('/');
      } finally {
        await docker('exec', id, 'rm', '-f', `/${name}`);
        await rm(`/${name}`, { force: true });
      }
    });

    it("resolves an absolute symlink remote path against the container's root, not the node's", async () => {
      const root = await local.resolve(target('/app/etc-link'), undefined);
      const name = `${probe}-${runtime}-etc`;
      await writeFile(join(root.path, name), 'container etc\n');
      try {
        expect(existsSync(`/etc/${name}`)).toBe(false);
        expect(await docker('exec', id, 'cat', `/etc/${name}`)).toBe('container etc');
        expect(root.containerPath).toBe('/etc');
      } finally {
        await rm(`/etc/${name}`, { force: true });
      }
    });

    it("refuses a relative symlink that climbs above the container's root", async () => {
      const err = await refusal(local.resolve(target('/app/up/etc'), undefined));
      expect(err.code).toBe(ErrorCode.PathEscape);
    });

    it('refuses a relative remote path', async () => {
      const err = await refusal(local.resolve(target('app/src'), undefined));
      expect(err.code).toBe(ErrorCode.InvalidPath);
    });
  });
}

describe('a container that is gone', () => {
  it('gives NOT_FOUND naming a stopped container, on both runtimes', async () => {
    const stopped = await containers.run('exec sleep 3600');
    await docker('stop', '-t', '0', stopped);
    for (const ref of [`docker://${stopped}`, `containerd://${stopped}`]) {
      const err = await refusal(local.resolve({ containerId: ref, runtime: '', remotePath: '/app' }, undefined));
      expect(err.code, ref).toBe(ErrorCode.NotFound);
      expect(err.message, ref).toContain(stopped);
      expect(err.message, ref).not.toMatch(/\n\s+at /);
    }
  });

  it('gives NOT_FOUND naming a removed container, on both runtimes', async () => {
    const removed = await containers.run('exec sleep 3600');
    await docker('rm', '-f', removed);
    for (const ref of [`docker://${removed}`, `containerd://${removed}`]) {
      const err = await refusal(local.resolve({ containerId: ref, runtime: '', remotePath: '/app' }, undefined));
      expect(err.code, ref).toBe(ErrorCode.NotFound);
      expect(err.message, ref).toContain(removed);
    }
  });
});

describe('per-namespace tokens', () => {
  const tokenA = newToken('team-a');
  const tokenB = newToken('team-b');
  const tokens: TokenSource = { tokenFor: async (ns) => ({ 'team-a': tokenA, 'team-b': tokenB })[ns] };
  const guarded = new ContainerRootResolver({ runtimes: { docker: dockerRt, containerd: containerdRt }, authorizer: new NamespaceAuthorizer({ tokens }) });
  let inB: string;

  beforeAll(async () => {
    inB = await containers.run('exec sleep 3600', { args: ['--label', 'io.kubernetes.pod.namespace=team-b'] });
    // Docker does not copy its labels to containerd; the CRI plugin does. Label it the way Kubernetes would.
    await ctrMoby('containers', 'label', inB, 'io.kubernetes.pod.namespace=team-b');
  });

  for (const runtime of ['docker', 'containerd'] as const) {
    const target = () => ({ containerId: `${runtime}://${inB}`, runtime: '', remotePath: '/app' });

    it(`${runtime}: grants the token of the namespace the runtime reports`, async () => {
      const root = await guarded.resolve(target(), tokenB);
      expect(root.namespace).toBe('team-b');
    });

    it(`${runtime}: refuses a token of namespace A for a container of namespace B with PERMISSION_DENIED`, async () => {
      const err = await refusal(guarded.resolve(target(), tokenA));
      expect(err.code).toBe(ErrorCode.PermissionDenied);
    });

    it(`${runtime}: refuses a wrong token with UNAUTHENTICATED`, async () => {
      expect((await refusal(guarded.resolve(target(), newToken('team-b')))).code).toBe(ErrorCode.Unauthenticated);
    });

    it(`${runtime}: refuses a missing token with UNAUTHENTICATED`, async () => {
      expect((await refusal(guarded.resolve(target(), undefined))).code).toBe(ErrorCode.Unauthenticated);
    });
  }

  it('refuses a container with no namespace label even with a valid token', async () => {
    const err = await refusal(guarded.resolve({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' }, tokenA));
    expect(err.code).toBe(ErrorCode.PermissionDenied);
  });

  it('needs a token source unless it serves the local Docker target', () => {
    expect(() => new ContainerRootResolver({ runtimes: { docker: dockerRt } })).toThrow(/token source/);
  });
});

describe('mountinfo', () => {
  const sample = [
    '1016 900 0:77 / / rw,relatime - overlay overlay rw,lowerdir=/x',
    '1017 1016 0:80 / /proc rw,nosuid - proc proc rw',
    '1030 1016 8:1 /var/lib/docker/volumes/v/_data /data rw,relatime - ext4 /dev/sda1 rw',
    '1031 1016 8:1 /tmp/my\\040dir /my\\040dir rw - ext4 /dev/sda1 rw',
    '',
  ].join('\n');

  it('decodes mount points', () => {
    expect(parseMountPoints(sample)).toEqual(['/', '/proc', '/data', '/my dir']);
  });

  it('finds the mount a path is on, by whole components', () => {
    const points = parseMountPoints(sample);
    expect(mountPointOf(points, '/data/x/y')).toBe('/data');
    expect(mountPointOf(points, '/data')).toBe('/data');
    expect(mountPointOf(points, '/database')).toBe('/');
    expect(mountPointOf(points, '/my dir/a')).toBe('/my dir');
  });
});
