// Reload modes, carried out through the container's runtime:
//   restart      graceful: SIGTERM, a short grace, then SIGKILL — never an instant kill.
//                Docker: the engine's restart, same container, writable layer kept.
//                containerd: the task is stopped; under Kubernetes the kubelet replaces the container (new ID, fresh
//                writable layer — only files on volumes survive; repeated restarts walk into CrashLoopBackOff).
//   signal:NAME  the signal to the container's main process (servers that reload on SIGHUP/SIGUSR2); files kept.
//   none         nothing.
// Authorization is the RootResolver's job: the server resolves a target (checking its token) before reloading it.
import { ErrorCode, KxError } from '../sync/errors.ts';
import { parseContainerRef, type ContainerRuntime } from '../../proto/container-ref.ts';
import type { Reloader, ReloadMode, TargetRef } from './ports.ts';

/** What happened to the container's process on restart, and whether its writable layer is still there. */
export interface RestartOutcome {
  /** restarted: running again as the same container; stopped: exited on SIGTERM; killed: needed SIGKILL. */
  readonly action: 'restarted' | 'stopped' | 'killed';
  readonly filesKept: boolean;
}

/** A container runtime as the reloader uses it. */
export interface ContainerController {
  /** `signal` is a validated name such as SIGHUP. NOT_FOUND when the container is gone or stopped. */
  signal(id: string, signal: string): Promise<void>;
  restart(id: string, graceSeconds: number, abort?: AbortSignal): Promise<RestartOutcome>;
}

import { parseReloadMode } from '../../proto/reload-mode.ts';

export { RELOAD_SIGNALS, parseReloadMode, type ParsedReloadMode } from '../../proto/reload-mode.ts';

export interface ReloadOutcome {
  readonly action: 'none' | 'signalled' | RestartOutcome['action'];
  /** Whether files on the container's writable layer are still there afterwards. */
  readonly filesKept: boolean;
  /** One line for the user. */
  readonly message: string;
}

export interface ContainerReloaderOptions {
  readonly runtimes: Partial<Record<ContainerRuntime, ContainerController>>;
  /** Between SIGTERM and SIGKILL on restart. Default 5 s: a dev loop wants a quick turn, not a 30 s drain. */
  readonly graceSeconds?: number;
}

export class ContainerReloader implements Reloader {
  readonly #runtimes: Partial<Record<ContainerRuntime, ContainerController>>;
  readonly #graceSeconds: number;

  constructor(opts: ContainerReloaderOptions) {
    this.#runtimes = opts.runtimes;
    this.#graceSeconds = opts.graceSeconds ?? 5;
  }

  async reload(target: TargetRef, mode: ReloadMode, signal?: AbortSignal): Promise<ReloadOutcome> {
    const parsed = parseReloadMode(mode);
    if (parsed.kind === 'none') return { action: 'none', filesKept: true, message: 'reload mode none: nothing done' };
    const ref = parseContainerRef(target.containerId, target.runtime);
    const shown = `${ref.runtime}://${ref.id}`;
    const runtime = this.#runtimes[ref.runtime];
    if (!runtime) throw new KxError(ErrorCode.Unavailable, `container ${shown}: radar on this node has no ${ref.runtime} runtime configured`);
    if (signal?.aborted) throw new KxError(ErrorCode.Cancelled, `reload of ${shown}: cancelled`);

    if (parsed.kind === 'signal') {
      await runtime.signal(ref.id, parsed.signal);
      return { action: 'signalled', filesKept: true, message: `sent ${parsed.signal} to the main process of ${shown}` };
    }
    const out = await runtime.restart(ref.id, this.#graceSeconds, signal);
    const how = out.action === 'killed' ? `SIGKILL after a ${this.#graceSeconds} s grace` : 'SIGTERM';
    const message =
      out.action === 'restarted'
        ? `restarted ${shown}; its files are kept`
        : `stopped ${shown} (${how}); its supervisor (the kubelet) starts a replacement, which keeps only files on volumes`;
    return { action: out.action, filesKept: out.filesKept, message };
  }
}
