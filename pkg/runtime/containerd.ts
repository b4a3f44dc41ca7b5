// containerd as a container runtime, through its gRPC API on its socket. Kubernetes' containers live in the
// `k8s.io` namespace (k3s and others use their own socket path); the `containerd-namespace` metadata header picks it.
import { randomBytes } from 'node:crypto';
import { constants, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ContainerdOutputFiles } from './containerd-output.ts';
import type { ContainerExecRuntime, ExecCommand, ExecResult, ExecSink } from './exec.ts';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { ContainerController, RestartOutcome } from './reload.ts';
import type { ContainerInspector, RuntimeContainer } from './resolve.ts';
import { DEFAULT_CONTAINERD_SOCKET, KUBERNETES_NAMESPACE } from './sockets.ts';

export interface ContainerdRuntimeOptions {
  /** Default /run/containerd/containerd.sock. */
  readonly socketPath?: string;
  /** containerd namespace; default k8s.io (Kubernetes' CRI plugin). Docker's own containerd uses `moby`. */
  readonly namespace?: string;
  /** After SIGKILL, how long to wait for the task to be gone. Default 10 s. */
  readonly killWaitSeconds?: number;
  /** Where exec output files are made (radar's own writable directory); default the OS temp directory. */
  readonly execDir?: string;
}

