// kx never deletes or overwrites what it did not write, halts instead of emptying a container, and says what it
// deleted: the daemon in-process against containers on the real Docker engine.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../cmd/composition/root.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import type { ServiceStatus } from '../../pkg/daemon/status.ts';
import { catInContainer, docker, kx, randomPort, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const run = promisify(execFile);

/** Run a shell script inside the container (what the container's own processes would do). */
async function inContainer(name: string, script: string): Promise<string> {
  return (await run('docker', ['exec', name, 'sh', '-c', script])).stdout;
}

interface Setup {
  dir: string;
  src: string;
  label: string;
  store: ConfigStore;
  port: number;
  name: string;
  lines: string[];
  daemon: RunningDaemon;
}

describe('one-way-safe sync into docker containers', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function capture(lines: string[]): Logger {
    return { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => {} };
  }

  /** A container with `before` run in it, a local folder with `files`, and the daemon started on a spec between them. */
  async function setup(opts: { files?: Record<string, string>; before?: string; spec?: Partial<SpecConfig>; yaml?: string } = {}): Promise<Setup> {
    const dir = await tempDir('safety');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    await mkdir(src);
    for (const [p, text] of Object.entries(opts.files ?? { 'a.txt': 'a1\n' })) {
      await mkdir(join(src, p, '..'), { recursive: true });
      await writeFile(join(src, p), text);
    }
    const label = `t${suffix()}`;
    const c = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(c.name));
    if (opts.before) await inContainer(c.name, opts.before);
    const file = join(dir, 'kx.yaml');
    const store = new ConfigStore(file);
    const lines: string[] = [];
    // The CLI finds the daemon through kx.yaml's statusPort: a random one, another if it is taken.
    for (let attempt = 1; ; attempt++) {
      const port = randomPort();
      await writeFile(file, `statusPort: ${port}\n${opts.yaml ?? ''}`);
      await store.addSpec({ name: 'site', selector: `kx.test=${label}`, local: src, remote: '/app', reload: 'none', ignore: [], target: 'docker', ...opts.spec });
      try {
        const daemon = await start(store, lines);
        return { dir, src, label, store, port, name: c.name, lines, daemon };
      } catch (err) {
        if (attempt === 5 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  async function start(store: ConfigStore, lines: string[]): Promise<RunningDaemon> {
    const daemon = await startDaemon({ store, config: (await store.load()).config, log: capture(lines) });
    cleanups.push(() => daemon.close());
    return daemon;
  }

  function row(s: Setup): ServiceStatus | undefined {
    return s.daemon.daemon.status().specs.find((x) => x.name === 'site')?.services[0];
  }

  const synced = (s: Setup, path: string, text: string) => waitFor(`${path} synced`, async () => (await catInContainer(s.name, path)) === text);

  it('leaves a file the image holds in the remote path alone at the initial sync, and counts it', async () => {
    const s = await setup({ before: 'mkdir -p /app && echo image > /app/server.conf' });
    await synced(s, '/app/a.txt', 'a1\n');
    await s.daemon.idle();
    expect(await catInContainer(s.name, '/app/server.conf')).toBe('image\n');
    expect(row(s)).toMatchObject({ state: 'watching', foreignFiles: 1, deletedFiles: 0 });
  });

  it('keeps files the container makes across a restart of kx watch, a restart of the container and an ignore-file edit', async () => {
    const s = await setup({ files: { 'a.txt': 'a1\n', 'old.txt': 'old\n' } });
    await synced(s, '/app/a.txt', 'a1\n');
    await inContainer(s.name, 'mkdir -p /app/__pycache__ /app/node_modules/x && echo pyc > /app/__pycache__/a.pyc && echo m > /app/node_modules/x/i.js');

    // kx watch restarts; meanwhile the user deletes a file kx wrote and the container makes another.
    await s.daemon.idle(); // the last batch's record is saved once it is acknowledged
    await s.daemon.close();
    await rm(join(s.src, 'old.txt'));
    await inContainer(s.name, 'echo up > /app/uploads.txt');
    const lines: string[] = [];
    const again = await start(s.store, lines);
    await waitFor('old.txt deleted', async () => (await catInContainer(s.name, '/app/old.txt')) === null);
    await again.idle();
    expect(lines.filter((l) => l.includes('deleted'))).toEqual([`site → ${s.name}: deleted 1 file(s) in the container: old.txt`]);

    // The container restarts: a new link, synced afresh from the ancestor kept on disk.
    await docker.getContainer(s.name).restart({ t: 1 });
    await waitFor('synced again after the restart', () => lines.filter((l) => l.includes('initial sync sent')).length >= 2);
    // An ignore-file edit resyncs everything.
    await writeFile(join(s.src, '.kxignore'), '*.log\n');
    await synced(s, '/app/.kxignore', '*.log\n');
    await again.idle();

    expect(await catInContainer(s.name, '/app/__pycache__/a.pyc')).toBe('pyc\n');
    expect(await catInContainer(s.name, '/app/node_modules/x/i.js')).toBe('m\n');
    expect(await catInContainer(s.name, '/app/uploads.txt')).toBe('up\n');
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('a1\n');
  });

  it('deletes a folder removed locally but keeps what the container made in it since', async () => {
    const s = await setup({ files: { 'main.js': 'm\n', 'build/out.js': 'o\n', 'build/map.js': 'p\n' } });
    await synced(s, '/app/build/out.js', 'o\n');
    await inContainer(s.name, 'echo cache > /app/build/cache.bin');
    await rm(join(s.src, 'build'), { recursive: true });
    await waitFor('kx\'s files gone', async () => (await catInContainer(s.name, '/app/build/out.js')) === null && (await catInContainer(s.name, '/app/build/map.js')) === null);
    expect(await catInContainer(s.name, '/app/build/cache.bin')).toBe('cache\n');
    expect(await catInContainer(s.name, '/app/main.js')).toBe('m\n');
    // radar left the directory, said why, and the full sync that followed counted the container's file.
    await s.daemon.idle();
    expect(s.lines.filter((l) => l.includes('(build/cache.bin was made there); left as it is'))).toHaveLength(1);
    expect(row(s)).toMatchObject({ state: 'watching', foreignFiles: 1 });
  });

  it('deletes and renames folders holding only kx\'s files in one batch, without a full sync', async () => {
    const s = await setup({ files: { 'main.js': 'm\n', 'build/out.js': 'o\n', 'build/sub/map.js': 'p\n', 'lib/a.js': 'a\n', 'lib/b.js': 'b\n' } });
    await synced(s, '/app/lib/b.js', 'b\n');
    await s.daemon.idle();
    const fullSyncs = (): number => s.lines.filter((l) => l.includes('full sync sent')).length;
    const before = fullSyncs();
    await rm(join(s.src, 'build'), { recursive: true });
    await rename(join(s.src, 'lib'), join(s.src, 'src'));
    await waitFor('build gone and lib renamed', async () => (await catInContainer(s.name, '/app/build/out.js')) === null && (await catInContainer(s.name, '/app/lib/a.js')) === null && (await catInContainer(s.name, '/app/src/b.js')) === 'b\n');
    await s.daemon.idle();
    expect(await inContainer(s.name, 'ls -a /app')).toBe('.\n..\nmain.js\nsrc\n');
    expect(fullSyncs()).toBe(before);
  });

  it('halts when the local folder is moved away, deletes nothing, and resumes when it is back', async () => {
    const s = await setup({ files: { 'a.txt': 'a1\n', 'b.txt': 'b1\n' } });
    await synced(s, '/app/b.txt', 'b1\n');
    await rename(s.src, `${s.src}.bak`);
    const halted = await waitFor('halted', () => (row(s)?.state === 'halted' ? row(s) : null));
    expect(halted.haltReason).toMatch(/local folder .*src is missing; nothing deleted/);
    expect(s.lines.filter((l) => l.includes('halted'))).toHaveLength(1);
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('a1\n');
    expect((await kx(['get', '--config', s.store.file, '--port', String(s.port)], {})).stdout).toMatch(/^site\s.*\shalted\s.*local folder \S+ is missing; nothing deleted, resumes when it is back$/m);

    await rename(`${s.src}.bak`, s.src);
    await waitFor('watching again', () => row(s)?.state === 'watching');
    await writeFile(join(s.src, 'a.txt'), 'a2\n');
    await synced(s, '/app/a.txt', 'a2\n');
    expect(await catInContainer(s.name, '/app/b.txt')).toBe('b1\n');
  });

  it('halts when the local folder is emptied, and resumes by itself when files come back', async () => {
    const s = await setup({ files: { 'a.txt': 'a1\n' } });
    await synced(s, '/app/a.txt', 'a1\n');
    await rm(join(s.src, 'a.txt'));
    const halted = await waitFor('halted', () => (row(s)?.state === 'halted' ? row(s) : null));
    expect(halted.haltReason).toMatch(/local folder is empty while the container holds files kx synced there; nothing deleted/);
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('a1\n');

    await writeFile(join(s.src, 'c.txt'), 'c\n');
    await synced(s, '/app/c.txt', 'c\n');
    await waitFor('watching', () => row(s)?.state === 'watching');
    // a.txt was deleted locally and is kx's: now that the folder is not empty, that deletion goes through.
    await waitFor('a.txt deleted', async () => (await catInContainer(s.name, '/app/a.txt')) === null);
  });

  it('halts a batch deleting most of its files until kx resume --confirm', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`f${i}.txt`] = `${i}\n`;
    const s = await setup({ files });
    await synced(s, '/app/f149.txt', '149\n');
    // The batch's record of what kx wrote is saved once the batch is acknowledged: wait for that before stopping.
    await s.daemon.idle();
    // Deleted while kx watch is down (a branch switch, say): the whole deletion is one plan when it comes back.
    await s.daemon.close();
    for (let i = 0; i < 120; i++) await rm(join(s.src, `f${i}.txt`));
    s.daemon = await start(s.store, s.lines);
    const halted = await waitFor('halted', () => (row(s)?.state === 'halted' ? row(s) : null));
    expect(halted.haltReason).toMatch(/would delete 120 of the 150 files kx manages there/);
    expect(await catInContainer(s.name, '/app/f0.txt')).toBe('0\n');

    const resumed = await kx(['resume', 'site', '--confirm', '--config', s.store.file, '--port', String(s.port)], {});
    expect(resumed).toMatchObject({ code: 0, stdout: 'site: resumed; held-back deletions and overwrites confirmed\n' });
    await waitFor('deleted', async () => (await catInContainer(s.name, '/app/f0.txt')) === null);
    expect(await catInContainer(s.name, '/app/f149.txt')).toBe('149\n');
    await waitFor('watching', () => row(s)?.state === 'watching');
    expect(row(s)!.deletedFiles).toBe(120);
    expect(s.lines.filter((l) => l.includes(': deleted '))).toEqual([
      `site → ${s.name}: deleted 120 file(s) in the container: f0.txt, f1.txt, f10.txt, f100.txt, f101.txt (and 115 more)`,
    ]);
  });

  it('honours the delete thresholds set in kx.yaml', async () => {
    const s = await setup({ files: { 'a.txt': '1', 'b.txt': '2', 'c.txt': '3' }, yaml: 'safety:\n  maxDeleteShare: 0.5\n  maxDeleteFiles: 1\n' });
    await synced(s, '/app/c.txt', '3');
    await s.daemon.idle();
    await s.daemon.close();
    await rm(join(s.src, 'a.txt'));
    await rm(join(s.src, 'b.txt'));
    s.daemon = await start(s.store, s.lines);
    await waitFor('halted', () => row(s)?.state === 'halted');
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('1');
  });

  it('reports a file the container changed after kx wrote it and does not overwrite it; --confirm does', async () => {
    const s = await setup();
    await synced(s, '/app/a.txt', 'a1\n');
    await s.daemon.idle(); // the last batch's record is saved once it is acknowledged
    await s.daemon.close();
    await inContainer(s.name, 'echo container-edit > /app/a.txt');
    await writeFile(join(s.src, 'a.txt'), 'local edit\n');
    const lines: string[] = [];
    const again = await start(s.store, lines);
    const current = (): ServiceStatus | undefined => again.daemon.status().specs[0]?.services[0];
    const conflicted = await waitFor('conflict reported', () => (current()?.conflicts === 1 ? current() : null));
    expect(conflicted.conflictList).toEqual([
      expect.objectContaining({ path: 'a.txt', reason: 'changed', localSize: 11, remoteSize: 15 }),
    ]);
    expect(lines.some((l) => l.includes('left 1 conflicting container file(s) alone: a.txt (local 11 B'))).toBe(true);
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('container-edit\n');

    // Editing the file again locally does not settle it: the container's version stays until the user confirms.
    await writeFile(join(s.src, 'a.txt'), 'local edit 2\n');
    await writeFile(join(s.src, 'b.txt'), 'b\n');
    await synced(s, '/app/b.txt', 'b\n');
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('container-edit\n');

    again.daemon.resume('site', true);
    await synced(s, '/app/a.txt', 'local edit 2\n');
    await waitFor('conflict cleared', () => current()?.conflicts === 0);
  });

  it('leaves alone a file the container changed while kx watch runs, when the user then edits or deletes it', async () => {
    const s = await setup({ files: { 'a.txt': 'a1\n', 'b.txt': 'b1\n' } });
    await synced(s, '/app/b.txt', 'b1\n');
    await s.daemon.idle();
    // kx's last view of the container is its own writes; the container changes both files after them.
    await inContainer(s.name, 'echo container-edit > /app/a.txt && echo container-edit > /app/b.txt');
    await writeFile(join(s.src, 'a.txt'), 'local edit\n');
    await rm(join(s.src, 'b.txt'));
    const conflicted = await waitFor('conflicts reported', () => (row(s)?.conflicts === 2 ? row(s) : null));
    expect(conflicted.conflictList?.map((c) => [c.path, c.reason])).toEqual([['a.txt', 'changed'], ['b.txt', 'changed']]);
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('container-edit\n');
    expect(await catInContainer(s.name, '/app/b.txt')).toBe('container-edit\n');
    expect(s.lines.some((l) => /a\.txt: changed in the container since kx last synced it \(now 15 B, modified .*\); left as it is/.test(l))).toBe(true);
    expect(s.lines.some((l) => l.includes('left 2 conflicting container file(s) alone: a.txt (local 11 B'))).toBe(true);
  });

  it('mirror: true makes an exact replica, deleting what only the container had', async () => {
    const s = await setup({ before: 'mkdir -p /app && echo image > /app/server.conf', spec: { mirror: true } });
    await synced(s, '/app/a.txt', 'a1\n');
    await waitFor('server.conf deleted', async () => (await catInContainer(s.name, '/app/server.conf')) === null);
    expect(s.lines).toContain(`site → ${s.name}: deleted 1 file(s) in the container: server.conf`);
  });

  it('halts the second of two specs writing into nested paths of the same container (a name and a selector)', async () => {
    const s = await setup();
    const other = join(s.dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'b.txt'), 'b\n');
    await s.store.addSpec({ name: 'named', pod: s.name, local: other, remote: '/app/sub', reload: 'none', ignore: [], target: 'docker' });
    const rows = (): ServiceStatus[] => s.daemon.daemon.status().specs.flatMap((x) => x.services.map((r) => ({ ...r, target: x.name })));
    const halted = await waitFor('one halted', () => rows().find((r) => r.state === 'halted'));
    const winner = halted.target === 'named' ? 'site' : 'named';
    expect(halted.haltReason).toBe(
      `spec '${winner}' already syncs into ${halted.target === 'named' ? '/app/sub' : '/app'} or a path nesting it in this container; give each spec its own remote path`,
    );
    expect(rows().filter((r) => r.state === 'halted')).toHaveLength(1);
  });

  it('kx pause stops syncing a spec, kx resume catches up', async () => {
    const s = await setup();
    await synced(s, '/app/a.txt', 'a1\n');
    expect(await kx(['pause', 'site', '--config', s.store.file, '--port', String(s.port)], {})).toMatchObject({ code: 0, stdout: 'site: paused\n' });
    await waitFor('paused', () => row(s)?.state === 'paused');
    await writeFile(join(s.src, 'a.txt'), 'while paused\n');
    await s.daemon.idle();
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('a1\n');
    expect(await kx(['resume', 'site', '--config', s.store.file, '--port', String(s.port)], {})).toMatchObject({ code: 0, stdout: 'site: resumed\n' });
    await synced(s, '/app/a.txt', 'while paused\n');
    expect(await kx(['resume', 'nope', '--config', s.store.file, '--port', String(s.port)], {})).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kx: no spec named 'nope' runs/) });
  });

  it('a pause holds across a restart of kx watch until kx resume, and is kept in KX_HOME/paused.json', async () => {
    const s = await setup();
    await synced(s, '/app/a.txt', 'a1\n');
    expect(await kx(['pause', 'site', '--config', s.store.file, '--port', String(s.port)], {})).toMatchObject({ code: 0, stdout: 'site: paused\n' });
    expect(JSON.parse(await readFile(join(s.dir, 'paused.json'), 'utf8'))).toEqual(['site']);
    await s.daemon.idle(); // the last batch's record is saved once it is acknowledged
    await s.daemon.close();
    await writeFile(join(s.src, 'a.txt'), 'while stopped\n');
    s.daemon = await start(s.store, s.lines);
    await waitFor('paused again', () => row(s)?.state === 'paused');
    await s.daemon.idle();
    expect(await catInContainer(s.name, '/app/a.txt')).toBe('a1\n');
    expect(await kx(['resume', 'site', '--config', s.store.file, '--port', String(s.port)], {})).toMatchObject({ code: 0, stdout: 'site: resumed\n' });
    await synced(s, '/app/a.txt', 'while stopped\n');
    await expect(readFile(join(s.dir, 'paused.json'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
