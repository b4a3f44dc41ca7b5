// Follows the pods one spec selects and turns them into container targets. Built on client-node's ListWatch
// (list, then watch from its resourceVersion; re-list on 410 Gone by itself). The ListWatch does NOT restart after
// other failures (HTTP errors, a dead API server), so this class restarts it with back-off and reports the problem.
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError, isAbort } from './api-errors.ts';
import { Backoff, DEFAULT_BACKOFF } from '../lifecycle/backoff.ts';
import type { BackoffPolicy } from '../lifecycle/backoff.ts';
import { instanceKey, remoteContainerOf } from './remote-container.ts';
import type { RemoteContainer } from './remote-container.ts';

export interface PodWatchListener {
  /** A container is ready to be synced. A replacement of the same pod's container always comes after `removed`. */
  added(target: RemoteContainer): void;
  /** The container is no longer a target: pod deleted or terminating, stopped matching, container stopped or replaced. */
  removed(target: RemoteContainer, reason: string): void;
  /** An added container's pod became ready or not ready (its Ready condition); added ones start out ready. */
  readiness?(target: RemoteContainer, ready: boolean): void;
  /** Something the user should see until `resolved(subject)`: subject '' is the watch itself, else a pod name. */
  problem(subject: string, err: KxError): void;
  resolved(subject: string): void;
}

export interface PodSelection {
  readonly namespace: string;
  /** Label selector (kubectl syntax); or */
  readonly selector?: string;
  /** one pod by name. */
  readonly pod?: string;
  /** Container name; the pod's only (or kubectl default) container when unset. */
  readonly container?: string;
}

export interface PodWatchOptions {
  readonly kc: KubeConfig;
  /** Context name, for messages. */
  readonly context: string;
  readonly selection: PodSelection;
  readonly listener: PodWatchListener;
  /** Restarting the watch after a failure. */
  readonly watchBackoff?: BackoffPolicy;
  /** Holding back a container that keeps being replaced (crash loop) before syncing it again. */
  readonly crashBackoff?: BackoffPolicy;
  /** A container that ran at least this long before being replaced is not counted as crash-looping. */
  readonly stableAfterMs?: number;
}

