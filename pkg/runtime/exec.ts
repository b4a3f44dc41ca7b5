// Running a command inside a container through its runtime (Docker's exec API, containerd's task exec), for the
// commands a spec runs after a batch lands. The caller (radar's gRPC service) has resolved and authorized the
// target first; this module only picks the runtime and hands it the command.
import { ErrorCode, KxError } from '../sync/errors.ts';
import { parseContainerRef, type ContainerRuntime } from '../../proto/container-ref.ts';
import type { TargetRef } from './ports.ts';

/** One command to run, as radar accepted it (argv and workdir checked, timeout capped). */
export interface ExecCommand {
  /** Run without a shell; argv[0] is looked up in the container's PATH. */
  readonly argv: readonly string[];
  /** Absolute directory inside the container. */
  readonly workdir: string;
}

/** Where the command's output goes, in chunks as it comes (the consumer caps what it keeps). */
export interface ExecSink {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export interface ExecResult {
  /** The command's exit status; -1 when it was killed or its status is unknown. */
  readonly exitCode: number;
}

/** A container runtime as the executor uses it. */
export interface ContainerExecRuntime {
  /**
   * Runs the command in the running container `id` with the container's own user and environment. Aborting
   * `signal` kills the command (SIGKILL) and rejects with the signal's reason. NOT_FOUND when the container is gone.
   */
  exec(id: string, command: ExecCommand, sink: ExecSink, signal: AbortSignal): Promise<ExecResult>;
}

/** Runs commands in an already resolved (authorized) target. */
export interface Executor {
  exec(target: TargetRef, command: ExecCommand, sink: ExecSink, signal: AbortSignal): Promise<ExecResult>;
}

export class ContainerExecutor implements Executor {
  readonly #runtimes: Partial<Record<ContainerRuntime, ContainerExecRuntime>>;

  constructor(opts: { readonly runtimes: Partial<Record<ContainerRuntime, ContainerExecRuntime>> }) {
    this.#runtimes = opts.runtimes;
  }

  exec(target: TargetRef, command: ExecCommand, sink: ExecSink, signal: AbortSignal): Promise<ExecResult> {
    const ref = parseContainerRef(target.containerId, target.runtime);
    const runtime = this.#runtimes[ref.runtime];
    if (!runtime) {
      return Promise.reject(new KxError(ErrorCode.Unavailable, `container ${ref.runtime}://${ref.id}: radar on this node has no ${ref.runtime} runtime configured`));
    }
    return runtime.exec(ref.id, command, sink, signal);
  }
}
