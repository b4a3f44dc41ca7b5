// The scheduler + kubelet stand-in: binds a new pod to a node, runs its containers on the real Docker engine
// (a sandbox holding the network namespace, app containers joined to it), reports status transitions as the
// 1.24 kubelet does, replaces containers that die (restartCount+1, new ID), and carries out graceful deletion.
import { randomBytes } from 'node:crypto';
import type { DockerRuntime } from './docker-runtime.ts';
import { SANDBOX_IMAGE } from './docker-runtime.ts';
import type { NodeRegistry } from './nodes.ts';
import { META_ORDER, POD_SPEC_ORDER, POD_STATUS_ORDER, fieldsOf, meta, ordered, timestamp } from './objects.ts';
import {
  backoffStatus, conditions, creatingStatus, exitedStatus, normalizeImage, rfc3339, runningStatus, terminated,
} from './pod-status.ts';
import type { TerminatedInput } from './pod-status.ts';
import type { ObjectStore } from './store.ts';
import type { Json } from './wire.ts';

export interface KubeletOptions {
  store: ObjectStore;
  runtime: DockerRuntime;
  nodes: NodeRegistry;
  /** Label value put on every container this cluster makes, so close() can sweep them. */
  clusterId: string;
  /** First crash-loop back-off; doubles per consecutive quick failure (the real kubelet starts at 10 s). */
  restartBackoffMs: number;
  /** Told when a pod's containers are gone for good (open port-forwards end then). */
  onPodGone: (namespace: string, name: string) => void;
}

export const CLUSTER_LABEL = 'kx-test.cluster';
export const NODE_LABEL = 'kx-test.node';

interface ContainerRec {
  name: string;
  spec: Json;
  id?: string;
  restartCount: number;
  lastState: Json;
  crashesPending: number;
  quickFailures: number;
}

interface PodRec {
  namespace: string;
  name: string;
  uid: string;
  node?: string;
  sandboxId?: string;
  podIP?: string;
  containers: ContainerRec[];
  deleting: boolean;
  gone: boolean;
  chain: Promise<void>;
}

export class Kubelet {
  private readonly o: KubeletOptions;
  private readonly pods = new Map<string, PodRec>();
  private nextIP = 2;
  private closed = false;

  constructor(opts: KubeletOptions) {
    this.o = opts;
  }

  /** A pod was just created in the store: schedule it and run it. */
  admit(pod: Json): void {
    const m = meta(pod);
    const spec = pod.spec as Json;
    const rec: PodRec = {
      namespace: String(m.namespace), name: String(m.name), uid: String(m.uid), deleting: false, gone: false,
      chain: Promise.resolve(),
      containers: ((spec.containers as Json[]) ?? []).map((c) => ({
        name: String(c.name), spec: c, restartCount: 0, lastState: {}, crashesPending: 0, quickFailures: 0,
      })),
    };
    this.pods.set(key(rec.namespace, rec.name), rec);
    this.enqueue(rec, () => this.startPod(rec));
  }

  /** Sandbox container ID of a pod (holds its network namespace and published ports). */
  sandboxId(namespace: string, name: string): string | undefined {
    return this.pods.get(key(namespace, name))?.sandboxId;
  }

  nodeOf(namespace: string, name: string): string | undefined {
    return this.pods.get(key(namespace, name))?.node;
  }

  /** Kill the container so that the kubelet replaces it (exit 137, then a new container, restartCount+1). */
  async killContainer(namespace: string, name: string, container?: string, alsoCrashNext = 0): Promise<string> {
    const rec = this.pods.get(key(namespace, name));
    if (!rec) throw new Error(`kubelet: no pod ${namespace}/${name}`);
    const c = container ? rec.containers.find((x) => x.name === container) : rec.containers[0];
    if (!c) throw new Error(`kubelet: pod ${namespace}/${name} has no container ${container}`);
    if (!c.id) throw new Error(`kubelet: container ${c.name} of ${namespace}/${name} is not running`);
    c.crashesPending += alsoCrashNext;
    const old = c.id;
    await this.o.runtime.kill(old);
    return old;
  }

