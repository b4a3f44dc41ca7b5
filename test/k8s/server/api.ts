// The REST surface: path parsing, authentication/authorization, and each verb on each resource type.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { authorize } from './auth.ts';
import type { Attributes, Authenticator, UserSpec } from './auth.ts';
import { scaleOf } from './controllers.ts';
import type { Kubelet } from './kubelet.ts';
import { getPath, meta } from './objects.ts';
import { PatchFailed, UnsupportedPatch, applyPatch } from './patch.ts';
import type { PortForwarder } from './portforward.ts';
import { rbacRules } from './rbac.ts';
import { RESOURCE_TYPES, apiVersionOf, findType } from './resources.ts';
import type { ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { ObjectStore } from './store.ts';
import { serveWatch } from './watch.ts';
import type { OpenWatch, WatchSettings } from './watch.ts';
import {
  alreadyExists, badRequest, conflict, forbidden, invalid, methodNotAllowed, notFound, pathNotFound, rawHttpResponse,
  sendJson, statusBody, successStatus, tooOldList, unauthorized,
} from './wire.ts';
import type { FlowControl, Json } from './wire.ts';

export interface ApiDeps {
  store: ObjectStore;
  kubelet: Kubelet;
  auth: Authenticator;
  forwarder: PortForwarder;
  flow: FlowControl;
  watch: Omit<WatchSettings, 'store' | 'flow'>;
  /** Creates a pod object in the store and hands it to the kubelet. */
  createPod(namespace: string, body: Json, writer: string): Json;
  /** Since 1.35 a WebSocket upgrade also needs `create` on pods/portforward (README "newer servers"). */
  portForwardNeedsCreate: boolean;
  /** Serve SelfSubjectAccessReview (real servers do; without it kx doctor's fallback probes are exercised). */
  accessReviews?: boolean | undefined;
  /** gitVersion for /version; undefined: the recorded 1.24 answer. */
  kubeVersion?: string | undefined;
  serverAddress(): string;
}

export interface Route {
  group: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string;
}

/** Routes /api/v1/... and /apis/GROUP/VERSION/...; undefined for anything else. */
export function parseRoute(pathname: string): Route | undefined {
  const seg = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group = '';
  let version: string;
  let rest: string[];
  if (seg[0] === 'api' && seg.length >= 3) { version = seg[1]!; rest = seg.slice(2); }
  else if (seg[0] === 'apis' && seg.length >= 4) { group = seg[1]!; version = seg[2]!; rest = seg.slice(3); }
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && ['status', 'finalize'].includes(rest[2]))) {
    return { group, version, namespace: rest[1], resource: rest[2], name: rest[3], subresource: rest[4] };
  }
  return { group, version, resource: rest[0], name: rest[1], subresource: rest[2] };
}

export class ApiHandler {
  private readonly d: ApiDeps;
  private readonly watches = new Set<OpenWatch>();

  constructor(deps: ApiDeps) {
    this.d = deps;
  }

  /** Send a BOOKMARK now on every open watch that allowed them. */
  bookmarkAll(): void {
    for (const w of this.watches) w.bookmark();
  }

  endAllWatches(): void {
    for (const w of [...this.watches]) w.end();
  }

