// A daemon busy with one spec's large initial sync still serves everything else: `kx get` answers with that sync's
// live progress, and an edit of another spec lands meanwhile. No timing thresholds: speed is bench/stall.ts's job.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catInContainer, exitOf, kx, kxSpawn, randomPort, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const FILES = 30_000;

interface Row {
  state: string;
  progress?: { files: number; totalFiles: number };
}

/** The first service row of spec `name` anywhere in `kx get -o json`'s output. */
function rowOf(json: unknown, name: string): Row | undefined {
  if (Array.isArray(json)) {
    for (const v of json) {
      const r = rowOf(v, name);
      if (r) return r;
    }
  } else if (json !== null && typeof json === 'object') {
    const o = json as { name?: unknown; services?: unknown };
    if (o.name === name && Array.isArray(o.services)) return o.services[0] as Row | undefined;
    for (const v of Object.values(o)) {
      const r = rowOf(v, name);
      if (r) return r;
    }
  }
  return undefined;
}

describe('a daemon busy with a large initial sync', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it(`answers kx get with live progress while ${FILES} files sync, and another spec's edit lands`, async () => {
    const dir = await tempDir('busy');
    cleanups.push(() => removeDir(dir));
    const env = { KX_HOME: dir };
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    const big = join(dir, 'big');
    const small = join(dir, 'small');
    await mkdir(small);
    await writeFile(join(small, 'a.txt'), 'a1\n');
    for (let i = 0; i < FILES; i++) {
      const d = join(big, `d${Math.floor(i / 100)}`);
      if (i % 100 === 0) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.txt`), `file ${i}\n`);
    }
    const label = `t${suffix()}`;
    const c = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(c.name));
    for (const [name, local, remote] of [['small', small, '/app'], ['big', big, '/big']] as const) {
      const created = await kx(['create', '--docker', '-l', `kx.test=${label}`, '--name', name, local, remote], env);
      expect(created.code, created.stderr).toBe(0);
    }
    const watch = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      watch.kill('SIGINT');
      await exitOf(watch);
    });
    await waitFor('small synced', async () => (await catInContainer(c.name, '/app/a.txt')) === 'a1\n', 120_000);

    // While big's initial sync runs: kx get answers each time, and the file count it shows moves.
    const seen = new Set<number>();
    let edited = false;
    await waitFor('two progress readings during the initial sync', async () => {
      const out = await kx(['get', '-o', 'json'], env);
      expect(out.code, out.stderr).toBe(0);
      const row = rowOf(JSON.parse(out.stdout), 'big');
      if (row?.state === 'watching') throw new Error(`big finished before two readings (saw ${[...seen].join(', ')}): make FILES larger`);
      if (row?.state === 'initial-sync' && row.progress) seen.add(row.progress.files);
      if (seen.size >= 1 && !edited) {
        edited = true;
        await writeFile(join(small, 'a.txt'), 'a2\n');
      }
      return seen.size >= 2;
    }, 120_000);
    await waitFor('edit of the other spec', async () => (await catInContainer(c.name, '/app/a.txt')) === 'a2\n', 60_000);
    await waitFor('big synced', async () => (await catInContainer(c.name, `/big/d${FILES / 100 - 1}/f${FILES - 1}.txt`)) !== null, 180_000);
  }, 420_000);
});
