// Finds the radar pod that serves a node (radar is a DaemonSet: one pod per node, selected by the labels `kx init`
// sets), and says plainly what to do when there is none: install it when its DaemonSet is missing, wait when radar is
// starting or restarting on that node (saying why, as the kubelet reports it).
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { RADAR_NAME, RADAR_PORT_NAME, RADAR_SELECTOR } from './radar-names.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { apiError, httpStatusOf } from './api-errors.ts';

export const DEFAULT_RADAR_NAMESPACE = 'kx-system';
export const DEFAULT_RADAR_PORT = 7077;

/** Where to port-forward to reach radar on one node. */
export interface RadarEndpoint {
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
  readonly nodeName: string;
}

export interface RadarLocatorOptions {
  readonly kc: KubeConfig;
  /** Context name, for messages. */
  readonly context: string;
  /** Default kx-system. */
  readonly namespace?: string;
  /** Used when the radar pod names no `grpc` container port. */
  readonly defaultPort?: number;
}

export class RadarLocator {
  readonly #opts: RadarLocatorOptions;
  readonly #api: CoreV1Api;
  readonly #apps: AppsV1Api;

  constructor(opts: RadarLocatorOptions) {
    this.#opts = opts;
    this.#api = opts.kc.makeApiClient(CoreV1Api);
    this.#apps = opts.kc.makeApiClient(AppsV1Api);
  }

  get namespace(): string {
    return this.#opts.namespace ?? DEFAULT_RADAR_NAMESPACE;
  }

  /** The ready radar pod on `nodeName`. Throws KxError NOT_FOUND / PERMISSION_DENIED / UNAVAILABLE with a hint. */
  async locate(nodeName: string): Promise<RadarEndpoint> {
    const ns = this.namespace;
    const ctx = this.#opts.context;
    let pods: V1Pod[];
    try {
      const list = await this.#api.listNamespacedPod({ namespace: ns, labelSelector: RADAR_LABEL_SELECTOR });
      pods = list.items;
    } catch (err) {
      const e = apiError(err, `list radar pods in namespace "${ns}" (context "${ctx}")`, ctx);
      if (e.code === ErrorCode.PermissionDenied) {
        throw new KxError(ErrorCode.PermissionDenied,
          `${e.message}; a cluster admin can grant what kx needs there with kx init --grant-group <your group> (or --grant-user)`, { cause: err });
      }
      if (e.code !== ErrorCode.NotFound) throw e;
      pods = [];
    }
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const onNode = live.filter((p) => p.spec?.nodeName === nodeName);
    if (onNode.length === 0) {
      // A radar pod on its way out is being replaced by the DaemonSet (a deleted pod, an upgrade): radar is
      // restarting on that node, which is not something kx init would change.
      const leaving = pods.find((p) => p.metadata?.deletionTimestamp && p.spec?.nodeName === nodeName);
      if (leaving) {
        throw new KxError(ErrorCode.Unavailable,
          `radar is restarting on node "${nodeName}": pod "${leaving.metadata?.name ?? ''}" is terminating and the ${RADAR_NAME} DaemonSet in namespace "${ns}" replaces it`);
      }
      if (live.length === 0) {
        if (await this.#daemonSet()) {
          throw new KxError(ErrorCode.Unavailable,
            `radar is not running on any node yet: the ${RADAR_NAME} DaemonSet in namespace "${ns}" of context "${ctx}" has no pod (kubectl -n ${ns} describe daemonset ${RADAR_NAME} shows why)`);
        }
        throw new KxError(ErrorCode.NotFound, `radar is not installed in namespace "${ns}" of context "${ctx}": run kx init`);
      }
      const nodes = [...new Set(live.map((p) => p.spec?.nodeName).filter((n): n is string => !!n))].sort();
      throw new KxError(ErrorCode.NotFound,
        `no radar pod on node "${nodeName}" (radar runs on: ${nodes.join(', ') || 'no node yet'}); check the ${RADAR_NAME} DaemonSet in namespace "${ns}" (tolerations, node selector) or run kx init`);
    }
    const ready = onNode.find(isReady);
    if (!ready) {
      const p = onNode[0];
      const why = notReadyReason(p);
      throw new KxError(ErrorCode.Unavailable,
        `radar pod "${p.metadata?.name ?? ''}" on node "${nodeName}" is not ready yet (phase ${p.status?.phase ?? 'Pending'})${why ? `: ${why}` : ''}`);
    }
    return { namespace: ns, pod: ready.metadata?.name ?? '', port: grpcPort(ready) ?? this.#opts.defaultPort ?? DEFAULT_RADAR_PORT, nodeName };
  }

  /** radar's DaemonSet; undefined when it does not exist or may not be read (then pods alone decide). */
  async #daemonSet(): Promise<V1DaemonSet | undefined> {
    try {
      return await this.#apps.readNamespacedDaemonSet({ name: RADAR_NAME, namespace: this.namespace });
    } catch (err) {
      if (httpStatusOf(err) === 404 || httpStatusOf(err) === 403) return undefined;
      throw apiError(err, `read DaemonSet ${RADAR_NAME} in namespace "${this.namespace}"`, this.#opts.context);
    }
  }
}

/**
 * Why a radar pod is not ready, in the kubelet's words: "CrashLoopBackOff (back-off 40s restarting …), 3 restarts;
 * last exit 1: radar: no container runtime found: …", "ContainerCreating", "running, not passing its readiness
 * probe yet". '' when the kubelet has said nothing yet.
 */
export function notReadyReason(pod: V1Pod): string {
  const c = pod.status?.containerStatuses?.find((s) => s.state?.waiting?.reason) ?? pod.status?.containerStatuses?.[0];
  if (!c) return '';
  const restarts = c.restartCount ?? 0;
  const count = restarts > 0 ? `, ${restarts} restart${restarts === 1 ? '' : 's'}` : '';
  const last = c.lastState?.terminated;
  const lastExit = last ? `; last exit ${last.exitCode}${last.message ? `: ${lastLine(last.message)}` : last.reason ? ` (${last.reason})` : ''}` : '';
  const w = c.state?.waiting;
  if (w?.reason) return `${w.reason}${w.message ? ` (${w.message.split('\n')[0]})` : ''}${count}${lastExit}`;
  const t = c.state?.terminated;
  if (t) return `exited ${t.exitCode}${t.message ? `: ${lastLine(t.message)}` : ''}${count}`;
  return `running, not passing its readiness probe yet${count}${lastExit}`;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)!.trim();
}

const RADAR_LABEL_SELECTOR = Object.entries(RADAR_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');

function isReady(pod: V1Pod): boolean {
  if (pod.status?.phase !== 'Running') return false;
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
  // A pod without a Ready condition yet but Running with running containers is usable; radar has no probe to wait on.
  return ready ? ready.status === 'True' : (pod.status.containerStatuses ?? []).every((s) => !!s.state?.running);
}

function grpcPort(pod: V1Pod): number | undefined {
  for (const c of pod.spec?.containers ?? []) {
    const port = c.ports?.find((p) => p.name === RADAR_PORT_NAME);
    if (port) return port.containerPort;
  }
  return undefined;
}
