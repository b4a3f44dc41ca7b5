// Finds the directory to sync into for a target container: the container's init PID from its runtime, then
// /proc/<pid>/root (the container's own mount namespace, so volumes, emptyDirs and bind mounts at the remote path
// are what gets written), then the remote path resolved component by component INSIDE that root: the container's
// filesystem is untrusted, and an absolute symlink in it must mean the container's `/`, never the node's.
import { readFileSync } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import { parseContainerRef, type ContainerRuntime } from '../../proto/container-ref.ts';
import { POD_NAMESPACE_LABEL, type ResolvedRoot, type RootResolver, type TargetRef } from './ports.ts';
import { resolveBeneath } from '../receiver/confine.ts';
import { Dir } from '../receiver/dir.ts';
import { DirPins } from '../receiver/pins.ts';
import type { PinHooks } from '../receiver/pins.ts';

/** What a runtime reports about a running container. */
export interface RuntimeContainer {
  /** Full ID. */
  readonly id: string;
  /** For messages: Docker's name, or `pod/container` under Kubernetes. */
  readonly name: string;
  /** The container's init process as seen from the node (radar runs with hostPID). */
  readonly pid: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** A container runtime as the resolver uses it. */
export interface ContainerInspector {
  /** Throws KxError NOT_FOUND naming the container when it is gone or not running. */
  inspect(id: string, signal?: AbortSignal): Promise<RuntimeContainer>;
}

/** Decides whether a caller's token reaches a container (radar's per-namespace authorization). */
export interface TargetAuthorizer {
  /** The token alone, before radar reads a message: UNAUTHENTICATED, one message for every failure. */
  authenticate(token: string | undefined, signal?: AbortSignal): Promise<void>;
  /** Cheap check before the runtime is asked anything: throws UNAUTHENTICATED when no token is presented. */
  requireToken(token: string | undefined, container: string): void;
  /** Throws UNAUTHENTICATED or PERMISSION_DENIED unless `token` grants access to the container. */
  authorize(target: { container: string; namespace: string | undefined }, token: string | undefined, signal?: AbortSignal): Promise<void>;
}

export interface ContainerRootResolverOptions {
  readonly runtimes: Partial<Record<ContainerRuntime, ContainerInspector>>;
  /** Who may reach which container. Required unless `localDockerTarget`. */
  readonly authorizer?: TargetAuthorizer;
  /**
   * The local Docker target: no token is asked, since whoever can reach radar there can reach the Docker socket,
   * which is root on that machine already.
   */
  readonly localDockerTarget?: boolean;
  /** Where the node's processes are visible; default /proc. */
  readonly procRoot?: string;
  /**
   * Create a remote path that does not exist yet (default true), so the first sync into e.g. `/app/new` works:
   * its missing directories are made one at a time beneath the container's root, owned like the nearest existing
   * ancestor (or as the spec's owner override says).
   */
  readonly createMissing?: boolean;
  /** Tests only: runs between pinning a directory and the operation inside it. */
  readonly hooks?: PinHooks;
}

/** A ResolvedRoot with what the resolver learnt on the way. */
export interface ContainerRoot extends ResolvedRoot {
  readonly path: string;
  readonly owner: { uid: number; gid: number };
  readonly onVolume: boolean;
  readonly runtime: ContainerRuntime;
  readonly containerName: string;
  readonly namespace?: string;
  readonly containerId: string;
  readonly pid: number;
  /** The remote path with the container's symlinks resolved, as the container sees it. */
  readonly containerPath: string;
  /** Whether the remote path exists now (always, unless the resolver was told not to create it). */
  readonly exists: boolean;
  /** Whether this call created it. */
  readonly created: boolean;
  /** /proc/self/fd/<fd of the container's pinned root>: the only part of `path` to follow (LocalTree's anchor). */
  readonly anchor: string;
  readonly key: string;
  verify(signal?: AbortSignal): Promise<void>;
  close(): void;
}

export class ContainerRootResolver implements RootResolver {
  readonly #runtimes: Partial<Record<ContainerRuntime, ContainerInspector>>;
  readonly #authorizer: TargetAuthorizer | undefined;
  readonly #procRoot: string;
  readonly #createMissing: boolean;
  readonly #hooks: PinHooks | undefined;

