// radar as a container on the user's Docker engine: kx's link to the Docker target. radar gets only what it needs to
// reach the target containers — the engine (its socket bind-mounted, or its tcp address), the host's PID namespace
// (to open /proc/<pid>/root of a target), and the capabilities named below — on a read-only root filesystem. kx
// reaches it on 127.0.0.1 only (radar listening on the host's loopback, or a port the engine publishes there), and
// since any local user can connect there, radar requires a token kx generates for each radar container. Containers are labelled with the kx home they
// serve (kx.radar=<hash>) and the kx process that owns them, so `kx clean --docker` and the next `kx watch` find
// the ones a killed kx left behind.
// With `linger`, kx leaves its radar running when it stops (kx.radar.linger=<seconds>), and the next `kx watch` of the
// same kx home adopts it instead of waiting for the engine to start another (about half a second): only a container
// of the same image, whose address and token kx wrote to a file only the user can read, that still listens, and
// that is not about to exit. radar exits by itself (--idle-exit) once no client has been connected for that long,
// and the engine then removes it (AutoRemove). The same as a Kubernetes node's radar outliving `kx watch`.
import type Docker from 'dockerode';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { RADAR_COMMAND } from '../../proto/radar-pod.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { DEFAULT_ENGINE_SOCKET, type EngineAddress } from './engine-address.ts';

export const RADAR_LABEL = 'kx.radar';
/** `<host name>/<pid>` of the kx process that started the container. */
export const RADAR_OWNER_LABEL = 'kx.radar.owner';
/** On a radar kx leaves running for its next `kx watch`: the seconds radar stays up with no client. */
export const RADAR_LINGER_LABEL = 'kx.radar.linger';
/** How long after radar was seen listening its first user takes that as running, without asking the engine. */
const FRESH_MS = 5_000;
/** How close to its idle exit a left radar may be and still be adopted: after that, a new one is safer. */
const ADOPT_MARGIN_MS = 15_000;
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
  /** Leave radar running after close() for the next kx of this home (RadarLinger). */
  readonly linger?: RadarLinger;
}

export interface RadarLinger {
  /** How long radar stays up with no client, after kx has gone. */
  readonly seconds: number;
  /** Where kx keeps the address and token of the radar it leaves (mode 0600, in the kx home). */
  readonly stateFile: string;
}

/** What the state file holds: enough to reach the radar kx left, and to tell whether it may be adopted. */
interface LeftRadar {
  readonly id: string;
  readonly address: string;
  readonly token: string;
  /** The image ID radar runs. */
  readonly image: string;
  readonly lingerSeconds: number;
  /** Epoch ms at which the last kx closed its connections (radar's idle time counts from about then). */
  readonly leftAt?: number;
}

export class RadarContainer {
  readonly #opts: RadarContainerOptions;
  #current: Promise<RadarEndpoint> | undefined;
  #closed: Promise<void> | undefined;
  /** The radar this object started or adopted, as the state file records it (linger only). */
  #left: LeftRadar | undefined;
  /** Removing radars this one replaces (of kx processes gone; left for this home and not adopted). */
  #sweep: Promise<void> = Promise.resolve();
  /** While this kx uses a radar that exits when idle: one connection to it, so it never counts as unused. */
  #hold: Hold | undefined;
  /** The endpoint just started or adopted, and when: endpoint() then skips asking the engine whether it runs. */
  #fresh: { readonly endpoint: RadarEndpoint; readonly at: number } | undefined;

  constructor(opts: RadarContainerOptions) {
    this.#opts = opts;
  }

