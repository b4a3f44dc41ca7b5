// Targets kx refuses before anything is synced: `/`, system directories, paths that are not normalized, two specs
// writing into the same place, reloads that are not reloads, and --mirror without a confirmation. At `kx create`
// (the CLI as users run it) and in a hand-edited kx.yaml.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../pkg/config/parse.ts';
import { kx, randomPort, removeDir, tempDir, waitFor } from './helpers.ts';

/** kx on a terminal (util-linux `script` gives it a pseudo-terminal) that answers the first question it asks. */
async function kxOnTerminal(args: readonly string[], env: Record<string, string>, answer: string): Promise<{ code: number | null; output: string }> {
  const repo = resolve(import.meta.dirname, '../..');
  const command = [join(repo, 'node_modules/.bin/node'), join(repo, 'cmd/kx.ts'), ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitFor('the question', () => output.includes('Continue? [y/N]'));
  child.stdin.write(`${answer}\n`);
  return { code: await exited, output };
}

describe('kx create refuses', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function home(): Promise<{ dir: string; src: string; env: Record<string, string> }> {
    const dir = await tempDir('refuse');
    cleanups.push(() => removeDir(dir));
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    await mkdir(join(dir, 'src'));
    return { dir, src: join(dir, 'src'), env: { KX_HOME: dir } };
  }

  it.each([
    ['/', "REMOTE /: is the container's root: a sync there would replace its whole filesystem (set --force if you really mean it)"],
    ['/usr', 'REMOTE /usr: is inside the system directory /usr (set --force if you really mean it)'],
    ['/usr/bin', 'REMOTE /usr/bin: is inside the system directory /usr (set --force if you really mean it)'],
    ['/etc', 'REMOTE /etc: is inside the system directory /etc (set --force if you really mean it)'],
    ['/app/../etc', "REMOTE /app/../etc: must not contain '.' or '..' components"],
    ['/app//src', "REMOTE /app//src: must not contain '//'"],
    ['/app/', "REMOTE /app/: must not end with '/' (write /app)"],
    ['/app/.', "REMOTE /app/.: must not contain '.' or '..' components"],
  ])('REMOTE %s with one line, exit 1, and leaves kx.yaml alone', async (remote, message) => {
    const { dir, src, env } = await home();
    const before = await readFile(join(dir, 'kx.yaml'), 'utf8');
    const out = await kx(['create', '--docker', '-p', 'web', src, remote], env);
    expect(out).toMatchObject({ code: 1, stderr: `kx: ${message}\n` });
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toBe(before);
  });

  it('takes a system directory with --force, and records force in the spec', async () => {
    const { dir, src, env } = await home();
    expect((await kx(['create', '--docker', '-p', 'web', '--force', src, '/var/www'], env)).code).toBe(0);
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toMatch(/remote: \/var\/www\n\s+force: true\n/);
    // --force never allows a malformed path.
    expect((await kx(['create', '--docker', '-p', 'web2', '--force', src, '/app/../etc'], env)).code).toBe(1);
  });

  it('a second spec into the same or a nested path of the same containers, naming both', async () => {
    const { src, env } = await home();
    expect((await kx(['create', '--docker', '-l', 'app=api', '--name', 'api', src, '/app'], env)).code).toBe(0);
    const nested = await kx(['create', '--docker', '-l', 'app=api,tier=web', '--name', 'api-lib', src, '/app/lib'], env);
    expect(nested).toMatchObject({ code: 1, stderr: "kx: REMOTE /app/lib: overlaps spec 'api' (/app) in the same containers: give each spec its own remote path\n" });
    // Other containers, or a path beside it, are fine.
    expect((await kx(['create', '--docker', '-l', 'app=web', '--name', 'web', src, '/app'], env)).code).toBe(0);
    expect((await kx(['create', '--docker', '-l', 'app=api', '--name', 'api-srv', src, '/srv'], env)).code).toBe(0);
  });

  it('a reload signal that is not a reload (KILL, STOP) or not a signal', async () => {
    const { src, env } = await home();
    for (const mode of ['signal:KILL', 'signal:STOP', 'signal:NOPE']) {
      const out = await kx(['create', '--docker', '-p', 'web', '--reload', mode, src, '/app'], env);
      expect(out).toMatchObject({ code: 1, stderr: `kx: --reload ${mode}: signal must be one of HUP, INT, QUIT, TERM, USR1, USR2, WINCH, ALRM, CONT\n` });
    }
    expect((await kx(['create', '--docker', '-p', 'web', '--reload', 'signal:hup', src, '/app'], env)).code).toBe(0);
  });

  it('--mirror without --yes when stdin is not a terminal; with --yes it records mirror', async () => {
    const { dir, src, env } = await home();
    const out = await kx(['create', '--docker', '-p', 'web', '--mirror', src, '/app'], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(`kx: --mirror makes /app an exact copy of ${src}: files only the container has there are deleted; add --yes to confirm (stdin is not a terminal)\n`);
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).not.toContain('mirror');
    expect((await kx(['create', '--docker', '-p', 'web', '--mirror', '--yes', src, '/app'], env)).code).toBe(0);
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toMatch(/mirror: true/);
  });
});

