// radar as a container on the user's Docker engine: kx's link to the Docker target. radar gets only what it needs to
// reach the target containers — the engine (its socket bind-mounted, or its tcp address), the host's PID namespace
// (to open /proc/<pid>/root of a target), and the capabilities named below — on a read-only root filesystem. kx
// reaches it through a port the engine publishes on 127.0.0.1 only, and since any local user can connect there,
// radar requires a token kx generates for each radar container. Containers are labelled with the kx home they
// serve (kx.radar=<hash>) and the kx process that owns them, so `kx clean --docker` and the next `kx watch` find
// the ones a killed kx left behind.
import type Docker from 'dockerode';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { DEFAULT_ENGINE_SOCKET, type EngineAddress } from './engine-address.ts';

export const RADAR_LABEL = 'kx.radar';
/** `<host name>/<pid>` of the kx process that started the container. */
export const RADAR_OWNER_LABEL = 'kx.radar.owner';
/**
 * What radar needs, and nothing else: SYS_PTRACE to open /proc/<pid>/root of another container's process;
 * DAC_OVERRIDE and DAC_READ_SEARCH to write into directories and files owned by the container's users; CHOWN and
 * FOWNER to give written files the owner, mode and mtime the container expects. Reloads go through the engine
 * (restart, kill), so no KILL.
 */
export const RADAR_CAPABILITIES = ['SYS_PTRACE', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'CHOWN', 'FOWNER'];
const RADAR_PORT = 7077;
const TLS_DIR_IN_RADAR = '/run/kx/engine-tls';

/** The label value of a kx home: a short digest of its absolute path. */
export function homeHash(home: string): string {
  return createHash('sha256').update(resolve(home)).digest('hex').slice(0, 16);
}

export interface RadarEndpoint {
  /** 127.0.0.1:PORT, a plain gRPC target. */
  readonly address: string;
  /** Sent as `authorization: Bearer <token>`. */
  readonly token: string;
  /** The radar container's ID. */
  readonly id: string;
}

export interface RadarContainerOptions {
  readonly docker: Docker;
  readonly engine: EngineAddress;
  /** Resolves with the image to run (built on first use). */
  readonly image: () => Promise<string>;
  /** homeHash() of the kx home this radar serves. */
  readonly home: string;
  readonly log: (line: string) => void;
  /** How long radar may take to listen. Default 60 s (a cold start on a busy machine). */
  readonly startTimeoutMs?: number;
}

export class RadarContainer {
  readonly #opts: RadarContainerOptions;
  #current: Promise<RadarEndpoint> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: RadarContainerOptions) {
    this.#opts = opts;
  }

  /** radar's address and token, starting a container first when none runs (any more). */
  async endpoint(): Promise<RadarEndpoint> {
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'radar container: closed');
    const current = this.#current;
    if (current) {
      const running = await current.then(
        (e) => this.#opts.docker.getContainer(e.id).inspect().then((i) => i.State.Running, () => false),
        () => false,
      );
      if (running) return current;
      if (this.#current === current) {
        this.#current = undefined;
        await current.then((e) => this.#remove(e.id), () => undefined);
      }
    }
    this.#current ??= this.#start();
    return this.#current;
  }

  /** Removes the container kx started (force: radar closes on SIGKILL just as well; kx has stopped using it). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const e = await this.#current?.catch(() => undefined);
      if (e) await this.#remove(e.id);
    })();
    return this.#closed;
  }

  async #start(): Promise<RadarEndpoint> {
    const { docker, engine, home } = this.#opts;
    const image = await this.#opts.image();
    await removeAbandoned(docker, home);
    const token = randomBytes(32).toString('base64url');
    const tcp = engine.socketPath === undefined;
    const flags = tcp
      ? ['--listen', '127.0.0.1:0', '--docker-host', engine.url, ...(engine.tls?.dir ? ['--docker-tls-dir', TLS_DIR_IN_RADAR] : [])]
      : ['--listen', `0.0.0.0:${RADAR_PORT}`, '--docker-socket', DEFAULT_ENGINE_SOCKET];
    const binds = tcp
      ? engine.tls?.dir ? [`${engine.tls.dir}:${TLS_DIR_IN_RADAR}:ro`] : []
      : [`${await this.#engineSocketOnHost()}:${DEFAULT_ENGINE_SOCKET}`];
    let created: Docker.Container;
    try {
      created = await docker.createContainer({
        name: `kx-radar-${home.slice(0, 8)}-${randomBytes(3).toString('hex')}`,
        Image: image,
        Cmd: ['node', 'radar/main.ts', '--docker-target', ...flags],
        Env: [`KX_TOKEN=${token}`],
        Labels: { [RADAR_LABEL]: home, [RADAR_OWNER_LABEL]: `${hostname()}/${process.pid}` },
        ...(tcp ? {} : { ExposedPorts: { [`${RADAR_PORT}/tcp`]: {} } }),
        HostConfig: {
          // The engine on the host's loopback is only reachable from the host's network namespace; radar then
          // listens on the host's loopback itself. Otherwise radar is on its own network with one published port.
          ...(tcp ? { NetworkMode: 'host' } : { PortBindings: { [`${RADAR_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } }),
          PidMode: 'host',
          CapDrop: ['ALL'],
          CapAdd: RADAR_CAPABILITIES,
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          Binds: binds,
          RestartPolicy: { Name: 'no' },
        },
      });
    } catch (err) {
      throw new KxError(ErrorCode.Unavailable, `docker engine at ${engine.url}: cannot create radar's container: ${message(err)}`, { cause: err });
    }
    try {
      await created.start();
      const listening = await waitForListening(created, this.#opts.startTimeoutMs ?? 60_000);
      const address = tcp ? listening : await publishedAddress(created);
      this.#opts.log(`radar: container ${created.id.slice(0, 12)} (${image}) serves the docker target at ${address}`);
      return { address, token, id: created.id };
    } catch (err) {
      await this.#remove(created.id);
      throw err instanceof KxError ? err : new KxError(ErrorCode.Unavailable, `radar's container on ${engine.url}: ${message(err)}`, { cause: err });
    }
  }

  /**
   * The engine's socket as a path on the engine's host, for the bind mount. A local engine sees kx's own path; an
   * engine in a VM (Docker Desktop, colima, OrbStack: any engine when kx does not run on Linux) has its socket at
   * the default path inside the VM, whatever path forwards to it on the developer's machine.
   */
  async #engineSocketOnHost(): Promise<string> {
    if (process.platform !== 'linux') return DEFAULT_ENGINE_SOCKET;
    const info = (await this.#opts.docker.info().catch(() => ({}))) as { OperatingSystem?: string };
    return info.OperatingSystem?.includes('Docker Desktop') ? DEFAULT_ENGINE_SOCKET : this.#opts.engine.socketPath!;
  }

  async #remove(id: string): Promise<void> {
    await this.#opts.docker.getContainer(id).remove({ force: true }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404 && err.statusCode !== 409) this.#opts.log(`radar: could not remove container ${id.slice(0, 12)}: ${message(err)}`);
    });
  }
}

