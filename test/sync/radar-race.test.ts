// A hostile process in the container may swap a directory radar has checked for a symlink to somewhere outside the
// root before radar uses it (time of check, time of use). radar pins every checked directory and works inside the
// pinned one, so the swap cannot redirect it. The swap is made deterministically by a test hook that runs between
// "parent pinned" and "operation done".
import { mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import type { BatchOp, DeltaOp, WriteOp } from '../../pkg/sync/types.ts';
import { TreeWriter } from '../../pkg/receiver/tree-writer.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import type { PinHooks } from '../../pkg/receiver/pins.ts';
import { swapAfterPin as swap } from './helpers/swap.ts';
import { contentDigest } from '../support/batch-ops.ts';

let base: string;
let root: string;
let outside: string;
let detached: string;
let hasher: Hasher;

beforeEach(async () => {
  hasher ??= await createHasher();
  base = await mkdtemp(join(tmpdir(), 'kx-race-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  detached = join(base, 'detached');
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'keep');
});
afterEach(() => rm(base, { recursive: true, force: true }));

/** Once `dir` is pinned: swap it for a symlink to `outside` (see helpers/swap.ts). */
const swapAfterPin = (dir: string) => swap({ root, detached, outside }, dir);

const digestOf = (data: Uint8Array): string => contentDigest(hasher, data);
function writeOp(path: string, data: Uint8Array): WriteOp {
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_000_000, size: data.byteLength, digest: digestOf(data), basis: 'whole' };
}
async function* literal(data: Uint8Array): AsyncIterable<DeltaOp> {
  yield { kind: 'literal', data };
}
async function* one(op: BatchOp): AsyncIterable<BatchOp> {
  yield op;
}
async function outsideUntouched(): Promise<void> {
  expect(await readdir(outside)).toEqual(['secret']);
  expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
}

describe('a parent directory swapped for a symlink after radar checked it', () => {
  it('a small write lands in the pinned (now detached) directory, never outside the root', async () => {
    const hooks = swapAfterPin('sub');
    const data = new TextEncoder().encode('payload');
    const res = await new LocalTree({ root, hasher, hooks }).apply(one({ ...writeOp('sub/f', data), body: literal(data) }));
    expect(hooks.swapped()).toBe(true);
    expect(res.errors).toEqual([]);
    expect(await readFile(join(detached, 'f'), 'utf8')).toBe('payload');
    await outsideUntouched();
  });

  it('a streamed write lands in the pinned directory, never outside the root', async () => {
    const hooks = swapAfterPin('sub');
    const data = new Uint8Array(2 * 1024 * 1024).fill(7);
    await new TreeWriter({ root, hasher, hooks }).write(writeOp('sub/big', data), literal(data));
    expect(hooks.swapped()).toBe(true);
    expect((await stat(join(detached, 'big'))).size).toBe(data.byteLength);
    await outsideUntouched();
  });

  it('mkdir creates in the pinned directory, never outside the root', async () => {
    const hooks = swapAfterPin('sub');
    await new TreeWriter({ root, hasher, hooks }).mkdir('sub/made', 0o755);
    expect(hooks.swapped()).toBe(true);
    expect((await lstat(join(detached, 'made'))).isDirectory()).toBe(true);
    await outsideUntouched();
  });

  it('a symlink is created in the pinned directory, never outside the root', async () => {
    const hooks = swapAfterPin('sub');
    await new TreeWriter({ root, hasher, hooks }).symlink('sub/link', 'target');
    expect(hooks.swapped()).toBe(true);
    expect((await lstat(join(detached, 'link'))).isSymbolicLink()).toBe(true);
    await outsideUntouched();
  });

  it('remove deletes in the pinned directory and leaves the same name outside the root alone', async () => {
    await mkdir(join(root, 'sub/victim'));
    await writeFile(join(root, 'sub/victim/f'), 'in root');
    await mkdir(join(outside, 'victim'));
    await writeFile(join(outside, 'victim/f'), 'node file');
    const hooks = swapAfterPin('sub');
    await new TreeWriter({ root, hasher, hooks }).remove('sub/victim');
    expect(hooks.swapped()).toBe(true);
    expect(await readdir(detached)).toEqual([]);
    expect(await readFile(join(outside, 'victim/f'), 'utf8')).toBe('node file');
  });

  it('a move renames into the pinned directory, never outside the root', async () => {
    const data = new TextEncoder().encode('moved');
    await writeFile(join(root, 'from'), data);
    const hooks = swapAfterPin('sub');
    await new TreeWriter({ root, hasher, hooks }).moveOrCopy({ op: 'move', from: 'from', path: 'sub/to', mode: 0o644, mtimeMs: 1_000_000, digest: digestOf(data) });
    expect(hooks.swapped()).toBe(true);
    expect(await readFile(join(detached, 'to'), 'utf8')).toBe('moved');
    await outsideUntouched();
  });

  it('chmod (meta) acts on the file in the pinned directory, not on the one outside the root', async () => {
    await writeFile(join(root, 'sub/secret'), 'in root', { mode: 0o644 });
    const before = (await stat(join(outside, 'secret'))).mode & 0o7777;
    const hooks = swapAfterPin('sub');
    await new TreeWriter({ root, hasher, hooks }).meta('sub/secret', 0o600);
    expect(hooks.swapped()).toBe(true);
    expect((await stat(join(detached, 'secret'))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(outside, 'secret'))).mode & 0o7777).toBe(before);
  });

  it('digests read the file in the pinned directory, never the one outside the root', async () => {
    const hooks = swapAfterPin('sub');
    const got = await new LocalTree({ root, hasher, hooks }).digests(['sub/secret']);
    expect(hooks.swapped()).toBe(true);
    expect(got.size).toBe(0); // sub/secret does not exist in the root; outside/secret must not be read
  });

  it('later operations of the same batch keep using the pinned directory', async () => {
    const hooks = swapAfterPin('sub');
    const a = new TextEncoder().encode('a');
    const b = new TextEncoder().encode('b');
    const res = await new LocalTree({ root, hasher, hooks }).apply((async function* () {
      yield { ...writeOp('sub/a', a), body: literal(a) };
      yield { ...writeOp('sub/b', b), body: literal(b) };
    })());
    expect(res.errors).toEqual([]);
    expect((await readdir(detached)).sort()).toEqual(['a', 'b']);
    await outsideUntouched();
  });

  it('a new batch walks again and refuses the symlink now in place of the directory', async () => {
    mkdirSync(detached);
    renameSync(join(root, 'sub'), join(base, 'gone'));
    await symlink(outside, join(root, 'sub'));
    const data = new TextEncoder().encode('x');
    const res = await new LocalTree({ root, hasher }).apply(one({ ...writeOp('sub/f', data), body: literal(data) }));
    expect(res.errors).toMatchObject([{ path: 'sub/f', code: 'PATH_ESCAPE' }]);
    await outsideUntouched();
  });
});

