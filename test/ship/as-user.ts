// Runs installed kx the way a developer does: as a user who is not root, with a clean environment. When the tests
// run as root (CI) that user is created once; otherwise the current user already is one.

import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const TEST_USER = 'kx-test-user';
const isRoot = process.getuid?.() === 0;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface User {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The non-root user the commands run as (created when missing). */
export async function testUser(): Promise<User> {
  if (isRoot) {
    const exists = await run('id', ['-u', TEST_USER]).then(() => true, () => false);
    if (!exists) await run('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER]);
    const [uid, gid] = await Promise.all([run('id', ['-u', TEST_USER]), run('id', ['-g', TEST_USER])]);
    const home = (await run('getent', ['passwd', TEST_USER])).stdout.split(':')[5];
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), home };
  }
  return { uid: process.getuid!(), gid: process.getgid!(), home: process.env.HOME ?? tmpdir() };
}

/** A new temp folder that the user owns (and everyone may read, so that root-installed files under it run). */
export async function userDir(user: User, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `kx-test-${prefix}-`));
  await chmod(dir, 0o755);
  if (isRoot) await chown(dir, user.uid, user.gid);
  return dir;
}

/**
 * Runs a command as the user with only the environment given (plus HOME), in cwd; offline: in a network namespace
 * of its own, with no interface but a loopback that is down.
 */
export async function runAs(user: User, command: string, args: readonly string[], opts: { cwd: string; env: Record<string, string>; offline?: boolean }): Promise<Run> {
  const env = { HOME: user.home, ...opts.env };
  const argv = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args];
  const asUser = isRoot ? ['runuser', '-u', TEST_USER, '--', ...argv] : argv;
  const netns = isRoot ? ['unshare', '--net'] : ['unshare', '--user', '--map-current-user', '--net'];
  const [cmd, ...rest] = opts.offline ? [...netns, ...asUser] : asUser;
  return new Promise((resolve) => {
    execFile(cmd, rest, { cwd: opts.cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}