  /** Graceful delete (README §2 c): returns the pod as the DELETE answers it, undefined when it does not exist. */
  beginDelete(namespace: string, name: string, graceSeconds: number | undefined): Json | undefined {
    const pod = this.o.store.get('pods', namespace, name);
    if (!pod) return undefined;
    const m = meta(pod);
    if (m.deletionTimestamp) return pod;
    const rec = this.pods.get(key(namespace, name));
    const grace = graceSeconds ?? Number((pod.spec as Json).terminationGracePeriodSeconds ?? 30);
    const requested = new Date();
    const running = rec && rec.containers.some((c) => c.id);
    if (grace <= 0 || !rec || (!running && !rec.node)) {
      const last = this.o.store.remove('pods', namespace, name);
      if (rec) { rec.deleting = true; this.enqueue(rec, () => this.teardown(rec, 0)); }
      return last;
    }
    const marked = this.o.store.mutate('pods', namespace, name, (d) => {
      const dm = d.metadata as Json;
      dm.deletionTimestamp = timestamp(new Date(requested.getTime() + grace * 1000));
      dm.deletionGracePeriodSeconds = grace;
      d.metadata = ordered(dm, META_ORDER);
    });
    rec.deleting = true;
    this.enqueue(rec, () => this.finishDelete(rec, grace, requested));
    return marked;
  }

  /** Remove every container this kubelet made. */
  async close(): Promise<void> {
    this.closed = true;
    await this.o.runtime.shutdown();
    const ids: string[] = [];
    for (const rec of this.pods.values()) {
      rec.gone = true;
      for (const c of rec.containers) if (c.id) ids.push(c.id);
      if (rec.sandboxId) ids.push(rec.sandboxId);
    }
    await Promise.all(ids.map((id) => this.o.runtime.remove(id)));
    const stray = await this.o.runtime.listByLabel(CLUSTER_LABEL, this.o.clusterId).catch(() => [] as string[]);
    await Promise.all(stray.map((id) => this.o.runtime.remove(id)));
  }

  // ---- internals

  private enqueue(rec: PodRec, step: () => Promise<void>): void {
    rec.chain = rec.chain.then(step).catch((err: unknown) => this.reportError(rec, err));
  }

  private reportError(rec: PodRec, err: unknown): void {
    if (rec.gone || this.closed) return;
    const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    this.updateStatus(rec, (s) => {
      s.containerStatuses = ((s.containerStatuses as Json[] | undefined) ?? []).map((cs) => cs.state && (cs.state as Json).running
        ? cs : { ...cs, state: { waiting: { reason: 'CreateContainerError', message } } });
    });
  }

  private labels(rec: PodRec, type: 'podsandbox' | 'container', container?: string): Record<string, string> {
    const l: Record<string, string> = {
      'io.kubernetes.pod.name': rec.name,
      'io.kubernetes.pod.namespace': rec.namespace,
      'io.kubernetes.pod.uid': rec.uid,
      'io.kubernetes.docker.type': type,
      [CLUSTER_LABEL]: this.o.clusterId,
      [NODE_LABEL]: rec.node ?? '',
    };
    if (container) l['io.kubernetes.container.name'] = container;
    return l;
  }

  private alive(rec: PodRec): boolean {
    return !rec.gone && !rec.deleting && !this.closed;
  }

  private updatePod(rec: PodRec, change: (pod: Json) => void): Json | undefined {
    if (rec.gone || this.closed) return undefined;
    return this.o.store.mutate('pods', rec.namespace, rec.name, change);
  }

