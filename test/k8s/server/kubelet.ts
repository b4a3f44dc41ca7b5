// The scheduler + kubelet stand-in: binds a new pod to a node, runs its containers on the real Docker engine
// from their pod spec (a sandbox holding the network namespace, app containers joined to it, volumes, security
// context, exec probes; see pod-spec.ts for what it implements and refuses), reports status transitions as the
// 1.24 kubelet does, replaces containers that die (restartCount+1, new ID), and carries out graceful deletion.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DockerRuntime } from './docker-runtime.ts';
import { SANDBOX_IMAGE } from './docker-runtime.ts';
import type { NodeRegistry } from './nodes.ts';
import { META_ORDER, POD_SPEC_ORDER, POD_STATUS_ORDER, fieldsOf, getPath, meta, ordered, timestamp } from './objects.ts';
import { PodSpecError, UNSUPPORTED, checkPodSpec, containerPlan } from './pod-spec.ts';
import type { ContainerContext } from './pod-spec.ts';
import {
  backoffStatus, conditions, creatingStatus, exitedStatus, normalizeImage, rfc3339, runningStatus, terminated,
} from './pod-status.ts';
import type { TerminatedInput } from './pod-status.ts';
import { notInitialized, runInitContainers, waitingInit } from './init-containers.ts';
import { ContainerProbes } from './probes.ts';
import { typeOf } from './resources.ts';
import { AGENT_API_DIR, AGENT_POD_DIR, AGENT_SCRIPT, API_IN_POD_PORT, PORTFORWARD_SOCKET_NAME } from './sandbox-agent.ts';
import type { ObjectStore } from './store.ts';
import { prepareVolumes } from './volumes.ts';
import type { PreparedVolume } from './volumes.ts';
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
  /** Where pod directories (emptyDir, projected volumes, the agent's socket) live; removed by the cluster. */
  stateDir: string;
  /** A token for a pod's service account (projected serviceAccountToken sources). */
  issueToken(pod: Json, expirationSeconds: number): string;
  /**
   * An image with node: each sandbox runs the network-namespace agent (sandbox-agent.ts), which gives pods the
   * in-cluster API at 127.0.0.1:443 and port-forwards to their loopback. Without it pods have no API access and
   * forwards go to published ports.
   */
  agent?: { image: string; apiSocketDir: string };
}

export const CLUSTER_LABEL = 'kx-test.cluster';
export const NODE_LABEL = 'kx-test.node';

