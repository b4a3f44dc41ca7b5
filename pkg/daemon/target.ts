// The seam between the daemon and whatever it syncs into. A target kind (the local Docker engine, Kubernetes)
// provides a TargetDriver: it follows the containers a spec selects and connects to one of them. The daemon only
// sees Targets, Connections and Receivers; concrete drivers are wired in cmd/composition (the composition root).

import type { Socket } from 'node:net';
import type { ReloadMode, SpecConfig } from '../config/types.ts';
import type { Receiver } from '../sync/types.ts';

/** One container a spec selects. */
export interface Target {
  /** Stable key: a new container (even a restarted pod's) is a new target. */
  readonly id: string;
  /** For people: `container-name` (docker) or `pod/container` (kubernetes). */
  readonly name: string;
}

export interface TargetEvents {
  added(target: Target): void;
  removed(id: string): void;
  /** Trouble following targets at all (engine unreachable, forbidden); cleared by the next added/removed/ok. */
  problem(reason: string | null): void;
  /** An added target stopped or started being ready (a pod's Ready condition); targets start out ready. */
  ready?(id: string, ready: boolean): void;
}

/** Follows what a spec selects as it starts and stops, reporting through TargetEvents. */
export interface TargetSource {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How another thread of this process reaches the same receiver, as plain (structured-cloneable) data: a full sync
 * runs in a worker thread with a radar client of its own, so its work never holds the daemon's event loop.
 */
export interface BulkChannel {
  readonly address: string;
  readonly token: string;
  readonly clientName: string;
  readonly target: {
    readonly containerId: string;
    readonly runtime?: string;
    readonly remotePath?: string;
    readonly owner?: { readonly uid: number; readonly gid: number };
    readonly keepSetIdBits?: boolean;
  };
  readonly channelOptions?: Readonly<Record<string, number>>;
  /** Allow deflating literals (RadarClientOptions.compress); false where the link is local. */
  readonly compress?: boolean;
}

/** A live link to one target: where files go, and how to reload what runs there. */
export interface Connection {
  readonly receiver: Receiver;
  /** Set when a full sync may run in a worker thread (its own client to the same receiver). */
  readonly bulk?: BulkChannel;
  reload(mode: Exclude<ReloadMode, 'none'>): Promise<void>;
  /** Runs a command in the container (onSync); absent where the target cannot. */
  exec?(argv: readonly string[], opts: ExecRun): Promise<ExecOutcome>;
  /** One line for status and logs, e.g. `docker container api-1 (3f2a…) at /proc/4242/root/app`. */
  describe(): string;
  close(): Promise<void>;
}

export interface TargetConnector {
  connect(spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection>;
}

/** A link a PortDialer opened for one forwarded connection. */
export interface ForwardedLink {
  /** Settles when the link is closed, with the far side's reason when it gave one (nothing listens there, …). */
  readonly closed: Promise<string | null>;
}

/** Reaches a port of one target for a spec's port forward (pkg/daemon/port-forwards.ts). */
export interface PortDialer {
  /**
   * Joins `socket`, an accepted local connection, to `port` of `target`: resolves once the link is open (it destroys
   * the socket when the far side ends); rejects with a one-line KxError when the port cannot be reached at all.
   */
  forward(spec: SpecConfig, target: Target, port: number, socket: Socket): Promise<ForwardedLink>;
}

export interface TargetDriver {
  follow(spec: SpecConfig, events: TargetEvents): TargetSource;
  readonly connector: TargetConnector;
  /** How port forwards reach a target; absent when the kind cannot forward ports. */
  readonly ports?: PortDialer;
}

/** One driver per target kind; a kind without support yet gets a driver that reports why. */
export type TargetDrivers = Readonly<Record<SpecConfig['target'], TargetDriver>>;

/** How one onSync command runs. */
export interface ExecRun {
  /** Absolute directory in the container; default the spec's remote path. */
  readonly workdir?: string;
  readonly timeoutMs?: number;
  readonly onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  readonly signal?: AbortSignal;
}

export interface ExecOutcome {
  /** -1 when the command was killed (timeout) or its status is unknown. */
  readonly exitCode: number;
  readonly timedOut: boolean;
}
