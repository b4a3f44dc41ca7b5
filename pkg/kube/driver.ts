// Kubernetes as a target kind for the daemon: follows each spec's pods (KubeTargetSource) and connects to one
// container through the radar on its node (RadarLocator → shared Tunnel per node → a radar client dialed over the
// tunnel with the namespace's token → KubeConnection). The radar client itself comes from pkg/transport through
// the RadarDialer seam (radar-dial.ts), wired in cmd/composition, so pkg/kube has no gRPC in it.
import type { SpecConfig } from '../config/types.ts';
import { PortForward } from '@kubernetes/client-node';
import type { Connection, PortDialer, Target, TargetConnector, TargetDriver, TargetEvents, TargetSource } from '../daemon/target.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { KubeConnection, explain } from './connection.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import { PodPortDialer } from './pod-port-dialer.ts';
import type { LoadedKubeconfig } from './kubeconfig.ts';
import type { KubeTarget, NamespaceTokens, RadarDialer, RadarSession } from './radar-dial.ts';
import { RadarLocator } from './radar-locator.ts';
import { SecretTokens } from './secret-tokens.ts';
import { KubeTargetSource, type Cluster } from './target-source.ts';
import { Tunnel, TunnelPool } from './tunnel.ts';
import type { PortForwarder, TunnelEvent } from './tunnel.ts';

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

export class KubernetesDriver implements TargetDriver {
  readonly connector: TargetConnector;
  readonly ports: PortDialer;
  readonly #opts: KubernetesDriverOptions;
  readonly #clusters = new Map<string, Cluster>();
  readonly #targets = new Map<string, { target: KubeTarget; refs: number }>();
  readonly #pool = new TunnelPool();
  #closed: Promise<void> | undefined;

  constructor(opts: KubernetesDriverOptions) {
    this.#opts = opts;
    this.connector = { connect: (spec, target, signal) => this.#connect(spec, target, signal) };
    this.ports = new PodPortDialer({
      cluster: (spec) => {
        const { loaded } = this.#cluster(spec);
        return { forwarder: this.#opts.forwarder?.(loaded) ?? new PortForward(loaded.kc), context: loaded.context };
      },
    });
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
        remotePath: spec.remote, owner: spec.owner, keepSetIdBits: spec.keepSetIdBits === true, signal });
    } catch (err) {
      await release();
      throw explain(err, tunnel);
    }
    return new KubeConnection(remote, session, tunnel, release, cluster.locator.namespace);
  }
}

