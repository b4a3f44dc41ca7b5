// Port forwards to a spec's Docker containers: a plain TCP connection to the container, at its address on its
// network when this machine can reach that (a Linux engine), else at the port the engine publishes for it (VM-based
// engines: Docker Desktop, colima, OrbStack cannot route to container addresses), else a one-line reason.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type Docker from 'dockerode';
import type { SpecConfig } from '../config/types.ts';
import type { ForwardedLink, PortDialer, Target } from '../daemon/target.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';

/** The engine call the dialer makes (dockerode's Docker satisfies it). */
export type ContainerInspector = Pick<Docker, 'getContainer'>;

export interface ContainerPortDialerOptions {
  readonly docker: ContainerInspector;
  /** Where the engine's published ports are: 127.0.0.1 for a local engine, the host of a tcp:// engine. */
  readonly publishedHost: string;
  /** How long a container address may take to answer before it counts as unreachable. Default 2 s. */
  readonly connectTimeoutMs?: number;
}

export class ContainerPortDialer implements PortDialer {
  readonly #opts: ContainerPortDialerOptions;
  /** A container address did not answer: the engine runs elsewhere (a VM), so later connections go to published ports. */
  #addressesUnreachable = false;

  constructor(opts: ContainerPortDialerOptions) {
    this.#opts = opts;
  }

  async forward(_spec: SpecConfig, target: Target, port: number, socket: Socket): Promise<ForwardedLink> {
    const info = await this.#opts.docker.getContainer(target.id).inspect().catch((err: unknown) => {
      throw new KxError(ErrorCode.NotFound, `container ${target.name}: ${(err as Error).message}`, { cause: err });
    });
    const { addresses, published } = endpointsOf(info, port, this.#opts.publishedHost);
    let unreachable: string | undefined;
    if (!this.#addressesUnreachable) {
      for (const host of addresses) {
        const outcome = await this.#connect(host, port);
        if ('conn' in outcome) return bridge(socket, outcome.conn);
        // Refused: the address is reachable and nothing listens on the port; the published port leads there too.
        if (outcome.refused) throw new KxError(ErrorCode.Unavailable, `nothing listens on ${host}:${port} in container ${target.name}`);
        unreachable = host;
      }
      if (unreachable !== undefined) this.#addressesUnreachable = true;
    }
    if (published !== undefined) {
      const outcome = await this.#connect(published.host, published.port);
      if ('conn' in outcome) return bridge(socket, outcome.conn);
      throw new KxError(ErrorCode.Unavailable, `container ${target.name} port ${port}, published at ${published.host}:${published.port}: ${outcome.reason}`);
    }
    const why = addresses.length === 0 ? 'it has no address on a network this machine can reach' : `its address ${addresses.join(', ')} cannot be reached from this machine (a VM-based engine?)`;
    throw new KxError(ErrorCode.Unavailable, `container ${target.name} port ${port}: ${why}, and it publishes no port for ${port}/tcp (docker run -p ${port}:${port})`);
  }

  #connect(host: string, port: number): Promise<{ conn: Socket } | { refused: boolean; reason: string }> {
    return new Promise((resolve) => {
      const conn = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        conn.destroy();
        resolve({ refused: false, reason: `no answer within ${this.#opts.connectTimeoutMs ?? 2000} ms` });
      }, this.#opts.connectTimeoutMs ?? 2000);
      conn.once('connect', () => {
        clearTimeout(timer);
        conn.removeAllListeners('error');
        resolve({ conn });
      });
      conn.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ refused: err.code === 'ECONNREFUSED', reason: err.code ?? err.message });
      });
    });
  }
}

interface Inspected {
  readonly HostConfig?: { readonly NetworkMode?: string };
  readonly NetworkSettings?: {
    readonly Networks?: Readonly<Record<string, { readonly IPAddress?: string } | undefined>>;
    readonly Ports?: Readonly<Record<string, readonly { readonly HostIp?: string; readonly HostPort?: string }[] | null | undefined>>;
  };
}

/** The container's own addresses (host networking: the engine's host), and the published port for `port`, if any. */
function endpointsOf(info: Inspected, port: number, publishedHost: string): { addresses: string[]; published?: { host: string; port: number } } {
  const settings = info.NetworkSettings ?? {};
  const addresses = info.HostConfig?.NetworkMode === 'host'
    ? [publishedHost]
    : Object.values(settings.Networks ?? {}).map((n) => n?.IPAddress ?? '').filter((ip) => ip !== '');
  const binding = (settings.Ports?.[`${port}/tcp`] ?? []).find((b) => b.HostPort);
  if (!binding?.HostPort) return { addresses };
  const anyHost = binding.HostIp === undefined || binding.HostIp === '' || binding.HostIp === '0.0.0.0' || binding.HostIp === '::';
  return { addresses, published: { host: anyHost ? publishedHost : binding.HostIp, port: Number(binding.HostPort) } };
}

/** Pipes both ways; either end closing closes the other. */
function bridge(socket: Socket, conn: Socket): ForwardedLink {
  if (socket.destroyed) {
    conn.destroy();
    return { closed: Promise.resolve(null) };
  }
  conn.on('error', () => undefined);
  socket.pipe(conn);
  conn.pipe(socket);
  const closed = new Promise<string | null>((resolve) => {
    conn.once('close', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('close', () => conn.destroy());
  });
  return { closed };
}
