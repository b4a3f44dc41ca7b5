// Kubernetes as a target kind for the daemon: follows each spec's pods (PodWatch) and connects to one container
// through the radar on its node (RadarLocator → shared Tunnel per node → a radar client dialed over the tunnel with
// the namespace's token). The radar client itself comes from pkg/transport through the RadarDialer seam, wired in
// cmd/, so this file has no gRPC in it.
import type { SpecConfig } from '../config/types.ts';
import type { Connection, Target, TargetConnector, TargetDriver, TargetEvents, TargetSource } from '../daemon/target.ts';
import { ErrorCode, KxError, isKxError } from '../sync/errors.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../sync/types.ts';
import { formatContainerRef } from '../../proto/container-ref.ts';
import type { ContainerRef } from '../../proto/container-ref.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import type { LoadedKubeconfig } from './kubeconfig.ts';
import { PodWatch } from './pod-watch.ts';
import { RadarLocator } from './radar-locator.ts';
import { instanceKey } from './remote-container.ts';
import type { RemoteContainer } from './remote-container.ts';
import { SecretTokens } from './secret-tokens.ts';
import { Tunnel, TunnelPool } from './tunnel.ts';
import type { PortForwarder, TunnelEvent } from './tunnel.ts';

/** One dial of radar for one container, as the connector asks pkg/transport for it. */
export interface RadarDial {
  /** `127.0.0.1:PORT`: the node's tunnel. Dial it as a plain (insecure) gRPC target; the tunnel is the transport. */
  readonly address: string;
  /** The namespace's kx-token, sent as `authorization: Bearer <token>`. */
  readonly token: string;
  readonly container: ContainerRef;
  readonly remotePath: string;
  /** spec.owner ('uid:gid'), when set. */
  readonly owner?: string;
  readonly signal?: AbortSignal;
}

/** A handshaken radar client for one container. */
export interface RadarSession {
  readonly receiver: Receiver;
  reload(mode: string): Promise<void>;
  close(): Promise<void>;
}

export interface RadarDialer {
  dial(req: RadarDial): Promise<RadarSession>;
}

/** Per-namespace tokens; the default reads Secret kx-token with the user's credentials (SecretTokens). */
export interface NamespaceTokens {
  tokenFor(namespace: string): Promise<string>;
}

export interface KubernetesDriverOptions {
  readonly dialer: RadarDialer;
  /** kx.yaml settings: used when a spec names no context or namespace. */
  readonly defaults?: { readonly context?: string; readonly namespace?: string };
  /** Default: loadKubeconfig({ context }) (KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig?: (context: string | undefined) => LoadedKubeconfig;
  /** Default kx-system. */
  readonly radarNamespace?: string;
  /** Default: SecretTokens on the context's credentials. */
  readonly tokens?: (cluster: LoadedKubeconfig) => NamespaceTokens;
  readonly watchBackoff?: BackoffPolicy;
  readonly crashBackoff?: BackoffPolicy;
  readonly stableAfterMs?: number;
  /** How port-forwards are opened; default client-node's PortForward on the context's credentials. */
  readonly forwarder?: (cluster: LoadedKubeconfig) => PortForwarder;
  /** Tunnel drops and resumes, per node (for logs and the resume-time report). */
  readonly onTunnelEvent?: (node: string, e: TunnelEvent) => void;
}

/** A Target the Kubernetes driver hands out; `remote` says which container it is. */
export interface KubeTarget extends Target {
  readonly remote: RemoteContainer;
}

export class KubernetesDriver implements TargetDriver {
  readonly connector: TargetConnector;
  readonly #opts: KubernetesDriverOptions;
  readonly #clusters = new Map<string, Cluster>();
  readonly #targets = new Map<string, { target: KubeTarget; refs: number }>();
  readonly #pool = new TunnelPool();
  #closed: Promise<void> | undefined;

