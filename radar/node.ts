// radar as the node agent (what the DaemonSet runs): the container runtimes whose sockets are on this node, a
// ContainerRootResolver checking each namespace's kx-token Secret through the API server, a coalescing reloader,
// and the gRPC server over them.
import { stat } from 'node:fs/promises';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { closeInOrder, closeTogether } from '../pkg/lifecycle/close.ts';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import type { Hasher } from '../pkg/sync/hash.ts';
import type { ContainerRuntime } from '../proto/container-ref.ts';
import { NamespaceAuthorizer } from './auth/authorize.ts';
import { KubeSecretTokenSource } from './auth/kube-secret-token-source.ts';
import { RadarServer } from './grpc/server.ts';
import { CoalescingReloader } from '../pkg/runtime/coalesce.ts';
import { ContainerdRuntime } from '../pkg/runtime/containerd.ts';
import { DockerRuntime } from '../pkg/runtime/docker.ts';
import { ContainerExecutor, type ContainerExecRuntime } from '../pkg/runtime/exec.ts';
import { ContainerReloader, type ContainerController } from '../pkg/runtime/reload.ts';
import { ContainerRootResolver, type ContainerInspector } from '../pkg/runtime/resolve.ts';
import { socketCandidates, type SocketCandidate } from '../pkg/runtime/sockets.ts';
import { RUNTIME_ANNOTATION } from '../proto/radar-pod.ts';

export interface RadarNodeOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  /** Docker engine socket on the node; '' disables Docker; 'auto' tries the known node layouts. */
  readonly dockerSocket: string;
  /** containerd socket on the node; '' disables containerd; 'auto' tries the known node layouts. */
  readonly containerdSocket: string;
  readonly containerdNamespace: string;
  /** Where the node's paths appear for radar (its pod mounts them under /host); default '' (radar on the node). */
  readonly hostRoot?: string;
  /** radar's own pod (in podNamespace): annotated with the runtime radar uses, for kx doctor. */
  readonly podName?: string;
  /** A kubeconfig file for the API server; undefined = in-cluster config (radar's ServiceAccount). */
  readonly kubeconfig?: string;
  readonly nodeName?: string;
  readonly podNamespace?: string;
  readonly restartGraceSeconds?: number;
  readonly fsync?: boolean;
  readonly hasher: Hasher;
  /** One line per call, no newline; default: stderr. */
  readonly log?: (line: string) => void;
  /** For tests: the token cache's TTL (default that of KubeSecretTokenSource). */
  readonly tokenTtlMs?: number;
  /** For tests: how long close() lets calls in flight finish. */
  readonly closeGraceMs?: number;
}

export interface RadarNodeInfo {
  readonly address: string;
  readonly port: number;
  /** The runtimes radar found and serves. */
  readonly runtimes: readonly ContainerRuntime[];
}