/**
 * Removes radar containers of `home` (every home when undefined). With `onlyAbandoned`, only those whose kx
 * process is gone on this machine: a live kx's radar is left alone. Returns the names removed.
 */
export async function removeRadarContainers(docker: Docker, home: string | undefined, onlyAbandoned = false): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [home === undefined ? RADAR_LABEL : `${RADAR_LABEL}=${home}`] } });
  const removed: string[] = [];
  for (const c of list) {
    if (onlyAbandoned && !abandoned(c.Labels?.[RADAR_OWNER_LABEL])) continue;
    await docker.getContainer(c.Id).remove({ force: true }).then(
      () => removed.push(c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)),
      (err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      },
    );
  }
  return removed;
}

function removeAbandoned(docker: Docker, home: string): Promise<string[]> {
  return removeRadarContainers(docker, home, true);
}

/** Whether the kx process named by an owner label is gone (only a process on this machine can be checked). */
function abandoned(owner: string | undefined): boolean {
  const m = owner === undefined ? null : /^(.*)\/(\d+)$/.exec(owner);
  if (!m || m[1] !== hostname()) return false;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Follows the container's output until radar says where it listens; its last lines when it exits instead. */
async function waitForListening(container: Docker.Container, timeoutMs: number): Promise<string> {
  const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  return new Promise<string>((resolvePromise, reject) => {
    let text = '';
    let pending = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, address?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      if (err) reject(err);
      else resolvePromise(address!);
    };
    const timer = setTimeout(() => finish(new KxError(ErrorCode.Unavailable, `radar's container did not listen within ${timeoutMs / 1000} s${tail(text)}`)), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      // Docker multiplexes stdout and stderr of a container without a TTY: 8-byte headers, the size in bytes 4-7.
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32BE(4)) {
        const size = pending.readUInt32BE(4);
        text += pending.subarray(8, 8 + size).toString('utf8');
        pending = pending.subarray(8 + size);
      }
      const m = /radar listening on (\S+)/.exec(text);
      if (m) finish(null, m[1]);
    });
    stream.on('end', () => finish(new KxError(ErrorCode.Unavailable, `radar's container exited before it listened${tail(text)}`)));
    stream.on('error', (err: Error) => finish(err));
  });
}

async function publishedAddress(container: Docker.Container): Promise<string> {
  const info = await container.inspect();
  const binding = info.NetworkSettings.Ports?.[`${RADAR_PORT}/tcp`]?.[0];
  if (!binding?.HostPort) throw new KxError(ErrorCode.Unavailable, `radar's container ${container.id.slice(0, 12)} has no published port`);
  return `127.0.0.1:${binding.HostPort}`;
}

function tail(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean).slice(-3);
  return lines.length > 0 ? `: ${lines.join(' | ')}` : '';
}

function message(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).split('\n')[0]!;
}
