// A test Kubernetes API server for the real @kubernetes/client-node: HTTP + WebSocket on 127.0.0.1, wire
// format as recorded in ../shared/k8s-wire, pods backed by real Docker containers on simulated nodes.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiHandler } from './server/api.ts';
import { Authenticator } from './server/auth.ts';
import type { UserSpec } from './server/auth.ts';
import { Controllers } from './server/controllers.ts';
import { DockerRuntime } from './server/docker-runtime.ts';
import { Kubelet } from './server/kubelet.ts';
import { NodeRegistry } from './server/nodes.ts';
import { getPath, meta } from './server/objects.ts';
import { createServingPki, TokenSigner } from './server/pki.ts';
import { PortForwarder } from './server/portforward.ts';
import { bootstrapClusterRoles, rbacRules, serviceAccountSubject } from './server/rbac.ts';
import { typeOf } from './server/resources.ts';
import { API_SOCKET_NAME, dialInPod } from './server/sandbox-agent.ts';
import { parseLabelSelector } from './server/selectors.ts';
import { ObjectStore } from './server/store.ts';
import { newFlowControl } from './server/wire.ts';
import type { Json } from './server/wire.ts';

export type { Json } from './server/wire.ts';
/** Objects handed to tests: loosely typed so a test can reach into status without casts. */
 
export type KubeObject = Record<string, any>;
export type { Rule, UserSpec } from './server/auth.ts';

export interface FakeClusterOptions {
  /** Simulated node names (default ['node-1']). Pods are placed round robin unless pinned. */
  nodes?: readonly string[];
  /** Namespaces besides default, kube-system, kube-public, kube-node-lease. */
  namespaces?: readonly string[];
  /** Bearer token → user. The admin token (kubeconfig default) is added on top. */
  users?: Readonly<Record<string, UserSpec>>;
  adminToken?: string;
  /** Events the watch cache keeps before older RVs become "too old" (default 1000). */
  eventWindow?: number;
  /** BOOKMARK interval on watches that allow them (default 60 000 ms, as on 1.24). */
  bookmarkIntervalMs?: number;
  /** Watch length when the client sends no timeoutSeconds (default 1800 s). */
  defaultWatchTimeoutSeconds?: number;
  /** First crash-loop back-off (default 250 ms; doubles per quick failure). */
  restartBackoffMs?: number;
  /** Delay of the Close frame after the forward target closed (1.24: ~1 s; default 0). */
  portForwardCloseDelayMs?: number;
  /** Authorise port-forward upgrades as get AND create (1.35+), not just get (1.24). */
  portForwardNeedsCreate?: boolean;
  /**
   * An image with node (e.g. radar's): pod sandboxes then run the network-namespace agent, so pods reach the API
   * server in-cluster (KUBERNETES_SERVICE_HOST=127.0.0.1, port 443, TLS with the cluster CA, service-account
   * tokens) and port-forwards reach what listens on the pod's loopback, as on a real node.
   */
  agentImage?: string;
  /** The gitVersion /version reports (default v1.24.0-alpha.1, as recorded). */
  kubeVersion?: string;
  /** Serve SelfSubjectAccessReview, as real servers do (default off: kx doctor's fallback probes are tested too). */
  accessReviews?: boolean;
}

/** Decides where a forward to a pod's port goes: a 127.0.0.1 port, null = refused, undefined = next rule. */
export type PortForwardTarget = (pod: KubeObject, port: number) => number | null | undefined | Promise<number | null | undefined>;

export interface KubeconfigOptions { token?: string; namespace?: string; context?: string }

export interface FakeCluster {
  /** http://127.0.0.1:PORT */
  readonly server: string;
  readonly adminToken: string;
  /** PEM of the cluster CA (signs the in-cluster serving certificate; ca.crt in service-account volumes). */
  readonly caCert: string;
  /** A token for a service account, as `kubectl create token` issues (RBAC objects decide its rights). */
  serviceAccountToken(namespace: string, name: string, expirationSeconds?: number): string;
  /** Events about a pod (reason, message, type, involvedObject.fieldPath), oldest first. */
  podEvents(namespace: string, pod: string): KubeObject[];
  kubeconfigYaml(opts?: KubeconfigOptions): string;
  kubeConfig(opts?: KubeconfigOptions): KubeConfig;

