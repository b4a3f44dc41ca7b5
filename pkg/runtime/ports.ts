// The ports between radar's gRPC layer and the container runtimes: what a request targets, what it resolves to,
// and how a resolved target is reloaded. Declared here, beside the runtimes that implement them, so neither side
// imports the other.

/** The label a Kubernetes container runtime puts on a pod's containers naming the pod's namespace. */
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';

/** A request's target as radar's resolver receives it (kx.v1.Target). */
export interface TargetRef {
  /** "containerd://…", "docker://…", "cri-o://…", a bare id, or "" for radar's default root. */
  readonly containerId: string;
  /** "docker" | "containerd" | "cri-o" | "" (from the id's prefix or radar's default). */
  readonly runtime: string;
  /** Absolute path inside the container (resolve it with resolveBeneath 'in-root'); "" for the default root. */
  readonly remotePath: string;
  /** Owner the spec wants for created files, overriding the resolver's default. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Keep set-user-ID, set-group-ID and sticky bits of synced modes (the spec asked for them); default: stripped. */
  readonly keepSetIdBits?: boolean;
}

export interface ResolvedRoot {
  /** Host path of the directory to sync into, e.g. /proc/<pid>/root/app resolved component by component. */
  readonly path: string;
  /** The prefix of `path` that may be followed when opening it (a container's /proc/<pid>/root); the rest is not. */
  readonly anchor?: string;
  /** Owner given to created files (default: radar's own). */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Whether the remote path is on a volume (survives a container replacement); unset when unknown. */
  readonly onVolume?: boolean;
  readonly runtime?: string;
  readonly containerName?: string;
  /** The namespace the runtime reports for the container (what the token was checked against). */
  readonly namespace?: string;
  /** The remote path as the container sees it (what Describe reports; never a host path with a PID). */
  readonly containerPath?: string;
  /** Names the directory across calls (the same container and path give the same key); default: `path`. */
  readonly key?: string;
  /**
   * Throws unless the target is still what was authorized: NOT_FOUND naming the container when its process exited
   * or was replaced, UNAUTHENTICATED or PERMISSION_DENIED when the token no longer grants it. Long-lived calls run
   * it before each batch. Absent: nothing can change.
   */
  verify?(signal?: AbortSignal): Promise<void>;
  /** Releases what the resolution holds open (the pinned root). Idempotent. */
  close?(): void;
}

/** Turns a target and the caller's token into a root. The gRPC service consumes it. */
export interface RootResolver {
  /**
   * Checks the caller's token alone, before radar reads anything the caller sent: throws UNAUTHENTICATED with the
   * same message whatever was wrong (missing, malformed, unknown, revoked), so a refused caller learns nothing.
   */
  authenticate(token: string | undefined, signal?: AbortSignal): Promise<void>;
  /** Throws KxError UNAUTHENTICATED (token missing/wrong), PERMISSION_DENIED, or NOT_FOUND (naming the container). */
  resolve(target: TargetRef, token: string | undefined, signal?: AbortSignal): Promise<ResolvedRoot>;
}

/** "restart" | "signal:<NAME>" | "none"; validated by the Reloader (INVALID_ARGUMENT). */
export type ReloadMode = string;

export interface ReloadResult {
  /** "restarted" | "signalled" | "none" | whatever the reloader did, one word. */
  readonly action: string;
  readonly message?: string;
  /** Set when the runtime replaced the container: its writable layer is gone, the client re-syncs. */
  readonly newContainerId?: string;
  /** Whether files on the container's writable layer survived. */
  readonly filesKept?: boolean;
}

/** Carries out a reload of an already resolved (authorized) target. */
export interface Reloader {
  reload(target: TargetRef, mode: ReloadMode, signal?: AbortSignal): Promise<ReloadResult>;
}
