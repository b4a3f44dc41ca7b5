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
  /** Whether the remote path is persisted in the pods' workload (specs with persist only). */
  readonly persist?: PersistStatus;
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