  async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const user = this.withRbac(this.d.auth.authenticate(req));
    if (!user) return sendJson(res, 401, unauthorized(), {});
    const flow = { flow: this.d.flow };
    if (req.method === 'GET' && this.discovery(url.pathname, res)) return;
    if (this.d.accessReviews && req.method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      return this.accessReview(res, user, await readBody(req));
    }
    const route = parseRoute(url.pathname);
    const type = route && findType(route.group, route.version, route.resource);
    if (!route || !type || (type.namespaced === false && route.namespace !== undefined)) return sendJson(res, 404, pathNotFound(), flow);
    const body = await readBody(req);
    const q = url.searchParams;
    const verb = verbOf(req.method ?? 'GET', route, q);
    if (!verb) return sendJson(res, 405, methodNotAllowed(), flow);
    const attrs: Attributes = { verb, resource: type.resource, subresource: route.subresource, group: type.group, namespace: route.namespace, name: route.name };
    if (!authorize(user, attrs)) return sendJson(res, 403, forbidden({ ...attrs, user: user.name }), { ...flow, nosniff: true });
    try {
      switch (verb) {
        case 'list': return this.list(res, type, route, q);
        case 'watch': return this.watch(req, res, type, route, q);
        case 'get': return this.get(res, type, route);
        case 'create': return this.create(req, res, type, route, body, user);
        case 'update': return this.update(res, type, route, body);
        case 'patch': return this.patch(req, res, type, route, body);
        case 'delete': return this.delete(res, type, route, q, body);
        default: return sendJson(res, 405, methodNotAllowed(), flow);
      }
    } catch (err) {
      if (err instanceof UnsupportedPatch) return sendJson(res, 415, statusBody(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`), flow);
      if (err instanceof BadInput) return sendJson(res, 400, badRequest(err.message), flow);
      // As the apiserver's applyJSPatch: the patch library's error, 422 with no reason.
      if (err instanceof PatchFailed) return sendJson(res, 422, statusBody(422, '', err.message), flow);
      throw err;
    }
  }

  /** WebSocket upgrades: only pods/portforward. Refusals are plain HTTP responses before upgrading (README §5). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (code: number, text: string, body: Json, nosniff = false) => {
      socket.end(rawHttpResponse(code, text, body, { nosniff }));
    };
    const url = new URL(req.url ?? '/', 'http://x');
    const user = this.withRbac(this.d.auth.authenticate(req));
    if (!user) return refuse(401, 'Unauthorized', unauthorized());
    const route = parseRoute(url.pathname);
    if (!route || route.resource !== 'pods' || route.subresource !== 'portforward' || !route.namespace || !route.name) {
      return refuse(404, 'Not Found', pathNotFound());
    }
    const base = { resource: 'pods', subresource: 'portforward', group: '', namespace: route.namespace, name: route.name };
    for (const verb of this.d.portForwardNeedsCreate ? ['get', 'create'] : ['get']) {
      if (!authorize(user, { ...base, verb })) return refuse(403, 'Forbidden', forbidden({ ...base, verb, user: user.name }), true);
    }
    const pod = this.d.store.get('pods', route.namespace, route.name);
    if (!pod) return refuse(404, 'Not Found', notFound('pods', '', route.name), true);
    const ports = url.searchParams.getAll('ports').flatMap((p) => p.split(',')).map((p) => Number(p.trim()));
    if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) {
      return refuse(400, 'Bad Request', badRequest('query parameter "port" is required'), true);
    }
    const sandbox = this.d.kubelet.sandboxId(route.namespace, route.name);
    if (!sandbox || getPath(pod, ['status', 'phase']) !== 'Running') {
      return refuse(400, 'Bad Request', badRequest(`unable to upgrade connection: pod ${route.name} is not running`), true);
    }
    this.d.forwarder.handle(req, socket, head, route.namespace, route.name, ports, sandbox);
  }

  /** A user with groups also has what the RBAC objects bind to them or their groups. */
  private withRbac(user: UserSpec | undefined): UserSpec | undefined {
    if (!user?.groups) return user;
    return { ...user, rules: [...(user.rules ?? []), ...rbacRules(this.d.store, { user: user.name, groups: user.groups })] };
  }

  /** SelfSubjectAccessReview: may the caller do this? Answered from the same rules that authorize requests. */
  private accessReview(res: ServerResponse, user: UserSpec, raw: string): void {
    const review = parseJson(raw);
    const a = ((review.spec as Json | undefined)?.resourceAttributes as Json | undefined) ?? {};
    const attrs: Attributes = {
      verb: String(a.verb ?? ''), resource: String(a.resource ?? ''), group: String(a.group ?? ''),
      ...(a.subresource ? { subresource: String(a.subresource) } : {}),
      ...(a.namespace ? { namespace: String(a.namespace) } : {}),
      ...(a.name ? { name: String(a.name) } : {}),
    };
    const allowed = authorize(user, attrs);
    sendJson(res, 201, {
      kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec,
      status: allowed ? { allowed: true, reason: 'RBAC: allowed' } : { allowed: false },
    }, { flow: this.d.flow });
  }

  // ---- verbs

  private list(res: ServerResponse, type: ResourceType, route: Route, q: URLSearchParams): void {
    const select = selectorOf(q);
    const rv = q.get('resourceVersion');
    let items: Json[];
    let listRV: string;
    if (q.get('resourceVersionMatch') === 'Exact' && rv) {
      const at = this.d.store.listAt(type.resource, route.namespace, Number(rv));
      if (at === 'expired') return sendJson(res, 410, tooOldList(), { flow: this.d.flow });
      items = at;
      listRV = rv;
    } else {
      items = this.d.store.list(type.resource, route.namespace);
      listRV = String(this.d.store.currentRV());
    }
    items = items.filter(select).map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    const metadata: Json = { resourceVersion: listRV };
    const limit = Number(q.get('limit') ?? 0);
    if (limit > 0) {
      const start = Number(q.get('continue') ? Buffer.from(q.get('continue')!, 'base64url').toString() : 0);
      const page = items.slice(start, start + limit);
      if (start + limit < items.length) {
        metadata.continue = Buffer.from(String(start + limit)).toString('base64url');
        metadata.remainingItemCount = items.length - start - limit;
      }
      items = page;
    }
    sendJson(res, 200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata, items }, { flow: this.d.flow });
  }

  private watch(req: IncomingMessage, res: ServerResponse, type: ResourceType, route: Route, q: URLSearchParams): void {
    const timeout = q.get('timeoutSeconds');
    const w = serveWatch(req, res, {
      type, namespace: route.namespace, selector: selectorOf(q), resourceVersion: q.get('resourceVersion') ?? undefined,
      allowBookmarks: q.get('allowWatchBookmarks') === 'true', timeoutSeconds: timeout ? Number(timeout) : undefined,
    }, { ...this.d.watch, store: this.d.store, flow: this.d.flow });
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }

  private get(res: ServerResponse, type: ResourceType, route: Route): void {
    const obj = this.d.store.get(type.resource, route.namespace ?? '', route.name!);
    if (!obj) return sendJson(res, 404, notFound(type.resource, type.group, route.name!), { flow: this.d.flow });
    if (route.subresource === 'scale' && type.resource === 'deployments') return sendJson(res, 200, scaleOf(obj), { flow: this.d.flow });
    if (route.subresource && route.subresource !== 'status') return sendJson(res, 404, pathNotFound(), { flow: this.d.flow });
    sendJson(res, 200, obj, { flow: this.d.flow });
  }

  private create(req: IncomingMessage, res: ServerResponse, type: ResourceType, route: Route, raw: string, user: UserSpec): void {
    const flow = { flow: this.d.flow };
    if (route.name) return sendJson(res, 405, methodNotAllowed(), flow);
    const body = parseJson(raw);
    const m = (body.metadata as Json | undefined) ?? {};
    const ns = type.namespaced ? route.namespace : undefined;
    if (type.namespaced && (!ns || !this.d.store.get('namespaces', '', ns))) {
      return sendJson(res, 404, notFound('namespaces', '', ns ?? ''), flow);
    }
    if (!m.name && !m.generateName) {
      return sendJson(res, 422, invalid(type.resource, type.group, '', 'metadata.name: Required value: name or generateName is required'), flow);
    }
    if (m.name && this.d.store.get(type.resource, ns ?? '', String(m.name))) {
      return sendJson(res, 409, alreadyExists(type.resource, type.group, String(m.name)), flow);
    }
    const writer = writerOf(req, user);
    let created: Json;
    if (type.resource === 'pods') created = this.d.createPod(ns!, body, writer);
    else created = this.d.store.create(type.resource, ns ?? '', type.create(body, { namespace: ns, now: new Date(), writer, apiVersion: apiVersionOf(type) }));
    sendJson(res, 201, created, flow);
  }

  private update(res: ServerResponse, type: ResourceType, route: Route, raw: string): void {
    const body = parseJson(raw);
    this.writeUpdate(res, type, route, () => body);
  }

  private patch(req: IncomingMessage, res: ServerResponse, type: ResourceType, route: Route, raw: string): void {
    const ct = String(req.headers['content-type'] ?? 'application/merge-patch+json');
    if (route.subresource === 'scale' && type.resource === 'deployments') {
      const d = this.d.store.get('deployments', route.namespace!, route.name!);
      if (!d) return sendJson(res, 404, notFound(type.resource, type.group, route.name!), { flow: this.d.flow });
      const scale = applyPatch(scaleOf(d), ct, raw);
      const replicas = Number(getPath(scale, ['spec', 'replicas']) ?? 0);
      const next = this.d.store.replace('deployments', route.namespace!, type.update(d, { ...d, spec: { ...(d.spec as Json), replicas } }))!;
      return sendJson(res, 200, scaleOf({ ...next, status: d.status }), { flow: this.d.flow });
    }
    this.writeUpdate(res, type, route, (existing) => applyPatch(existing, ct, raw));
  }

  private writeUpdate(res: ServerResponse, type: ResourceType, route: Route, next: (existing: Json) => Json): void {
    const flow = { flow: this.d.flow };
    const ns = route.namespace ?? '';
    const existing = this.d.store.get(type.resource, ns, route.name!);
    if (!existing) return sendJson(res, 404, notFound(type.resource, type.group, route.name!), flow);
    const wanted = next(existing);
    const wantRV = getPath(wanted, ['metadata', 'resourceVersion']);
    if (wantRV !== undefined && wantRV !== '' && wantRV !== meta(existing).resourceVersion) {
      return sendJson(res, 409, conflict(type.resource, type.group, route.name!), flow);
    }
    let stored: Json;
    if (route.subresource === 'status') stored = { ...existing, status: wanted.status };
    else if (route.subresource) return sendJson(res, 404, pathNotFound(), flow);
    else stored = type.update(existing, wanted);
    sendJson(res, 200, this.d.store.replace(type.resource, ns, stored)!, flow);
  }

  private delete(res: ServerResponse, type: ResourceType, route: Route, q: URLSearchParams, raw: string): void {
    const flow = { flow: this.d.flow };
    const ns = route.namespace ?? '';
    const opts = raw.trim() ? parseJson(raw) : {};
    const graceQ = q.get('gracePeriodSeconds');
    const grace = graceQ !== null ? Number(graceQ) : typeof opts.gracePeriodSeconds === 'number' ? opts.gracePeriodSeconds : undefined;
    if (type.resource === 'pods') {
      const pod = this.d.kubelet.beginDelete(ns, route.name!, grace);
      if (!pod) return sendJson(res, 404, notFound('pods', '', route.name!), flow);
      return sendJson(res, 200, pod, flow);
    }
    const gone = this.d.store.remove(type.resource, ns, route.name!);
    if (!gone) return sendJson(res, 404, notFound(type.resource, type.group, route.name!), flow);
    const details: Json = { name: route.name };
    if (type.group) details.group = type.group;
    details.kind = type.resource;
    details.uid = meta(gone).uid;
    sendJson(res, 200, successStatus(details), flow);
  }

  // ---- discovery (enough for KubernetesObjectApi and kubectl-style clients)

  private discovery(pathname: string, res: ServerResponse): boolean {
    const flow = { flow: this.d.flow };
    const p = pathname.replace(/\/+$/, '');
    if (p === '/version') {
      const recorded = { major: '1', minor: '24+', gitVersion: 'v1.24.0-alpha.1', gitCommit: '', gitTreeState: 'clean', buildDate: '2021-12-23T00:00:00Z', goVersion: 'go1.17.5', compiler: 'gc', platform: 'linux/amd64' };
      const v = this.d.kubeVersion && /^v(\d+)\.(\d+)/.exec(this.d.kubeVersion);
      sendJson(res, 200, v ? { ...recorded, major: v[1], minor: v[2], gitVersion: this.d.kubeVersion } : recorded, flow);
      return true;
    }
    if (p === '/api') {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.d.serverAddress() }] }, flow);
      return true;
    }
    const groups = [...new Set(RESOURCE_TYPES.map((t) => t.group).filter((g) => g))];
    if (p === '/apis') {
      sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => ({ name: g, versions: [{ groupVersion: `${g}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' } })) }, flow);
      return true;
    }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/(v1))$/.exec(p);
    if (!m) return false;
    const group = m[2] ?? '';
    const gv = group ? `${group}/v1` : 'v1';
    const resources = RESOURCE_TYPES.filter((t) => t.group === group).flatMap((t) => {
      const base = { name: t.resource, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: t.verbs };
      const subs = t.resource === 'pods' ? [{ name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] }, { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] }]
        : t.resource === 'daemonsets' ? [{ name: 'daemonsets/status', singularName: '', namespaced: true, kind: 'DaemonSet', verbs: ['get', 'patch', 'update'] }]
        : t.resource === 'deployments' ? [{ name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }]
        : [];
      return [base, ...subs];
    });
    sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources }, flow);
    return true;
  }
}