describe('a directory swapped for a symlink while radar scans the manifest', () => {
  /** Once the root is listed: move `sub` away and put a symlink to `outside` in its place. */
  function swapAfterRootListed(): PinHooks & { swapped: () => boolean } {
    let done = false;
    return {
      afterList(dir: string) {
        if (done || dir !== '') return;
        done = true;
        renameSync(join(root, 'sub'), detached);
        symlinkSync(outside, join(root, 'sub'));
      },
      swapped: () => done,
    };
  }

  it('shows the symlink, never a name, size or digest of what lies outside the root', async () => {
    await writeFile(join(root, 'sub/f'), 'inside');
    const hooks = swapAfterRootListed();
    const manifest = await new LocalTree({ root, hasher, hooks }).manifest([]);
    expect(hooks.swapped()).toBe(true);
    expect([...manifest.keys()]).toEqual(['sub']);
    expect(manifest.get('sub')).toMatchObject({ kind: 'symlink', target: outside });
    expect([...manifest.values()].map((e) => e.digest)).not.toContain(digestOf(new TextEncoder().encode('keep')));
  });

  it('lists nothing outside the root in the stat-only scan against a known manifest either', async () => {
    const hooks = swapAfterRootListed();
    const manifest = await new LocalTree({ root, hasher, hooks }).manifest([], undefined, new Map());
    expect(hooks.swapped()).toBe(true);
    expect([...manifest.keys()]).toEqual(['sub']);
    expect(manifest.get('sub')?.kind).toBe('symlink');
  });
});

describe("the root's own path", () => {
  it('is opened with O_NOFOLLOW after its /proc/<pid>/root anchor: a component swapped for a symlink is refused', async () => {
    const anchor = join(base, 'proc/42/root');
    await mkdir(anchor, { recursive: true });
    await symlink(outside, join(anchor, 'app'));
    const data = new TextEncoder().encode('x');
    const res = await new LocalTree({ root: join(anchor, 'app'), hasher }).apply(one({ ...writeOp('f', data), body: literal(data) }));
    expect(res.errors).toMatchObject([{ path: 'f', code: 'PATH_ESCAPE' }]);
    await outsideUntouched();
  });

  it('is scanned through its pinned fd: a component after the anchor swapped for a symlink lists nothing outside', async () => {
    const anchor = join(base, 'proc/42/root');
    await mkdir(anchor, { recursive: true });
    await symlink(outside, join(anchor, 'app'));
    await expect(new LocalTree({ root: join(anchor, 'app'), hasher }).manifest([])).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('gives an empty manifest for a root that does not exist', async () => {
    expect((await new LocalTree({ root: join(base, 'missing'), hasher }).manifest([])).size).toBe(0);
  });
});