  private updateStatus(rec: PodRec, change: (status: Json, pod: Json) => void): void {
    this.updatePod(rec, (pod) => {
      const s = { ...(pod.status as Json) };
      change(s, pod);
      pod.status = ordered(s, POD_STATUS_ORDER);
      noteStatusWriter(pod);
    });
  }

  private async startPod(rec: PodRec): Promise<void> {
    const pod = this.o.store.get('pods', rec.namespace, rec.name);
    if (!pod || !this.alive(rec)) return;
    const spec = pod.spec as Json;
    const now = () => timestamp(new Date());
    if (spec.nodeName) {
      // Bound to a node this cluster does not simulate: no kubelet will ever run it.
      if (!this.o.nodes.has(String(spec.nodeName))) return;
      rec.node = String(spec.nodeName);
    } else {
      const node = this.o.nodes.pick(pod);
      if (!node) {
        const n = this.o.nodes.list().length;
        this.updateStatus(rec, (s) => {
          s.conditions = [{ type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: now(),
            reason: 'Unschedulable', message: `0/${n} nodes are available: ${n} node(s) didn't match Pod's node affinity/selector.` }];
        });
        return;
      }
      rec.node = node;
      this.updatePod(rec, (p) => {
        p.spec = ordered({ ...(p.spec as Json), nodeName: node }, POD_SPEC_ORDER);
        p.status = ordered({ ...(p.status as Json), conditions: conditions(undefined, { PodScheduled: true }, [], now()) }, POD_STATUS_ORDER);
      });
    }
    const names = rec.containers.map((c) => c.name);
    this.updateStatus(rec, (s) => {
      const t = now();
      s.phase = 'Pending';
      s.conditions = conditions(s.conditions as Json[] | undefined,
        { Initialized: true, Ready: false, ContainersReady: false, PodScheduled: true }, names, t);
      s.hostIP = this.o.nodes.hostIP(rec.node!);
      s.startTime = t;
      s.containerStatuses = rec.containers.map((c) => creatingStatus(c.name, String(c.spec.image)));
    });
    const ports = rec.containers.flatMap((c) => ((c.spec.ports as Json[] | undefined) ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => Number(p.containerPort)));
    rec.sandboxId = await this.o.runtime.runSandbox({
      name: `kx-test-${rec.name}-${rand()}`, hostname: rec.name, labels: this.labels(rec, 'podsandbox'), ports,
    });
    rec.podIP = `10.88.${Math.floor(this.nextIP / 250)}.${(this.nextIP++ % 250) + 2}`;
    const started: Json[] = [];
    for (const c of rec.containers) {
      if (!this.alive(rec)) return this.teardownIfDeleted(rec);
      started.push(await this.runContainer(rec, c));
    }
    if (!this.alive(rec)) return this.teardownIfDeleted(rec);
    this.updateStatus(rec, (s) => {
      const t = now();
      s.phase = 'Running';
      s.conditions = conditions(s.conditions as Json[] | undefined,
        { Initialized: true, Ready: true, ContainersReady: true, PodScheduled: true }, [], t);
      s.podIP = rec.podIP;
      s.podIPs = [{ ip: rec.podIP }];
      s.containerStatuses = started;
    });
    for (const c of rec.containers) this.watchExit(rec, c, c.id!);
  }

  /** Start one container; returns its running containerStatus (not yet written). */
  private async runContainer(rec: PodRec, c: ContainerRec): Promise<Json> {
    const image = String(c.spec.image);
    const present = await this.o.runtime.hasImage(image);
    // An image the engine does not have (e.g. radar's) runs as the test image idling: the pod still has a
    // real container; what it serves comes from the port-forward target the test registers.
    const id = await this.o.runtime.runContainer({
      name: `kx-test-${rec.name}-${c.name}-${rand()}`,
      image: present ? image : SANDBOX_IMAGE,
      labels: this.labels(rec, 'container', c.name),
      sandboxId: rec.sandboxId!,
      entrypoint: present ? (c.spec.command as string[] | undefined) : ['/bin/busybox', 'sleep', '2147483647'],
      cmd: present ? (c.spec.args as string[] | undefined) : [],
      env: ((c.spec.env as Json[] | undefined) ?? []).filter((e) => typeof e.value === 'string').map((e) => `${String(e.name)}=${String(e.value)}`),
      workingDir: c.spec.workingDir as string | undefined,
    });
    c.id = id;
    const st = await this.o.runtime.state(id);
    return runningStatus({ name: c.name }, {
      containerID: `docker://${id}`, startedAt: rfc3339(st.startedAt), image: normalizeImage(image),
      imageID: `docker://${st.imageId}`,
    }, c.restartCount, c.lastState);
  }

