// The Docker target as most developers run it: `kx watch` as a user who is not root but is in the docker group, with
// the engine found through DOCKER_HOST at a socket that is not the default one, or over tcp on 127.0.0.1. kx starts
// radar's image as a container on that engine (building it on first use) and syncs through it; its own process
// never touches /proc of the engine's host.
import * as grpc from '@grpc/grpc-js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RADAR_CAPABILITIES, RADAR_LABEL, homeHash } from '../../pkg/docker/radar-container.ts';
import { RadarClient } from '../../pkg/transport/client.ts';
import { ErrorCode, isKxError } from '../../pkg/sync/errors.ts';
import { mutualTlsPki, type MutualTlsPki } from '../support/x509.ts';
import { catInContainer, docker, exitOf, removeContainer, removeDir, startContainer, suffix, tempDir, waitFor } from './helpers.ts';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const nodeBin = join(repo, 'node_modules/node/bin/node');
const kxBin = join(repo, 'cmd/kx.ts');
/** A user of this test's own, in the docker group and nothing else. */
const USER = 'kx-docker-dev';
/** The radar image these tests run: a tag of their own, removed first so the first test sees kx build it. */
const IMAGE = 'kx-radar-test:docker-target';
const SLOW = 240_000;

interface Dev {
  readonly uid: number;
  readonly gid: number;
}

/** Creates USER (docker group member) when it is missing; tests run as root and may add users. */
async function developer(): Promise<Dev> {
  const id = async (): Promise<Dev | null> => {
    try {
      const [uid, gid] = await Promise.all([run('id', ['-u', USER]), run('id', ['-g', USER])]);
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    } catch {
      return null;
    }
  };
  if (!(await id())) {
    // Another test process may be adding users at the same moment (/etc/passwd is locked): retry until it is there.
    await waitFor(`user ${USER}`, async () => (await run('useradd', ['-M', '-s', '/bin/sh', USER]).then(() => true, async () => (await id()) !== null)));
  }
  await run('usermod', ['-aG', 'docker', USER]);
  const groups = (await run('id', ['-nG', USER])).stdout.trim().split(/\s+/);
  expect(groups).toContain('docker');
  expect(groups).not.toContain('root');
  return (await id())!;
}

/** Pipe one accepted connection to the engine's own socket, both ends tracked in `sockets` until closed. */
function toEngine(client: Socket, sockets: Set<Socket>): void {
  const upstream = connect('/var/run/docker.sock');
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream).pipe(client);
}

