// radar strips set-user-ID, set-group-ID and sticky bits from what it writes unless the spec keeps them
// (`keepSetIdBits: true`, `kx create --keep-set-id-bits`): a setuid-root file in a developer's folder must not become
// a setuid-root program in the container by accident. Through the daemon, the Docker target and its radar container.
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon } from '../../cmd/composition/root.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import { removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const run = promisify(execFile);
const modeIn = async (name: string, path: string): Promise<string | null> =>
  run('docker', ['exec', name, 'stat', '-c', '%a', path]).then((r) => r.stdout.trim(), () => null);

describe('set-id bits of synced files', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function syncedMode(keepSetIdBits: boolean): Promise<string> {
    const dir = await tempDir('setid');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'tool'), '#!/bin/sh\necho hi\n');
    await chmod(join(src, 'tool'), 0o4755);
    const label = `t${suffix()}`;
    const c = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(c.name));
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await writeFile(store.file, '');
    await store.addSpec({ name: 'site', selector: `kx.test=${label}`, local: src, remote: '/app', reload: 'none', ignore: [], target: 'docker', ...(keepSetIdBits && { keepSetIdBits: true }) });
    const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
    const daemon = await startDaemon({ store, config: (await store.load()).config, statusPort: 0, log: silent });
    cleanups.push(() => daemon.close());
    return waitFor('the file in the container', () => modeIn(c.name, '/app/tool'));
  }

  it('strips them by default', async () => {
    expect(await syncedMode(false)).toBe('755');
  });

  it('keeps them when the spec says keepSetIdBits', async () => {
    expect(await syncedMode(true)).toBe('4755');
  });
});
