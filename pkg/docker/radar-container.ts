// radar as a container on the user's Docker engine: kx's link to the Docker target. radar gets only what it needs to
// reach the target containers — the engine (its socket bind-mounted, or its tcp address), the host's PID namespace
// (to open /proc/<pid>/root of a target), and the capabilities named below — on a read-only root filesystem. kx
// reaches it on 127.0.0.1 only (radar listening on the host's loopback, or a port the engine publishes there), and
// since any local user can connect there, radar requires a token kx generates for each radar container. Containers are labelled with the kx home they
// serve (kx.radar=<hash>) and the kx process that owns them, so `kx clean --docker` and the next `kx watch` find
// the ones a killed kx left behind.
import type Docker from 'dockerode';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { RADAR_COMMAND } from '../../proto/radar-pod.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { DEFAULT_ENGINE_SOCKET, type EngineAddress } from './engine-address.ts';

export const RADAR_LABEL = 'kx.radar';
/** `<host name>/<pid>` of the kx process that started the container. */
export const RADAR_OWNER_LABEL = 'kx.radar.owner';
/**
 * What radar needs, and nothing else: SYS_PTRACE to open /proc/<pid>/root of another container's process;
 * DAC_OVERRIDE and DAC_READ_SEARCH to write into directories and files owned by the container's users; CHOWN and
 * FOWNER to give written files the owner, mode and mtime the container expects. Reloads go through the engine
 * (restart, kill); KILL only to stop an onSync command at its timeout or when kx cancels it (the engine has no call
 * to kill an exec'd process, which runs as the container's user).
 */
export const RADAR_CAPABILITIES = ['SYS_PTRACE', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'CHOWN', 'FOWNER', 'KILL'];
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
  /** 'host' or 'published' instead of choosing by the engine (KX_RADAR_NETWORK). */
  readonly network?: 'host' | 'published';
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

  /** Removes the container kx started. Forced: the daemon has closed every connection to it, nothing is in flight. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const e = await this.#current?.catch(() => undefined);
      if (e) await this.#remove(e.id);
    })();
    return this.#closed;
  }

  async #start(): Promise<RadarEndpoint> {
    const { docker, engine, home } = this.#opts;
    // Each step's time goes into the log line below: where a start's second goes, seen without a profiler.
    const phases = new Phases();
    // Independent questions to the engine, asked together: each is a round trip, and this is kx watch's start.
    const [image, , { hostNetwork, socketOnHost }] = await Promise.all([this.#opts.image(), removeAbandoned(docker, home), this.#placement()]);
    phases.mark('image+engine');
    const token = randomBytes(32).toString('base64url');
    const tcp = engine.socketPath === undefined;
    const flags = [
      '--listen', hostNetwork ? '127.0.0.1:0' : `0.0.0.0:${RADAR_PORT}`,
      ...(tcp ? ['--docker-host', engine.url, ...(engine.tls?.dir ? ['--docker-tls-dir', TLS_DIR_IN_RADAR] : [])] : ['--docker-socket', DEFAULT_ENGINE_SOCKET]),
    ];
    const binds = tcp
      ? engine.tls?.dir ? [`${engine.tls.dir}:${TLS_DIR_IN_RADAR}:ro`] : []
      : [`${socketOnHost}:${DEFAULT_ENGINE_SOCKET}`];
    let created: Docker.Container;
    try {
      created = await docker.createContainer({
        name: `kx-radar-${home.slice(0, 8)}-${randomBytes(3).toString('hex')}`,
        Image: image,
        Cmd: [...RADAR_COMMAND, '--docker-target', ...flags],
        Env: [`KX_TOKEN=${token}`],
        Labels: { [RADAR_LABEL]: home, [RADAR_OWNER_LABEL]: `${hostname()}/${process.pid}` },
        ...(hostNetwork ? {} : { ExposedPorts: { [`${RADAR_PORT}/tcp`]: {} } }),
        HostConfig: {
          ...(hostNetwork ? { NetworkMode: 'host' } : { PortBindings: { [`${RADAR_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } }),
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
    phases.mark('create');
    try {
      await created.start();
      phases.mark('start');
      const listening = await waitForListening(created, this.#opts.startTimeoutMs ?? 60_000);
      const address = hostNetwork ? listening : await publishedAddress(created);
      phases.mark('listening');
      this.#opts.log(`radar: container ${created.id.slice(0, 12)} (${image}) serves the docker target at ${address} (${phases.toString()})`);
      return { address, token, id: created.id };
    } catch (err) {
      await this.#remove(created.id);
      throw err instanceof KxError ? err : new KxError(ErrorCode.Unavailable, `radar's container on ${engine.url}: ${message(err)}`, { cause: err });
    }
  }

  /**
   * Where radar runs relative to kx. An engine on kx's own machine (Linux, rootful) runs radar in the host's network
   * namespace, listening on the host's loopback: kx then dials radar directly, without the engine's port proxy in
   * between (a hop that costs every batch a round trip), and a tcp engine on the host's loopback is reachable from
   * radar. An engine in a VM (Docker Desktop, colima, OrbStack: any engine when kx does not run on Linux) or rootless
   * Docker (its own network namespace) publishes radar's port on 127.0.0.1 instead, and has its socket at the
   * default path inside the VM, whatever path forwards to it on the developer's machine. KX_RADAR_NETWORK=published
   * or =host overrides the choice.
   */
  async #placement(): Promise<{ hostNetwork: boolean; socketOnHost: string }> {
    const engine = this.#opts.engine;
    const info = (await this.#opts.docker.info().catch(() => ({}))) as { OperatingSystem?: string; SecurityOptions?: string[] };
    const vm = process.platform !== 'linux' || (info.OperatingSystem ?? '').includes('Docker Desktop');
    const rootless = (info.SecurityOptions ?? []).some((o) => o.includes('name=rootless'));
    const override = this.#opts.network;
    const hostNetwork = override !== undefined ? override === 'host' : !vm && !rootless;
    return { hostNetwork, socketOnHost: vm ? DEFAULT_ENGINE_SOCKET : engine.socketPath ?? DEFAULT_ENGINE_SOCKET };
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

/** Milliseconds per named step, in order: `image 3 ms, create 120 ms, …`. */
class Phases {
  readonly #steps: string[] = [];
  #last = performance.now();

  mark(name: string): void {
    const now = performance.now();
    this.#steps.push(`${name} ${Math.round(now - this.#last)} ms`);
    this.#last = now;
  }

  toString(): string {
    return this.#steps.join(', ');
  }
}

function tail(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean).slice(-3);
  return lines.length > 0 ? `: ${lines.join(' | ')}` : '';
}

function message(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).split('\n')[0];
}