  constructor(opts: ContainerRootResolverOptions) {
    this.#runtimes = opts.runtimes;
    this.#hooks = opts.hooks;
    this.#procRoot = opts.procRoot ?? '/proc';
    this.#createMissing = opts.createMissing ?? true;
    if (opts.localDockerTarget) {
      this.#authorizer = undefined;
    } else if (opts.authorizer) {
      this.#authorizer = opts.authorizer;
    } else {
      throw new KxError(ErrorCode.InvalidConfig, 'radar: a token source is required unless it serves the local Docker target');
    }
  }

  /** The local Docker target asks no token (see localDockerTarget); otherwise the authorizer decides. */
  async authenticate(token: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.#authorizer?.authenticate(token, signal);
  }

  /**
   * The container's root is pinned here (a directory fd of /proc/<pid>/root, checked to belong to the process the
   * runtime reports) and everything the returned root is used for goes through that fd: a PID the container's
   * process leaves behind and another process takes over can never redirect a write. The caller closes it.
   */
  async resolve(target: TargetRef, token: string | undefined, signal?: AbortSignal): Promise<ContainerRoot> {
    if (target.containerId === '') throw new KxError(ErrorCode.InvalidArgument, 'target: no container ID');
    const ref = parseContainerRef(target.containerId, target.runtime);
    const shown = `${ref.runtime}://${ref.id}`;
    // Refuse the unauthenticated before asking the runtime anything about the container.
    this.#authorizer?.requireToken(token, shown);
    const rel = containerRelPath(target.remotePath);
    const runtime = this.#runtimes[ref.runtime];
    if (!runtime) throw new KxError(ErrorCode.Unavailable, `container ${shown}: radar on this node has no ${ref.runtime} runtime configured`);

    const container = await runtime.inspect(ref.id, signal);
    const namespace = container.labels[POD_NAMESPACE_LABEL];
    const authTarget = { container: `${container.name} (${shown})`, namespace };
    await this.#authorizer?.authorize(authTarget, token, signal);

    const procDir = join(this.#procRoot, String(container.pid));
    const pin = await this.#pinRoot(runtime, container, procDir, signal);
    const anchor = pin.dir.at();
    const what = `container ${container.name}`;
    const override = target.owner ?? undefined;
    try {
      // Walked through pinned directories, creating what is missing in the very directory that was checked.
      const walked = this.#createMissing ? await this.#guard(container, () => Promise.resolve(walkCreating(pin.dir, rel, override, what, this.#hooks))) : undefined;
      let path: string;
      let found: { dir: string; owner: { uid: number; gid: number } };
      let missing: boolean;
      if (walked) {
        path = join(anchor, ...walked.parts);
        found = { dir: path, owner: walked.owner };
        missing = walked.created;
      } else {
        // Only reporting: nothing is written, so a path-based look (through the pinned root) is enough.
        path = rel === '' ? anchor : await this.#guard(container, () => resolveBeneath(anchor, rel, { absoluteLinks: 'in-root', followFinal: true }));
        found = await this.#guard(container, () => existingDir(anchor, path, container));
        missing = found.dir !== path;
      }
      const containerPath = `/${posix.relative(anchor, path)}`;
      const volume = await this.#guard(container, () => onVolume(this.#procRoot, container.pid, containerPath));
      const owner = override ? { uid: override.uid, gid: override.gid } : found.owner;
      const gone = (): KxError =>
        new KxError(ErrorCode.NotFound, `container ${container.name} (${ref.runtime}://${container.id}) exited or was replaced; sync into its successor with a new call`);
      let closed = false;
      return {
        path,
        owner,
        onVolume: volume,
        runtime: ref.runtime,
        containerName: container.name,
        ...(namespace === undefined ? {} : { namespace }),
        containerId: container.id,
        pid: container.pid,
        containerPath,
        key: `${ref.runtime}://${container.id}${containerPath}`,
        exists: !missing || this.#createMissing,
        created: missing && this.#createMissing,
        anchor,
        verify: async (sig?: AbortSignal) => {
          if (closed || readStartTime(procDir) !== pin.startTime) throw gone();
          await this.#authorizer?.authorize(authTarget, token, sig);
        },
        close: () => {
          if (closed) return;
          closed = true;
          pin.dir.close();
        },
      };
    } catch (err) {
      pin.dir.close();
      throw err;
    }
  }

  /**
   * Open /proc/<pid>/root and prove the fd belongs to the container: the process's start time (field 22 of its
   * stat) is the same before and after the open, and the runtime still reports that PID afterwards. A container
   * that exited and left its PID to another process in between fails here with NOT_FOUND.
   */
  async #pinRoot(runtime: ContainerInspector, container: RuntimeContainer, procDir: string, signal?: AbortSignal): Promise<{ dir: Dir; startTime: string }> {
    const stopped = (cause?: unknown): KxError => new KxError(ErrorCode.NotFound, `container ${container.name} (${container.id}) stopped while radar resolved it`, { cause });
    const before = readStartTime(procDir);
    if (before === undefined) throw stopped();
    let dir: Dir;
    try {
      dir = Dir.openRoot(join(procDir, 'root')); // the magic link followed: it is the anchor
    } catch (err) {
      throw readStartTime(procDir) === undefined ? stopped(err) : fromFsError((err as KxError).cause ?? err, `container ${container.name}`);
    }
    try {
      this.#hooks?.afterRootPinned?.(container.pid);
      const again = await runtime.inspect(container.id, signal);
      if (readStartTime(procDir) !== before || again.pid !== container.pid || again.id !== container.id) throw stopped();
      return { dir, startTime: before };
    } catch (err) {
      dir.close();
      throw err;
    }
  }

