// The Docker engine as a container runtime, through dockerode on its socket. Used for the local Docker target and
// for Kubernetes nodes that still run dockershim/cri-dockerd (container IDs `docker://…`).
import Docker from 'dockerode';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { ContainerExecRuntime, ExecCommand, ExecResult, ExecSink } from './exec.ts';
import { killTree } from './kill-tree.ts';
import type { ContainerController, RestartOutcome } from './reload.ts';
import type { ContainerInspector, RuntimeContainer } from './resolve.ts';
import { DEFAULT_DOCKER_SOCKET } from './sockets.ts';

/** How long a cancelled exec's kill waits for the engine to know the command's PID: 10 s at most. */
const KILL_PID_POLLS = 500;
const KILL_PID_POLL_MS = 20;

export interface DockerRuntimeOptions {
  /** Default /var/run/docker.sock. */
  readonly socketPath?: string;
  /** An engine reached otherwise (tcp, TLS): dockerode's options, and how messages name it. Wins over socketPath. */
  readonly engine?: { readonly options: Docker.DockerOptions; readonly shown: string };
}

export class DockerRuntime implements ContainerInspector, ContainerController, ContainerExecRuntime {
  readonly runtime = 'docker';
  readonly #socketPath: string;
  readonly #docker: Docker;
  #closed: Promise<void> | undefined;

  constructor(opts: DockerRuntimeOptions = {}) {
    this.#socketPath = opts.engine?.shown ?? opts.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.#docker = new Docker(opts.engine?.options ?? { socketPath: this.#socketPath });
  }

  /** Checks that the engine answers. */
  async start(): Promise<void> {
    try {
      await this.#docker.ping();
    } catch (err) {
      throw this.#error(err, 'engine');
    }
  }

  async inspect(id: string, signal?: AbortSignal): Promise<RuntimeContainer> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.#docker.getContainer(id).inspect({ abortSignal: signal });
    } catch (err) {
      throw this.#error(err, id);
    }
    const name = info.Name.replace(/^\//, '');
    // The engine resolves ID prefixes: a 4-digit guess would name someone else's container. Exact ID or name only.
    if (info.Id !== id && name !== id) throw new KxError(ErrorCode.NotFound, `docker container ${id} not found`);
    if (!info.State.Running || info.State.Pid <= 0) {
      throw new KxError(ErrorCode.NotFound, `container ${name} (docker://${info.Id}) is not running (${info.State.Status})`);
    }
    return { id: info.Id, name, pid: info.State.Pid, labels: info.Config.Labels ?? {} };
  }

  async signal(id: string, signal: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).kill({ signal });
    } catch (err) {
      throw this.#error(err, id);
    }
  }

  /** The engine's own restart: its stop signal, `graceSeconds`, SIGKILL, start. The writable layer is kept. */
  async restart(id: string, graceSeconds: number): Promise<RestartOutcome> {
    try {
      await this.#docker.getContainer(id).restart({ t: graceSeconds });
    } catch (err) {
      throw this.#error(err, id);
    }
    return { action: 'restarted', filesKept: true };
  }

  /**
   * The engine's exec API (output demultiplexed from the hijacked stream). The engine cannot kill an exec'd
   * process, so on abort radar kills it by its PID on the node (radar shares the node's PID namespace).
   */
  async exec(id: string, command: ExecCommand, sink: ExecSink, signal: AbortSignal): Promise<ExecResult> {
    let exec: Docker.Exec;
    let stream: NodeJS.ReadWriteStream;
    try {
      exec = await this.#docker.getContainer(id).exec({
        Cmd: [...command.argv],
        WorkingDir: command.workdir,
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      stream = await exec.start({ hijack: true, stdin: false });
    } catch (err) {
      throw this.#error(err, id);
    }
    const kill = async (): Promise<void> => {
      // The engine says the exec is running before it knows its PID (~0.1 s later under load): wait for the PID.
      for (let i = 0; i < KILL_PID_POLLS; i++) {
        const info = await exec.inspect().catch(() => undefined);
        if (!info?.Running) return;
        if (info.Pid > 0) {
          killTree(info.Pid);
          return;
        }
        await sleep(KILL_PID_POLL_MS);
      }
    };
    const onAbort = (): void => void kill();
    signal.addEventListener('abort', onAbort, { once: true });
    // A cancel while the engine was starting the command fired before the listener was there: the command runs.
    if (signal.aborted) onAbort();
    try {
      await new Promise<void>((resolve, reject) => {
        const out = (write: (b: Buffer) => void): Writable => new Writable({ write: (chunk: Buffer, _enc, done) => { write(chunk); done(); } });
        this.#docker.modem.demuxStream(stream, out((b) => sink.stdout(b)), out((b) => sink.stderr(b)));
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      if (signal.aborted) throw signal.reason;
      const info = await exec.inspect();
      return { exitCode: typeof info.ExitCode === 'number' ? info.ExitCode : -1 };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw this.#error(err, id);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(): Promise<void> {
    // dockerode opens a connection per request; nothing stays open between calls.
    this.#closed ??= Promise.resolve();
    return this.#closed;
  }

  #error(err: unknown, id: string): KxError {
    if (err instanceof KxError) return err;
    const e = err as { statusCode?: number; code?: string; name?: string; json?: { message?: string }; message?: string };
    const detail = (e.json?.message ?? e.message ?? String(err)).split('\n')[0];
    if (e.name === 'AbortError') return new KxError(ErrorCode.Cancelled, `docker container ${id}: cancelled`, { cause: err });
    if (e.statusCode === 404) return new KxError(ErrorCode.NotFound, `docker container ${id} not found`, { cause: err });
    if (e.statusCode === 409) return new KxError(ErrorCode.NotFound, `docker container ${id} is not running: ${detail}`, { cause: err });
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES') {
      return new KxError(ErrorCode.Unavailable, `docker engine at ${this.#socketPath} unreachable: ${detail}`, { cause: err });
    }
    return new KxError(ErrorCode.Unavailable, `docker container ${id}: ${detail}`, { cause: err });
  }
}
