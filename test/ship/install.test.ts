// What `npm install -g` of the packed tarball gives a user: the runtime files only, a `kx` that runs on the
// supported Nodes as a user who is not root, and one line (no stack trace) on a Node that is too old; and, as a
// docker-group member, `kx watch` with a Docker spec, radar's image built on first use from what the package holds.
// Packed and installed once for the file (npm's cache is warm after `npm ci`).

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGED_DIR, STAGED_FILES } from '../../pkg/docker/radar-image.ts';
import { docker } from '../local/helpers.ts';
import { runAs, testUser, userDir, type User } from './as-user.ts';
import { inDockerGroup, watchOnDocker } from './docker-watch.ts';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
const node24 = join(repo, 'node_modules/node/bin');
const MACHINE_NODE = '/usr/bin/node';

let user: User;
let dir: string;
let tarball: string;
let kxBin: string;

beforeAll(async () => {
  user = await testUser();
  dir = await userDir(user, 'install');
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: repo, maxBuffer: 16 << 20 });
  tarball = join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);
  await run('npm', ['install', '--global', '--prefix', join(dir, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir });
  kxBin = join(dir, 'prefix/bin/kx');
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh working folder and KX_HOME for one run of the user's commands. */
async function workspace(): Promise<{ cwd: string; home: string }> {
  const cwd = await userDir(user, 'work');
  await runAs(user, 'mkdir', ['-p', 'src', 'home'], { cwd, env: {} });
  return { cwd, home: join(cwd, 'home') };
}

async function createAndGet(nodeDir: string): Promise<void> {
  const { cwd, home } = await workspace();
  const env = { PATH: `${nodeDir}:/usr/bin:/bin`, KX_HOME: home };
  const version = await runAs(user, kxBin, ['--version'], { cwd, env });
  expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });

  const created = await runAs(user, kxBin, ['create', '--docker', '-l', 'app=api', '--name', 'api-src', './src', '/app'], { cwd, env });
  expect(created.stderr).toBe('');
  expect(created.stdout).toContain(`spec api-src created: ${join(cwd, 'src')} → /app`);
  expect(await readFile(join(home, 'kx.yaml'), 'utf8')).toContain('name: api-src');

  const got = await runAs(user, kxBin, ['get', '-o', 'json'], { cwd, env });
  expect(got.code).toBe(1); // no daemon: a script can tell
  expect(JSON.parse(got.stdout)).toMatchObject({ daemon: null, specs: [{ name: 'api-src', local: join(cwd, 'src'), remote: '/app' }] });
}