  /** Runs `step`; when it fails because the container's process is gone, says so (NOT_FOUND naming it). */
  async #guard<T>(container: RuntimeContainer, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      const alive = await lstat(join(this.#procRoot, String(container.pid))).then(() => true, () => false);
      if (!alive) throw new KxError(ErrorCode.NotFound, `container ${container.name} (${container.id}) stopped while radar resolved it`, { cause: err });
      throw err;
    }
  }
}

/**
 * The start time of process `procDir` (/proc/<pid>): field 22 of its stat, in clock ticks since boot, which with
 * the PID names one process for the machine's uptime. undefined when the process is gone.
 */
export function readStartTime(procDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(procDir, 'stat'), 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')': fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return fields[22 - 3];
}

/** Is `containerPath` on a mount other than the container's root filesystem (a volume, emptyDir, bind mount)? */
async function onVolume(procRoot: string, pid: number, containerPath: string): Promise<boolean> {
  const text = await readFile(join(procRoot, String(pid), 'mountinfo'), 'utf8');
  return mountPointOf(parseMountPoints(text), containerPath) !== '/';
}

/** Mount points of a /proc/<pid>/mountinfo, relative to that process's root, octal escapes decoded. */
export function parseMountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined && field !== '') points.push(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

/** The mount point `path` lives on: the longest one that is `path` or one of its ancestors. */
export function mountPointOf(points: readonly string[], path: string): string {
  let best = '/';
  for (const mp of points) {
    const within = mp === '/' || path === mp || path.startsWith(`${mp}/`);
    if (within && mp.length > best.length) best = mp;
  }
  return best;
}

/** Limits of a target's remote path: each missing component is a directory radar creates. */
export const MAX_REMOTE_PATH_BYTES = 4096;
export const MAX_REMOTE_PATH_DEPTH = 64;

/** '/app/src' → 'app/src'; '/' → ''. The remote path is absolute in the container. */
function containerRelPath(remotePath: string): string {
  if (!remotePath.startsWith('/')) {
    throw new KxError(ErrorCode.InvalidPath, `remote path ${JSON.stringify(remotePath)}: must be absolute inside the container`);
  }
  if (remotePath.includes('\0')) throw new KxError(ErrorCode.InvalidPath, `remote path ${JSON.stringify(remotePath)}: contains NUL`);
  const shown = JSON.stringify(remotePath.length > 80 ? `${remotePath.slice(0, 80)}…` : remotePath);
  if (Buffer.byteLength(remotePath) > MAX_REMOTE_PATH_BYTES) {
    throw new KxError(ErrorCode.Limit, `remote path ${shown}: longer than the ${MAX_REMOTE_PATH_BYTES} bytes radar accepts`);
  }
  const parts = remotePath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length > MAX_REMOTE_PATH_DEPTH) {
    throw new KxError(ErrorCode.Limit, `remote path ${shown}: ${parts.length} components, more than the ${MAX_REMOTE_PATH_DEPTH} radar accepts`);
  }
  if (parts.includes('..')) throw new KxError(ErrorCode.InvalidPath, `remote path ${remotePath}: '..' is not allowed`);
  return parts.join('/');
}