class BadInput extends Error {}

function parseJson(raw: string): Json {
  try {
    const v = JSON.parse(raw) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Json;
  } catch (err) {
    throw new BadInput(`the object provided is unrecognized: ${(err as Error).message}`);
  }
}

function selectorOf(q: URLSearchParams): (o: Json) => boolean {
  try {
    const l = parseLabelSelector(q.get('labelSelector'));
    const f = parseFieldSelector(q.get('fieldSelector'));
    return (o) => l(o) && f(o);
  } catch (err) {
    throw new BadInput((err as Error).message);
  }
}

function verbOf(method: string, route: Route, q: URLSearchParams): string | undefined {
  const watch = q.get('watch');
  switch (method) {
    case 'GET': return route.name ? 'get' : watch === 'true' || watch === '1' ? 'watch' : 'list';
    case 'POST': return 'create';
    case 'PUT': return route.name ? 'update' : undefined;
    case 'PATCH': return route.name ? 'patch' : undefined;
    case 'DELETE': return route.name ? 'delete' : 'deletecollection';
    default: return undefined;
  }
}

/** The managedFields manager: the client's User-Agent product ("kubernetes-client-javascript"). */
function writerOf(req: IncomingMessage, user: UserSpec): string {
  const ua = String(req.headers['user-agent'] ?? '');
  return ua.split('/')[0] || user.name;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