  constructor(opts: KubernetesDriverOptions) {
    this.#opts = opts;
    this.connector = { connect: (spec, target, signal) => this.#connect(spec, target, signal) };
  }

  follow(spec: SpecConfig, events: TargetEvents): TargetSource {
    return new KubeTargetSource(spec, events, {
      cluster: () => this.#cluster(spec),
      namespace: (c) => spec.namespace ?? this.#opts.defaults?.namespace ?? c.loaded.namespace,
      register: (t) => this.#register(t),
      unregister: (id) => this.#unregister(id),
      watchBackoff: this.#opts.watchBackoff,
      crashBackoff: this.#opts.crashBackoff,
      stableAfterMs: this.#opts.stableAfterMs,
    });
  }

  /** Tunnels open now, by `context/node`. */
  tunnels(): ReadonlyMap<string, Tunnel> {
    return this.#pool.tunnels();
  }

  /** Closes every tunnel. Connections and sources should be closed first (the daemon does). */
  close(): Promise<void> {
    this.#closed ??= this.#pool.close();
    return this.#closed;
  }

  #cluster(spec: SpecConfig): Cluster {
    const name = spec.context ?? this.#opts.defaults?.context;
    const key = name ?? '';
    let c = this.#clusters.get(key);
    if (!c) {
      const loaded = (this.#opts.kubeconfig ?? ((context) => loadKubeconfig({ context })))(name);
      c = {
        loaded,
        locator: new RadarLocator({ kc: loaded.kc, context: loaded.context, namespace: this.#opts.radarNamespace }),
        tokens: (this.#opts.tokens ?? ((l) => new SecretTokens(l.kc, l.context)))(loaded),
      };
      this.#clusters.set(key, c);
    }
    return c;
  }

  #register(t: KubeTarget): void {
    const e = this.#targets.get(t.id);
    if (e) e.refs++;
    else this.#targets.set(t.id, { target: t, refs: 1 });
  }

  #unregister(id: string): void {
    const e = this.#targets.get(id);
    if (e && --e.refs === 0) this.#targets.delete(id);
  }

  async #connect(spec: SpecConfig, target: Target, signal?: AbortSignal): Promise<Connection> {
    if (this.#closed) throw new KxError(ErrorCode.Cancelled, 'kubernetes driver closed');
    const remote = (target as Partial<KubeTarget>).remote ?? this.#targets.get(target.id)?.target.remote;
    if (!remote) throw new KxError(ErrorCode.NotFound, `${target.name}: no longer followed`);
    const cluster = this.#cluster(spec);
    const ctx = cluster.loaded.context;
    // Ask for the radar pod and the token first: their errors are the ones a user can act on (kx init, kx token).
    await cluster.locator.locate(remote.nodeName);
    const token = await cluster.tokens.tokenFor(remote.namespace);
    const { tunnel, release } = await this.#pool.acquire(`${ctx}/${remote.nodeName}`, () => new Tunnel({
      kc: cluster.loaded.kc,
      context: ctx,
      locate: () => cluster.locator.locate(remote.nodeName),
      ...(this.#opts.forwarder && { forwarder: this.#opts.forwarder(cluster.loaded) }),
      onEvent: (e) => this.#opts.onTunnelEvent?.(remote.nodeName, e),
    }));
    let session: RadarSession;
    try {
      session = await this.#opts.dialer.dial({ address: tunnel.address, token, container: remote.containerRef,
        remotePath: spec.remote, owner: spec.owner, signal });
    } catch (err) {
      await release();
      throw explain(err, tunnel);
    }
    return new KubeConnection(remote, session, tunnel, release, cluster.locator.namespace);
  }
}

class KubeConnection implements Connection {
  readonly receiver: Receiver;
  readonly #remote: RemoteContainer;
  readonly #session: RadarSession;
  readonly #release: () => Promise<void>;
  readonly #radarNamespace: string;
  #closed: Promise<void> | undefined;

  constructor(remote: RemoteContainer, session: RadarSession, tunnel: Tunnel, release: () => Promise<void>, radarNamespace: string) {
    this.#remote = remote;
    this.#session = session;
    this.#release = release;
    this.#radarNamespace = radarNamespace;
    this.receiver = new ExplainingReceiver(session.receiver, tunnel);
  }

  reload(mode: Parameters<Connection['reload']>[0]): Promise<void> {
    return this.#session.reload(mode);
  }

  describe(): string {
    const r = this.#remote;
    return `pod ${r.namespace}/${r.pod} container ${r.container} (${shortRef(r.containerRef)}) on node ${r.nodeName} via radar in ${this.#radarNamespace}`;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.#session.close();
      } finally {
        await this.#release();
      }
    })();
    return this.#closed;
  }
}

/** Replaces a bare "unavailable" from gRPC with the tunnel's reason (403 on port-forward, radar pod gone). */
class ExplainingReceiver implements Receiver {
  readonly #inner: Receiver;
  readonly #tunnel: Tunnel;

  constructor(inner: Receiver, tunnel: Tunnel) {
    this.#inner = inner;
    this.#tunnel = tunnel;
  }