/**
 * Resolve `rel` beneath the container's root as the container would (absolute links restart at its root), pinning
 * each directory (pins.ts) and creating a missing one inside its pinned parent: a directory the container swaps
 * for a symlink meanwhile cannot redirect the mkdir onto the node. New directories get `override`, else the owner
 * of their nearest existing ancestor; the owner returned is the target's (or the one new directories got).
 */
function walkCreating(root: Dir, rel: string, override: { uid: number; gid: number } | undefined, what: string, hooks: PinHooks | undefined): { parts: string[]; owner: { uid: number; gid: number }; created: boolean } {
  const pins = new DirPins(root, { absoluteLinks: 'in-root', hooks });
  try {
    let newOwner: { uid: number; gid: number } | undefined;
    const onMissing = (parent: Dir, name: string, dir: string): boolean => {
      hooks?.afterPin?.(dir);
      if (newOwner === undefined) {
        const st = parent.stat();
        newOwner = override ?? { uid: st.uid, gid: st.gid };
      }
      try {
        // lchown: a symlink swapped in meanwhile is not followed
        if (parent.mkdir(name, 0o755)) parent.lchown(name, newOwner.uid, newOwner.gid);
      } catch (err) {
        throw fromFsError(err, `${what}: /${rel}`);
      }
      return true;
    };
    const parts = pins.walk(rel, `${what}: /${rel}`, { onMissing });
    const st = pins.dir(parts.join('/')).stat();
    if (!st.isDirectory()) throw new KxError(ErrorCode.InvalidPath, `${what}: /${parts.join('/')} is not a directory`);
    return { parts, owner: newOwner ?? { uid: st.uid, gid: st.gid }, created: newOwner !== undefined };
  } catch (err) {
    if (err instanceof KxError && err.code === ErrorCode.Io && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOTDIR') {
      throw new KxError(ErrorCode.InvalidPath, `${what}: /${rel} is not a directory`, { cause: err });
    }
    throw err;
  } finally {
    pins.close(); // the root fd is the caller's
  }
}

/** The target directory, or its nearest existing ancestor within the root, and its owner. */
async function existingDir(root: string, path: string, container: RuntimeContainer): Promise<{ dir: string; owner: { uid: number; gid: number } }> {
  let dir = path;
  for (;;) {
    try {
      // The root itself is the /proc/<pid>/root magic link: follow that one; nothing beneath it.
      const st = dir === root ? await stat(dir) : await lstat(dir);
      if (!st.isDirectory()) {
        throw new KxError(ErrorCode.InvalidPath, `container ${container.name}: ${posix.relative(root, dir)} is not a directory`);
      }
      return { dir, owner: { uid: st.uid, gid: st.gid } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dir === root) throw err;
      dir = posix.dirname(dir);
    }
  }
}
