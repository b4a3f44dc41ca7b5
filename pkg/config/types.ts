// What kx.yaml holds, as the rest of kx sees it after validation.
import type { OnSyncCommand } from './on-sync.ts';

export type TargetKind = 'kubernetes' | 'docker';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** 'none', 'restart' (the container), or 'signal:NAME' (e.g. signal:HUP sent to the container's main process). */
export type ReloadMode = 'none' | 'restart' | `signal:${string}`;

export interface SpecConfig {
  readonly name: string;
  /** Label selector (kubectl syntax); exactly one of selector and pod is set. */
  readonly selector?: string;
  /** Pod name (kubernetes) or container name (docker). */
  readonly pod?: string;
  readonly container?: string;
  readonly namespace?: string;
  readonly context?: string;
  /** Absolute local directory. */
  readonly local: string;
  /** Absolute directory inside the container. */
  readonly remote: string;
  readonly reload: ReloadMode;
  readonly ignore: readonly string[];
  readonly target: TargetKind;
  /** `uid:gid` that synced files get inside the container; default: the owner of the remote directory. */
  readonly owner?: string;
  /** Make the remote path an exact replica, deleting what only the container has (default: one-way-safe). */
  readonly mirror?: boolean;
  /** Allow `/` or a system directory as the remote path. */
  readonly force?: boolean;
  /** Keep set-user-ID, set-group-ID and sticky bits of synced files (default: radar strips them). */
  readonly keepSetIdBits?: boolean;
  /** Commands run in the container after a batch lands, before the reload (see on-sync.ts). */
  readonly onSync?: readonly OnSyncCommand[];
  /** Port forwards for the life of `kx watch`: `LOCAL[:REMOTE]` or `ADDRESS:LOCAL:REMOTE` (see port-forwards.ts). */
  readonly ports?: readonly string[];
  /**
   * Make the remote path a volume of the pods' workload (Kubernetes), so a restarted container starts on the synced
   * files; undone by kx delete / kx reset, and also when kx watch exits with 'session'.
   */
  readonly persist?: PersistMode;
  /** With persist: a PersistentVolumeClaim to use instead of an emptyDir. */
  readonly persistClaim?: string;
}

export type PersistMode = boolean | 'session';

/** True when the spec asks for a persisted path (true or 'session'). */
export function persists(spec: Pick<SpecConfig, 'persist'>): boolean {
  return spec.persist === true || spec.persist === 'session';
}

/** When a sync halts instead of deleting: a batch deleting over `maxDeleteShare` of the files kx manages in a
 *  container and over `maxDeleteFiles` files. */
export interface SafetySettings {
  readonly maxDeleteShare: number;
  readonly maxDeleteFiles: number;
}

export interface Settings {
  readonly context?: string;
  readonly namespace?: string;
  /** Where `kx init` installed radar (its --namespace); default kx-system. */
  readonly radarNamespace?: string;
  readonly statusPort: number;
  readonly logLevel: LogLevel;
  /** Default DEFAULT_SAFETY. */
  readonly safety?: SafetySettings;
}

export interface KxConfig {
  readonly settings: Settings;
  readonly specs: readonly SpecConfig[];
}

export const DEFAULT_STATUS_PORT = 7341;
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const CONFIG_FILE_NAME = 'kx.yaml';
export const DEFAULT_SAFETY: SafetySettings = { maxDeleteShare: 0.5, maxDeleteFiles: 100 };
