// The daemon in-process on the real Docker engine: following containers, reloads, config edits.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../cmd/composition/root.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger, type Logger } from '../../pkg/daemon/logger.ts';
import type { ServiceStatus } from '../../pkg/daemon/status.ts';
import { catInContainer, countEvents, docker, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

interface Setup {
  dir: string;
  src: string;
  label: string;
  store: ConfigStore;
  daemon: RunningDaemon;
}

describe('kx watch daemon with docker targets', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function spec(s: Setup, over: Partial<SpecConfig> = {}): SpecConfig {
    return { name: 'site', selector: `kx.test=${s.label}`, local: s.src, remote: '/app', reload: 'none', ignore: [], target: 'docker', ...over };
  }

  async function container(s: Setup): Promise<string> {
    const c = await startContainer({ 'kx.test': s.label });
    cleanups.push(() => removeContainer(c.name));
    return c.name;
  }

  async function setup(first: (s: Omit<Setup, 'daemon'>) => Promise<void>, log: Logger = silentLogger): Promise<Setup> {
    const dir = await tempDir('daemon');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a1\n');
    const partial = { dir, src, label: `t${suffix()}`, store: new ConfigStore(join(dir, 'kx.yaml')) };
    await first(partial);
    const daemon = await startDaemon({ store: partial.store, config: (await partial.store.load()).config, statusPort: 0, log });
    cleanups.push(() => daemon.close());
    return { ...partial, daemon };
  }

  function rows(s: Setup, name = 'site'): readonly ServiceStatus[] {
    return s.daemon.daemon.status().specs.find((x) => x.name === name)?.services ?? [];
  }

  it('syncs an edit into the container and reports watching with a last-sync time', async () => {
    let name = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup));
    });
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await writeFile(join(s.src, 'a.txt'), 'a2\n');
    await waitFor('edit', async () => (await catInContainer(name, '/app/a.txt')) === 'a2\n');
    const row = await waitFor('watching row', () => rows(s).find((r) => r.state === 'watching' && r.lastSyncAt !== undefined));
    expect(row).toMatchObject({ target: name, files: 1 });
    expect(Date.now() - row.lastSyncAt!).toBeLessThan(60_000);
  });

  it('restarts the container at most once per batch of edits, and once per reload it logs, when reload is restart', async () => {
    let name = '';
    // The daemon's own log says which batches landed and which reloads it made. Three files saved together may land
    // as one batch or two (the watcher's timing), and reloads requested close together coalesce: so the engine's
    // restarts must match the logged reloads one for one, and never outnumber the batches.
    const lines: string[] = [];
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup, { reload: 'restart' }));
    }, { ...silentLogger, info: (m) => void lines.push(m) });
    const batches = (): number => lines.filter((l) => /^site → .*: \d+ files?, /.test(l)).length;
    const reloads = (): number => lines.filter((l) => l.endsWith(': reloaded (restart)')).length;
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await s.daemon.idle();
    expect(reloads()).toBe(0);
    const id = (await docker.getContainer(name).inspect()).Id;
    const since = Math.floor(Date.now() / 1000) - 1;
    const restarts = (): Promise<number> => countEvents(id, 'restart', since, Math.ceil(Date.now() / 1000) + 1);
    await Promise.all(['a.txt', 'b.txt', 'c.txt'].map((f) => writeFile(join(s.src, f), `${f} v2\n`)));
    await waitFor('edits', async () => (await catInContainer(name, '/app/c.txt')) === 'c.txt v2\n');
    // The restart makes a new row (a new process root) that must come back to watching.
    await waitFor('restart then watching again', async () => {
      await s.daemon.idle();
      return (await docker.getContainer(name).inspect()).State.Running && rows(s).some((r) => r.state === 'watching');
    });
    await s.daemon.idle();
    const first = reloads();
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(batches());
    expect(batches()).toBeLessThanOrEqual(3);
    await expect.poll(restarts, { timeout: 10_000 }).toBe(first);
    expect(await catInContainer(name, '/app/b.txt')).toBe('b.txt v2\n');

    const batchesBefore = batches();
    await writeFile(join(s.src, 'a.txt'), 'a3\n');
    await waitFor('second batch', async () => (await catInContainer(name, '/app/a.txt')) === 'a3\n');
    await waitFor('second restart', async () => (await restarts()) > first);
    await s.daemon.idle();
    const second = reloads() - first;
    expect(second).toBeGreaterThanOrEqual(1);
    expect(second).toBeLessThanOrEqual(batches() - batchesBefore);
    await expect.poll(restarts, { timeout: 10_000 }).toBe(first + second);
  });

  it('syncs a matching container started later and drops the row of one that stops', async () => {
    let first = '';
    const s = await setup(async (p) => {
      first = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup));
    });
    await waitFor('first synced', async () => (await catInContainer(first, '/app/a.txt')) === 'a1\n');
    const second = await container(s);
    await waitFor('second synced', async () => (await catInContainer(second, '/app/a.txt')) === 'a1\n');
    await waitFor('two rows', () => rows(s).length === 2);
    await docker.getContainer(first).stop({ t: 1 });
    await waitFor('first row gone', () => rows(s).length === 1);
    expect(rows(s).map((r) => r.target)).toEqual([second]);
  });

  it('stops syncing a spec deleted from the config while watching', async () => {
    let name = '';
    let kept = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      // A second spec on the same folder stays: once its container has the edit, the edit was seen and handled.
      const other = await startContainer({ 'kx.test': `${p.label}-kept` });
      cleanups.push(() => removeContainer(other.name));
      kept = other.name;
      await p.store.addSpec(spec(p as Setup));
      await p.store.addSpec(spec(p as Setup, { name: 'kept', selector: `kx.test=${p.label}-kept` }));
    });
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n' && (await catInContainer(kept, '/app/a.txt')) === 'a1\n');
    await s.store.removeSpecs(['site']);
    await waitFor('spec gone from status', () => s.daemon.daemon.status().specs.every((x) => x.name !== 'site'));
    await writeFile(join(s.src, 'a.txt'), 'after delete\n');
    await waitFor('the kept spec synced the edit', async () => (await catInContainer(kept, '/app/a.txt')) === 'after delete\n');
    await s.daemon.idle();
    expect(await catInContainer(name, '/app/a.txt')).toBe('a1\n');
  });

  it('starts a spec added to the config and restarts one whose remote changed', async () => {
    let name = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
    });
    expect(s.daemon.daemon.status().specs).toEqual([]);
    await s.store.addSpec(spec(s));
    await waitFor('added spec synced', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await s.store.addSpec(spec(s, { remote: '/srv' }), { replace: true });
    await waitFor('changed spec synced to its new remote', async () => (await catInContainer(name, '/srv/a.txt')) === 'a1\n');
    expect(s.daemon.daemon.status().specs.map((x) => x.remote)).toEqual(['/srv']);
  });

  it('reports a malformed config with file and line and keeps syncing on the last good one', async () => {
    let name = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup));
    });
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await writeFile(s.store.file, 'specs:\n  - name: site\n    remote: 42\n');
    const error = await waitFor('config error reported', () => s.daemon.daemon.status().configError);
    expect(error).toBe(`${s.store.file}:2: specs[0]: missing required field 'local'`);
    await writeFile(join(s.src, 'a.txt'), 'still syncing\n');
    await waitFor('edit synced on the last good config', async () => (await catInContainer(name, '/app/a.txt')) === 'still syncing\n');
    expect(s.daemon.daemon.status().specs.map((x) => x.name)).toEqual(['site']);
  });

  it('follows a container by name', async () => {
    let name = '';
    let other = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      other = await container(p as Setup); // same label, other name: not selected
      await p.store.addSpec({ ...spec(p as Setup), selector: undefined, pod: name });
    });
    await waitFor('synced by name', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await s.daemon.idle();
    expect(await catInContainer(other, '/app/a.txt')).toBeNull();
    expect(rows(s).map((r) => r.target)).toEqual([name]);
  });

  it('reloads for edits saved while kx watch was stopped, but not a container it meets for the first time', async () => {
    let name = '';
    const since = Math.floor(Date.now() / 1000) - 1;
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup, { reload: 'restart' }));
    });
    const id = (await docker.getContainer(name).inspect()).Id;
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await s.daemon.idle();
    await s.daemon.close();
    const stopped = Math.ceil(Date.now() / 1000) + 1;
    expect(await countEvents(id, 'restart', since, stopped)).toBe(0);

    await writeFile(join(s.src, 'a.txt'), 'saved while stopped\n');
    const again = await startDaemon({ store: s.store, config: (await s.store.load()).config, statusPort: 0, log: silentLogger });
    cleanups.push(() => again.close());
    await waitFor('the edit synced', async () => (await catInContainer(name, '/app/a.txt')) === 'saved while stopped\n');
    await waitFor('the reload', async () => (await countEvents(id, 'restart', since, Math.ceil(Date.now() / 1000) + 1)) >= 1);
  });

  it('sends nothing when kx watch restarts on an unchanged tree', async () => {
    let name = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await p.store.addSpec(spec(p as Setup));
    });
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await s.daemon.close();
    const lines: string[] = [];
    const log = { ...silentLogger, info: (m: string) => void lines.push(m) };
    const again = await startDaemon({ store: s.store, config: (await s.store.load()).config, statusPort: 0, log });
    cleanups.push(() => again.close());
    await waitFor('second initial sync', () => lines.find((l) => l.includes('initial sync sent')));
    expect(lines.filter((l) => l.includes('initial sync sent'))).toEqual([`site → ${name}: initial sync sent 0 ops, 0 bytes`]);
  });

  it('leaves ignored files out of the container', async () => {
    let name = '';
    const s = await setup(async (p) => {
      name = await container(p as Setup);
      await writeFile(join(p.src, '.gitignore'), 'build/\n');
      await mkdir(join(p.src, 'build'));
      await writeFile(join(p.src, 'build', 'out.bin'), 'x');
      await p.store.addSpec(spec(p as Setup, { ignore: ['*.log'] }));
    });
    await waitFor('initial sync', async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n');
    await writeFile(join(s.src, 'debug.log'), 'noise');
    await writeFile(join(s.src, 'b.txt'), 'b\n');
    await waitFor('b synced', async () => (await catInContainer(name, '/app/b.txt')) === 'b\n');
    expect(await catInContainer(name, '/app/debug.log')).toBeNull();
    expect(await catInContainer(name, '/app/build/out.bin')).toBeNull();
  });
});
