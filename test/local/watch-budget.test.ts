// The inotify watches kx doctor compares with the limit: one per directory the specs' watchers would watch.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { watchedDirectories } from '../../pkg/daemon/watch-budget.ts';
import { removeDir, tempDir } from './helpers.ts';

const spec = (local: string, ignore: string[] = []): SpecConfig => ({ name: 's', local, remote: '/app', reload: 'none', ignore, target: 'docker', selector: 'a=b' });

describe('watched directories', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await removeDir(d);
  });

  async function tree(): Promise<string> {
    const root = await tempDir('budget');
    dirs.push(root);
    for (const d of ['a/b/c', 'a/d', '.git/objects/00', 'node_modules/x', 'build']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, '.gitignore'), 'build/\n');
    return root;
  }

  it('counts the root and every directory beneath it that is not ignored (.git, .gitignore, spec patterns)', async () => {
    const root = await tree();
    // root, a, a/b, a/b/c, a/d, node_modules, node_modules/x
    expect(await watchedDirectories([spec(root)])).toBe(7);
    expect(await watchedDirectories([spec(root, ['node_modules/'])])).toBe(5);
  });

  it('counts a tree shared by two specs once', async () => {
    const root = await tree();
    expect(await watchedDirectories([spec(root), { ...spec(root), name: 't' }])).toBe(7);
  });

  it('stops counting soon after the cap', async () => {
    const root = await tree();
    expect(await watchedDirectories([spec(root)], 2)).toBeLessThan(7);
    expect(await watchedDirectories([spec(root)], 2)).toBeGreaterThan(2);
  });
});
