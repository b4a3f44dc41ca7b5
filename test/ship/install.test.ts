// What `npm install -g` of the packed tarball gives a user: the runtime files only, a `kx` that runs on the
// supported Nodes as a user who is not root, and one line (no stack trace) on a Node that is too old; and, as a
// docker-group member, `kx watch` with a Docker spec, radar's image built on first use from what the package holds.
// Packed and installed once for the file (npm's cache is warm after `npm ci`).

import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RADAR_LABEL, homeHash } from '../../pkg/docker/radar-container.ts';
import { SOURCE_HASH_LABEL } from '../../pkg/docker/radar-source-hash.ts';
import { catInContainer, docker, exitOf, removeContainer, startContainer, suffix, waitFor } from '../local/helpers.ts';
import { TEST_USER, runAs, testUser, userDir, type User } from './as-user.ts';

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
    expect(listed.filter((p) => p.startsWith('dist/radar-image/')).sort()).toEqual(
      ['app.tar', 'build-staged.sh', 'rootfs.sh', 'source-hash'].map((f) => `dist/radar-image/${f}`),
    );
    expect(listed.filter((p) => /^(test|bench|build|radar|charts)\//.test(p) || p.endsWith('.ts'))).toEqual([]);
    const bin = await readFile(join(dir, 'prefix/lib/node_modules/kx/dist/kx.js'), 'utf8');
    expect(bin.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs kx --version, create and get as a user who is not root on Node 24', async () => {
    await createAndGet(node24);
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

/** The radar image tag of this test: removed first, so the installed kx must build it from the package's files. */
const RADAR_IMAGE = 'kx-radar:installed-test';
const DOCKER_SLOW = 150_000;

describe('the installed package on the Docker target, as a docker-group member who is not root', () => {
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    // As root (CI) the test user joins the docker group; otherwise the current user must be in it already.
    if (process.getuid?.() === 0) await run('usermod', ['-aG', 'docker', TEST_USER]);
    const groups = (await run('id', ['-nG', String(user.uid)])).stdout.trim().split(/\s+/);
    expect(groups).toContain('docker');
    expect(groups).not.toContain('root');
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  it('kx create --docker and kx watch: builds radar\'s image on first use from the package, syncs an edit, and removes radar on exit', async () => {
    const { cwd, home } = await workspace();
    await runAs(user, 'sh', ['-c', 'printf "a1\\n" > src/a.txt'], { cwd, env: {} });
    const label = `t${suffix()}`;
    const target = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(target.name));
    const env = { HOME: user.home, KX_HOME: home, PATH: `${node24}:/usr/bin:/bin`, DOCKER_HOST: 'unix:///var/run/docker.sock', KX_RADAR_IMAGE: RADAR_IMAGE };

    const created = await runAs(user, kxBin, ['create', '--docker', '-l', `kx.test=${label}`, './src', '/app'], { cwd, env });
    expect(created, created.stderr).toMatchObject({ code: 0 });

    // setpriv execs kx in place with the user's groups (docker among them): signals reach kx as from a terminal.
    const ids = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'];
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const watch = spawn('setpriv', [...ids, '--', 'env', '-i', ...envArgs, kxBin, 'watch', '--status-port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    watch.stdout.on('data', (d: Buffer) => (output += d.toString()));
    watch.stderr.on('data', (d: Buffer) => (output += d.toString()));
    cleanups.push(async () => {
      if (watch.exitCode === null && watch.signalCode === null) {
        watch.kill('SIGKILL');
        await exitOf(watch);
      }
    });
    const until = (what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<unknown> =>
      waitFor(what, probe, timeoutMs).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- kx watch ---\n${output.split('\n').slice(-30).join('\n')}`);
      });

    await until('initial sync', async () => (await catInContainer(target.name, '/app/a.txt')) === 'a1\n', DOCKER_SLOW - 30_000);
    expect(output).toContain(`radar image ${RADAR_IMAGE} is not on the engine: building it offline`);
    // Built from the staged application, labelled with the hash the package recorded at pack time.
    const recorded = (await readFile(join(dir, 'prefix/lib/node_modules/kx/dist/radar-image/source-hash'), 'utf8')).trim();
    expect((await docker.getImage(RADAR_IMAGE).inspect()).Config.Labels?.[SOURCE_HASH_LABEL]).toBe(recorded);

    await writeFile(join(cwd, 'src/a.txt'), 'a2\n');
    await until('edit', async () => (await catInContainer(target.name, '/app/a.txt')) === 'a2\n');
    const radars = async (): Promise<string[]> =>
      (await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${homeHash(home)}`] } })).map((c) => c.Id);
    expect(await radars()).toHaveLength(1);

    watch.kill('SIGINT');
    expect(await exitOf(watch), output).toMatchObject({ code: 0 });
    expect(await radars()).toEqual([]);
  }, DOCKER_SLOW);
});