  async manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal, known?: Manifest): Promise<Manifest> {
    try {
      return await this.#inner.manifest(rules, signal, known);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  acceptsDigestAtEnd(): boolean {
    return this.#inner.acceptsDigestAtEnd?.() ?? false;
  }

  async digests(paths: readonly RelPath[], signal?: AbortSignal): Promise<Manifest> {
    if (!this.#inner.digests) return new Map();
    try {
      return await this.#inner.digests(paths, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    try {
      yield* this.#inner.signatures(paths, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }

  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    try {
      return await this.#inner.apply(ops, signal);
    } catch (err) {
      throw explain(err, this.#tunnel);
    }
  }
}

interface Cluster {
  readonly loaded: LoadedKubeconfig;
  readonly locator: RadarLocator;
  readonly tokens: NamespaceTokens;
}

interface SourceDeps {
  cluster(): Cluster;
  namespace(c: Cluster): string;
  register(t: KubeTarget): void;
  unregister(id: string): void;
  watchBackoff?: BackoffPolicy;
  crashBackoff?: BackoffPolicy;
  stableAfterMs?: number;
}

/** One spec's pods as daemon Targets; problems (per pod and of the watch) are joined into the spec's one line. */
class KubeTargetSource implements TargetSource {
  readonly #spec: SpecConfig;
  readonly #events: TargetEvents;
  readonly #deps: SourceDeps;
  readonly #problems = new Map<string, string>();
  readonly #live = new Map<string, KubeTarget>();
  #watch: PodWatch | undefined;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(spec: SpecConfig, events: TargetEvents, deps: SourceDeps) {
    this.#spec = spec;
    this.#events = events;
    this.#deps = deps;
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      let cluster: Cluster;
      try {
        cluster = this.#deps.cluster();
      } catch (err) {
        this.#problem('', err instanceof Error ? err.message : String(err));
        return;
      }
      this.#watch = new PodWatch({
        kc: cluster.loaded.kc,
        context: cluster.loaded.context,
        selection: { namespace: this.#deps.namespace(cluster), selector: this.#spec.selector, pod: this.#spec.pod, container: this.#spec.container },
        watchBackoff: this.#deps.watchBackoff,
        crashBackoff: this.#deps.crashBackoff,
        stableAfterMs: this.#deps.stableAfterMs,
        listener: {
          added: (remote) => this.#added(remote),
          removed: (remote) => this.#removed(remote),
          problem: (subject, err) => this.#problem(subject, err.message),
          resolved: (subject) => this.#resolved(subject),
        },
      });
      await this.#watch.start();
    })();
    return this.#started;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#started?.catch(() => undefined);
      await this.#watch?.close();
      for (const id of this.#live.keys()) this.#deps.unregister(id);
      this.#live.clear();
    })();
    return this.#closed;
  }

  #added(remote: RemoteContainer): void {
    if (this.#closed) return;
    const target: KubeTarget = { id: instanceKey(remote), name: `${remote.pod}/${remote.container}`, remote };
    this.#live.set(target.id, target);
    this.#deps.register(target);
    this.#events.added(target);
  }

  #removed(remote: RemoteContainer): void {
    const id = instanceKey(remote);
    if (!this.#live.delete(id)) return;
    this.#events.removed(id);
    this.#deps.unregister(id);
  }

  #problem(subject: string, message: string): void {
    this.#problems.set(subject, message);
    this.#report();
  }

  #resolved(subject: string): void {
    if (this.#problems.delete(subject)) this.#report();
  }

  #report(): void {
    if (this.#closed) return;
    this.#events.problem(this.#problems.size === 0 ? null : [...this.#problems.values()].join('; '));
  }
}

/**
 * A call that failed because the link is down says why the tunnel cannot come back (radar pod gone, RBAC, …),
 * but stays UNAVAILABLE: the link was up before, so the caller keeps reconnecting rather than giving up.
 */
function explain(err: unknown, tunnel: Tunnel): unknown {
  const reason = tunnel.lastError;
  if (reason && isKxError(err, ErrorCode.Unavailable)) {
    return new KxError(ErrorCode.Unavailable, reason.message, { cause: reason });
  }
  return err;
}

function shortRef(ref: ContainerRef): string {
  const full = formatContainerRef(ref);
  return full.length > ref.runtime.length + 3 + 12 ? `${full.slice(0, ref.runtime.length + 3 + 12)}…` : full;
}

