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
}

/** Turns a target and the caller's token into a root. The gRPC service consumes it. */
export interface RootResolver {
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