export class RadarNode {
  readonly #opts: RadarNodeOptions;
  readonly #log: (line: string) => void;
  #runtimes: Array<{ name: ContainerRuntime; runtime: NodeRuntime; describe: string }> = [];
  #reloader: CoalescingReloader | undefined;
  #server: RadarServer | undefined;
  #starting: Promise<RadarNodeInfo> | undefined;
  #started: Promise<RadarNodeInfo> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: RadarNodeOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Finds the runtimes, connects to the API server's config and serves. On failure, what was opened is closed. */
  start(): Promise<RadarNodeInfo> {
    this.#starting ??= this.#start();
    this.#started ??= this.#starting.catch(async (err: unknown) => {
      await this.close();
      throw err;
    });
    return this.#started;
  }

  /** The server first (no new calls, in-flight ones finish), then pending reloads, then the runtime clients. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#starting?.catch(() => undefined);
      await closeInOrder([() => this.#server?.close(), () => this.#reloader?.close(), () => closeTogether(this.#runtimes.map((r) => r.runtime))]);
    })();
    return this.#closed;
  }

  async #start(): Promise<RadarNodeInfo> {
    const o = this.#opts;
    const api = coreApi(o.kubeconfig);
    try {
      await this.#findRuntimes();
    } catch (err) {
      await this.#annotate(api, `none: ${(err as Error).message}`);
      throw err;
    }
    await this.#annotate(api, this.#runtimes.map((r) => r.describe).join('; '));
    const inspectors: Partial<Record<ContainerRuntime, ContainerInspector>> = {};
    const controllers: Partial<Record<ContainerRuntime, ContainerController>> = {};
    const executors: Partial<Record<ContainerRuntime, ContainerExecRuntime>> = {};
    for (const { name, runtime } of this.#runtimes) {
      inspectors[name] = runtime;
      controllers[name] = runtime;
      executors[name] = runtime;
    }
    const tokens = new KubeSecretTokenSource({ api, ...(o.tokenTtlMs === undefined ? {} : { ttlMs: o.tokenTtlMs }) });
    this.#reloader = new CoalescingReloader({
      inner: new ContainerReloader({ runtimes: controllers, ...(o.restartGraceSeconds === undefined ? {} : { graceSeconds: o.restartGraceSeconds }) }),
    });
    this.#server = new RadarServer({
      listen: o.listen,
      resolver: new ContainerRootResolver({ runtimes: inspectors, authorizer: new NamespaceAuthorizer({ tokens }) }),
      reloader: this.#reloader,
      executor: new ContainerExecutor({ runtimes: executors }),
      hasher: o.hasher,
      name: o.nodeName ? `radar@${o.nodeName}` : 'radar',
      fsync: o.fsync ?? false,
      ...(o.closeGraceMs === undefined ? {} : { closeGraceMs: o.closeGraceMs }),
    });
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'radar: closed while starting');
    const { address, port } = await this.#server.start();
    const where = [o.nodeName && `node ${o.nodeName}`, o.podNamespace && `namespace ${o.podNamespace}`].filter(Boolean).join(', ');
    this.#log(`radar: serving ${this.#runtimes.map((r) => r.name).join(' and ')} containers${where ? ` (${where})` : ''}`);
    return { address, port, runtimes: this.#runtimes.map((r) => r.name) };
  }

  /**
   * For each runtime, the given socket or the known node layouts in order: the first socket that is there and
   * answers is used. One log line per runtime found or not found.
   */
  async #findRuntimes(): Promise<void> {
    const o = this.#opts;
    const hostRoot = o.hostRoot ?? '';
    const make: Record<'docker' | 'containerd', (c: SocketCandidate) => NodeRuntime> = {
      docker: (c) => new DockerRuntime({ socketPath: c.seenAt }),
      containerd: (c) => new ContainerdRuntime({ socketPath: c.seenAt, namespace: o.containerdNamespace }),
    };
    const settings = { docker: o.dockerSocket, containerd: o.containerdSocket };
    const tried: string[] = [];
    for (const name of ['containerd', 'docker'] as const) {
      const candidates = socketCandidates(name, settings[name], hostRoot);
      if (candidates.length === 0) {
        tried.push(`${name} (disabled)`);
        continue;
      }
      const failures: Array<{ c: SocketCandidate; why: string }> = [];
      for (const c of candidates) {
        const why = (await socketProblem(c.seenAt)) ?? (await this.#connect(name, c, make[name]));
        if (why === undefined) break;
        failures.push({ c, why });
      }
      tried.push(...failures.map((f) => `${f.c.path} (${f.why})`));
      if (this.#runtimes.some((r) => r.name === name)) continue;
      const only = failures.length === 1 && failures[0].c.layout === 'given' ? failures[0] : undefined;
      this.#log(only
        ? `radar: no ${name} runtime: ${only.c.seenAt} ${only.why}`
        : `radar: no ${name} runtime: tried ${failures.map((f) => `${f.c.path} (${f.why})`).join(', ')}${hostRoot ? ` under ${hostRoot}` : ''}`);
    }
    if (this.#runtimes.length === 0) {
      throw new KxError(ErrorCode.Unavailable, `no container runtime found: tried ${tried.join(', ')}${hostRoot ? ` under ${hostRoot}` : ''} ` +
        '(kx init --containerd-socket PATH or --docker-socket PATH names the socket on the node)');
    }
  }

  /** Starts the runtime on candidate `c`: undefined when it answers (and is kept), else why not. */
  async #connect(name: 'docker' | 'containerd', c: SocketCandidate, make: (c: SocketCandidate) => NodeRuntime): Promise<string | undefined> {
    const runtime = make(c);
    try {
      await runtime.start();
    } catch (err) {
      await runtime.close();
      return err instanceof Error ? err.message : String(err);
    }
    const layout = c.layout === 'given' ? '' : ` (${c.layout} layout)`;
    const seen = c.seenAt === c.path ? '' : `, seen at ${c.seenAt}`;
    const ns = name === 'containerd' ? `, namespace ${this.#opts.containerdNamespace}` : '';
    this.#runtimes.push({ name, runtime, describe: `${name} at ${c.path}${layout}${ns}` });
    this.#log(`radar: using ${name} at ${c.path}${layout}${seen}${ns}`);
    return undefined;
  }

  /**
   * Tells kx doctor which runtime radar uses, on radar's own pod. Best effort: a refusal costs one log line, and an
   * API server that does not answer within 5 s does not hold up serving.
   */
  async #annotate(api: CoreV1Api, text: string): Promise<void> {
    const o = this.#opts;
    if (!o.podName || !o.podNamespace) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
    });
    try {
      await Promise.race([
        api.patchNamespacedPod(
          { name: o.podName, namespace: o.podNamespace, body: { metadata: { annotations: { [RUNTIME_ANNOTATION]: text } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
        timeout,
      ]);
    } catch (err) {
      this.#log(`radar: could not annotate pod ${o.podNamespace}/${o.podName} with its runtime (${apiMessage(err)})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

type NodeRuntime = ContainerInspector & ContainerController & ContainerExecRuntime & { start(): Promise<void>; close(): Promise<void> };

/** Why `path` is not a usable socket, or undefined when it is one. */
async function socketProblem(path: string): Promise<string | undefined> {
  try {
    return (await stat(path)).isSocket() ? undefined : 'is not a socket';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
  }
}

function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  const code = (err as { code?: unknown }).code;
  if (typeof body === 'string') {
    try {
      return `HTTP ${String(code)}: ${(JSON.parse(body) as { message?: string }).message ?? body}`;
    } catch {
      return `HTTP ${String(code)}: ${body}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** CoreV1Api from a kubeconfig file, or from the pod's ServiceAccount when none is given. */
function coreApi(kubeconfig: string | undefined): CoreV1Api {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new KxError(ErrorCode.InvalidConfig, `--kubeconfig ${kubeconfig}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    if (!kc.getCurrentCluster()) throw new KxError(ErrorCode.InvalidConfig, `--kubeconfig ${kubeconfig}: no current context with a cluster`);
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new KxError(ErrorCode.InvalidConfig, 'not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): pass --kubeconfig FILE');
    }
    kc.loadFromCluster();
  }
  return kc.makeApiClient(CoreV1Api);
}
