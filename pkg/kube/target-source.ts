// One spec's pods as daemon Targets: a PodWatch per spec, its added and removed containers handed to the daemon,
// and its problems (per pod and of the watch) joined into the spec's one status line.
import type { SpecConfig } from '../config/types.ts';
import type { TargetEvents, TargetSource } from '../daemon/target.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import type { LoadedKubeconfig } from './kubeconfig.ts';
import { PodWatch } from './pod-watch.ts';
import type { NamespaceTokens, KubeTarget } from './radar-dial.ts';
import type { RadarLocator } from './radar-locator.ts';
import { instanceKey } from './remote-container.ts';
import type { RemoteContainer } from './remote-container.ts';

export interface Cluster {
  readonly loaded: LoadedKubeconfig;
  readonly locator: RadarLocator;
  readonly tokens: NamespaceTokens;
}

export interface SourceDeps {
  cluster(): Cluster;
  namespace(c: Cluster): string;
  register(t: KubeTarget): void;
  unregister(id: string): void;
  watchBackoff?: BackoffPolicy;
  crashBackoff?: BackoffPolicy;
  stableAfterMs?: number;
}

export class KubeTargetSource implements TargetSource {
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
          readiness: (remote, ready) => {
            const id = instanceKey(remote);
            if (this.#live.has(id) && !this.#closed) this.#events.ready?.(id, ready);
          },
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
