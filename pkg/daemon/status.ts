// What the daemon tells `kx get`: plain data, serializable as JSON, one row per synced container.

export type FolderState = 'waiting' | 'starting' | 'initial-sync' | 'watching' | 'syncing' | 'reloading' | 'reconnecting' | 'error' | 'halted' | 'paused';

export interface SyncProgress {
  readonly phase: 'scan' | 'compare' | 'send';
  readonly files: number;
  readonly totalFiles: number;
  readonly bytes: number;
  readonly totalBytes: number;
}

export interface ServiceStatus {
  readonly targetId: string;
  readonly target: string;
  readonly state: FolderState;
  readonly progress?: SyncProgress;
  /** Files in the synced tree. */
  readonly files: number;
  /** Epoch ms when the last sync landed. */
  readonly lastSyncAt?: number;
  /** Save-to-landed time of the last batch, ms. */
  readonly latencyMs?: number;
  readonly reloads: number;
  readonly lastError?: string;
  /** Why the folder is halted or paused (state halted/paused): nothing is synced or deleted until it clears. */
  readonly haltReason?: string;
  /** Files kx deleted in this container since the daemon started. */
  readonly deletedFiles?: number;
  /** Container files that only exist there and that kx never wrote: left alone. */
  readonly foreignFiles?: number;
  /** Container files kx left alone although the local tree differs (see conflictList). */
  readonly conflicts?: number;
  /** The first conflicts, with both sides. */
  readonly conflictList?: readonly ConflictStatus[];
  /** The onSync command that failed last (its batch was not reloaded); cleared when the commands next succeed. */
  readonly onSyncFailure?: OnSyncFailure;
}

export interface OnSyncFailure {
  /** The command as written (argv joined by spaces). */
  readonly command: string;
  /** -1: killed (timeout), or it could not run at all (output says why). */
  readonly exitCode: number;
  readonly timedOut?: boolean;
  /** The first line of its stderr, else the last line of its output, else why it could not run. */
  readonly output?: string;
  /** Epoch ms. */
  readonly at: number;
}

export interface ConflictStatus {
  readonly path: string;
  /** changed: the container changed it after kx wrote it; foreign: the container made it, kx never wrote it. */
  readonly reason: 'changed' | 'foreign';
  /** Absent: deleted locally. */
  readonly localSize?: number;
  readonly localMtimeMs?: number;
  readonly remoteSize: number;
  readonly remoteMtimeMs: number;
}

export interface SpecStatus {
  readonly name: string;
  readonly kind: 'kubernetes' | 'docker';
  readonly local: string;
  readonly remote: string;
  /** Why there are no rows, or what is wrong with following targets. */
  readonly problem?: string;
  readonly services: readonly ServiceStatus[];
  /** The spec's port forwards (absent when it has none). */
  readonly ports?: readonly PortForwardStatus[];
  /** Whether the remote path is persisted in the pods' workload (specs with persist only). */
  readonly persist?: PersistStatus;
}

/** One port forward of a spec: where it listens, where it goes, and whether it works. */
export interface PortForwardStatus {
  /** The listening address, 127.0.0.1 unless the spec names another loopback address. */
  readonly address: string;
  readonly local: number;
  readonly remote: number;
  /**
   * ok: listening, connections go to `target`; waiting: listening, no ready target yet; in-use: the local port is
   * taken (retried with back-off); error: the last connection could not reach the container (see message).
   */
  readonly state: 'ok' | 'waiting' | 'in-use' | 'error';
  /** The pod/container (or Docker container) new connections go to. */
  readonly target?: string;
  readonly message?: string;
  /** Connections open now. */
  readonly connections: number;
}

/**
 * A persisted path: seeded (the volume started with the image's content), empty (the image cannot copy: kx's
 * initial sync fills it), seeding (the init container has not finished yet), volume (already a volume of the
 * user's), waiting (no pod to find the workload by yet), off (kx cannot patch the workload: detail says why).
 */
export interface PersistStatus {
  readonly state: 'seeded' | 'empty' | 'seeding' | 'volume' | 'waiting' | 'off';
  /** One line: which workloads, or why not. */
  readonly detail: string;
}

/** A tunnel to one node's radar (Kubernetes targets only). */
export interface TunnelStatus {
  readonly node: string;
  readonly state: 'up' | 'reconnecting';
  /** Times traffic resumed after a drop. */
  readonly reconnects: number;
  /** How long the last resume took, ms. */
  readonly lastResumeMs?: number;
  /** Why the tunnel is down, while it is. */
  readonly lastError?: string;
}

export interface DaemonStatus {
  readonly pid: number;
  readonly configFile: string;
  /** The last edit of the config file that could not be used; the daemon runs on the last good one. */
  readonly configError?: string;
  readonly specs: readonly SpecStatus[];
  /** Tunnels to radar that have dropped at least once (absent when none has). */
  readonly tunnels?: readonly TunnelStatus[];
}

/** Something whose status changes; listeners are told that it changed, and read it again. */
export interface StatusSource {
  status(): DaemonStatus;
  onChange(listener: () => void): () => void;
}