describe('the npm package', () => {
  it('holds the compiled runtime files only: the bin with its shebang, the protos it loads; no sources, tests or benchmarks', async () => {
    const listed = (await run('tar', ['-tzf', tarball])).stdout.trim().split('\n').map((p) => p.replace(/^package\//, ''));
    expect(listed).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/kx.js', 'dist/main.js', 'proto/kx.proto', 'pkg/status/status.proto']));
    // What builds radar's image on first use: the staged application (one tar), its scripts, the sources' hash.
    // build/radar-image-files.ts writes the names pkg/docker/radar-image.ts reads.
    expect(listed.filter((p) => p.startsWith(`${STAGED_DIR}/`)).sort()).toEqual(
      [...Object.values(STAGED_FILES), 'rootfs.sh'].sort().map((f) => `${STAGED_DIR}/${f}`),
    );
    expect(listed.filter((p) => /^(test|bench|build|radar|charts)\//.test(p) || p.endsWith('.ts'))).toEqual([]);
    const bin = await readFile(join(dir, 'prefix/lib/node_modules/kx/dist/kx.js'), 'utf8');
    expect(bin.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs kx --version, create and get as a user who is not root on Node 24', async () => {
    await createAndGet(node24);
  });

  it('loads ssh2 (engines over ssh://) and dockerode\'s BuildKit session only when used, not with dockerode', async () => {
    // What kx's bin installs before kx loads (dist/lazy-deps.js), then dockerode from the package's own
    // node_modules: a unix-socket engine answers, and ssh2 is loaded the moment an ssh:// engine is dialled.
    const root = join(dir, 'prefix/lib/node_modules/kx');
    const script = `
      await import(${JSON.stringify(join(root, 'dist/lazy-deps.js'))});
      const require = (await import('node:module')).createRequire(${JSON.stringify(join(root, 'dist/main.js'))});
      const loaded = (re) => Object.keys(require.cache).filter((k) => re.test(k)).length;
      const Docker = require('dockerode');
      const out = { ssh2AtLoad: loaded(/node_modules[/]ssh2[/]/), sessionAtLoad: loaded(/dockerode[/]lib[/]session[.]js$/) };
      out.api = (await new Docker({ socketPath: '/var/run/docker.sock' }).version()).ApiVersion;
      out.ssh2AfterUnix = loaded(/node_modules[/]ssh2[/]/);
      out.sshError = await new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' }).version().then(() => 'answered', (e) => e.code ?? e.message);
      out.ssh2AfterSsh = loaded(/node_modules[/]ssh2[/]/) > 0;
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(join(node24, 'node'), ['--no-deprecation', '--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toMatchObject({ ssh2AtLoad: 0, sessionAtLoad: 0, api: expect.any(String), ssh2AfterUnix: 0, sshError: 'ECONNREFUSED', ssh2AfterSsh: true });
  });

  it('runs on Node 22 (from the npm package node@22)', async () => {
    const prefix = join(dir, 'node22');
    await mkdir(prefix);
    await run('npm', ['install', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--no-save', 'node@22'], { cwd: prefix });
    const nodeDir = join(prefix, 'node_modules/.bin');
    const v = (await run(join(nodeDir, 'node'), ['--version'])).stdout.trim();
    expect(v).toMatch(/^v22\./);
    await createAndGet(nodeDir);
  }, 120_000);

  it('tells the machine\'s Node 20 the version kx needs, in one line, and nothing else', async () => {
    const machine = (await run(MACHINE_NODE, ['--version'])).stdout.trim().slice(1);
    expect(machine).toMatch(/^20\./); // this machine's Node; the case is the old one
    const { cwd, home } = await workspace();
    const r = await runAs(user, kxBin, ['--version'], { cwd, env: { PATH: '/usr/bin:/bin', KX_HOME: home } });
    const min = /^>=(\d+\.\d+)/.exec(pkg.engines.node)![1];
    expect(r).toEqual({ code: 1, stdout: '', stderr: `kx: needs Node.js ${min} or newer (this is Node.js ${machine}); or use the kx single executable, which needs no Node\n` });
  });

  it('runs through npx from the tarball', async () => {
    const r = await run('npm', ['exec', '--yes', '--prefer-offline', `--package=${tarball}`, '--', 'kx', '--version'], {
      cwd: dir,
      env: { ...process.env, PATH: `${node24}:${process.env.PATH ?? ''}` },
    });
    expect(r.stdout.trim()).toBe(pkg.version);
  }, 120_000);
});

/** The radar image tag of this file: removed first, so the installed kx must build it from the package's files. */
const RADAR_IMAGE = 'kx-radar:installed-test';

describe('the installed package on the Docker target, as a docker-group member who is not root', () => {
  beforeAll(async () => {
    await inDockerGroup(user);
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  afterAll(async () => {
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  it('kx create --docker and kx watch: builds radar\'s image on first use from the package, syncs an edit, leaves radar running for the next kx watch, and kx clean --docker removes it', async () => {
    const sourceHash = (await readFile(join(dir, 'prefix/lib/node_modules/kx', STAGED_DIR, STAGED_FILES.sourceHash), 'utf8')).trim();
    await watchOnDocker({ user, kx: kxBin, image: RADAR_IMAGE, sourceHash, env: { PATH: `${node24}:/usr/bin:/bin` }, timeoutMs: 150_000, daemonEnv: { MALLOC_MMAP_THRESHOLD_: '65536' } }); // build/node-flags.ts WATCH_ENV
  }, 150_000);
});
