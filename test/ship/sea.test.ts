// The single executable (`npm run sea`): one file a user copies onto a Linux x64 machine and runs, with no Node on
// the PATH and no network, as a user who is not root. Built once for the file.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../local/helpers.ts';
import { runAs, testUser, userDir, type User } from './as-user.ts';
import { inDockerGroup, watchOnDocker } from './docker-watch.ts';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };

let user: User;
let dir: string;
let exe: string;

beforeAll(async () => {
  await run('npm', ['run', '--silent', 'sea'], { cwd: repo, maxBuffer: 16 << 20 });
  user = await testUser();
  dir = await userDir(user, 'sea');
  exe = join(dir, 'kx');
  await copyFile(join(repo, 'dist/sea/kx'), exe);
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the single executable', () => {
  it('runs kx --version, create and get with no Node on the PATH and no network, as a user who is not root', async () => {
    const cwd = await userDir(user, 'sea-work');
    await runAs(user, '/bin/mkdir', ['-p', 'src'], { cwd, env: {} });
    // PATH names an empty folder: no node, no npm; and a cache folder of its own for what it unpacks.
    const env = { PATH: join(cwd, 'src'), KX_HOME: join(cwd, 'home'), XDG_CACHE_HOME: join(cwd, 'cache') };
    const version = await runAs(user, exe, ['--version'], { cwd, env, offline: true });
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });

    const created = await runAs(user, exe, ['create', '--docker', '-l', 'app=api', '--name', 'api-src', './src', '/app'], { cwd, env, offline: true });
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(await readFile(join(cwd, 'home/kx.yaml'), 'utf8')).toContain('name: api-src');

    const got = await runAs(user, exe, ['get', '-o', 'json'], { cwd, env, offline: true });
    expect(got.code).toBe(1);
    expect(JSON.parse(got.stdout)).toEqual({ daemon: null, specs: [{ name: 'api-src', kind: 'docker', local: join(cwd, 'src'), remote: '/app', services: [] }] });

    // The status proto is read at run time: a table of specs and a daemon check need it too.
    const doctor = await runAs(user, exe, ['doctor'], { cwd, env, offline: true });
    expect(doctor.stdout).toMatch(/config valid\s+pass/);
    expect(doctor.stdout).toMatch(/daemon reachable\s+fail\s+no kx daemon for/);
    await rm(cwd, { recursive: true, force: true });
  });

  it('refuses, in one line, to run code from an unpack folder that someone else owns', async () => {
    const cwd = await userDir(user, 'sea-shared');
    // Someone else (root here) made the folder first, writable by all, as anyone may in /tmp.
    await mkdir(join(cwd, 'kx'));
    await chmod(join(cwd, 'kx'), 0o777);
    const r = await runAs(user, exe, ['--version'], { cwd, env: { PATH: cwd, XDG_CACHE_HOME: cwd } });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `kx: ${join(cwd, 'kx')} must belong to you alone (it holds the code kx runs); set XDG_CACHE_HOME to a folder of yours\n`,
    });
    await rm(cwd, { recursive: true, force: true });
  });

  it('is one Linux x64 executable', async () => {
    const head = (await readFile(exe)).subarray(0, 20);
    expect([...head.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]); // ELF
    expect(head[4]).toBe(2); // 64-bit
    expect(head.readUInt16LE(18)).toBe(62); // x86-64
  });
});

/** The radar image tag of this file: removed first, so the executable must build it from what it carries. */
const RADAR_IMAGE = 'kx-radar:sea-test';

describe('the single executable on the Docker target, as a docker-group member who is not root', () => {
  beforeAll(async () => {
    await inDockerGroup(user);
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  afterAll(async () => {
    await docker.getImage(RADAR_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  it('kx watch with no Node 24 on the PATH: builds radar\'s image on first use from the executable (its own Node inside), syncs an edit, leaves radar running for the next kx watch, and kx clean --docker removes it', async () => {
    const sourceHash = (await readFile(join(repo, 'dist/sea/app/radar-image/source-hash'), 'utf8')).trim();
    const cache = await userDir(user, 'sea-cache');
    try {
      // /usr/bin holds the machine's Node 20 only, too old for radar: the image gets the executable's Node 24.
      await watchOnDocker({ user, kx: exe, image: RADAR_IMAGE, sourceHash, env: { PATH: '/usr/bin:/bin', XDG_CACHE_HOME: cache }, timeoutMs: 150_000, daemonEnv: { MALLOC_MMAP_THRESHOLD_: '65536' } }); // build/node-flags.ts WATCH_ENV, through the executable's re-exec
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  }, 150_000);
});