  nodes(): string[];
  addNode(name: string): void;
  removeNode(name: string): void;
  addNamespace(name: string): void;
  addUser(token: string, user: UserSpec): void;

  /** Create a pod (as the admin) and return it as stored (Pending). */
  createPod(namespace: string, pod: Json): KubeObject;
  /** Create a Deployment-managed set of pods or change its replica count (template needed on first call). */
  scale(namespace: string, name: string, replicas: number, template?: Json): KubeObject;
  getPod(namespace: string, name: string): KubeObject | undefined;
  listPods(namespace: string, labelSelector?: string): KubeObject[];
  waitForPod(namespace: string, name: string, predicate: (pod: KubeObject | undefined) => boolean, timeoutMs?: number): Promise<KubeObject | undefined>;
  waitForRunning(namespace: string, name: string, timeoutMs?: number): Promise<KubeObject>;
  /** Graceful delete through the kubelet path; resolves once the pod is gone from the API. */
  deletePod(namespace: string, name: string, graceSeconds?: number): Promise<void>;
  /** Docker ID of a pod's container (first container by default). */
  containerId(namespace: string, pod: string, container?: string): string | undefined;
  /** The kubelet replaces the container in place: new Docker ID, restartCount+1. Resolves with both IDs. */
  restartContainer(namespace: string, pod: string, container?: string): Promise<{ oldId: string; newId: string }>;
  /** The container crashes now and its next `times - 1` replacements crash right after starting (CrashLoopBackOff). */
  crashContainer(namespace: string, pod: string, opts?: { container?: string; times?: number }): Promise<void>;

  /** Override where forwards go; return undefined to fall through to node agents and published ports. */
  setPortForwardTarget(target: PortForwardTarget | null): void;
  /** Forwards to DaemonSet pods on `node` (or to pods matching `labelSelector` there) reach 127.0.0.1:port. */
  setNodeAgent(node: string, port: number | null, opts?: { labelSelector?: string }): void;

  /** Current global resourceVersion. */
  resourceVersion(): string;
  /** Drop the watch cache's history: watches from any older RV get 410 "too old". */
  forgetHistory(): void;
  /** Send a BOOKMARK now on open watches that allowed them. */
  sendBookmarks(): void;
  /** End every open watch (as the apiserver does at timeoutSeconds). */
  endWatches(): void;
  getObject(resource: string, namespace: string, name: string): KubeObject | undefined;

  close(): Promise<void>;
}

