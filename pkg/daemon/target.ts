// The seam between the daemon and whatever it syncs into. A target kind (the local Docker engine, Kubernetes)
// provides a TargetDriver: it follows the containers a spec selects and connects to one of them. The daemon only
// sees Targets, Connections and Receivers; concrete drivers are wired in cmd/composition (the composition root).

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
}

/** A live link to one target: where files go, and how to reload what runs there. */
export interface Connection {
  readonly receiver: Receiver;
  /** Set when a full sync may run in a worker thread (its own client to the same receiver). */
  readonly bulk?: BulkChannel;
  reload(mode: Exclude<ReloadMode, 'none'>): Promise<void>;
  /** One line for status and logs, e.g. `docker container api-1 (3f2a…) at /proc/4242/root/app`. */
  describe(): string;
  close(): Promise<void>;
}

export interface TargetConnector {
  connect(spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection>;
}

export interface TargetDriver {
  follow(spec: SpecConfig, events: TargetEvents): TargetSource;
  readonly connector: TargetConnector;
}

/** One driver per target kind; a kind without support yet gets a driver that reports why. */
export type TargetDrivers = Readonly<Record<SpecConfig['target'], TargetDriver>>;
