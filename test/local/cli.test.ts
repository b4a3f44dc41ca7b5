// The kx command line as a user runs it, against the real Docker engine.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catInContainer, exitOf, kx, kxSpawn, randomPort, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

describe('kx command line', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function home(): Promise<{ dir: string; env: Record<string, string>; port: number }> {
    const dir = await tempDir('home');
    cleanups.push(() => removeDir(dir));
    const port = randomPort();
    await writeFile(join(dir, 'kx.yaml'), `# test home\nstatusPort: ${port}\n`);
    return { dir, env: { KX_HOME: dir }, port };
  }

  it('kx get with no daemon says so in one line, lists the configured specs and exits 1', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, 'src'));
    expect((await kx(['create', '--docker', '-l', 'app=api', '--name', 'api', join(dir, 'src'), '/app'], env)).code).toBe(0);
    const out = await kx(['get'], env);
    expect(out.code).toBe(1);
    const lines = out.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`no kx daemon for ${dir} (start one with: kx watch)`);
    expect(lines[1]).toMatch(/^NAME\s+LOCAL\s+REMOTE\s+STATUS/);
    expect(lines[2]).toMatch(/^api\s+\S+\/src\s+\/app\s+not running\s+-l app=api/);
    expect(lines).toHaveLength(3);
  });

  it('kx --version prints the package version; kx with no command says so in one line and exits 1', async () => {
    const { env } = await home();
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await kx(['--version'], env)).stdout).toBe(`${pkg.version}\n`);
    const none = await kx([], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('kx: give a command (see kx --help)\n');
  });

  it('kx create refuses a missing local folder with one line and exit code 1', async () => {
    const { dir, env } = await home();
    const out = await kx(['create', '--docker', '-l', 'app=api', join(dir, 'nope'), '/app'], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(`kx: LOCAL ${join(dir, 'nope')}: no such directory\n`);
  });

  it('kx create keeps the comments of the file it edits', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, 'src'));
    await kx(['create', '--docker', '-p', 'web-1', join(dir, 'src'), '/srv'], env);
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toMatch(/^# test home\nstatusPort: \d+\nspecs:\n {2}- name: web-1-src\n/);
  });

  it('create → watch → edit → the file inside the container → get shows watching → SIGTERM stops cleanly', async () => {
    const { dir, env } = await home();
    const label = `t${suffix()}`;
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'index.txt'), 'one\n');
    const container = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(container.name));
    expect((await kx(['create', '--docker', '-l', `kx.test=${label}`, '--name', 'site', src, '/app'], env)).code).toBe(0);

    const daemon = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      daemon.kill('SIGKILL');
    });
    await waitFor('the initial sync', async () => (await catInContainer(container.name, '/app/index.txt')) === 'one\n');
    await writeFile(join(src, 'index.txt'), 'two\n');
    await waitFor('the edit inside the container', async () => (await catInContainer(container.name, '/app/index.txt')) === 'two\n');

    const got = await waitFor('get to show watching', async () => {
      const out = await kx(['get'], env);
      return /^site\s.*\swatching\s+\S+\s+1\s+\d+s ago\s+\d+ms/m.test(out.stdout) ? out.stdout : null;
    });
    expect(got).toContain(container.name);
    const json = JSON.parse((await kx(['get', '-o', 'json'], env)).stdout);
    expect(json.specs[0].services[0]).toMatchObject({ target: container.name, state: 'watching', files: 1 });
    expect(json.daemon).toMatchObject({ pid: daemon.pid, home: dir, configFile: join(dir, 'kx.yaml'), state: 'running' });

    daemon.kill('SIGTERM');
    // Exiting at all proves nothing was left open: kx watch never calls process.exit on a clean stop.
    expect(await exitOf(daemon)).toEqual({ code: 0, signal: null });
    expect(daemon.output()).toContain('kx watch: stopped');
  });
});