export async function startFakeApiServer(opts: FakeClusterOptions = {}): Promise<FakeCluster> {
  const store = new ObjectStore({ windowSize: opts.eventWindow ?? 1000 });
  const nodes = new NodeRegistry(store);
  const runtime = new DockerRuntime();
  const clusterId = randomBytes(6).toString('hex');
  const stateDir = await mkdtemp(join(tmpdir(), 'kx-test-cluster-'));
  const apiSocketDir = join(stateDir, 'api');
  await mkdir(apiSocketDir);
  const pki = createServingPki();
  const signer = new TokenSigner();
  // Service-account tokens: signed by this cluster, bound to a pod that still exists when they name one; their
  // rights come from the RBAC objects in the store.
  const auth = new Authenticator((token) => {
    const c = signer.verify(token);
    if (!c) return undefined;
    if (c.pod) {
      const p = store.get('pods', c.namespace, c.pod.name);
      if (!p || meta(p).uid !== c.pod.uid) return undefined;
    }
    const subject = serviceAccountSubject(c.namespace, c.serviceAccount.name);
    return { name: subject.user, rules: rbacRules(store, subject) };
  });
  const issueToken = (namespace: string, sa: string, seconds: number, pod?: Json): string => {
    const saObj = store.get('serviceaccounts', namespace, sa);
    return signer.issue({
      sub: `system:serviceaccount:${namespace}:${sa}`, namespace, exp: Math.floor(Date.now() / 1000) + seconds,
      serviceAccount: { name: sa, uid: String(saObj ? meta(saObj).uid : '') },
      ...(pod ? { pod: { name: String(meta(pod).name), uid: String(meta(pod).uid) } } : {}),
    });
  };
  const adminToken = opts.adminToken ?? `admin-${randomBytes(12).toString('hex')}`;
  auth.set(adminToken, { name: 'kubernetes-admin', admin: true });
  for (const [t, u] of Object.entries(opts.users ?? {})) auth.set(t, u);

  let customTarget: PortForwardTarget | null = null;
  const agents = new Map<string, { port: number | null; select: (o: Json) => boolean }>();
  const forwarder = new PortForwarder({
    closeDelayMs: opts.portForwardCloseDelayMs ?? 0,
    resolve: async (namespace, name, port) => {
      const pod = store.get('pods', namespace, name);
      if (!pod) return undefined;
      if (customTarget) {
        const t = await customTarget(pod, port);
        if (t !== undefined) return t ?? undefined;
      }
      const agent = agents.get(String(getPath(pod, ['spec', 'nodeName']) ?? ''));
      if (agent && agent.select(pod)) return agent.port ?? undefined;
      const inPod = kubelet.portForwardSocket(namespace, name);
      if (inPod) return () => dialInPod(inPod, port);
      const sandbox = kubelet.sandboxId(namespace, name);
      return sandbox ? runtime.publishedPort(sandbox, port).catch(() => undefined) : undefined;
    },
  });
  const kubelet = new Kubelet({
    store, runtime, nodes, clusterId, restartBackoffMs: opts.restartBackoffMs ?? 250,
    onPodGone: (ns, name) => forwarder.closePod(ns, name),
    stateDir,
    issueToken: (pod, seconds) => issueToken(String(meta(pod).namespace), String(getPath(pod, ['spec', 'serviceAccountName']) ?? 'default'), seconds, pod),
    ...(opts.agentImage ? { agent: { image: opts.agentImage, apiSocketDir } } : {}),
  });
  const createPod = (namespace: string, body: Json, writer: string): Json => {
    const created = store.create('pods', namespace, typeOf('pods').create(body, { namespace, now: new Date(), writer, apiVersion: 'v1' }));
    kubelet.admit(created);
    return created;
  };
  const controllers = new Controllers({
    store, nodes,
    pods: { create: createPod, delete: (ns, name) => { kubelet.beginDelete(ns, name, undefined); } },
  });
  controllers.start();
  // The root-CA publisher: every namespace gets ConfigMap kube-root-ca.crt, which service-account volumes project.
  const unsubscribeCa = store.subscribe((e) => {
    if (e.resource === 'namespaces' && e.type === 'ADDED') queueMicrotask(() => publishCa(String(meta(e.object).name)));
  });
  function publishCa(namespace: string): void {
    if (!store.get('namespaces', '', namespace) || store.get('configmaps', namespace, 'kube-root-ca.crt')) return;
    store.create('configmaps', namespace, typeOf('configmaps').create({ metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': pki.caCert } },
      { namespace, now: new Date(), writer: 'kube-controller-manager', apiVersion: 'v1' }));
  }
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease', ...(opts.namespaces ?? [])]) addNamespace(ns);
  for (const n of opts.nodes ?? ['node-1']) nodes.add(n);
  for (const role of bootstrapClusterRoles()) {
    store.create('clusterroles', '', typeOf('clusterroles').create(role, { now: new Date(), writer: 'kube-apiserver', apiVersion: 'rbac.authorization.k8s.io/v1' }));
  }

  const httpServer = http.createServer();
  const api = new ApiHandler({
    store, kubelet, auth, forwarder, flow: newFlowControl(),
    watch: { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000, defaultTimeoutSeconds: opts.defaultWatchTimeoutSeconds ?? 1800 },
    createPod, portForwardNeedsCreate: opts.portForwardNeedsCreate ?? false, kubeVersion: opts.kubeVersion, accessReviews: opts.accessReviews,
    serverAddress: () => `127.0.0.1:${(httpServer.address() as AddressInfo).port}`,
  });
  httpServer.on('request', (req, res) => {
    api.handleRequest(req, res).catch((err: unknown) => {
      if (!res.headersSent) { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end(String(err)); } else res.destroy();
    });
  });
  httpServer.on('upgrade', (req, socket, head) => api.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  // The same API over TLS on a unix socket, for pods (through their sandbox agent): what in-cluster clients verify.
  const tlsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert });
  tlsServer.on('request', (req, res) => httpServer.emit('request', req, res));
  tlsServer.on('upgrade', (req, socket, head) => api.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => tlsServer.listen(join(apiSocketDir, API_SOCKET_NAME), resolve));
  const server = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

  function addNamespace(name: string): void {
    if (store.get('namespaces', '', name)) return;
    store.create('namespaces', '', typeOf('namespaces').create({ metadata: { name } }, { now: new Date(), writer: 'kube-apiserver', apiVersion: 'v1' }));
    publishCa(name);
  }

  const kubeconfigYaml = (k: KubeconfigOptions = {}): string => {
    const ctx = k.context ?? 'fake';
    return [
      'apiVersion: v1', 'kind: Config',
      'clusters:', `- name: ${ctx}`, '  cluster:', `    server: ${server}`,
      // client-node refuses http:// unless TLS verification is (vacuously) skipped.
      '    insecure-skip-tls-verify: true',
      'users:', `- name: ${ctx}-user`, '  user:', `    token: ${JSON.stringify(k.token ?? adminToken)}`,
      'contexts:', `- name: ${ctx}`, '  context:', `    cluster: ${ctx}`, `    user: ${ctx}-user`,
      ...(k.namespace ? [`    namespace: ${k.namespace}`] : []),
      `current-context: ${ctx}`, '',
    ].join('\n');
  };

  const waitForPod = (namespace: string, name: string, predicate: (p: Json | undefined) => boolean, timeoutMs = 30_000): Promise<Json | undefined> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const p = store.get('pods', namespace, name);
        if (predicate(p)) { done(); resolve(p); }
      };
      const unsubscribe = store.subscribe((e) => { if (e.resource === 'pods' && e.namespace === namespace) check(); });
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for pod ${namespace}/${name}`)); }, timeoutMs);
      const done = () => { unsubscribe(); clearTimeout(timer); };
      check();
    });

  const containerStatus = (pod: Json | undefined, container?: string): Json | undefined => {
    const list = (getPath(pod ?? {}, ['status', 'containerStatuses']) as Json[] | undefined) ?? [];
    return container ? list.find((c) => c.name === container) : list[0];
  };
  const containerId = (namespace: string, name: string, container?: string): string | undefined => {
    const id = containerStatus(store.get('pods', namespace, name), container)?.containerID;
    return typeof id === 'string' ? id.replace(/^docker:\/\//, '') : undefined;
  };
  const runningWithNewId = (old: string, container?: string) => (p: Json | undefined) => {
    const cs = containerStatus(p, container);
    return !!cs && !!getPath(cs, ['state', 'running']) && cs.containerID !== `docker://${old}`;
  };

  let closing: Promise<void> | undefined;
  const cluster: FakeCluster = {
    server, adminToken, kubeconfigYaml, caCert: pki.caCert,
    serviceAccountToken: (namespace, name, seconds = 3600) => issueToken(namespace, name, seconds),
    podEvents: (namespace, pod) => store.list('events', namespace).filter((e) => getPath(e, ['involvedObject', 'name']) === pod && getPath(e, ['involvedObject', 'kind']) === 'Pod'),
    kubeConfig(k) { const kc = new KubeConfig(); kc.loadFromString(kubeconfigYaml(k)); return kc; },
    nodes: () => nodes.list(),
    addNode(name) { nodes.add(name); },
    removeNode(name) { nodes.remove(name); },
    addNamespace,
    addUser(token, user) { auth.set(token, user); },
    createPod(namespace, pod) { return createPod(namespace, pod, 'kx-test'); },
    scale(namespace, name, replicas, template) {
      const existing = store.get('deployments', namespace, name);
      const t = typeOf('deployments');
      if (!existing) {
        if (!template) throw new Error(`scale: deployment ${namespace}/${name} does not exist; give a pod template`);
        const labels = (getPath(template, ['metadata', 'labels']) as Record<string, string> | undefined) ?? { app: name };
        return store.create('deployments', namespace, t.create({
          metadata: { name, labels },
          spec: { replicas, selector: { matchLabels: labels }, template: { ...template, metadata: { ...((template.metadata as Json | undefined) ?? {}), labels } } },
        }, { namespace, now: new Date(), writer: 'kx-test', apiVersion: 'apps/v1' }));
      }
      return store.replace('deployments', namespace, t.update(existing, { ...existing, spec: { ...(existing.spec as Json), replicas } }))!;
    },
    getPod: (namespace, name) => store.get('pods', namespace, name),
    listPods: (namespace, labelSelector) => store.list('pods', namespace).filter(parseLabelSelector(labelSelector)),
    waitForPod,
    async waitForRunning(namespace, name, timeoutMs) {
      const p = await waitForPod(namespace, name, (x) => {
        const cs = (getPath(x ?? {}, ['status', 'containerStatuses']) as Json[] | undefined) ?? [];
        return getPath(x ?? {}, ['status', 'phase']) === 'Running' && cs.length > 0 && cs.every((c) => c.ready === true);
      }, timeoutMs);
      return p!;
    },
    async deletePod(namespace, name, graceSeconds) {
      const uid = meta(store.get('pods', namespace, name) ?? { metadata: {} }).uid;
      kubelet.beginDelete(namespace, name, graceSeconds);
      await waitForPod(namespace, name, (p) => p === undefined || meta(p).uid !== uid, 60_000);
    },
    containerId,
    async restartContainer(namespace, pod, container) {
      const oldId = await kubelet.killContainer(namespace, pod, container);
      await waitForPod(namespace, pod, runningWithNewId(oldId, container));
      return { oldId, newId: containerId(namespace, pod, container)! };
    },
    async crashContainer(namespace, pod, o = {}) {
      const oldId = await kubelet.killContainer(namespace, pod, o.container, Math.max(0, (o.times ?? 1) - 1));
      await waitForPod(namespace, pod, (p) => {
        const cs = containerStatus(p, o.container);
        return !cs || !getPath(cs, ['state', 'running']) || cs.containerID !== `docker://${oldId}`;
      });
    },
    setPortForwardTarget(t) { customTarget = t; },
    setNodeAgent(node, port, o = {}) {
      if (port === null && !o.labelSelector) { agents.delete(node); return; }
      const sel = o.labelSelector ? parseLabelSelector(o.labelSelector) : (p: Json) =>
        ((meta(p).ownerReferences as Json[] | undefined) ?? []).some((r) => r.kind === 'DaemonSet');
      agents.set(node, { port, select: sel });
    },
    resourceVersion: () => String(store.currentRV()),
    forgetHistory() { store.forgetHistory(); },
    sendBookmarks() { api.bookmarkAll(); },
    endWatches() { api.endAllWatches(); },
    getObject: (resource, namespace, name) => store.get(resource, namespace, name),
    close() {
      closing ??= (async () => {
        controllers.close();
        unsubscribeCa();
        api.endAllWatches();
        forwarder.close();
        httpServer.closeAllConnections();
        tlsServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
        await kubelet.close();
        // A pod still being set up when close began may write its volume files a moment longer.
        await rm(stateDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      })();
      return closing;
    },
  };
  return cluster;
}

