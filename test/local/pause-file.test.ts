// The pause record in KX_HOME: written atomically, read back, forgiving a broken file, and forgetting removed specs.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PauseFile } from '../../pkg/daemon/pause-file.ts';

describe('PauseFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-pause-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('remembers pauses in a file a later load reads, leaving no temp files', async () => {
    const file = join(dir, 'paused.json');
    const pauses = PauseFile.load(file, () => {});
    pauses.set('web', true);
    pauses.set('api', true);
    pauses.set('web', false);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(['api']);
    expect(await readdir(dir)).toEqual(['paused.json']);
    const again = PauseFile.load(file, () => {});
    expect([again.has('api'), again.has('web')]).toEqual([true, false]);
  });

  it('removes the file when nothing is paused', async () => {
    const file = join(dir, 'paused.json');
    const pauses = PauseFile.load(file, () => {});
    pauses.set('api', true);
    pauses.set('api', false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('forgets pauses of specs no longer configured', async () => {
    const file = join(dir, 'paused.json');
    const pauses = new PauseFile(file);
    pauses.set('api', true);
    pauses.set('old', true);
    pauses.retain(['api', 'web']);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(['api']);
  });

  it('reports a broken file naming it and starts with no pauses', async () => {
    const file = join(dir, 'paused.json');
    await writeFile(file, '{"api": true}');
    const errors: string[] = [];
    const pauses = PauseFile.load(file, (m) => errors.push(m));
    expect(pauses.has('api')).toBe(false);
    expect(errors).toEqual([`${file}: not a list of spec names; no spec starts paused`]);
  });
});
