// The local half of a Folder on a real folder: chokidar's events reach the batches as paths relative to the spec's
// folder, '/'-separated, whatever way the folder was named (the root cut off chokidar's paths directly, or by
// path.relative for a name that is not the plain prefix), and what the ignore rules skip is not reported.
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Batch, BatcherTiming } from '../../pkg/daemon/batcher.ts';
import { LocalWatcher } from '../../pkg/daemon/local-watcher.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';

describe('LocalWatcher', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function watching(
    name: (root: string) => string,
    ignore: string[] = [],
    more: { removalMatters?: (rel: string) => boolean; timing?: BatcherTiming; before?: (root: string) => Promise<unknown> } = {},
  ): Promise<{ root: string; reported: Set<string> }> {
    const root = await mkdtemp(join(tmpdir(), 'kx-local-watcher-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await more.before?.(root);
    const reported = new Set<string>();
    const spec: SpecConfig = { name: 'w', selector: 'a=b', local: name(root), remote: '/app', reload: 'none', ignore, target: 'docker' };
    const watcher = new LocalWatcher(
      spec,
      { batch: (b: Batch) => b.paths.forEach((p) => reported.add(p)), error: (m) => reported.add(`error: ${m}`), removalMatters: more.removalMatters },
      more.timing,
    );
    cleanups.push(() => watcher.close());
    await watcher.start();
    return { root, reported };
  }

  it('reports new directories and files as relative, /-separated paths', async () => {
    const { root, reported } = await watching((r) => r);
    await mkdir(join(root, 'src', 'deep'), { recursive: true });
    await writeFile(join(root, 'src', 'deep', 'a.ts'), 'a');
    await writeFile(join(root, 'top.ts'), 'top');
    await vi.waitFor(() => expect([...reported].sort()).toEqual(['src', 'src/deep', 'src/deep/a.ts', 'top.ts']), { timeout: 5_000 });
  });

  it('reports the same paths for a folder named with a trailing slash or a dot segment', async () => {
    for (const name of [(r: string) => `${r}/`, (r: string) => `${r}/./`]) {
      const { root, reported } = await watching(name);
      await mkdir(join(root, 'src'));
      await writeFile(join(root, 'src', 'b.ts'), 'b');
      await vi.waitFor(() => expect([...reported].sort()).toEqual(['src', 'src/b.ts']), { timeout: 5_000 });
    }
  });

  it('leaves out what the ignore rules skip', async () => {
    const { root, reported } = await watching((r) => r, ['*.log']);
    await writeFile(join(root, 'skip.log'), 'x');
    await writeFile(join(root, 'keep.ts'), 'y');
    await vi.waitFor(() => expect(reported.has('keep.ts')).toBe(true), { timeout: 5_000 });
    expect(reported.has('skip.log')).toBe(false);
  });

  it('does not hold back a removal that cannot delete anything in the container (an editor\'s temp file)', async () => {
    // Removals hold their batch for the quiet window (here a minute); one that cannot matter goes at once.
    const { root, reported } = await watching((r) => r, [], {
      removalMatters: (rel) => !rel.endsWith('.tmp'),
      timing: { quietMs: 60_000, maxWaitMs: 60_000 },
      before: (r) => writeFile(join(r, 'main.css.tmp'), 'body {}'),
    });
    await unlink(join(root, 'main.css.tmp'));
    await vi.waitFor(() => expect(reported.has('main.css.tmp')).toBe(true), { timeout: 5_000 });
  });
});