interface ContainerRec {
  name: string;
  index: number;
  spec: Json;
  id?: string;
  probes?: ContainerProbes;
  /** Ran as the idle stand-in for an image the engine lacks. */
  standIn?: boolean;
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
  /** The init container running now, if any. */
  initId?: string;
  podIP?: string;
  volumes?: Map<string, PreparedVolume>;
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
      containers: ((spec.containers as Json[]) ?? []).map((c, index) => ({
        name: String(c.name), index, spec: c, restartCount: 0, lastState: {}, crashesPending: 0, quickFailures: 0,
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

  /** The unix socket of the pod's agent that dials its loopback, when sandboxes run the agent. */
  portForwardSocket(namespace: string, name: string): string | undefined {
    const rec = this.pods.get(key(namespace, name));
    return this.o.agent && rec?.sandboxId ? join(this.podDir(rec), 'sandbox', PORTFORWARD_SOCKET_NAME) : undefined;
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
    // An init container still running would hold up the queue the deletion waits in.
    if (rec.initId) void this.o.runtime.kill(rec.initId).catch(() => undefined);
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
      for (const c of rec.containers) c.probes?.close();
      for (const c of rec.containers) if (c.id) ids.push(c.id);
      if (rec.initId) ids.push(rec.initId);
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
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
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
    const inits = (spec.initContainers as Json[] | undefined) ?? [];
    this.updateStatus(rec, (s) => {
      const t = now();
      s.phase = 'Pending';
      s.conditions = conditions(s.conditions as Json[] | undefined,
        { Initialized: inits.length === 0, Ready: false, ContainersReady: false, PodScheduled: true }, names, t);
      if (inits.length) s.conditions = notInitialized(s.conditions as Json[], inits.map((c) => String(c.name)));
      s.hostIP = this.o.nodes.hostIP(rec.node!);
      s.startTime = t;
      if (inits.length) s.initContainerStatuses = inits.map((c) => waitingInit(String(c.name), String(c.image), 'PodInitializing'));
      s.containerStatuses = rec.containers.map((c) => inits.length
        ? { ...creatingStatus(c.name, String(c.spec.image)), state: { waiting: { reason: 'PodInitializing' } } }
        : creatingStatus(c.name, String(c.spec.image)));
    });
    try {
      checkPodSpec(pod);
      rec.podIP = `10.88.${Math.floor(this.nextIP / 250)}.${(this.nextIP++ % 250) + 2}`;
      rec.volumes = await prepareVolumes(spec, this.podDir(rec), {
        field: (path) => this.field(rec, path),
        secret: (name) => this.secretData(rec.namespace, name),
        configMap: (name) => this.configMapData(rec.namespace, name),
        token: (seconds) => this.o.issueToken(this.o.store.get('pods', rec.namespace, rec.name) ?? pod, seconds),
        claim: (name) => this.claimDir(rec.namespace, name),
      });
    } catch (err) {
      if (!(err instanceof PodSpecError)) throw err;
      this.event(rec, 'Warning', err.reason === UNSUPPORTED ? 'Failed' : err.reason, err.message);
      // A spec the kubelet cannot run fails each container with the reason; a volume that cannot be set up keeps
      // the pod ContainerCreating, as on a real node.
      if (err.reason === UNSUPPORTED) this.setWaiting(rec, rec.containers, err.reason, err.message);
      return;
    }
    const ports = rec.containers.flatMap((c) => ((c.spec.ports as Json[] | undefined) ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => Number(p.containerPort)));
    const agent = this.o.agent;
    rec.sandboxId = await this.o.runtime.runSandbox({
      name: `kx-test-${rec.name}-${rand()}`, hostname: String(spec.hostname ?? rec.name), labels: this.labels(rec, 'podsandbox'), ports,
      ...(agent ? { agent: { image: agent.image, script: AGENT_SCRIPT, mounts: [
        { type: 'bind', source: agent.apiSocketDir, target: AGENT_API_DIR, readOnly: true },
        { type: 'bind', source: await this.sandboxDir(rec), target: AGENT_POD_DIR, readOnly: false },
      ] } } : {}),
    });
    if (agent) await this.agentListening(rec);
    if (!(await this.runInitContainers(rec))) return this.teardownIfDeleted(rec);
    const started = new Map<string, Json>();
    for (const c of rec.containers) {
      if (!this.alive(rec)) return this.teardownIfDeleted(rec);
      try {
        started.set(c.name, await this.runContainer(rec, c));
      } catch (err) {
        const e = startError(err);
        this.event(rec, 'Warning', 'Failed', `Error: ${e.message}`, c.name);
        this.setWaiting(rec, [c], e.reason, e.message);
      }
    }
    if (!this.alive(rec)) return this.teardownIfDeleted(rec);
    this.updateStatus(rec, (s) => {
      // Running once every container was created and started; one that could not be keeps the pod Pending.
      s.phase = started.size === rec.containers.length ? 'Running' : 'Pending';
      s.podIP = rec.podIP;
      s.podIPs = [{ ip: rec.podIP }];
      s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => started.get(String(cs.name)) ?? cs);
      this.setReadyConditions(s);
    });
    for (const c of rec.containers) if (c.id) { this.watchExit(rec, c, c.id); this.startProbes(rec, c); }
  }

  /** Runs the pod's init containers in order (init-containers.ts); false when the pod cannot go on. */
  private runInitContainers(rec: PodRec): Promise<boolean> {
    return runInitContainers({
      runtime: this.o.runtime,
      pod: () => this.o.store.get('pods', rec.namespace, rec.name),
      context: this.containerContext(rec),
      run: async (index, plan, image) => {
        if (!(await this.o.runtime.hasImage(image))) throw new Error(`image ${JSON.stringify(image)} is not present (the test kubelet pulls nothing)`);
        const spec = ((this.o.store.get('pods', rec.namespace, rec.name)?.spec as Json | undefined)?.initContainers as Json[] | undefined)?.[index];
        return this.o.runtime.runContainer({
          name: `kx-test-${rec.name}-${String(spec?.name ?? 'init')}-${rand()}`, labels: this.labels(rec, 'container', String(spec?.name ?? '')),
          sandboxId: rec.sandboxId!, image, entrypoint: plan.entrypoint, cmd: plan.cmd, env: plan.env, workingDir: plan.workingDir,
          mounts: plan.mounts, user: plan.user, capAdd: plan.capAdd, capDrop: plan.capDrop, readonlyRootfs: plan.readonlyRootfs,
          securityOpt: plan.securityOpt, hostPid: plan.hostPid, privileged: plan.privileged, memoryBytes: plan.memoryBytes,
          nanoCpus: plan.nanoCpus,
        });
      },
      track: (id) => { rec.initId = id; },
      updateStatus: (change) => this.updateStatus(rec, (s) => {
        change(s);
        const pending = ((s.initContainerStatuses as Json[] | undefined) ?? []).filter((cs) => !getPath(cs, ['state', 'terminated']) || cs.ready !== true);
        if (pending.length) s.conditions = notInitialized(s.conditions as Json[], pending.map((cs) => String(cs.name)));
      }),
      event: (type, reason, message, container) => this.event(rec, type, reason, message, container, 'initContainers'),
      alive: () => this.alive(rec),
      restartBackoffMs: this.o.restartBackoffMs,
    });
  }

  /** A PersistentVolumeClaim's directory on the node, as a local-path provisioner makes it: bound on first use, kept after pods go. */
  private async claimDir(namespace: string, name: string): Promise<string | undefined> {
    const pvc = this.o.store.get('persistentvolumeclaims', namespace, name);
    if (!pvc) return undefined;
    const uid = String(meta(pvc).uid);
    const dir = join(this.o.stateDir, 'claims', namespace, `pvc-${uid}`);
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777);
    if (getPath(pvc, ['status', 'phase']) !== 'Bound') {
      this.o.store.mutate('persistentvolumeclaims', namespace, name, (p) => {
        p.spec = { ...(p.spec as Json), volumeName: `pvc-${uid}` };
        p.status = { phase: 'Bound', accessModes: getPath(p, ['spec', 'accessModes']) ?? ['ReadWriteOnce'],
          capacity: getPath(p, ['spec', 'resources', 'requests']) ?? {} };
      });
    }
    return dir;
  }

  /** Pod conditions from the container statuses: Ready when every container is. */
  private setReadyConditions(s: Json): void {
    const statuses = (s.containerStatuses as Json[] | undefined) ?? [];
    const notReady = statuses.filter((cs) => cs.ready !== true).map((cs) => String(cs.name));
    const ready = statuses.length > 0 && notReady.length === 0;
    s.conditions = conditions(s.conditions as Json[] | undefined,
      { Initialized: true, Ready: ready, ContainersReady: ready, PodScheduled: true }, notReady, timestamp(new Date()));
  }

  private setWaiting(rec: PodRec, which: readonly ContainerRec[], reason: string, message: string): void {
    const names = new Set(which.map((c) => c.name));
    this.updateStatus(rec, (s) => {
      s.containerStatuses = ((s.containerStatuses as Json[] | undefined) ?? []).map((cs) => names.has(String(cs.name))
        ? { ...cs, state: { waiting: { reason, message } }, ready: false, started: false } : cs);
    });
  }

  private startProbes(rec: PodRec, c: ContainerRec): void {
    c.probes?.close();
    c.probes = undefined;
    if (c.standIn || !c.id) return;
    const id = c.id;
    const probes = new ContainerProbes(this.o.runtime, id, c.spec, {
      ready: (ready) => this.enqueue(rec, async () => {
        if (!this.alive(rec) || c.id !== id) return;
        this.updateStatus(rec, (s) => {
          s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => cs.name === c.name ? { ...cs, ready } : cs);
          this.setReadyConditions(s);
        });
      }),
      unhealthy: (message) => {
        if (!this.alive(rec) || c.id !== id) return;
        this.event(rec, 'Normal', 'Killing', `Container ${c.name} failed liveness probe, will be restarted (${message})`, c.name);
        void this.o.runtime.kill(id);
      },
    });
    c.probes = probes;
    probes.start();
  }

