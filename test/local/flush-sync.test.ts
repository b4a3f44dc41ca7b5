// Commands for scripts and CI on the real Docker engine: `kx flush` (returns once everything landed) and
// `kx sync NAME --once` (no daemon), and the daemon's one info line per landed batch.

import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { catInContainer, exitOf, kx, kxSpawn, randomPort, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const run = promisify(execFile);

describe('kx flush, kx sync --once, batch lines', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(): Promise<{ dir: string; src: string; env: Record<string, string>; container: string; label: string }> {
    const dir = await tempDir('flush');
    cleanups.push(() => removeDir(dir));
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'b.txt'), 'b\n');
    const label = `t${suffix()}`;
    const c = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(c.name));
    const env = { KX_HOME: dir };
    expect((await kx(['create', '--docker', '-l', `kx.test=${label}`, '--name', 'site', src, '/app'], env)).code).toBe(0);
    return { dir, src, env, container: c.name, label };
  }

  it('kx sync NAME --once syncs every file into the container with no daemon, one line per container', async () => {
    const { env, container } = await setup();
    const out = await kx(['sync', 'site', '--once'], env);
    expect(out.code).toBe(0);
    // Progress on stderr: the first report, then one a second (beside the log's lines, e.g. radar starting).
    const progress = out.stderr.trimEnd().split('\n').filter((l) => !/^\S+Z (debug|info|warn|error) /.test(l));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).toMatch(new RegExp(`^site → ${container}: \\d+% \\(\\d/2 files, \\d+\\.\\d/\\d+\\.\\d MiB\\)$`));
    expect(out.stdout).toMatch(new RegExp(`^site → ${container}: 2 files, \\d+ B, \\d+ ms\\n$`));
    expect(await catInContainer(container, '/app/a.txt')).toBe('a\n');
    expect(await catInContainer(container, '/app/b.txt')).toBe('b\n');
    // Nothing changed: a second run sends nothing.
    expect((await kx(['sync', 'site', '--once'], env)).stdout).toMatch(new RegExp(`^site → ${container}: 0 files, 0 B, \\d+ ms\\n$`));
  });

  it('a repo subfolder: what the repo\'s .gitignore leaves out is not sent, and the container\'s own copies stay', async () => {
    const { dir, env, container, label } = await setup();
    const repo = join(dir, 'repo');
    await mkdir(join(repo, '.git'), { recursive: true }); // a work tree's top, as far as kx is concerned
    await writeFile(join(repo, '.gitignore'), 'node_modules/\n*.log\n');
    await mkdir(join(repo, 'svc/node_modules/dep'), { recursive: true });
    await writeFile(join(repo, 'svc/main.js'), 'main\n');
    await writeFile(join(repo, 'svc/debug.log'), 'noise\n');
    await writeFile(join(repo, 'svc/node_modules/dep/index.js'), 'local copy\n');
    await run('docker', ['exec', container, 'sh', '-c', 'mkdir -p /svc/node_modules/dep && echo container copy > /svc/node_modules/dep/index.js']);
    expect((await kx(['create', '--docker', '-l', `kx.test=${label}`, '--name', 'svc', join(repo, 'svc'), '/svc'], env)).code).toBe(0);
    const out = await kx(['sync', 'svc', '--once'], env);
    expect(out.stdout).toMatch(new RegExp(`^svc → ${container}: 1 file, \\d+ B, \\d+ ms\\n$`));
    expect(await catInContainer(container, '/svc/main.js')).toBe('main\n');
    expect(await catInContainer(container, '/svc/debug.log')).toBeNull();
    expect(await catInContainer(container, '/svc/node_modules/dep/index.js')).toBe('container copy\n');
  });

  it('kx sync --once says in one line, exit 1, when the spec is unknown, selects nothing, or --once is missing', async () => {
    const { dir, env, label } = await setup();
    const unknown = await kx(['sync', 'nope', '--once'], env);
    expect(unknown).toMatchObject({ code: 1, stderr: `kx: no spec named nope in ${join(dir, 'kx.yaml')} (kx get lists them)\n` });
    expect((await kx(['create', '--docker', '-l', `kx.test=${label}-none`, '--name', 'empty', join(dir, 'src'), '/app'], env)).code).toBe(0);
    const none = await kx(['sync', 'empty', '--once'], env);
    expect(none).toMatchObject({ code: 1, stderr: `kx: empty: no running container matches selector kx.test=${label}-none\n` });
    const noOnce = await kx(['sync', 'site'], env);
    expect(noOnce).toMatchObject({ code: 1, stderr: 'kx: kx sync runs one sync and exits: give --once (kx watch keeps syncing)\n' });
  });

  it('kx flush returns once a save just made is in the container, kx sync --once refuses beside the daemon, one line per landed batch', async () => {
    const { dir, src, env, container } = await setup();
    const noDaemon = await kx(['flush'], env);
    expect(noDaemon).toMatchObject({ code: 1, stderr: `kx: no kx daemon for ${dir} (start one with: kx watch)\n` });

    const daemon = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      daemon.kill('SIGTERM');
      await exitOf(daemon);
    });
    await waitFor('the initial sync', async () => (await catInContainer(container, '/app/b.txt')) === 'b\n');

    // A one-shot sync beside the daemon would be a second writer into the same containers.
    const beside = await kx(['sync', 'site', '--once'], env);
    expect(beside.code).toBe(1);
    expect(beside.stderr).toMatch(new RegExp(`^kx: the kx daemon \\(pid ${daemon.pid}\\) on 127\\.0\\.0\\.1:\\d+ already syncs ${join(dir, 'kx.yaml')}: kx flush waits until it is in sync \\(or stop it to sync once\\)\\n$`));

    await writeFile(join(src, 'c.txt'), 'saved just now\n');
    const flushed = await kx(['flush'], env);
    expect(flushed).toMatchObject({ code: 0, stdout: 'in sync: 1 spec(s), 1 container(s)\n' });
    // No waiting here: flush returned, so the file is there.
    expect(await catInContainer(container, '/app/c.txt')).toBe('saved just now\n');

    await writeFile(join(src, 'a.txt'), 'edited\n');
    await rm(join(src, 'b.txt'));
    await waitFor('the batch line with the removal', () => /site → .*: \d+ files?, \d+ B, \d+ ms, 1 removed$/m.test(daemon.output()));
    expect(daemon.output()).toMatch(new RegExp(`site → ${container}: 1 file, \\d+ B, \\d+ ms`));
  });

  it('kx flush exits 1 naming a spec that is not in sync', async () => {
    const { dir, env, label } = await setup();
    expect((await kx(['create', '--docker', '-l', `kx.test=${label}-none`, '--name', 'empty', join(dir, 'src'), '/other'], env)).code).toBe(0);
    const daemon = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      daemon.kill('SIGTERM');
      await exitOf(daemon);
    });
    const out = await waitFor('flush to see the daemon', async () => {
      const r = await kx(['flush'], env);
      return r.stderr.includes('no kx daemon') ? null : r;
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`kx flush: empty: no running container matches selector kx.test=${label}-none`);
  });
});