export class PodWatch {
  readonly #opts: PodWatchOptions;
  readonly #slots = new Map<string, Slot>();
  readonly #watchBackoff: Backoff;
  #lw: ListWatch<V1Pod> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #problem = false;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: PodWatchOptions) {
    this.#opts = opts;
    this.#watchBackoff = new Backoff(opts.watchBackoff ?? DEFAULT_BACKOFF);
  }

  /** Resolves after the first list (successful or reported as a problem and being retried). */
  start(): Promise<void> {
    this.#started ??= this.#run();
    return this.#started;
  }

  /** Targets emitted and not yet removed. */
  targets(): RemoteContainer[] {
    return [...this.#slots.values()].flatMap((s) => (s.emitted ? [s.emitted] : []));
  }

  /** Stops watching. Targets still out are not reported removed: the caller is shutting them down anyway. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#restartTimer);
      for (const slot of this.#slots.values()) clearTimeout(slot.pending?.timer);
      this.#slots.clear();
      await this.#lw?.stop();
    })();
    return this.#closed;
  }

  async #run(): Promise<void> {
    const { kc, selection } = this.#opts;
    const api = kc.makeApiClient(CoreV1Api);
    const fieldSelector = selection.pod ? `metadata.name=${selection.pod}` : undefined;
    const labelSelector = selection.selector || undefined;
    const listFn = async () => {
      const list = await api.listNamespacedPod({ namespace: selection.namespace, labelSelector, fieldSelector });
      this.#healthy(false);
      return list;
    };
    const lw = new ListWatch<V1Pod>(`/api/v1/namespaces/${encodeURIComponent(selection.namespace)}/pods`,
      new Watch(kc), listFn, false, labelSelector, fieldSelector);
    this.#lw = lw;
    lw.on('add', (pod) => this.#onPod(pod));
    lw.on('update', (pod) => this.#onPod(pod));
    lw.on('delete', (pod) => this.#onGone(pod, 'pod deleted'));
    lw.on('error', (err) => this.#onError(err));
    await lw.start();
  }

  /** A successful list clears the problem; only events (the watch works too) reset the back-off. */
  #healthy(resetBackoff = true): void {
    if (resetBackoff) this.#watchBackoff.reset();
    if (this.#problem) {
      this.#problem = false;
      this.#opts.listener.resolved('');
    }
  }

  #onError(err: unknown): void {
    if (this.#closed || isAbort(err)) return;
    const { selection, context } = this.#opts;
    const what = selection.pod
      ? `watch pod "${selection.pod}" in namespace "${selection.namespace}"`
      : `watch pods${selection.selector ? ` matching "${selection.selector}"` : ''} in namespace "${selection.namespace}"`;
    this.#problem = true;
    this.#opts.listener.problem('', apiError(err, what, context));
    const delay = this.#watchBackoff.next();
    clearTimeout(this.#restartTimer);
    // ListWatch.start() keeps its resourceVersion: it resumes the watch, or re-lists if that is too old (410).
    this.#restartTimer = setTimeout(() => {
      if (!this.#closed) this.#lw?.start().catch((e: unknown) => this.#onError(e));
    }, delay);
  }

  #onPod(pod: V1Pod): void {
    if (this.#closed) return;
    this.#healthy();
    const name = pod.metadata?.name ?? '';
    if (this.#opts.selection.pod && name !== this.#opts.selection.pod) return;
    const slot = this.#slot(name);
    let desired: RemoteContainer | undefined;
    try {
      desired = remoteContainerOf(pod, this.#opts.selection.container);
      this.#clearProblem(name, slot);
    } catch (err) {
      const e = err instanceof KxError ? err : new KxError(ErrorCode.Internal, String(err));
      if (slot.problem !== e.message) {
        slot.problem = e.message;
        this.#opts.listener.problem(name, e);
      }
    }
    slot.podReady = podReady(pod);
    this.#reconcile(slot, desired, reasonFor(pod));
    this.#tellReadiness(slot);
  }

  #tellReadiness(slot: Slot): void {
    if (!slot.emitted || slot.toldReady === slot.podReady) return;
    slot.toldReady = slot.podReady;
    this.#opts.listener.readiness?.(slot.emitted, slot.podReady);
  }

  #onGone(pod: V1Pod, reason: string): void {
    if (this.#closed) return;
    this.#healthy();
    const name = pod.metadata?.name ?? '';
    const slot = this.#slots.get(name);
    if (!slot) return;
    this.#reconcile(slot, undefined, reason);
    this.#clearProblem(name, slot);
    this.#slots.delete(name);
  }

  #clearProblem(name: string, slot: Slot): void {
    if (slot.problem === undefined) return;
    slot.problem = undefined;
    this.#opts.listener.resolved(name);
  }

  #slot(name: string): Slot {
    let slot = this.#slots.get(name);
    if (!slot) {
      slot = { emitted: undefined, pending: undefined, flaps: 0, lastAddAt: undefined, problem: undefined, podReady: true, toldReady: true,
        backoff: new Backoff(this.#opts.crashBackoff ?? { baseMs: 1000, maxMs: 30_000 }) };
      this.#slots.set(name, slot);
    }
    return slot;
  }

  #reconcile(slot: Slot, desired: RemoteContainer | undefined, reason: string): void {
    const want = desired ? instanceKey(desired) : undefined;
    if (slot.emitted && instanceKey(slot.emitted) === want) return;
    if (slot.pending && instanceKey(slot.pending.target) === want) return;
    if (slot.pending) {
      clearTimeout(slot.pending.timer);
      slot.pending = undefined;
    }
    if (slot.emitted) {
      const gone = slot.emitted;
      slot.emitted = undefined;
      this.#opts.listener.removed(gone, desired ? 'container replaced' : reason);
    }
    if (!desired) return;
    // A container replaced soon after it was synced is crash-looping: hold the next one back a little longer each
    // time, so its pod does not eat a full initial sync per crash while the spec's other pods keep syncing.
    const now = Date.now();
    const stableAfter = this.#opts.stableAfterMs ?? 10_000;
    if (slot.lastAddAt !== undefined && now - slot.lastAddAt < stableAfter) slot.flaps++;
    else {
      slot.flaps = 0;
      slot.backoff.reset();
    }
    if (slot.flaps === 0) return this.#emit(slot, desired);
    const timer = setTimeout(() => {
      slot.pending = undefined;
      if (!this.#closed) this.#emit(slot, desired);
    }, slot.backoff.next());
    slot.pending = { target: desired, timer };
  }

  #emit(slot: Slot, target: RemoteContainer): void {
    slot.emitted = target;
    slot.lastAddAt = Date.now();
    slot.toldReady = true;
    this.#opts.listener.added(target);
    this.#tellReadiness(slot);
  }
}

interface Slot {
  emitted: RemoteContainer | undefined;
  pending: { target: RemoteContainer; timer: NodeJS.Timeout } | undefined;
  flaps: number;
  lastAddAt: number | undefined;
  problem: string | undefined;
  backoff: Backoff;
  /** The pod's Ready condition as last seen, and as last told to the listener for `emitted`. */
  podReady: boolean;
  toldReady: boolean;
}

/** The pod's Ready condition (all its containers pass their readiness probes); true when it reports none. */
function podReady(pod: V1Pod): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return ready === undefined || ready.status === 'True';
}

function reasonFor(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'pod terminating';
  if (pod.status?.phase !== 'Running') return `pod ${String(pod.status?.phase ?? 'pending').toLowerCase()}`;
  return 'container not running';
}