/** A byte-for-byte forwarder to the engine's socket, listening on a unix socket path or on 127.0.0.1. */
async function engineProxy(listen: string | { host: string; port: 0 }): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => toEngine(client, sockets));
  await new Promise<void>((r) => server.listen(listen, r));
  let url: string;
  if (typeof listen === 'string') {
    // As the engine's own socket: root:docker, 0660.
    await chown(listen, 0, Number((await run('getent', ['group', 'docker'])).stdout.split(':')[2]));
    await chmod(listen, 0o660);
    url = `unix://${listen}`;
  } else {
    const addr = server.address() as { port: number };
    url = `tcp://127.0.0.1:${addr.port}`;
  }
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TLS engine on 127.0.0.1 as `dockerd --tlsverify` serves one: client certificates signed by the CA required. */
async function tlsEngineProxy(pki: MutualTlsPki): Promise<{ url: string; clients: string[]; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const clients: string[] = [];
  const server = createTlsServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (client: TLSSocket) => {
    clients.push(String(client.getPeerCertificate().subject.CN));
    toEngine(client, sockets);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `tcp://127.0.0.1:${(server.address() as { port: number }).port}`,
    clients,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Session {
  readonly home: string;
  readonly src: string;
  readonly label: string;
  readonly env: Record<string, string>;
}

describe('the Docker target as a non-root docker-group member, radar in a container', () => {
  let dev: Dev;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dev = await developer();
    // The tests' own tag: gone, so the first `kx watch` must build it (and later ones reuse it).
    await docker.getImage(IMAGE).remove({ force: true }).catch(() => undefined);
  }, SLOW);

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  afterAll(async () => {
    // Any radar container a failed test left (they all carry this test's image).
    const left = await docker.listContainers({ all: true, filters: { ancestor: [IMAGE] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });

  /** A home, KX_HOME and source folder owned by the developer, and the environment of their shell. */
  async function session(dockerHost: string, extra: Record<string, string> = {}): Promise<Session> {
    const dir = await tempDir('docker-radar');
    cleanups.push(() => removeDir(dir));
    await chmod(dir, 0o755);
    const home = join(dir, 'home');
    const src = join(dir, 'src');
    await mkdir(join(home, '.kx'), { recursive: true });
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a1\n');
    for (const p of [home, join(home, '.kx'), src, join(src, 'a.txt')]) await chown(p, dev.uid, dev.gid);
    // KX_RADAR_LINGER=0: radar's container goes with kx watch, as these tests check (test/local/radar-linger.test.ts
    // covers the default, a container left running for the next kx watch).
    const env = { HOME: home, KX_HOME: join(home, '.kx'), DOCKER_HOST: dockerHost, KX_RADAR_IMAGE: IMAGE, PATH: '/usr/local/bin:/usr/bin:/bin', KX_RADAR_LINGER: '0', ...extra };
    return { home, src, label: `t${suffix()}`, env };
  }

  /** Runs kx as the developer, with exactly `env` (no root environment leaks in). */
  function asDeveloper(s: Session, args: readonly string[]): ChildProcess & { output(): string } {
    const envArgs = Object.entries(s.env).map(([k, v]) => `${k}=${v}`);
    // setpriv execs kx in place (runuser would stay as its parent): signals reach kx itself, as from a terminal.
    const ids = [`--reuid=${dev.uid}`, `--regid=${dev.gid}`, '--init-groups'];
    const child = spawn('setpriv', [...ids, '--', 'env', '-i', ...envArgs, nodeBin, kxBin, ...args], { cwd: s.home, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    return Object.assign(child, { output: () => output });
  }

  async function kxOnce(s: Session, args: readonly string[]): Promise<{ code: number | null; output: string }> {
    const child = asDeveloper(s, args);
    const { code } = await exitOf(child);
    return { code, output: child.output() };
  }

  /** `kx watch` as the developer, killed at cleanup if it still runs. */
  function kxWatch(s: Session): ChildProcess & { output(): string } {
    const watch = asDeveloper(s, ['watch', '--status-port', '0']);
    cleanups.push(async () => {
      if (watch.exitCode === null && watch.signalCode === null) {
        watch.kill('SIGKILL');
        await exitOf(watch);
      }
    });
    return watch;
  }

  /** A target container, a spec for it made with `kx create`, and `kx watch` running as the developer. */
  async function watching(s: Session): Promise<{ name: string; watch: ChildProcess & { output(): string } }> {
    const c = await startContainer({ 'kx.test': s.label });
    cleanups.push(() => removeContainer(c.name));
    const created = await kxOnce(s, ['create', '--docker', '-l', `kx.test=${s.label}`, s.src, '/app']);
    expect(created, created.output).toMatchObject({ code: 0 });
    const watch = kxWatch(s);
    return { name: c.name, watch };
  }

  /** waitFor, with kx watch's output in the message when it times out. */
  async function until(what: string, watch: { output(): string }, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    try {
      await waitFor(what, probe, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- kx watch ---\n${watch.output().split('\n').slice(-30).join('\n')}`, { cause: err });
    }
  }

  async function radarContainers(s: Session): Promise<string[]> {
    const list = await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${homeHash(s.env.KX_HOME)}`] } });
    return list.map((c) => c.Id);
  }

  // Published: how radar is reached on VM-based and rootless engines (here forced, the engine being local).
  it('through DOCKER_HOST at a non-default socket, radar on a published port: builds the radar image on first use, syncs edits, and removes radar on exit', async () => {
    const dir = await tempDir('engine-sock');
    cleanups.push(() => removeDir(dir));
    await chmod(dir, 0o755);
    const proxy = await engineProxy(join(dir, 'engine.sock'));
    cleanups.push(() => proxy.close());
    const s = await session(proxy.url, { KX_RADAR_NETWORK: 'published' });
    const { name, watch } = await watching(s);

    await until('initial sync', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n', SLOW - 30_000);
    expect(watch.output()).toMatch(/radar image kx-radar-test:docker-target is not on the engine: building it offline/);
    await writeFile(join(s.src, 'a.txt'), 'a2\n');
    await until('edit', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a2\n');

    // radar runs with what it needs and no more, reachable on the host's loopback only.
    const [id] = await radarContainers(s);
    expect(id).toBeDefined();
    const info = await docker.getContainer(id).inspect();
    expect(info.HostConfig).toMatchObject({ Privileged: false, PidMode: 'host', ReadonlyRootfs: true, CapDrop: ['ALL'] });
    expect(info.HostConfig.NetworkMode).not.toBe('host');
    expect([...(info.HostConfig.CapAdd ?? [])].sort()).toEqual([...RADAR_CAPABILITIES].sort());
    expect(info.HostConfig.Binds).toEqual([`${join(dir, 'engine.sock')}:/var/run/docker.sock`]);
    const published = info.NetworkSettings.Ports['7077/tcp'] ?? [];
    expect(published.map((p) => p.HostIp)).toEqual(['127.0.0.1']);

    // Another local user on that port without radar's token gets nothing.
    const intruder = new RadarClient({ address: `127.0.0.1:${published[0].HostPort}`, token: 'not-the-token', target: { containerId: `docker://${name}`, runtime: 'docker', remotePath: '/app' } });
    const refused = await intruder.start().then(() => null, (err: unknown) => err);
    await intruder.close();
    expect(isKxError(refused, ErrorCode.Unauthenticated) || (refused as grpc.ServiceError | null)?.code === grpc.status.UNAUTHENTICATED, String(refused)).toBe(true);

    watch.kill('SIGINT');
    expect(await exitOf(watch)).toMatchObject({ code: 0 });
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);

  // The engine on the host's loopback: radar in the host's network namespace, as on any local Linux engine.
  it('over tcp on 127.0.0.1: syncs edits, and removes radar on exit', async () => {
    const proxy = await engineProxy({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => proxy.close());
    const s = await session(proxy.url);
    const { name, watch } = await watching(s);

    await until('initial sync', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n', SLOW - 30_000);
    await writeFile(join(s.src, 'b.txt'), 'b1\n');
    await until('new file', watch, async () => (await catInContainer(name, '/app/b.txt')) === 'b1\n');
    const [id] = await radarContainers(s);
    const info = await docker.getContainer(id).inspect();
    expect(info.HostConfig).toMatchObject({ NetworkMode: 'host', Privileged: false });
    expect(info.Config.Cmd).toEqual(expect.arrayContaining(['--docker-host', proxy.url]));

    watch.kill('SIGTERM');
    expect(await exitOf(watch)).toMatchObject({ code: 0 });
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);

  // DOCKER_TLS_VERIFY: kx and radar both reach the engine with the developer's client certificate, radar reading it
  // from a read-only bind of DOCKER_CERT_PATH (the developer's own files, key mode 0600).
  it('over tcp with TLS on 127.0.0.1 (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH): syncs edits with the client certificate', async () => {
    const pki = mutualTlsPki();
    const proxy = await tlsEngineProxy(pki);
    cleanups.push(() => proxy.close());
    const s = await session(proxy.url);
    const certs = join(s.home, '.docker');
    await mkdir(certs);
    await writeFile(join(certs, 'ca.pem'), pki.ca);
    await writeFile(join(certs, 'cert.pem'), pki.clientCert);
    await writeFile(join(certs, 'key.pem'), pki.clientKey, { mode: 0o600 });
    for (const p of ['', 'ca.pem', 'cert.pem', 'key.pem']) await chown(join(certs, p), dev.uid, dev.gid);
    Object.assign(s.env, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
    const { name, watch } = await watching(s);

    await until('initial sync', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n', SLOW - 30_000);
    await writeFile(join(s.src, 'a.txt'), 'a2\n');
    await until('edit', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a2\n');
    const [id] = await radarContainers(s);
    const info = await docker.getContainer(id).inspect();
    expect(info.Config.Cmd).toEqual(expect.arrayContaining(['--docker-host', proxy.url, '--docker-tls-dir', '/run/kx/engine-tls']));
    expect(info.HostConfig.Binds).toEqual([`${certs}:/run/kx/engine-tls:ro`]);
    // Every connection to the engine, kx's and radar's, was made with the developer's certificate.
    expect(new Set(proxy.clients)).toEqual(new Set(['kx-developer']));

    watch.kill('SIGTERM');
    expect(await exitOf(watch)).toMatchObject({ code: 0 });
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);

  it('starts radar as kx watch starts, before any target container exists; removes it on exit, and when kx watch cannot start', async () => {
    const s = await session('unix:///var/run/docker.sock');
    const created = await kxOnce(s, ['create', '--docker', '-l', `kx.test=${s.label}`, s.src, '/app']);
    expect(created, created.output).toMatchObject({ code: 0 });

    // No container carries the label: radar starts anyway, since the config has a Docker spec.
    const watch = kxWatch(s);
    await until('radar container started with no target', watch, async () => (await radarContainers(s)).length === 1 && /serves the docker target/.test(watch.output()), SLOW - 60_000);
    watch.kill('SIGTERM');
    expect((await exitOf(watch)).code).toBe(0);
    expect(await radarContainers(s)).toEqual([]);

    // The status port is taken: kx watch fails after radar's container started, and removes it before exiting 1.
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => taken.close(() => ok())));
    const port = (taken.address() as { port: number }).port;
    const failed = await kxOnce(s, ['watch', '--status-port', String(port)]);
    expect(failed.code, failed.output).toBe(1);
    expect(failed.output).toMatch(/radar: container \S+ \(.*\) serves the docker target/);
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);

  it('a stop asked the moment radar\'s container exists (kx watch may still be starting) is a clean stop: exit 0, radar removed', async () => {
    const s = await session('unix:///var/run/docker.sock');
    const created = await kxOnce(s, ['create', '--docker', '-l', `kx.test=${s.label}`, s.src, '/app']);
    expect(created, created.output).toMatchObject({ code: 0 });
    const watch = kxWatch(s);
    // radar's container is started ahead of the daemon's modules: the stop may come before the daemon is up.
    await until('radar container created', watch, async () => (await radarContainers(s)).length === 1, SLOW - 60_000);
    watch.kill('SIGTERM');
    expect(await exitOf(watch), watch.output()).toMatchObject({ code: 0 });
    expect(watch.output()).toContain('kx watch: SIGTERM, stopping');
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);

  it('the next kx watch, and kx clean --docker, remove the radar container a killed kx watch left behind', async () => {
    const s = await session('unix:///var/run/docker.sock');
    const { name, watch } = await watching(s);
    await until('initial sync', watch, async () => (await catInContainer(name, '/app/a.txt')) === 'a1\n', SLOW - 30_000);
    watch.kill('SIGKILL');
    await exitOf(watch);
    const [left] = await radarContainers(s);
    expect(left).toBeDefined();

    // A new kx watch on the same home replaces the abandoned radar (its kx process is gone) and syncs.
    const again = kxWatch(s);
    await writeFile(join(s.src, 'a.txt'), 'a2\n');
    await until('sync after restart', again, async () => (await catInContainer(name, '/app/a.txt')) === 'a2\n', SLOW - 60_000);
    const now = await radarContainers(s);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(left);
    again.kill('SIGKILL');
    await exitOf(again);
    expect(await radarContainers(s)).toHaveLength(1);

    const cleaned = await kxOnce(s, ['clean', '--docker']);
    expect(cleaned, cleaned.output).toMatchObject({ code: 0 });
    expect(cleaned.output).toMatch(/removed 1 radar container\(s\)/);
    expect(await radarContainers(s)).toEqual([]);
  }, SLOW);
});