  private podDir(rec: PodRec): string {
    return join(this.o.stateDir, 'pods', rec.uid);
  }

  private async sandboxDir(rec: PodRec): Promise<string> {
    const dir = join(this.podDir(rec), 'sandbox');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** The agent listens on 127.0.0.1:443 before it creates its port-forward socket; wait for that socket. */
  private async agentListening(rec: PodRec): Promise<void> {
    const sock = join(this.podDir(rec), 'sandbox', PORTFORWARD_SOCKET_NAME);
    for (let i = 0; i < 400; i++) {
      if ((await stat(sock).catch(() => undefined))?.isSocket()) return;
      if (i % 20 === 19 && !(await this.o.runtime.state(rec.sandboxId!)).running) throw new Error(`kubelet: the sandbox agent of ${rec.namespace}/${rec.name} exited`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`kubelet: the sandbox agent of ${rec.namespace}/${rec.name} did not start in 10 s`);
  }

  /** A downward-API field of the pod. */
  private field(rec: PodRec, path: string): string {
    const pod = this.o.store.get('pods', rec.namespace, rec.name) ?? { metadata: {}, spec: {} };
    const m = meta(pod);
    const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
    if (keyed) return String(((m[keyed[1]] as Json | undefined) ?? {})[keyed[2]] ?? '');
    switch (path) {
      case 'metadata.name': return rec.name;
      case 'metadata.namespace': return rec.namespace;
      case 'metadata.uid': return rec.uid;
      case 'spec.nodeName': return rec.node ?? '';
      case 'spec.serviceAccountName': return String(getPath(pod, ['spec', 'serviceAccountName']) ?? 'default');
      case 'status.hostIP': return rec.node ? this.o.nodes.hostIP(rec.node) : '';
      case 'status.podIP': case 'status.podIPs': return rec.podIP ?? '';
      default: throw new PodSpecError(UNSUPPORTED, `fieldRef ${JSON.stringify(path)} is not implemented by the test kubelet`);
    }
  }

  private secretData(namespace: string, name: string): Record<string, string> | undefined {
    const s = this.o.store.get('secrets', namespace, name);
    if (!s) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries((s.data as Record<string, string> | undefined) ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
    return out;
  }

  private configMapData(namespace: string, name: string): Record<string, string> | undefined {
    const c = this.o.store.get('configmaps', namespace, name);
    return c ? { ...((c.data as Record<string, string> | undefined) ?? {}) } : undefined;
  }

  /** An Event about the pod (or one of its containers), as the kubelet records them. */
  private event(rec: PodRec, type: 'Normal' | 'Warning', reason: string, message: string, container?: string, list = 'containers'): void {
    if (this.closed) return;
    const now = timestamp(new Date());
    const pod = this.o.store.get('pods', rec.namespace, rec.name);
    if (!pod) return;
    this.o.store.create('events', rec.namespace, typeOf('events').create({
      metadata: { name: `${rec.name}.${randomBytes(8).toString('hex')}` },
      involvedObject: {
        kind: 'Pod', namespace: rec.namespace, name: rec.name, uid: rec.uid, apiVersion: 'v1',
        resourceVersion: meta(pod).resourceVersion, ...(container ? { fieldPath: `spec.${list}{${container}}` } : {}),
      },
      reason, message, source: { component: 'kubelet', host: rec.node ?? '' },
      firstTimestamp: now, lastTimestamp: now, count: 1, type, eventTime: null, reportingComponent: '', reportingInstance: '',
    }, { namespace: rec.namespace, now: new Date(), writer: 'kubelet', apiVersion: 'v1' }));
  }

  /** Start one container from its spec; returns its running containerStatus (not yet written). */
  private async runContainer(rec: PodRec, c: ContainerRec): Promise<Json> {
    const image = String(c.spec.image);
    const present = await this.o.runtime.hasImage(image);
    const name = `kx-test-${rec.name}-${c.name}-${rand()}`;
    const base = { name, labels: this.labels(rec, 'container', c.name), sandboxId: rec.sandboxId! };
    let id: string;
    if (!present) {
      if (c.spec.imagePullPolicy === 'Never') {
        throw new PodSpecError('ErrImageNeverPull', `Container image ${JSON.stringify(image)} is not present with pull policy of Never`);
      }
      // An image the engine does not have (and no registry to pull it from) runs as the test image idling, without
      // its command, volumes, security context or probes: a stand-in for rollout tests; what it serves comes from
      // the port-forward target the test registers.
      c.standIn = true;
      id = await this.o.runtime.runContainer({ ...base, image: SANDBOX_IMAGE, entrypoint: ['/bin/busybox', 'sleep', '2147483647'], cmd: [] });
    } else {
      c.standIn = false;
      const pod = this.o.store.get('pods', rec.namespace, rec.name) ?? { metadata: {}, spec: {} };
      const plan = containerPlan(pod, c.index, this.containerContext(rec));
      if (plan.runAsNonRoot) {
        const user = plan.user ?? (await this.o.runtime.imageUser(image));
        if (user === '' || /^(0|root)(:|$)/.test(user)) {
          throw new PodSpecError(UNSUPPORTED, `container has runAsNonRoot and image will run as root (pod: "${rec.name}_${rec.namespace}(${rec.uid})", container: ${c.name})`);
        }
      }
      id = await this.o.runtime.runContainer({
        ...base, image, entrypoint: plan.entrypoint, cmd: plan.cmd, env: plan.env, workingDir: plan.workingDir,
        mounts: plan.mounts, user: plan.user, capAdd: plan.capAdd, capDrop: plan.capDrop, readonlyRootfs: plan.readonlyRootfs,
        securityOpt: plan.securityOpt, hostPid: plan.hostPid, privileged: plan.privileged, memoryBytes: plan.memoryBytes,
        nanoCpus: plan.nanoCpus,
      });
    }
    c.id = id;
    const st = await this.o.runtime.state(id);
    const status = runningStatus({ name: c.name }, {
      containerID: `docker://${id}`, startedAt: rfc3339(st.startedAt), image: normalizeImage(image),
      imageID: `docker://${st.imageId}`,
    }, c.restartCount, c.lastState);
    // With a readiness probe the container is ready only once the probe passes (the stand-in has none).
    if (!c.standIn && ContainerProbes.hasReadiness(c.spec)) status.ready = false;
    return status;
  }

  private containerContext(rec: PodRec): ContainerContext {
    const agent = !!this.o.agent;
    const port = String(API_IN_POD_PORT);
    return {
      field: (path) => this.field(rec, path),
      secretKey: (name, k) => this.secretData(rec.namespace, name)?.[k],
      configMapKey: (name, k) => this.configMapData(rec.namespace, name)?.[k],
      volume: (name) => rec.volumes?.get(name) ?? {},
      // The kubernetes Service's variables, which every pod gets; here the Service is the agent on the pod's loopback.
      serviceEnv: agent ? {
        KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port, KUBERNETES_SERVICE_PORT_HTTPS: port,
        KUBERNETES_PORT: `tcp://127.0.0.1:${port}`, [`KUBERNETES_PORT_${port}_TCP`]: `tcp://127.0.0.1:${port}`,
        [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp', [`KUBERNETES_PORT_${port}_TCP_PORT`]: port,
        [`KUBERNETES_PORT_${port}_TCP_ADDR`]: '127.0.0.1',
      } : {},
    };
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
    c.probes?.close();
    c.probes = undefined;
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
    let status: Json;
    try {
      status = await this.runContainer(rec, c);
    } catch (err) {
      const e = startError(err);
      this.event(rec, 'Warning', 'Failed', `Error: ${e.message}`, c.name);
      this.setWaiting(rec, [c], e.reason, e.message);
      return;
    }
    if (!this.alive(rec)) return this.teardownIfDeleted(rec);
    this.updateStatus(rec, (s) => {
      s.containerStatuses = (s.containerStatuses as Json[]).map((cs) => cs.name === c.name ? status : cs);
      this.setReadyConditions(s);
    });
    this.watchExit(rec, c, c.id!);
    this.startProbes(rec, c);
  }

  private async teardownIfDeleted(rec: PodRec): Promise<void> {
    // A delete that raced with start-up queued finishDelete/teardown itself; nothing else to do here.
    if (rec.gone || this.closed) await this.teardown(rec, 0);
  }

  /** README §2 (c): containers stopped → MODIFIED (terminated) → MODIFIED (grace 0) → DELETED. */
  private async finishDelete(rec: PodRec, grace: number, requested: Date): Promise<void> {
    for (const c of rec.containers) c.probes?.close();
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
    for (const c of rec.containers) c.probes?.close();
    const ids = rec.containers.map((c) => c.id).filter((x): x is string => !!x);
    if (grace > 0) await Promise.all(ids.map((id) => this.o.runtime.stop(id, grace)));
    await Promise.all([...ids, ...(rec.initId ? [rec.initId] : []), ...(rec.sandboxId ? [rec.sandboxId] : [])].map((id) => this.o.runtime.remove(id)));
    rec.initId = undefined;
    for (const c of rec.containers) c.id = undefined;
    rec.sandboxId = undefined;
    await rm(this.podDir(rec), { recursive: true, force: true }).catch(() => undefined);
    if (this.pods.get(key(rec.namespace, rec.name)) === rec) this.pods.delete(key(rec.namespace, rec.name));
    if (!wasGone || ids.length) this.o.onPodGone(rec.namespace, rec.name);
  }
}

/** The kubelet's status writes show up as a managedFields entry on the status subresource (README §1). */
function noteStatusWriter(pod: Json): void {
  const m = pod.metadata as Json;
  const entries = (m.managedFields as Json[] | undefined) ?? [];
  const entry: Json = { manager: 'Go-http-client', operation: 'Update', apiVersion: 'v1', time: timestamp(new Date()),
    fieldsType: 'FieldsV1', fieldsV1: fieldsOf({ status: pod.status }), subresource: 'status' };
  m.managedFields = [...entries.filter((e) => e.subresource !== 'status'), entry];
}

/** The waiting reason and message of a container that could not be created or started. */
function startError(err: unknown): { reason: string; message: string } {
  if (err instanceof PodSpecError) return { reason: err.reason, message: err.message };
  const raw = err instanceof Error ? err.message : String(err);
  // dockerode: "(HTTP code 500) server error - <the daemon's message>"; the kubelet shows the runtime's message.
  const message = raw.replace(/^\(HTTP code \d+\)[^-]*- /, '').split('\n')[0].trim();
  return { reason: /OCI runtime|starting container|cannot start/i.test(message) ? 'RunContainerError' : 'CreateContainerError', message };
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function rand(): string {
  return randomBytes(3).toString('hex');
}
