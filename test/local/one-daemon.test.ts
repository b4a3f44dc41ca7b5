// One daemon per kx home, and commands that find it: the lock, daemon.json, a second `kx watch` refused, `kx get`
// and `kx doctor` reaching the daemon through daemon.json when kx.yaml is broken, "busy" for a daemon that does
// not answer in time, another config's daemon named as such, and one JSON shape with and without a daemon.

import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, STATE_FILE, lockHome, processIdentity, readDaemonState } from '../../pkg/status/daemon-home.ts';
import { exitOf, kx, kxSpawn, randomPort, removeDir, tempDir, waitFor } from './helpers.ts';

const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The pid of a process that has exited (for stale locks). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await exitOf(child);
  return child.pid!;
}

describe('one daemon per home', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function home(): Promise<{ dir: string; env: Record<string, string>; port: number }> {
    const dir = await tempDir('one');
    cleanups.push(() => removeDir(dir));
    const port = randomPort();
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${port}\n`);
    return { dir, env: { KX_HOME: dir }, port };
  }

  async function startWatch(env: Record<string, string>, dir: string): Promise<ReturnType<typeof kxSpawn>> {
    const daemon = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      daemon.kill('SIGTERM');
      await exitOf(daemon);
    });
    await waitFor('daemon.json', async () => {
      // A daemon that exited will never write it: the failure then says why, from its own output.
      if (daemon.exitCode !== null) throw new Error(`kx watch exited with code ${daemon.exitCode}: ${daemon.output()}`);
      return (await readDaemonState(dir))?.pid === daemon.pid;
    });
    return daemon;
  }

  it('the lock: held once; a second taker is told the holder; a lock of a pid that is gone is taken over', async () => {
    const { dir } = await home();
    const first = await lockHome(dir, process.pid);
    expect(first.held).toBe(true);
    const second = await lockHome(dir, 999_999);
    expect(second).toEqual({ held: false, pid: process.pid, state: null });
    if (!first.held) throw new Error('unreachable');
    await first.lock.publish({ port: 7341, configFile: join(dir, 'kx.yaml'), version: '1.2.3', startedAt: 1 });
    expect(await readDaemonState(dir)).toEqual({ pid: process.pid, port: 7341, home: dir, configFile: join(dir, 'kx.yaml'), version: '1.2.3', startedAt: 1, process: processIdentity(process.pid) });
    await first.lock.release();
    expect(await readDaemonState(dir)).toBeNull();
    await expect(readFile(join(dir, LOCK_FILE))).rejects.toThrow(/ENOENT/);

    const gone = await deadPid();
    await writeFile(join(dir, LOCK_FILE), `${gone}\n`);
    await writeFile(join(dir, STATE_FILE), JSON.stringify({ pid: gone, port: 1, home: dir, configFile: 'x', version: '0', startedAt: 0 }));
    expect(await readDaemonState(dir)).toBeNull(); // a state file of a process that is gone is no daemon
    const taken = await lockHome(dir, process.pid);
    expect(taken.held).toBe(true);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid} ${processIdentity(process.pid)}\n`);
    if (taken.held) await taken.lock.release();

    // A pid that runs but is another process than the one that took the lock (reused after a crash or a reboot).
    await writeFile(join(dir, LOCK_FILE), `${process.pid} ${processIdentity(process.pid)}0\n`);
    expect((await lockHome(dir, process.pid)).held).toBe(true);
  });

  it('a second kx watch on the same home exits 1 naming the running one; the first goes on', async () => {
    const { dir, env, port } = await home();
    const first = await startWatch(env, dir);
    const state = await readDaemonState(dir);
    expect(state).toMatchObject({ pid: first.pid, port, home: dir, configFile: join(dir, 'kx.yaml'), version: pkg.version });

    const second = await kx(['watch', '--status-port', '0'], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `kx: another kx watch runs for ${dir} (pid ${first.pid}, status on 127.0.0.1:${port}, config ${join(dir, 'kx.yaml')}); stop it first, or use another KX_HOME\n`,
    );
    expect((await kx(['get'], env)).code).toBe(0);

    first.kill('SIGTERM');
    expect(await exitOf(first)).toEqual({ code: 0, signal: null });
    // A clean stop leaves neither file behind.
    await expect(readFile(join(dir, LOCK_FILE))).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(dir, STATE_FILE))).rejects.toThrow(/ENOENT/);
  });

  it('kx watch takes over the lock of a daemon that died', async () => {
    const { dir, env } = await home();
    await writeFile(join(dir, LOCK_FILE), `${await deadPid()}\n`);
    const daemon = await startWatch(env, dir);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toMatch(new RegExp(`^${daemon.pid} \\S+:\\d+\\n$`));
  });

  it('kx get and kx doctor find the daemon through daemon.json when kx.yaml is broken', async () => {
    const { dir, env, port } = await home();
    const daemon = await startWatch(env, dir);
    await writeFile(join(dir, 'kx.yaml'), 'statusPort: [oops\n');

    const got = await kx(['get', '-o', 'json'], env);
    expect(got.stderr).toMatch(/^kx: .*kx\.yaml/); // the broken file is named
    expect(got.code).toBe(0);
    const doc = JSON.parse(got.stdout);
    expect(doc.daemon).toEqual(expect.objectContaining({ pid: daemon.pid, port, home: dir, configFile: join(dir, 'kx.yaml'), version: pkg.version, state: 'running' }));
    expect(doc.specs).toEqual([]);

    const doctor = await kx(['doctor'], env);
    expect(doctor.stdout).toMatch(new RegExp(`daemon reachable\\s+pass\\s+pid ${daemon.pid} on 127\\.0\\.0\\.1:${port}, kx ${pkg.version.replaceAll('.', '\\.')}`));
    expect(doctor.stdout).toMatch(/config valid\s+fail/);
  });

  it('kx get names a daemon that serves another config instead of showing its status, and takes --port and --home (kx doctor too)', async () => {
    const { dir, env, port } = await home();
    const daemon = await startWatch(env, dir);
    const other = join(dir, 'other.yaml');
    await writeFile(other, 'specs: []\n');

    const mismatch = await kx(['get', '--config', other], env);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toBe('');
    expect(mismatch.stderr).toBe(`kx: the kx daemon on 127.0.0.1:${port} (pid ${daemon.pid}, home ${dir}) serves ${join(dir, 'kx.yaml')}, not ${other}\n`);

    const elsewhere = await tempDir('cwd');
    cleanups.push(() => removeDir(elsewhere));
    const byPort = await kx(['get', '-o', 'json', '--port', String(port), '--home', dir], { KX_HOME: elsewhere });
    expect(byPort.code).toBe(0);
    expect(JSON.parse(byPort.stdout).daemon).toMatchObject({ pid: daemon.pid, port });
    const byHome = await kx(['get', '-o', 'json', '--home', dir], { KX_HOME: elsewhere });
    expect(JSON.parse(byHome.stdout).daemon).toMatchObject({ pid: daemon.pid, port });
    const doctorByHome = await kx(['doctor', '--home', dir], { KX_HOME: elsewhere });
    expect(doctorByHome.stdout).toMatch(new RegExp(`config valid\\s+pass\\s+${join(dir, 'kx.yaml')}`));
    expect(doctorByHome.stdout).toMatch(new RegExp(`daemon reachable\\s+pass\\s+pid ${daemon.pid} on 127\\.0\\.0\\.1:${port}`));
  });

  it('says "busy", not "no daemon", when the daemon takes the connection but does not answer in time', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, 'src'));
    expect((await kx(['create', '--docker', '-p', 'web', '--name', 'web', join(dir, 'src'), '/app'], env)).code).toBe(0);
    // A daemon whose event loop is blocked: the kernel takes the connection, nothing answers.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => silent.close(r));
    });
    const port = (silent.address() as { port: number }).port;
    const state = { pid: process.pid, port, home: dir, configFile: join(dir, 'kx.yaml'), version: pkg.version, startedAt: Date.now() };
    await writeFile(join(dir, STATE_FILE), JSON.stringify(state));

    const table = await kx(['get'], env);
    expect(table.code).toBe(1);
    expect(table.stdout.split('\n')[0]).toBe(`kx daemon (pid ${process.pid}) on 127.0.0.1:${port} is busy: no answer within 2 s (try again)`);
    expect(table.stdout).toMatch(/^web\s/m);

    const json = await kx(['get', '-o', 'json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      daemon: { pid: process.pid, port, home: dir, configFile: join(dir, 'kx.yaml'), version: pkg.version, state: 'busy' },
      specs: [{ name: 'web', kind: 'docker', local: join(dir, 'src'), remote: '/app', services: [] }],
    });

    const doctor = await kx(['doctor'], env);
    expect(doctor.stdout).toMatch(/daemon reachable\s+unverified\s+kx daemon \(pid \d+\) on 127\.0\.0\.1:\d+ is busy/);
  });

  it('kx get -o json has the same shape with no daemon: daemon null, the configured specs, exit code 1', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, 'src'));
    expect((await kx(['create', '--docker', '-p', 'web', '--name', 'web', join(dir, 'src'), '/app'], env)).code).toBe(0);
    const json = await kx(['get', '-o', 'json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ daemon: null, specs: [{ name: 'web', kind: 'docker', local: join(dir, 'src'), remote: '/app', services: [] }] });
    const yaml = await kx(['get', '-o', 'yaml'], env);
    expect(yaml.stdout.startsWith('daemon: null\nspecs:\n  - name: web\n')).toBe(true);
  });
});