  /** radar's address and token, starting a container first when none runs (any more). */
  async endpoint(): Promise<RadarEndpoint> {
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'radar container: closed');
    const current = this.#current;
    if (current) {
      const known = await current.catch(() => undefined);
      const fresh = this.#fresh;
      if (known && fresh?.endpoint === known && performance.now() - fresh.at < FRESH_MS) {
        // Seen listening (or adopted after an inspect) a moment ago: its first user need not ask the engine again, a
        // round trip on kx watch's way to its first byte. A radar that died since fails the dial; the retry asks.
        this.#fresh = undefined;
        return current;
      }
      const running = known ? await this.#opts.docker.getContainer(known.id).inspect().then((i) => i.State.Running, () => false) : false;
      if (running) return current;
      if (this.#current === current) {
        this.#current = undefined;
        await current.then((e) => this.#remove(e.id), () => undefined);
      }
    }
    this.#current ??= this.#start().then((endpoint) => {
      this.#fresh = { endpoint, at: performance.now() };
      return endpoint;
    });
    return this.#current;
  }

  /**
   * Removes the container kx started (forced: the daemon has closed every connection to it, nothing is in flight),
   * or, with `linger`, leaves it running for the next kx of this home and says so.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const e = await this.#current?.catch(() => undefined);
      this.#hold?.close();
      if (!e) return;
      await this.#sweep;
      const linger = this.#opts.linger;
      const left = this.#left;
      if (linger && left && left.id === e.id) {
        const kept = recordLeft(linger.stateFile, { ...left, leftAt: Date.now() }, (err) => this.#opts.log(`radar: could not record the container left running (${message(err)}): removing it`));
        if (kept) {
          this.#opts.log(`radar: container ${e.id.slice(0, 12)} stays up for the next kx watch; it exits after ${linger.seconds} s with no client (kx clean --docker removes it now)`);
          return;
        }
      }
      await this.#remove(e.id);
    })();
    return this.#closed;
  }

  async #start(): Promise<RadarEndpoint> {
    const { docker, engine, home } = this.#opts;
    // Each step's time goes into the log line below: where a start's second goes, seen without a profiler.
    const phases = new Phases();
    const linger = this.#opts.linger;
    // Independent questions to the engine, asked together: each is a round trip, and this is kx watch's start.
    const prep = Promise.all([this.#opts.image(), this.#placement()]);
    // The radars of kx processes that are gone are removed beside the start, not before it: a removal takes the
    // engine a tenth of a second or more, and the new container does not need their place.
    this.#afterStart(removeAbandoned(docker, home).then(() => undefined, (err: unknown) => this.#opts.log(`radar: could not remove the radar containers of kx processes that are gone: ${message(err)}`)));
    if (linger) {
      prep.catch(() => undefined);
      const adopted = await this.#adopt(linger);
      if (adopted) {
        phases.mark('adopted');
        this.#opts.log(`radar: container ${adopted.id.slice(0, 12)} (${adopted.image}) serves the docker target at ${adopted.address}, adopted: left running by the last kx watch (${phases.toString()})`);
        this.#afterStart(this.#removeLeftExcept(adopted.id));
        this.#holdOn(adopted.address);
        return { address: adopted.address, token: adopted.token, id: adopted.id };
      }
    }
    const [image, { hostNetwork, socketOnHost }] = await prep;
    // Only to record the radar left for the next kx watch: asked now, awaited once radar listens.
    const imageId = linger ? this.#imageId() : Promise.resolve(undefined);
    phases.mark('image+engine');
    const token = randomBytes(32).toString('base64url');
    const tcp = engine.socketPath === undefined;
    const flags = [
      '--listen', hostNetwork ? '127.0.0.1:0' : `0.0.0.0:${RADAR_PORT}`,
      ...(linger ? ['--idle-exit', String(linger.seconds)] : []),
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
        Labels: { [RADAR_LABEL]: home, [RADAR_OWNER_LABEL]: `${hostname()}/${process.pid}`, ...(linger && { [RADAR_LINGER_LABEL]: String(linger.seconds) }) },
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
          // A radar left running exits by itself when idle; the engine then removes it.
          ...(linger && { AutoRemove: true }),
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
      const id = linger ? await imageId : undefined;
      if (linger && id) {
        this.#left = { id: created.id, address, token, image: id, lingerSeconds: linger.seconds };
        // Written now, not only at close: a kx that is killed leaves a radar the next one can adopt.
        if (!recordLeft(linger.stateFile, this.#left, (err) => this.#opts.log(`radar: cannot record radar's container in ${linger.stateFile} (${message(err)}): it goes when kx watch stops`))) {
          this.#left = undefined;
        }
        // Any radar an earlier kx left for this home, and this one did not adopt, goes (off the start's path).
        this.#afterStart(this.#removeLeftExcept(created.id));
        this.#holdOn(address);
      }
      return { address, token, id: created.id };
    } catch (err) {
      await this.#remove(created.id);
      throw err instanceof KxError ? err : new KxError(ErrorCode.Unavailable, `radar's container on ${engine.url}: ${message(err)}`, { cause: err });
    }
  }

  /** Engine work beside the start (removing radars not used): close() waits for it. */
  #afterStart(work: Promise<void>): void {
    const before = this.#sweep;
    this.#sweep = Promise.all([before, work]).then(() => undefined);
  }

  /**
   * The radar the last kx of this home left running, when it may serve this one: recorded in a file only this user
   * can read, the same image, running, listening, and not near its idle exit. Any other radar left for this home is
   * removed (it cannot be used: no token for it, another image, or about to go).
   */
  async #adopt(linger: RadarLinger): Promise<(RadarEndpoint & { image: string }) | undefined> {
    const { docker, home, log } = this.#opts;
    const left = readLeft(linger.stateFile, log);
    if (!left) return undefined;
    const [info, imageId, answering] = await Promise.all([docker.getContainer(left.id).inspect().catch(() => undefined), this.#imageId(), answers(left.address)]);
    const why = !info ? 'gone'
      : info.Config.Labels?.[RADAR_LABEL] !== home || info.Config.Labels[RADAR_LINGER_LABEL] === undefined ? 'not this home\'s'
      : !info.State.Running ? 'not running'
      : info.Image !== imageId || info.Image !== left.image ? `of another image than kx runs now (${info.Config.Image})`
      : left.leftAt !== undefined && Date.now() - left.leftAt > left.lingerSeconds * 1000 - ADOPT_MARGIN_MS ? 'about to exit after its idle time'
      : !answering ? 'not answering'
      : undefined;
    if (why !== undefined) {
      if (info) log(`radar: container ${left.id.slice(0, 12)} left by the last kx watch is ${why}: starting another`);
      rmSync(linger.stateFile, { force: true });
      return undefined;
    }
    this.#left = { ...left, leftAt: undefined };
    recordLeft(linger.stateFile, this.#left, () => undefined);
    return { address: left.address, token: left.token, id: left.id, image: info!.Config.Image };
  }

  /**
   * radar counts a client by its connections, and gRPC drops an idle channel's connection (after 30 minutes with no
   * call): a kx watch with nothing to sync for longer than radar's idle time would see its radar exit under it.
   */
  #holdOn(address: string): void {
    this.#hold?.close();
    if (this.#closed) return;
    this.#hold = new Hold(address);
  }

  /** Removes every radar left running for this home but `keep` (no token for them, another image, or about to go). */
  async #removeLeftExcept(keep: string): Promise<void> {
    const { docker, home } = this.#opts;
    const list = await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${home}`, RADAR_LINGER_LABEL] } }).catch(() => []);
    for (const c of list) if (c.Id !== keep) await this.#remove(c.Id);
  }

  /** The ID of the image kx runs radar from (undefined when the engine cannot say). */
  #imageId(): Promise<string | undefined> {
    return this.#opts.image().then((name) => this.#opts.docker.getImage(name).inspect()).then((i) => i.Id, () => undefined);
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
    // A radar left running on purpose outlives its kx: the next kx adopts or removes it, or it exits when idle.
    if (onlyAbandoned && (c.Labels?.[RADAR_LINGER_LABEL] !== undefined || !abandoned(c.Labels?.[RADAR_OWNER_LABEL]))) continue;
    await docker.getContainer(c.Id).remove({ force: true }).then(
      () => removed.push(c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)),
      (err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      },
    );
  }
  return removed;
}

/** One line per radar container of `home` on the engine: its name, state, and whether kx left it running. */
export async function describeRadarContainers(docker: Docker, home: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${RADAR_LABEL}=${home}`] } });
  return list.map((c) => {
    const name = c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12);
    const linger = c.Labels?.[RADAR_LINGER_LABEL];
    const owner = c.Labels?.[RADAR_OWNER_LABEL] ?? '?';
    const why = linger === undefined ? `started by kx ${owner}, removed when it stops`
      : `kept for the next kx watch of this home: exits after ${linger} s with no client`;
    return `${name} (${c.Image}, ${c.State}): ${why}`;
  });
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

