// Creating a missing remote path races with the container, which may swap a directory radar has checked for a
// symlink to the node's filesystem before radar's mkdir beneath it. A stand-in /proc (a plain directory as the
// container's root) and a test hook make the swap deterministic, between "parent pinned" and "mkdir".
import { symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { DeltaOp } from '../../pkg/sync/types.ts';
import { ContainerRootResolver } from '../../pkg/runtime/resolve.ts';
import type { ContainerInspector } from '../../pkg/runtime/resolve.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import type { PinHooks } from '../../pkg/receiver/pins.ts';
import { swapAfterPin as swap } from '../sync/helpers/swap.ts';
import { fakeStat } from './helpers/fake-proc.ts';

const PID = 4242;
let base: string;
let containerRoot: string;
let outside: string;
let detached: string;

const inspector: ContainerInspector = {
  inspect: async (id) => ({ id, name: 'kx-test-fake', pid: PID, labels: {} }),
};

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'kx-test-resolve-race-'));
  containerRoot = join(base, 'proc', String(PID), 'root');
  outside = join(base, 'node');
  detached = join(base, 'detached');
  await mkdir(join(containerRoot, 'app'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(base, 'proc', String(PID), 'mountinfo'), '1 0 8:1 / / rw - ext4 /dev/sda1 rw\n');
  await writeFile(join(base, 'proc', String(PID), 'stat'), fakeStat(PID, 'sh', 1000));
});
afterEach(() => rm(base, { recursive: true, force: true }));

/** Once `dir` is pinned: swap it for a symlink to `outside` (see helpers/swap.ts). */
const swapAfterPin = (dir: string) => swap({ root: containerRoot, detached, outside }, dir);

function resolver(hooks?: PinHooks): ContainerRootResolver {
  return new ContainerRootResolver({ runtimes: { docker: inspector }, localDockerTarget: true, procRoot: join(base, 'proc'), ...(hooks ? { hooks } : {}) });
}

describe('creating a missing remote path while the container swaps a directory for a symlink', () => {
  it('makes the new directories in the pinned (now detached) directory, nothing on the node', async () => {
    const hooks = swapAfterPin('app');
    const root = await resolver(hooks).resolve({ containerId: 'docker://c1', runtime: '', remotePath: '/app/new/deeper' }, undefined);
    expect(hooks.swapped()).toBe(true);
    expect(root.created).toBe(true);
    expect((await stat(join(detached, 'new/deeper'))).isDirectory()).toBe(true);
    expect(await readdir(outside)).toEqual([]);
  });

  it('a tree on the returned path refuses to write through the symlink now in its place', async () => {
    const hooks = swapAfterPin('app');
    const root = await resolver(hooks).resolve({ containerId: 'docker://c1', runtime: '', remotePath: '/app/new' }, undefined);
    const data = new TextEncoder().encode('x');
    const hasher = await createHasher();
    const h = hasher.stream();
    h.update(data);
    const body = (async function* (): AsyncIterable<DeltaOp> {
      yield { kind: 'literal', data };
    })();
    const res = await new LocalTree({ root: root.path, hasher }).apply((async function* () {
      yield { op: 'write' as const, path: 'f', mode: 0o644, mtimeMs: 1_000_000, size: 1, digest: h.digest(), basis: 'whole' as const, body };
    })());
    expect(res.errors).toMatchObject([{ path: 'f', code: 'PATH_ESCAPE' }]);
    expect(await readdir(outside)).toEqual([]);
  });

  it("still follows the container's own absolute symlinks inside its root", async () => {
    symlinkSync('/app', join(containerRoot, 'alias'));
    const root = await resolver().resolve({ containerId: 'docker://c1', runtime: '', remotePath: '/alias/made' }, undefined);
    expect(root.containerPath).toBe('/app/made');
    expect((await stat(join(containerRoot, 'app/made'))).isDirectory()).toBe(true);
  });
});