export class ContainerdRuntime implements ContainerInspector, ContainerController, ContainerExecRuntime {
  readonly runtime = 'containerd';
  readonly #socketPath: string;
  readonly #namespace: string;
  readonly #killWaitSeconds: number;
  readonly #execDir: string;
  #clients: Clients | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: ContainerdRuntimeOptions = {}) {
    this.#socketPath = opts.socketPath ?? DEFAULT_CONTAINERD_SOCKET;
    this.#namespace = opts.namespace ?? KUBERNETES_NAMESPACE;
    this.#killWaitSeconds = opts.killWaitSeconds ?? 10;
    this.#execDir = opts.execDir ?? tmpdir();
  }

  /** Loads the API definitions and connects; fails with UNAVAILABLE when containerd does not answer. */
  async start(): Promise<void> {
    const { containers } = this.#connect();
    await new Promise<void>((resolve, reject) => {
      containers.waitForReady(Date.now() + 5_000, (err) =>
        err ? reject(new KxError(ErrorCode.Unavailable, `containerd at ${this.#socketPath} unreachable: ${err.message}`, { cause: err })) : resolve(),
      );
    });
  }

  async inspect(id: string, signal?: AbortSignal): Promise<RuntimeContainer> {
    const { containers, tasks } = this.#connect();
    const got = await this.#call<GetContainerResponse>(containers, 'Get', { id }, id, signal);
    const task = await this.#task(tasks, id, signal);
    if (task.status !== 'RUNNING' || task.pid <= 0) {
      throw new KxError(ErrorCode.NotFound, `container containerd://${id} is not running (${task.status.toLowerCase()})`);
    }
    const labels = got.container?.labels ?? {};
    return { id, name: kubernetesName(labels) ?? id, pid: task.pid, labels };
  }

  async signal(id: string, signal: string): Promise<void> {
    const { tasks } = this.#connect();
    await this.#call(tasks, 'Kill', { containerId: id, execId: '', signal: signalNumber(signal), all: false }, id);
  }

  /**
   * SIGTERM to the main process, `graceSeconds` to exit, then SIGKILL to all its processes. containerd itself never
   * starts a task again: under Kubernetes the kubelet replaces the container (a new ID, a fresh writable layer).
   */
  async restart(id: string, graceSeconds: number, abort?: AbortSignal): Promise<RestartOutcome> {
    const { tasks } = this.#connect();
    const before = await this.#task(tasks, id, abort);
    if (before.status !== 'RUNNING') {
      throw new KxError(ErrorCode.NotFound, `container containerd://${id} is not running (${before.status.toLowerCase()})`);
    }
    // Wait is bound to the task that exists when it is called, so start it before the signal.
    const exited = this.#waitExit(tasks, id, graceSeconds, abort);
    await this.#call(tasks, 'Kill', { containerId: id, execId: '', signal: signalNumber('SIGTERM'), all: false }, id, abort);
    if (await exited) return { action: 'stopped', filesKept: false };

    const now = await this.#task(tasks, id, abort).catch((err: unknown) => {
      if (err instanceof KxError && err.code === ErrorCode.NotFound) return undefined;
      throw err;
    });
    // Gone, or already replaced by its supervisor: the old process did exit.
    if (now === undefined || now.pid !== before.pid || now.status !== 'RUNNING') return { action: 'stopped', filesKept: false };
    const killed = this.#waitExit(tasks, id, this.#killWaitSeconds, abort);
    await this.#call(tasks, 'Kill', { containerId: id, execId: '', signal: signalNumber('SIGKILL'), all: true }, id, abort);
    if (!(await killed)) {
      throw new KxError(ErrorCode.Unavailable, `container containerd://${id} did not exit within ${this.#killWaitSeconds} s of SIGKILL`);
    }
    return { action: 'killed', filesKept: false };
  }

  /**
   * containerd's task exec: the container's own process spec (user, environment, capabilities) with the command's
   * argv and cwd, no terminal. The shim writes stdout and stderr into two files radar made (which the runc shim opens
   * on the node: the path goes through /proc/<radar's pid>/root, so it works from radar's pod too); radar reads them
   * as they grow. Aborting kills the process (SIGKILL to its exec id).
   */
  async exec(id: string, command: ExecCommand, sink: ExecSink, signal: AbortSignal): Promise<ExecResult> {
    const { containers, tasks } = this.#connect();
    const got = await this.#call<GetContainerResponse>(containers, 'Get', { id }, id, signal);
    const base = processSpecOf(got.container?.spec, id);
    const proc: Record<string, unknown> = { ...base, args: [...command.argv], cwd: command.workdir, terminal: false };
    delete proc.consoleSize;
    const execId = `kx-exec-${randomBytes(6).toString('hex')}`;
    const files = await ContainerdOutputFiles.create(this.#execDir, sink);
    let added = false;
    try {
      await this.#call(tasks, 'Exec', {
        containerId: id,
        execId,
        stdin: '',
        stdout: files.path('stdout'),
        stderr: files.path('stderr'),
        terminal: false,
        spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(proc)) },
      }, id, signal);
      added = true;
      // Wait is bound to the process that exists when it is called: start it before the process runs.
      const waited = this.#call<{ exitStatus: number }>(tasks, 'Wait', { containerId: id, execId }, id);
      waited.catch(() => undefined);
      const kill = (): void => {
        void this.#call(tasks, 'Kill', { containerId: id, execId, signal: signalNumber('SIGKILL'), all: false }, id).catch(() => undefined);
      };
      signal.addEventListener('abort', kill, { once: true });
      try {
        await this.#call(tasks, 'Start', { containerId: id, execId }, id, signal);
        const stopReading = files.follow(() => kill());
        let exit: { exitStatus: number };
        try {
          exit = await waited;
        } finally {
          // The shim copies the process's output into the files until the exec is deleted (DeleteProcess waits
          // for that copy): delete it first, then read what is left, or the last lines can be missed.
          await this.#call(tasks, 'DeleteProcess', { containerId: id, execId }, id).catch(() => undefined);
          added = false;
          await stopReading();
        }
        if (signal.aborted) throw signal.reason;
        return { exitCode: exit.exitStatus };
      } finally {
        signal.removeEventListener('abort', kill);
      }
    } finally {
      if (added) await this.#call(tasks, 'DeleteProcess', { containerId: id, execId }, id).catch(() => undefined);
      await files.close();
    }
  }

  close(): Promise<void> {
    this.#closed ??= Promise.resolve().then(() => {
      this.#clients?.tasks.close();
      this.#clients?.containers.close();
    });
    return this.#closed;
  }

  /** True when the task exited within `seconds`, false at the deadline. */
  async #waitExit(tasks: grpc.Client, id: string, seconds: number, abort?: AbortSignal): Promise<boolean> {
    // A client-side timer, not a gRPC deadline: containerd hands the deadline on to the shim and may answer
    // UNKNOWN "context deadline exceeded" instead of DEADLINE_EXCEEDED.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), seconds * 1000);
    const signal = abort ? AbortSignal.any([abort, timeout.signal]) : timeout.signal;
    try {
      await this.#call(tasks, 'Wait', { containerId: id, execId: '' }, id, signal);
      return true;
    } catch (err) {
      if (err instanceof KxError && err.code === ErrorCode.NotFound) return true;
      if (timeout.signal.aborted && !abort?.aborted) return false;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #task(tasks: grpc.Client, id: string, signal?: AbortSignal): Promise<TaskProcess> {
    try {
      const got = await this.#call<GetTaskResponse>(tasks, 'Get', { containerId: id, execId: '' }, id, signal);
      return got.process ?? { pid: 0, status: 'UNKNOWN' };
    } catch (err) {
      if (err instanceof KxError && err.code === ErrorCode.NotFound) {
        throw new KxError(ErrorCode.NotFound, `container containerd://${id} is not running (no task)`, { cause: err });
      }
      throw err;
    }
  }

  #connect(): Clients {
    if (this.#closed) throw new KxError(ErrorCode.Unavailable, `containerd at ${this.#socketPath}: client closed`);
    if (this.#clients) return this.#clients;
    const definition = protoLoader.loadSync(API_FILES, {
      includeDirs: [API_DIR],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as ApiPackage;
    const address = `unix://${this.#socketPath}`;
    const credentials = grpc.credentials.createInsecure();
    const containers = new pkg.containerd.services.containers.v1.Containers(address, credentials);
    // Share one channel: both services live on the same socket.
    const tasks = new pkg.containerd.services.tasks.v1.Tasks(address, credentials, { channelOverride: containers.getChannel() });
    this.#clients = { containers, tasks };
    return this.#clients;
  }

  #call<T>(client: grpc.Client, method: string, request: object, id: string, signal?: AbortSignal): Promise<T> {
    const metadata = new grpc.Metadata();
    metadata.set('containerd-namespace', this.#namespace);
    const options: grpc.CallOptions = {};
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(new KxError(ErrorCode.Cancelled, `containerd ${method} for ${id}: cancelled`));
      const fn = (client as unknown as Record<string, UnaryMethod>)[method];
      const call = fn.call(client, request, metadata, options, (err, value) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(this.#error(err, id));
        else resolve(value as T);
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #error(err: grpc.ServiceError, id: string): KxError {
    const detail = err.details || err.message;
    switch (err.code) {
      case grpc.status.NOT_FOUND:
        return new KxError(ErrorCode.NotFound, `container containerd://${id} not found in containerd namespace ${this.#namespace}: ${detail}`, { cause: err });
      case grpc.status.CANCELLED:
        return new KxError(ErrorCode.Cancelled, `containerd call for ${id}: cancelled`, { cause: err });
      case grpc.status.UNAVAILABLE:
        return new KxError(ErrorCode.Unavailable, `containerd at ${this.#socketPath} unreachable: ${detail}`, { cause: err });
      case grpc.status.FAILED_PRECONDITION:
        return new KxError(ErrorCode.NotFound, `container containerd://${id} is not running: ${detail}`, { cause: err });
      default:
        return new KxError(ErrorCode.Unavailable, `containerd (${id}): ${detail}`, { cause: err });
    }
  }
}

/** `pod/container` from the labels the CRI plugin sets, when present. */
function kubernetesName(labels: Readonly<Record<string, string>>): string | undefined {
  const pod = labels['io.kubernetes.pod.name'];
  const container = labels['io.kubernetes.container.name'];
  if (container === undefined) return undefined;
  return pod === undefined ? container : `${pod}/${container}`;
}

const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** The `process` of the container's OCI spec, which an exec'd process inherits (user, env, capabilities). */
function processSpecOf(spec: { value?: Buffer | Uint8Array } | null | undefined, id: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(Buffer.from(spec?.value ?? []).toString('utf8')) as { process?: Record<string, unknown> };
    if (parsed.process && typeof parsed.process === 'object') return { ...parsed.process };
  } catch {
    // reported below
  }
  throw new KxError(ErrorCode.NotFound, `container containerd://${id} has no OCI process spec to run a command with`);
}

/** Linux signal number of a name like SIGHUP, as containerd's Kill wants it. */
function signalNumber(name: string): number {
  const n = (constants.signals as Record<string, number | undefined>)[name];
  if (n === undefined) throw new KxError(ErrorCode.InvalidArgument, `unknown signal ${name}`);
  return n;
}

const API_DIR = fileURLToPath(new URL('./containerd-api/', import.meta.url));
const API_FILES = [
  'github.com/containerd/containerd/api/services/containers/v1/containers.proto',
  'github.com/containerd/containerd/api/services/tasks/v1/tasks.proto',
];

type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, value?: unknown) => void,
) => grpc.ClientUnaryCall;

interface Clients { containers: grpc.Client; tasks: grpc.Client }
interface TaskProcess { pid: number; status: string }
interface GetTaskResponse { process: TaskProcess | null }
interface GetContainerResponse { container: { id: string; labels: Record<string, string>; spec?: { typeUrl: string; value: Buffer } | null } | null }
interface ApiPackage {
  containerd: {
    services: {
      containers: { v1: { Containers: grpc.ServiceClientConstructor } };
      tasks: { v1: { Tasks: grpc.ServiceClientConstructor } };
    };
  };
}