describe('kx create --mirror on a terminal', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('asks, and creates the spec only on yes', async () => {
    const dir = await tempDir('mirror-tty');
    cleanups.push(() => removeDir(dir));
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${randomPort()}\n`);
    await mkdir(join(dir, 'src'));
    const args = ['create', '--docker', '-p', 'web', '--mirror', join(dir, 'src'), '/app'];
    const no = await kxOnTerminal(args, { KX_HOME: dir }, 'n');
    expect(no.code).toBe(1);
    expect(no.output).toContain('kx: not created: --mirror was not confirmed');
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).not.toContain('mirror');
    const yes = await kxOnTerminal(args, { KX_HOME: dir }, 'y');
    expect(yes.code).toBe(0);
    expect(await readFile(join(dir, 'kx.yaml'), 'utf8')).toMatch(/mirror: true/);
  });
});

describe('a hand-edited kx.yaml is refused with file, line and field', () => {
  const FILE = '/home/u/.kx/kx.yaml';
  const spec = (name: string, extra: string) => `  - name: ${name}\n    target: docker\n    local: /src\n${extra}`;
  const errorOf = (text: string): string => {
    try {
      parseConfig(text, FILE);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a config error');
  };

  it.each([
    ['/', "specs[0].remote: /: is the container's root"],
    ['/usr', 'specs[0].remote: /usr: is inside the system directory /usr'],
    ['/usr/bin', 'specs[0].remote: /usr/bin: is inside the system directory /usr'],
    ['/app/../etc', "specs[0].remote: /app/../etc: must not contain '.' or '..' components"],
  ])('remote %s', (remote, message) => {
    expect(errorOf(`specs:\n${spec('a', `    pod: p\n    remote: ${remote}\n`)}`)).toContain(`${FILE}:6: ${message}`);
  });

  it('accepts a system directory with force: true', () => {
    expect(parseConfig(`specs:\n${spec('a', '    pod: p\n    remote: /usr/share/www\n    force: true\n')}`, FILE).config.specs[0]).toMatchObject({ force: true });
  });

  it('two specs into nested paths of the same containers, naming both with their lines', () => {
    const text = `specs:\n${spec('api', '    selector: app=api\n    remote: /app\n')}${spec('lib', '    selector: app in (api, web)\n    remote: /app/lib\n')}`;
    expect(errorOf(text)).toBe(`${FILE}:11: specs[1].remote: /app/lib overlaps spec 'api' (/app, line 6) in the same containers: give each spec its own remote path`);
  });

  it('two specs into the same path of disjoint selectors are fine', () => {
    const text = `specs:\n${spec('api', '    selector: app=api\n    remote: /app\n')}${spec('web', '    selector: app notin (api)\n    remote: /app\n')}`;
    expect(parseConfig(text, FILE).config.specs).toHaveLength(2);
  });

  it('reload signal:KILL and signal:STOP', () => {
    for (const sig of ['KILL', 'STOP']) {
      expect(errorOf(`specs:\n${spec('a', `    pod: p\n    remote: /app\n    reload: signal:${sig}\n`)}`)).toBe(
        `${FILE}:7: specs[0].reload: signal must be one of HUP, INT, QUIT, TERM, USR1, USR2, WINCH, ALRM, CONT`,
      );
    }
  });

  it('safety limits out of range', () => {
    expect(errorOf('safety:\n  maxDeleteShare: 2\n')).toBe(`${FILE}:2: safety.maxDeleteShare: must be <= 1`);
  });
});
