// Port forwards of Docker specs, in the daemon `kx watch` runs (composition root, radar's container, the real
// engine): a local port serves the container's HTTP server, follows a replaced container, a busy port is one status
// line while the other works, and `kx get`'s status (over the status service, as -o json prints it) carries them.
import Docker from 'dockerode';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../cmd/composition/root.ts';
import { ConfigStore } from '../../pkg/config/store.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { ContainerPortDialer } from '../../pkg/docker/container-port-dialer.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import type { PortForwardStatus } from '../../pkg/daemon/status.ts';
import { StatusClient } from '../../pkg/status/client.ts';
import { formatStatus } from '../../pkg/ui/output.ts';
import { freePort, httpGet, listening } from '../support/http-get.ts';
import { IMAGE, docker, exitOf, kx, kxSpawn, removeContainer, removeDir, suffix, tempDir, waitFor } from './helpers.ts';

const HTTP_PORT = 8080;

describe('port forwards to Docker containers', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A container whose busybox httpd answers GET / with its own name; optionally publishing its port on loopback. */
  async function webContainer(label: string, opts: { publish?: boolean; healthy?: string } = {}): Promise<{ id: string; name: string }> {
    const name = `kx-test-web-${suffix()}`;
    const c = await docker.createContainer({
      name,
      Image: IMAGE,
      Cmd: ['sh', '-c', `mkdir -p /www /app && echo ${name} > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`],
      Labels: { 'kx.test': label },
      ExposedPorts: { [`${HTTP_PORT}/tcp`]: {} },
      // Healthy while the file `healthy` names exists, checked every 100 ms.
      ...(opts.healthy !== undefined && { Healthcheck: { Test: ['CMD', 'test', '-f', opts.healthy], Interval: 100_000_000, Timeout: 1_000_000_000, Retries: 1 } }),
      ...(opts.publish && { HostConfig: { PortBindings: { [`${HTTP_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } } }),
    });
    cleanups.push(() => removeContainer(name));
    await c.start();
    return { id: c.id, name };
  }

  async function daemonWith(spec: (dir: string) => SpecConfig): Promise<{ daemon: RunningDaemon; store: ConfigStore; forwards: () => readonly PortForwardStatus[] }> {
    const dir = await tempDir('ports');
    cleanups.push(() => removeDir(dir));
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'a.txt'), 'a\n');
    const store = new ConfigStore(join(dir, 'kx.yaml'));
    await store.addSpec(spec(join(dir, 'src')));
    const daemon = await startDaemon({ store, config: (await store.load()).config, statusPort: 0, log: silentLogger });
    cleanups.push(() => daemon.close());
    return { daemon, store, forwards: () => daemon.daemon.status().specs[0]?.ports ?? [] };
  }

  it('serves the container through the local port, follows its replacement, and reports a busy port without stopping the rest', async () => {
    const label = `t${suffix()}`;
    const first = await webContainer(label);
    const [port, busyPort] = [await freePort(), await freePort()];
    const busy: Server = await listening(busyPort);
    cleanups.push(() => new Promise((r) => busy.close(r)));
    const { daemon, forwards } = await daemonWith((local) => ({
      name: 'web', selector: `kx.test=${label}`, local, remote: '/app', reload: 'none', ignore: [], target: 'docker',
      ports: [`${port}:${HTTP_PORT}`, `${busyPort}:${HTTP_PORT}`],
    }));

    expect(await waitFor('the first container through the forward', async () => (await httpGet(port).catch(() => '')).trim() || null)).toBe(first.name);
    const [ok, inUse] = forwards();
    expect(ok).toMatchObject({ local: port, remote: HTTP_PORT, state: 'ok', target: first.name });
    expect(inUse).toMatchObject({ local: busyPort, state: 'in-use', message: `127.0.0.1:${busyPort} is in use by another program; retrying` });

    // kx get (table and -o json) reads the same over the status service.
    const client = new StatusClient(daemon.statusPort);
    try {
      const reply = await client.get();
      expect(reply.specs[0].ports?.map((f) => [f.local, f.state])).toEqual([[port, 'ok'], [busyPort, 'in-use']]);
      const table = formatStatus(reply, 'table', Date.now());
      expect(table).toContain(`web ports: ${port}→${HTTP_PORT} ok (${first.name}), ${busyPort}→${HTTP_PORT} in use: 127.0.0.1:${busyPort} is in use by another program; retrying`);
      expect(JSON.parse(formatStatus(reply, 'json', Date.now())).specs[0].ports[1].state).toBe('in-use');
    } finally {
      client.close();
    }

    // The container is replaced: new connections go to the new one.
    const second = await webContainer(label);
    await removeContainer(first.name);
    expect(await waitFor('the replacement through the forward', async () => {
      const body = (await httpGet(port).catch(() => '')).trim();
      return body === second.name ? body : null;
    })).toBe(second.name);
    expect(forwards()[0]).toMatchObject({ state: 'ok', target: second.name });
  });

  it('listens on the IPv6 loopback when the entry says [::1], and only there', async () => {
    const label = `t${suffix()}`;
    const c = await webContainer(label);
    const port = await freePort();
    const { forwards } = await daemonWith((local) => ({
      name: 'web', selector: `kx.test=${label}`, local, remote: '/app', reload: 'none', ignore: [], target: 'docker', ports: [`[::1]:${port}:${HTTP_PORT}`],
    }));
    expect(await waitFor('the container through [::1]', async () => (await httpGet(port, '::1').catch(() => '')).trim() || null)).toBe(c.name);
    expect(forwards()[0]).toMatchObject({ local: port, remote: HTTP_PORT, state: 'ok', target: c.name });
    await expect(httpGet(port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('forwards to a container with a HEALTHCHECK only while it is healthy, as to a pod while it is Ready', async () => {
    const label = `t${suffix()}`;
    const c = await webContainer(label, { healthy: '/tmp/ok' });
    const port = await freePort();
    const { daemon, forwards } = await daemonWith((local) => ({
      name: 'web', selector: `kx.test=${label}`, local, remote: '/app', reload: 'none', ignore: [], target: 'docker', ports: [`${port}:${HTTP_PORT}`],
    }));
    // Synced, yet not forwarded to: the container is not healthy yet.
    await waitFor('synced', () => daemon.daemon.status().specs[0]?.services[0]?.state === 'watching');
    expect(forwards()[0]).toMatchObject({ state: 'waiting', message: 'no ready container to forward to yet' });
    // A request made now is held, not refused, and answered once the container is healthy.
    const early = httpGet(port);
    await waitFor('the request held', () => forwards()[0]?.message === 'no ready container to forward to yet (1 connection held)');

    await docker.getContainer(c.id).exec({ Cmd: ['touch', '/tmp/ok'] }).then((e) => e.start({ hijack: true, stdin: false }));
    expect((await early).trim()).toBe(c.name);
    expect(forwards()[0]).toMatchObject({ state: 'ok', target: c.name });

    await docker.getContainer(c.id).exec({ Cmd: ['rm', '/tmp/ok'] }).then((e) => e.start({ hijack: true, stdin: false }));
    await waitFor('waiting again once unhealthy', () => forwards()[0]?.state === 'waiting');
  });

  it('closes its listeners and open connections with the daemon', async () => {
    const label = `t${suffix()}`;
    const c = await webContainer(label);
    const port = await freePort();
    const { daemon } = await daemonWith((local) => ({
      name: 'web', selector: `kx.test=${label}`, local, remote: '/app', reload: 'none', ignore: [], target: 'docker', ports: [`${port}:${HTTP_PORT}`],
    }));
    expect((await waitFor('forward', async () => (await httpGet(port).catch(() => '')).trim() || null))).toBe(c.name);
    // A connection left open through the forward is closed with it.
    const held = connect(port, '127.0.0.1');
    held.on('error', () => undefined);
    const heldClosed = new Promise<void>((resolve) => held.once('close', () => resolve()));
    await new Promise<void>((resolve) => held.once('connect', () => resolve()));
    await waitFor('the held connection counted', () => (daemon.daemon.status().specs[0]?.ports?.[0]?.connections ?? 0) >= 1);
    // The forwards close before the spec's containers' connections; closing those may wait for radar's first start.
    const closing = daemon.close();
    await heldClosed;
    await closing;
    await daemon.close(); // idempotent
    const again = await listening(port); // the port is free again
    await new Promise((r) => again.close(r));
  }, 240_000);
});

describe('ContainerPortDialer on an engine whose container addresses cannot be reached (as on VM-based engines)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** The real engine, reporting no container address (what kx can route to): only published ports are left. */
  function withoutAddresses(engine: Docker): ConstructorParameters<typeof ContainerPortDialer>[0]['docker'] {
    return {
      getContainer: (id: string) => {
        const c = engine.getContainer(id);
        return Object.assign(Object.create(c) as Docker.Container, {
          inspect: async () => {
            const info = await c.inspect();
            return { ...info, NetworkSettings: { ...info.NetworkSettings, Networks: {} } };
          },
        });
      },
    };
  }

  async function bridged(dialer: ContainerPortDialer, target: { id: string; name: string }): Promise<string> {
    const { createServer } = await import('node:net');
    const server = createServer((s) => {
      void dialer.forward({} as SpecConfig, target, HTTP_PORT, s).catch(() => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    return httpGet((server.address() as { port: number }).port);
  }

  async function container(publish: boolean): Promise<{ id: string; name: string }> {
    const name = `kx-test-web-${suffix()}`;
    const c = await docker.createContainer({
      name, Image: IMAGE, Labels: { 'kx.test': 'dialer' },
      Cmd: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`],
      ExposedPorts: { [`${HTTP_PORT}/tcp`]: {} },
      ...(publish && { HostConfig: { PortBindings: { [`${HTTP_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } } }),
    });
    cleanups.push(() => removeContainer(name));
    await c.start();
    return { id: c.id, name };
  }

  it('connects to the port the engine publishes for REMOTE', async () => {
    const c = await container(true);
    const dialer = new ContainerPortDialer({ docker: withoutAddresses(docker), publishedHost: '127.0.0.1' });
    expect((await waitFor('published port', async () => (await bridged(dialer, c).catch(() => '')).trim() || null))).toBe(c.name);
  });

  it('says why when the container publishes nothing for REMOTE', async () => {
    const c = await container(false);
    const dialer = new ContainerPortDialer({ docker: withoutAddresses(docker), publishedHost: '127.0.0.1' });
    const { PassThrough } = await import('node:stream');
    const err = await dialer.forward({} as SpecConfig, c, HTTP_PORT, new PassThrough() as never).then(() => null, (e: Error) => e);
    expect(err?.message).toBe(`container ${c.name} port ${HTTP_PORT}: it has no address on a network this machine can reach, and it publishes no port for ${HTTP_PORT}/tcp (docker run -p ${HTTP_PORT}:${HTTP_PORT})`);
  });
});

describe('kx create --port, kx watch and kx get, as a user runs them', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('serves the container on the forwarded port, shows the forwards in kx get, and exits cleanly on SIGTERM', async () => {
    const dir = await tempDir('ports-cli');
    cleanups.push(() => removeDir(dir));
    const env = { KX_HOME: dir };
    await writeFile(join(dir, 'kx.yaml'), `statusPort: ${await freePort()}\n`);
    await mkdir(join(dir, 'src'));
    const label = `t${suffix()}`;
    const name = `kx-test-web-${suffix()}`;
    const c = await docker.createContainer({
      name, Image: IMAGE, Labels: { 'kx.test': label },
      Cmd: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`],
    });
    cleanups.push(() => removeContainer(name));
    await c.start();
    const [port, busyPort] = [await freePort(), await freePort()];
    const busy = await listening(busyPort);
    cleanups.push(() => new Promise((r) => busy.close(r)));
    const created = await kx(['create', '--docker', '-l', `kx.test=${label}`, '--name', 'web', '--port', `${port}:${HTTP_PORT}`, '--port', `${busyPort}:${HTTP_PORT}`, join(dir, 'src'), '/app'], env);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain(`ports ${port}:${HTTP_PORT} ${busyPort}:${HTTP_PORT}`);

    const daemon = kxSpawn(['watch'], env);
    cleanups.push(async () => {
      daemon.kill('SIGKILL');
    });
    expect(await waitFor('the container through kx watch\'s forward', async () => (await httpGet(port).catch(() => '')).trim() || null)).toBe(name);
    const table = await waitFor('kx get to show the forwards', async () => {
      const out = await kx(['get'], env);
      return out.stdout.includes('web ports:') ? out.stdout : null;
    });
    expect(table).toContain(`web ports: ${port}→${HTTP_PORT} ok (${name}), ${busyPort}→${HTTP_PORT} in use: 127.0.0.1:${busyPort} is in use by another program; retrying`);
    const json = JSON.parse((await kx(['get', '-o', 'json'], env)).stdout) as { specs: { ports: PortForwardStatus[] }[] };
    expect(json.specs[0].ports.map((p) => ({ local: p.local, remote: p.remote, state: p.state }))).toEqual([
      { local: port, remote: HTTP_PORT, state: 'ok' },
      { local: busyPort, remote: HTTP_PORT, state: 'in-use' },
    ]);
    expect(daemon.output()).toContain(`web: port forward ${busyPort}:${HTTP_PORT}: 127.0.0.1:${busyPort} is in use by another program; retrying`);

    daemon.kill('SIGTERM');
    // Exiting at all proves the listeners and connections were closed: kx watch never calls process.exit on a clean stop.
    expect(await exitOf(daemon)).toEqual({ code: 0, signal: null });
  }, 240_000);
});
