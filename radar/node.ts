// radar as the node agent (what the DaemonSet runs): the container runtimes whose sockets are on this node, a
// ContainerRootResolver checking each namespace's kx-token Secret through the API server, a coalescing reloader,
// and the gRPC server over them.
import { closeInOrder, closeTogether } from '../pkg/lifecycle/close.ts';
import { stat } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import type { Hasher } from '../pkg/sync/hash.ts';
import type { ContainerRuntime } from '../proto/container-ref.ts';
import { NamespaceAuthorizer } from './auth/authorize.ts';
import { KubeSecretTokenSource } from './auth/kube-secret-token-source.ts';
import { RadarServer } from './grpc/server.ts';
import { CoalescingReloader } from '../pkg/runtime/coalesce.ts';
import { ContainerdRuntime } from '../pkg/runtime/containerd.ts';
import { DockerRuntime } from '../pkg/runtime/docker.ts';
import { ContainerReloader, type ContainerController } from '../pkg/runtime/reload.ts';
import { ContainerRootResolver, type ContainerInspector } from '../pkg/runtime/resolve.ts';

export interface RadarNodeOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  /** Docker engine socket; '' disables Docker. */
  readonly dockerSocket: string;
  /** containerd socket; '' disables containerd. */
  readonly containerdSocket: string;
  readonly containerdNamespace: string;
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
  #runtimes: Array<{ name: ContainerRuntime; runtime: NodeRuntime }> = [];
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
    await this.#findRuntimes();
    const inspectors: Partial<Record<ContainerRuntime, ContainerInspector>> = {};
    const controllers: Partial<Record<ContainerRuntime, ContainerController>> = {};
    for (const { name, runtime } of this.#runtimes) {
      inspectors[name] = runtime;
      controllers[name] = runtime;
    }
    const tokens = new KubeSecretTokenSource({ api, ...(o.tokenTtlMs === undefined ? {} : { ttlMs: o.tokenTtlMs }) });
    this.#reloader = new CoalescingReloader({
      inner: new ContainerReloader({ runtimes: controllers, ...(o.restartGraceSeconds === undefined ? {} : { graceSeconds: o.restartGraceSeconds }) }),
    });
    this.#server = new RadarServer({
      listen: o.listen,
      resolver: new ContainerRootResolver({ runtimes: inspectors, authorizer: new NamespaceAuthorizer({ tokens }) }),
      reloader: this.#reloader,
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

  /** Each configured runtime whose socket is there and answers; a missing one is left out with one log line. */
  async #findRuntimes(): Promise<void> {
    const o = this.#opts;
    const candidates: Array<{ name: ContainerRuntime; socket: string; make: () => NodeRuntime }> = [
      { name: 'docker', socket: o.dockerSocket, make: () => new DockerRuntime({ socketPath: o.dockerSocket }) },
      {
        name: 'containerd',
        socket: o.containerdSocket,
        make: () => new ContainerdRuntime({ socketPath: o.containerdSocket, namespace: o.containerdNamespace }),
      },
    ];
    const tried: string[] = [];
    for (const c of candidates) {
      if (c.socket === '') {
        tried.push(`${c.name} (disabled)`);
        continue;
      }
      const missing = await socketProblem(c.socket);
      if (missing) {
        tried.push(`${c.name} at ${c.socket} (${missing})`);
        this.#log(`radar: no ${c.name} runtime: ${c.socket} ${missing}`);
        continue;
      }
      const runtime = c.make();
      try {
        await runtime.start();
      } catch (err) {
        await runtime.close();
        const why = err instanceof Error ? err.message : String(err);
        tried.push(`${c.name} at ${c.socket} (${why})`);
        this.#log(`radar: no ${c.name} runtime: ${why}`);
        continue;
      }
      this.#runtimes.push({ name: c.name, runtime });
      this.#log(`radar: ${c.name} runtime at ${c.socket}${c.name === 'containerd' ? `, namespace ${o.containerdNamespace}` : ''}`);
    }
    if (this.#runtimes.length === 0) {
      throw new KxError(ErrorCode.Unavailable, `no container runtime found: tried ${tried.join(', ')} (set KX_DOCKER_SOCKET or KX_CONTAINERD_SOCKET)`);
    }
  }
}

type NodeRuntime = ContainerInspector & ContainerController & { start(): Promise<void>; close(): Promise<void> };

/** Why `path` is not a usable socket, or undefined when it is one. */
async function socketProblem(path: string): Promise<string | undefined> {
  try {
    return (await stat(path)).isSocket() ? undefined : 'is not a socket';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
  }
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
