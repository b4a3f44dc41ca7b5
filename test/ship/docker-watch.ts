// `kx watch` on the Docker target as the test user in the docker group, run from what a user installed (the npm
// package's bin or the single executable): a spec made with `kx create --docker`, radar's image built on first use
// under a tag of the test's own, an edit landing in the container, radar left running on exit for the next kx watch
// of the home (the default), and `kx clean --docker` removing it.

import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { RADAR_LABEL, homeHash } from '../../pkg/docker/radar-container.ts';
import { SOURCE_HASH_LABEL } from '../../pkg/docker/radar-source-hash.ts';
import { catInContainer, docker, exitOf, removeContainer, startContainer, suffix, waitFor } from '../local/helpers.ts';
import { TEST_USER, runAs, userDir, type User } from './as-user.ts';

const run = promisify(execFile);

/** Puts the test user in the docker group (as root, CI) and checks it is there and not in root's. */
export async function inDockerGroup(user: User): Promise<void> {
  if (process.getuid?.() === 0) await run('usermod', ['-aG', 'docker', TEST_USER]);
  const groups = (await run('id', ['-nG', String(user.uid)])).stdout.trim().split(/\s+/);
  expect(groups).toContain('docker');
  expect(groups).not.toContain('root');
}

export interface DockerWatchRun {
  readonly user: User;
  /** The installed kx: the package's bin or the single executable. */
  readonly kx: string;
  /** The radar image tag, absent from the engine before the run. */
  readonly image: string;
  /** The source hash the installed kx recorded at pack time, which the built image must carry. */
  readonly sourceHash: string;
  /** The user's environment besides HOME, KX_HOME, DOCKER_HOST and KX_RADAR_IMAGE (PATH, caches). */
  readonly env: Record<string, string>;
  readonly timeoutMs: number;
  /** The environment the daemon must run with besides the user's (the npm bin's re-exec adds build/node-flags.ts WATCH_ENV). */
  readonly daemonEnv?: Readonly<Record<string, string>>;
}

export async function watchOnDocker(opts: DockerWatchRun): Promise<void> {
  const { user } = opts;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const cwd = await userDir(user, 'docker-work');
    cleanups.push(() => run('rm', ['-rf', cwd]));
    await runAs(user, 'sh', ['-c', 'mkdir -p src home && printf "a1\\n" > src/a.txt'], { cwd, env: {} });
    const home = join(cwd, 'home');
    const label = `t${suffix()}`;
    const target = await startContainer({ 'kx.test': label });
    cleanups.push(() => removeContainer(target.name));
    const env = { ...opts.env, HOME: user.home, KX_HOME: home, DOCKER_HOST: 'unix:///var/run/docker.sock', KX_RADAR_IMAGE: opts.image };

    const created = await runAs(user, opts.kx, ['create', '--docker', '-l', `kx.test=${label}`, './src', '/app'], { cwd, env });
    expect(created, created.stderr).toMatchObject({ code: 0 });

    // setpriv execs kx in place with the user's groups (docker among them): signals reach kx as from a terminal.
    const ids = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups'];
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const watch = spawn('setpriv', [...ids, '--', 'env', '-i', ...envArgs, opts.kx, 'watch', '--status-port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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

    await until('initial sync', async () => (await catInContainer(target.name, '/app/a.txt')) === 'a1\n', opts.timeoutMs - 30_000);
    expect(output).toContain(`radar image ${opts.image} is not on the engine: building it offline`);
    // The daemon runs with its young generation capped (build/node-flags.ts), and says so; the bin re-executes
    // itself for it in place, so the SIGINT below still reaches kx (same pid) and it exits 0.
    expect(output).toMatch(/kx watch: 1 spec\(s\) from .*; node (.* )?--max-semi-space-size=\d+ --expose-gc --initial-old-space-size=\d+/);
    const environ = (await readFile(`/proc/${watch.pid}/environ`, 'utf8')).split('\0');
    for (const [k, v] of Object.entries(opts.daemonEnv ?? {})) expect(environ).toContain(`${k}=${v}`);
    // Built from what kx carries, labelled with the hash recorded when it was packed.
    expect((await docker.getImage(opts.image).inspect()).Config.Labels?.[SOURCE_HASH_LABEL]).toBe(opts.sourceHash);

    await writeFile(join(cwd, 'src/a.txt'), 'a2\n');
    await until('edit', async () => (await catInContainer(target.name, '/app/a.txt')) === 'a2\n');
    const radars = async (): Promise<string[]> =>
      (await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${homeHash(home)}`] } })).map((c) => c.Id);
    expect(await radars()).toHaveLength(1);

    watch.kill('SIGINT');
    expect(await exitOf(watch), output).toMatchObject({ code: 0 });
    expect(output).toMatch(/radar: container \S+ stays up for the next kx watch; it exits after 600 s with no client/);
    expect(await radars()).toHaveLength(1);
    const cleaned = await runAs(user, opts.kx, ['clean', '--docker'], { cwd, env });
    expect(cleaned, cleaned.stderr).toMatchObject({ code: 0 });
    expect(cleaned.stdout).toMatch(/removed 1 radar container\(s\)/);
    expect(await radars()).toEqual([]);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}