// The state file is a few hundred bytes in the kx home, read and written with synchronous calls: on kx watch's start
// the libuv pool is busy with the scan, and a queued asynchronous call would wait behind it.

/** The state file, when it exists, is this user's alone, and parses; otherwise undefined (and why, in the log). */
function readLeft(file: string, log: (line: string) => void): LeftRadar | undefined {
  try {
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) return undefined;
    // Anyone who could read the token could use radar: a record others can read (or write) is not trusted.
    if ((st.mode & 0o077) !== 0 || (process.getuid && st.uid !== process.getuid())) {
      log(`radar: ${file} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}): not adopting the radar it names`);
      return undefined;
    }
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<LeftRadar>;
    const ok = typeof v.id === 'string' && typeof v.address === 'string' && /^127\.0\.0\.1:\d+$/.test(v.address) && typeof v.token === 'string' && v.token.length > 0
      && typeof v.image === 'string' && typeof v.lingerSeconds === 'number' && (v.leftAt === undefined || typeof v.leftAt === 'number');
    return ok ? (v as LeftRadar) : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole (a temp file renamed over), mode 0600 before the token is in it. False (and `onError`) on failure. */
function recordLeft(file: string, left: LeftRadar, onError: (err: unknown) => void): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, '', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    writeFileSync(tmp, `${JSON.stringify(left)}\n`);
    renameSync(tmp, file);
    return true;
  } catch (err) {
    rmSync(tmp, { force: true });
    onError(err);
    return false;
  }
}

/** One idle TCP connection to HOST:PORT, made again (every 5 s at most) whenever it closes, until close(). */
class Hold {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(address: string) {
    const i = address.lastIndexOf(':');
    this.#host = address.slice(0, i);
    this.#port = Number(address.slice(i + 1));
    this.#open();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#socket?.destroy();
  }

  #open(): void {
    if (this.#closed) return;
    const socket = connect({ host: this.#host, port: this.#port });
    this.#socket = socket;
    // Never keeps kx's process alive by itself.
    socket.unref();
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      if (this.#closed) return;
      this.#retry = setTimeout(() => this.#open(), 5_000);
      this.#retry.unref();
    });
  }
}

/** Whether something accepts a TCP connection at HOST:PORT within a second. */
function answers(address: string): Promise<boolean> {
  const i = address.lastIndexOf(':');
  return new Promise((done) => {
    const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    const finish = (ok: boolean): void => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
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