  private watchExit(rec: PodRec, c: ContainerRec, id: string): void {
    if (c.crashesPending > 0) {
      c.crashesPending--;
      void this.o.runtime.kill(id);
    }
    void this.o.runtime.wait(id).then((code) => {
      this.enqueue(rec, () => this.onExit(rec, c, id, code));
    });
  }

  private async onExit(rec: PodRec, c: ContainerRec, id: string, code: number): Promise<void> {
    if (!this.alive(rec) || c.id !== id) return;
    const st = await this.o.runtime.state(id).catch(() => undefined);
    const t: TerminatedInput = {
      exitCode: code < 0 ? 137 : code, startedAt: rfc3339(st?.startedAt), finishedAt: rfc3339(st?.finishedAt) || timestamp(new Date()),
      containerID: `docker://${id}`,
    };
    const ranMs = st ? Date.parse(st.finishedAt) - Date.parse(st.startedAt) : 0;
    const names = () => rec.containers.filter((x) => x === c || !x.id).map((x) => x.name);
    this.updateStatus(rec, (s) => {
      s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => cs.name === c.name ? exitedStatus(cs, t) : cs);
      s.conditions = conditions(s.conditions as Json[], { Initialized: true, Ready: false, ContainersReady: false, PodScheduled: true },
        names(), timestamp(new Date()));
    });
    const pod = this.o.store.get('pods', rec.namespace, rec.name);
    const policy = String((pod?.spec as Json | undefined)?.restartPolicy ?? 'Always');
    if (policy === 'Never' || (policy === 'OnFailure' && t.exitCode === 0)) {
      c.id = undefined;
      if (rec.containers.every((x) => !x.id)) {
        this.updateStatus(rec, (s) => { s.phase = rec.containers.length && t.exitCode === 0 ? 'Succeeded' : 'Failed'; });
      }
      return;
    }
    c.quickFailures = ranMs < Math.max(1000, 4 * this.o.restartBackoffMs) && c.restartCount > 0 ? c.quickFailures + 1 : 0;
    const lastState = terminated(t);
    if (c.quickFailures > 0) {
      const delay = Math.min(this.o.restartBackoffMs * 2 ** (c.quickFailures - 1), 16 * this.o.restartBackoffMs);
      this.updateStatus(rec, (s) => {
        s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => cs.name === c.name
          ? backoffStatus(cs, `back-off ${delay / 1000}s restarting failed container=${c.name} pod=${rec.name}_${rec.namespace}(${rec.uid})`, lastState)
          : cs);
      });
      await new Promise((r) => setTimeout(r, delay));
      if (!this.alive(rec)) return;
    }
    await this.o.runtime.remove(id);
    c.id = undefined;
    c.restartCount++;
    c.lastState = lastState;
    const status = await this.runContainer(rec, c);
    if (!this.alive(rec)) return this.teardownIfDeleted(rec);
    this.updateStatus(rec, (s) => {
      s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => cs.name === c.name ? status : cs);
      const allReady = (s.containerStatuses as Json[]).every((cs) => cs.ready === true);
      s.conditions = conditions(s.conditions as Json[], { Initialized: true, Ready: allReady, ContainersReady: allReady, PodScheduled: true },
        (s.containerStatuses as Json[]).filter((cs) => cs.ready !== true).map((cs) => String(cs.name)), timestamp(new Date()));
    });
    this.watchExit(rec, c, c.id!);
  }

  private async teardownIfDeleted(rec: PodRec): Promise<void> {
    // A delete that raced with start-up queued finishDelete/teardown itself; nothing else to do here.
    if (rec.gone || this.closed) await this.teardown(rec, 0);
  }

  /** README §2 (c): containers stopped → MODIFIED (terminated) → MODIFIED (grace 0) → DELETED. */
  private async finishDelete(rec: PodRec, grace: number, requested: Date): Promise<void> {
    const running = rec.containers.filter((c) => c.id);
    await Promise.all(running.map((c) => this.o.runtime.stop(c.id!, grace)));
    const finals = new Map<string, TerminatedInput>();
    for (const c of running) {
      const st = await this.o.runtime.state(c.id!).catch(() => undefined);
      finals.set(c.name, { exitCode: st?.exitCode ?? 137, startedAt: rfc3339(st?.startedAt), finishedAt: rfc3339(st?.finishedAt) || timestamp(new Date()), containerID: `docker://${c.id!}` });
    }
    const { store } = this.o;
    if (finals.size) {
      this.updateDeleting(rec, (pod) => {
        const s = { ...(pod.status as Json) };
        s.containerStatuses = ((s.containerStatuses as Json[] | undefined) ?? []).map((cs) => {
          const t = finals.get(String(cs.name));
          return t ? exitedStatus(cs, t) : cs;
        });
        s.conditions = conditions(s.conditions as Json[], { Initialized: true, Ready: false, ContainersReady: false, PodScheduled: true },
          rec.containers.map((c) => c.name), timestamp(new Date()));
        pod.status = ordered(s, POD_STATUS_ORDER);
      });
    }
    this.updateDeleting(rec, (pod) => {
      const m = pod.metadata as Json;
      m.deletionTimestamp = timestamp(requested);
      m.deletionGracePeriodSeconds = 0;
    });
    // The dead containers are removed before DELETED, so watchers may rely on them being gone by then.
    await this.teardown(rec, 0);
    if (!this.closed) store.remove('pods', rec.namespace, rec.name);
  }

  private updateDeleting(rec: PodRec, change: (pod: Json) => void): void {
    if (this.closed) return;
    this.o.store.mutate('pods', rec.namespace, rec.name, change);
  }

  private async teardown(rec: PodRec, grace: number): Promise<void> {
    const wasGone = rec.gone;
    rec.gone = true;
    const ids = rec.containers.map((c) => c.id).filter((x): x is string => !!x);
    if (grace > 0) await Promise.all(ids.map((id) => this.o.runtime.stop(id, grace)));
    await Promise.all([...ids, ...(rec.sandboxId ? [rec.sandboxId] : [])].map((id) => this.o.runtime.remove(id)));
    for (const c of rec.containers) c.id = undefined;
    rec.sandboxId = undefined;
    if (this.pods.get(key(rec.namespace, rec.name)) === rec) this.pods.delete(key(rec.namespace, rec.name));
    if (!wasGone || ids.length) this.o.onPodGone(rec.namespace, rec.name);
  }
}

/** The kubelet's status writes show up as a managedFields entry on the status subresource (README §1). */
function noteStatusWriter(pod: Json): void {
  const m = pod.metadata as Json;
  const entries = (m.managedFields as Json[] | undefined) ?? [];
  const entry: Json = { manager: 'Go-http-client', operation: 'Update', apiVersion: 'v1', time: timestamp(new Date()),
    fieldsType: 'FieldsV1', fieldsV1: fieldsOf({ status: pod.status as Json }), subresource: 'status' };
  m.managedFields = [...entries.filter((e) => e.subresource !== 'status'), entry];
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function rand(): string {
  return randomBytes(3).toString('hex');
}
