// The local Docker engine as a target kind. kx follows the engine's containers itself (DockerContainerFollower) and
// writes into them through radar, which it runs as a container on that engine (RadarContainer, started on first
// use, removed on close) and dials like a Kubernetes node's radar: kx's own process needs neither root nor the
// engine host's /proc, so it works the same as a docker-group member, on rootless Docker and on VM-based engines.

import Docker from 'dockerode';
import type { SpecConfig } from '../config/types.ts';
import type { BulkChannel, Connection, ExecOutcome, ExecRun, PortDialer, Target, TargetDriver, TargetEvents, TargetSource } from '../daemon/target.ts';
import type { Receiver } from '../sync/types.ts';
import { DockerContainerFollower } from './container-follower.ts';
import { ContainerPortDialer } from './container-port-dialer.ts';
import type { EngineAddress } from './engine-address.ts';
import { RadarContainer, type RadarEndpoint, type RadarLinger } from './radar-container.ts';
import { RadarImage } from './radar-image.ts';

/** One dial of radar for one container (pkg/kube's TransportDialer satisfies it). */
export interface DockerRadarDialer {
  dial(req: {
    readonly address: string;
    readonly token: string;
    readonly container: { readonly runtime: 'docker'; readonly id: string };
    readonly remotePath: string;
    readonly owner?: string | undefined;
    readonly keepSetIdBits?: boolean;
    readonly signal?: AbortSignal | undefined;
  }): Promise<{ readonly receiver: Receiver; readonly bulk?: BulkChannel; reload(mode: string): Promise<void>; exec?(argv: readonly string[], opts: ExecRun): Promise<ExecOutcome>; close(): Promise<void> }>;
}

/** Where radar runs: RadarContainer by default; tests may give an endpoint of their own. */
export interface RadarEndpoints {
  endpoint(): Promise<RadarEndpoint>;
  close(): Promise<void>;
}

export interface DockerDriverOptions {
  readonly engine: EngineAddress;
  readonly dialer: DockerRadarDialer;
  /** homeHash() of the kx home, for radar's container label. */
  readonly home: string;
  /** The radar image (kx-radar:<version> or KX_RADAR_IMAGE). */
  readonly image: string;
  readonly log: (line: string) => void;
  /** How radar's container is networked; default chosen by the engine (see RadarContainer). */
  readonly radarNetwork?: 'host' | 'published';
  /** Leave radar's container running for the next kx of this home (see RadarContainer). */
  readonly radarLinger?: RadarLinger;
  readonly radar?: RadarEndpoints;
}

export class DockerDriver implements TargetDriver {
  readonly connector = { connect: (spec: SpecConfig, target: Target, signal?: AbortSignal) => this.connect(spec, target, signal) };
  readonly ports: PortDialer;
  private readonly docker: Docker;
  private readonly dialer: DockerRadarDialer;
  private readonly radar: RadarEndpoints;
  private closing: Promise<void> | null = null;

  constructor(opts: DockerDriverOptions) {
    this.docker = new Docker(opts.engine.options);
    // Published ports are on the engine's host: this machine for a unix socket, the tcp:// engine's host otherwise.
    const engineHost = opts.engine.socketPath === undefined ? opts.engine.options.host : undefined;
    this.ports = new ContainerPortDialer({ docker: this.docker, publishedHost: engineHost ?? '127.0.0.1' });
    this.dialer = opts.dialer;
    const image = new RadarImage({ docker: this.docker, engine: opts.engine, image: opts.image, log: opts.log });
    this.radar = opts.radar ?? new RadarContainer({ docker: this.docker, engine: opts.engine, image: () => image.ensure(), home: opts.home, log: opts.log,
      ...(opts.radarNetwork && { network: opts.radarNetwork }), ...(opts.radarLinger && { linger: opts.radarLinger }) });
  }

  follow(spec: SpecConfig, events: TargetEvents): TargetSource {
    return new DockerContainerFollower(this.docker, spec, events);
  }

  /** Removes radar's container (or leaves it for the next kx, with radarLinger); the daemon has closed every connection before. */
  close(): Promise<void> {
    this.closing ??= this.radar.close();
    return this.closing;
  }

  private async connect(spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection> {
    const radar = await this.radar.endpoint();
    const session = await this.dialer.dial({
      address: radar.address,
      token: radar.token,
      container: { runtime: 'docker', id: target.id },
      remotePath: spec.remote,
      owner: spec.owner,
      keepSetIdBits: spec.keepSetIdBits === true,
      signal,
    });
    return {
      receiver: session.receiver,
      ...(session.bulk && { bulk: session.bulk }),
      reload: (mode) => session.reload(mode),
      ...(session.exec && { exec: session.exec.bind(session) }),
      describe: () => `docker container ${target.name} (${target.id.slice(0, 12)}) at ${spec.remote} via radar ${radar.id.slice(0, 12)}`,
      close: () => session.close(),
    };
  }
}
