// radar treats the client as untrusted: every way a path could leave the root is refused, and no write follows
// a symlink — whether the symlink points outside or not.
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import type { BatchOp, DeltaOp } from '../../pkg/sync/types.ts';
import { resolveBeneath } from '../../pkg/receiver/confine.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { contentDigest } from '../support/batch-ops.ts';

let base: string;
let root: string;
let outside: string;
let hasher: Hasher;

beforeEach(async () => {
  hasher ??= await createHasher();
  base = await mkdtemp(join(tmpdir(), 'kx-confine-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'keep');
});
afterEach(() => rm(base, { recursive: true, force: true }));

async function* literal(text: string): AsyncIterable<DeltaOp> {
  yield { kind: 'literal', data: new TextEncoder().encode(text) };
}
const digestOf = (text: string): string => contentDigest(hasher, text);
function write(path: string, text = 'x'): BatchOp {
  return { op: 'write', path, mode: 0o644, mtimeMs: 1_000_000, size: text.length, digest: digestOf(text), basis: 'whole', body: literal(text) };
}
async function applyOne(op: BatchOp) {
  const tree = new LocalTree({ root, hasher });
  return tree.apply((async function* () { yield op; })());
}
async function outsideUntouched(): Promise<void> {
  expect(await readdir(outside)).toEqual(['secret']);
  expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
}

describe('resolveBeneath', () => {
  it('resolves a plain path to root/path', async () => {
    expect(await resolveBeneath(root, 'a/b', { absoluteLinks: 'refuse', followFinal: true })).toBe(join(root, 'a/b'));
  });

  it('follows a relative symlink that stays inside the root', async () => {
    await mkdir(join(root, 'real'));
    await symlink('real', join(root, 'alias'));
    expect(await resolveBeneath(root, 'alias/f', { absoluteLinks: 'refuse', followFinal: false })).toBe(join(root, 'real/f'));
  });

  it("refuses a symlinked parent whose '..' climbs above the root", async () => {
    await symlink('../outside', join(root, 'up'));
    await expect(resolveBeneath(root, 'up/secret', { absoluteLinks: 'in-root', followFinal: false })).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('refuses an absolute symlinked parent under refuse', async () => {
    await symlink(outside, join(root, 'abs'));
    await expect(resolveBeneath(root, 'abs/secret', { absoluteLinks: 'refuse', followFinal: false })).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('re-roots an absolute symlink at the root under in-root, as the container would see it', async () => {
    await mkdir(join(root, 'data'));
    await symlink('/data', join(root, 'app'));
    await symlink('/', join(root, 'escape'));
    expect(await resolveBeneath(root, '/app/x', { absoluteLinks: 'in-root', followFinal: true })).toBe(join(root, 'data/x'));
    expect(await resolveBeneath(root, 'escape/etc/passwd', { absoluteLinks: 'in-root', followFinal: true })).toBe(join(root, 'etc/passwd'));
  });

  it('leaves a final symlink unresolved unless asked to follow it', async () => {
    await symlink(outside, join(root, 'link'));
    expect(await resolveBeneath(root, 'link', { absoluteLinks: 'refuse', followFinal: false })).toBe(join(root, 'link'));
    await expect(resolveBeneath(root, 'link', { absoluteLinks: 'refuse', followFinal: true })).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('refuses a symlink loop', async () => {
    await symlink('b', join(root, 'a'));
    await symlink('a', join(root, 'b'));
    await expect(resolveBeneath(root, 'a/x', { absoluteLinks: 'refuse', followFinal: true })).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  it('refuses a NUL byte', async () => {
    await expect(resolveBeneath(root, 'a\0b', { absoluteLinks: 'refuse', followFinal: true })).rejects.toMatchObject({ code: 'INVALID_PATH' });
  });
});

describe('apply refuses every path escape with a per-path error', () => {
  const malformed: [string, string][] = [
    ['a parent component', '../outside/secret'],
    ['an inner parent component', 'a/../../outside/secret'],
    ['an absolute path', join('/tmp', 'kx-abs-escape')],
    ['a NUL byte', 'a\0b'],
    ['an over-long name', 'n'.repeat(256)],
    ['an over-long path', Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/')],
    ['an empty path', ''],
  ];
  for (const [what, path] of malformed) {
    it(`refuses ${what} as INVALID_PATH`, async () => {
      const res = await applyOne(write(path));
      expect(res.applied).toBe(0);
      expect(res.errors).toEqual([expect.objectContaining({ path, code: 'INVALID_PATH' })]);
      await outsideUntouched();
    });
  }

  it('refuses a write beneath a symlinked parent pointing outside', async () => {
    await symlink(outside, join(root, 'out'));
    const res = await applyOne(write('out/secret', 'pwned'));
    expect(res.errors).toEqual([expect.objectContaining({ path: 'out/secret', code: 'PATH_ESCAPE' })]);
    await outsideUntouched();
  });

  it('refuses a write beneath a relative symlinked parent climbing out', async () => {
    await mkdir(join(root, 'd'));
    await symlink('../../outside', join(root, 'd/up'));
    const res = await applyOne(write('d/up/new', 'pwned'));
    expect(res.errors).toEqual([expect.objectContaining({ code: 'PATH_ESCAPE' })]);
    await outsideUntouched();
  });

  it('replaces a final symlink component instead of writing through it', async () => {
    await symlink(join(outside, 'secret'), join(root, 'f'));
    const res = await applyOne(write('f', 'new'));
    expect(res.errors).toEqual([]);
    expect((await lstat(join(root, 'f'))).isFile()).toBe(true);
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('new');
    await outsideUntouched();
  });

  it('does not chmod through a final symlink (meta)', async () => {
    await symlink(join(outside, 'secret'), join(root, 'f'));
    const before = (await lstat(join(outside, 'secret'))).mode;
    const res = await applyOne({ op: 'meta', path: 'f', mode: 0o777 });
    expect(res.errors).toEqual([expect.objectContaining({ path: 'f', code: 'PATH_ESCAPE' })]);
    expect((await lstat(join(outside, 'secret'))).mode).toBe(before);
  });

  it('removes a final symlink itself, not its target directory', async () => {
    await symlink(outside, join(root, 'out'));
    const res = await applyOne({ op: 'remove', path: 'out' });
    expect(res.errors).toEqual([]);
    await expect(lstat(join(root, 'out'))).rejects.toMatchObject({ code: 'ENOENT' });
    await outsideUntouched();
  });

  it('refuses to mkdir through a final symlink', async () => {
    await symlink(outside, join(root, 'd'));
    const res = await applyOne({ op: 'mkdir', path: 'd', mode: 0o700 });
    expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'PATH_ESCAPE' })]);
  });

  it('refuses to move a file out of a symlinked parent', async () => {
    await symlink(outside, join(root, 'out'));
    const res = await applyOne({ op: 'move', from: 'out/secret', path: 'stolen', mode: 0o644, mtimeMs: 0, digest: digestOf('keep') });
    expect(res.errors).toEqual([expect.objectContaining({ code: 'PATH_ESCAPE' })]);
    await outsideUntouched();
  });

  it('stores a symlink pointing outside as a link without following it', async () => {
    const res = await applyOne({ op: 'symlink', path: 'l', target: join(outside, 'secret') });
    expect(res.errors).toEqual([]);
    expect(await readlink(join(root, 'l'))).toBe(join(outside, 'secret'));
    await outsideUntouched();
  });
});
