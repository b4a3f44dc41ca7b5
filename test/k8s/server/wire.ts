// How the 1.24 apiserver puts JSON on the wire (see ../shared/k8s-wire/README.md §0): compact JSON plus one
// "\n", Content-Length below 2048 bytes and chunked from there on, Go-cased headers in Go's order.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export type Json = Record<string, unknown>;

/** Flow-control headers are stable per server (the recordings show one pair per request class). */
export interface FlowControl { flowSchemaUid: string; priorityLevelUid: string }

export function newFlowControl(): FlowControl {
  return { flowSchemaUid: randomUUID(), priorityLevelUid: randomUUID() };
}

/** Go's http server switches to chunked encoding once its 2048-byte write buffer overflows. */
export const CHUNKED_FROM_BYTES = 2048;

export interface HeaderOptions {
  /** Left out on 401: the request is rejected before flow control. */
  flow?: FlowControl;
  /** Error Status responses that went through authorization carry nosniff. */
  nosniff?: boolean;
}

export function encodeBody(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body) + '\n');
}

export function baseHeaders(opts: HeaderOptions): [string, string][] {
  const h: [string, string][] = [
    ['Audit-Id', randomUUID()],
    ['Cache-Control', 'no-cache, private'],
    ['Content-Type', 'application/json'],
  ];
  if (opts.nosniff) h.push(['X-Content-Type-Options', 'nosniff']);
  if (opts.flow) {
    h.push(['X-Kubernetes-Pf-Flowschema-Uid', opts.flow.flowSchemaUid]);
    h.push(['X-Kubernetes-Pf-Prioritylevel-Uid', opts.flow.priorityLevelUid]);
  }
  h.push(['Date', new Date().toUTCString()]);
  return h;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, opts: HeaderOptions): void {
  const buf = encodeBody(body);
  const headers = baseHeaders(opts);
  if (buf.length < CHUNKED_FROM_BYTES) headers.push(['Content-Length', String(buf.length)]);
  res.writeHead(status, headers.flat());
  if (buf.length < CHUNKED_FROM_BYTES) res.end(buf);
  else { res.write(buf); res.end(); }
}

/** The raw HTTP/1.1 text the apiserver answers an upgrade request with when it refuses it. */
export function rawHttpResponse(status: number, statusText: string, body: unknown, opts: HeaderOptions): Buffer {
  const buf = encodeBody(body);
  const headers = baseHeaders(opts);
  headers.push(['Content-Length', String(buf.length)]);
  const head = `HTTP/1.1 ${status} ${statusText}\r\n` + headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  return Buffer.concat([Buffer.from(head), buf]);
}

// ---- Status bodies, field order as metav1.Status: kind, apiVersion, metadata, status, message, reason, details, code

export interface StatusDetails { name?: string; group?: string; kind?: string; uid?: string }

export function statusBody(code: number, reason: string, message: string, details?: StatusDetails): Json {
  const body: Json = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
  if (details) body.details = details;
  body.code = code;
  return body;
}

export function successStatus(details: StatusDetails): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

/** "pods" or "daemonsets.apps": how the apiserver names a resource in its messages. */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

function details(name: string | undefined, resource: string, group: string): StatusDetails {
  const d: StatusDetails = {};
  if (name) d.name = name;
  if (group) d.group = group;
  d.kind = resource;
  return d;
}

export function notFound(resource: string, group: string, name: string): Json {
  return statusBody(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, details(name, resource, group));
}

export function alreadyExists(resource: string, group: string, name: string): Json {
  return statusBody(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, details(name, resource, group));
}

export function conflict(resource: string, group: string, name: string): Json {
  return statusBody(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(name, resource, group));
}

export function pathNotFound(): Json {
  return statusBody(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function badRequest(message: string): Json {
  return statusBody(400, 'BadRequest', message);
}

export function invalid(resource: string, group: string, name: string, message: string): Json {
  return statusBody(422, 'Invalid', `${qualified(resource, group)} "${name}" is invalid: ${message}`, details(name, resource, group));
}

export function methodNotAllowed(): Json {
  return statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

export function unauthorized(): Json {
  return statusBody(401, 'Unauthorized', 'Unauthorized');
}

export interface ForbiddenInput {
  user: string; verb: string; resource: string; subresource?: string; group: string; namespace?: string; name?: string;
}

export function forbidden(f: ForbiddenInput): Json {
  const full = f.subresource ? `${f.resource}/${f.subresource}` : f.resource;
  const subject = f.name ? `${qualified(f.resource, f.group)} "${f.name}"` : qualified(f.resource, f.group);
  const scope = f.namespace ? `in the namespace "${f.namespace}"` : 'at the cluster scope';
  const message = `${subject} is forbidden: User "${f.user}" cannot ${f.verb} resource "${full}" in API group "${f.group}" ${scope}`;
  return statusBody(403, 'Forbidden', message, details(f.name, f.resource, f.group));
}

export function tooOldList(): Json {
  return statusBody(410, 'Expired', 'The resourceVersion for the provided list is too old.');
}

/** Resources without a watch cache (events) are watched straight from etcd, which words it differently. */
export function tooOldWatchFromEtcd(): Json {
  return statusBody(410, 'Expired', 'The resourceVersion for the provided watch is too old.');
}

export function tooOldWatch(requested: string, oldest: number): Json {
  return statusBody(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}
