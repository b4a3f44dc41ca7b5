// A container reference as Kubernetes reports it in a pod's status (`containerd://<id>`, `docker://<id>`,
// `cri-o://<id>`), or a bare ID plus a runtime name (the local Docker target). Both kx's local side and radar parse
// with this one function, so they agree on what names a container.
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';

export const CONTAINER_RUNTIMES = ['docker', 'containerd', 'cri-o'] as const;
export type ContainerRuntime = (typeof CONTAINER_RUNTIMES)[number];

export interface ContainerRef {
  readonly runtime: ContainerRuntime;
  readonly id: string;
}

/**
 * Parse `runtime://id`, or a bare `id` with `runtime` given. When both a scheme and `runtime` are present they must
 * agree. Throws KxError INVALID_ARGUMENT naming the offending value.
 */
export function parseContainerRef(value: string, runtime?: string): ContainerRef {
  const text = value.trim();
  const scheme = /^([a-z][a-z0-9-]*):\/\/(.*)$/s.exec(text);
  let name: string | undefined = runtime === undefined || runtime === '' ? undefined : runtime;
  let id = text;
  if (scheme) {
    const [, prefix, rest] = scheme as unknown as [string, string, string];
    if (name !== undefined && prefix !== name) {
      throw invalid(`container ${JSON.stringify(value)}: its scheme ${prefix}:// contradicts runtime ${JSON.stringify(name)}`);
    }
    name = prefix;
    id = rest;
  }
  if (name === undefined) {
    throw invalid(`container ${JSON.stringify(value)}: no runtime; write it as containerd://ID or docker://ID, or give the runtime`);
  }
  if (!isContainerRuntime(name)) {
    throw invalid(`container ${JSON.stringify(value)}: unknown runtime ${JSON.stringify(name)} (expected ${CONTAINER_RUNTIMES.join(', ')})`);
  }
  if (id.length > MAX_ID_LENGTH) {
    throw invalid(`container ${JSON.stringify(value)}: the ID is longer than ${MAX_ID_LENGTH} characters`);
  }
  if (!CONTAINER_ID.test(id)) {
    throw invalid(`container ${JSON.stringify(value)}: ${JSON.stringify(id)} is not a container ID`);
  }
  return { runtime: name, id };
}

/** The form Kubernetes uses: `containerd://<id>`. */
export function formatContainerRef(ref: ContainerRef): string {
  return `${ref.runtime}://${ref.id}`;
}

export function isContainerRuntime(name: string): name is ContainerRuntime {
  return (CONTAINER_RUNTIMES as readonly string[]).includes(name);
}

// containerd's identifier grammar (76 characters at most); it also covers Docker's hex IDs, ID prefixes and
// container names, which the local Docker target accepts.
const CONTAINER_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const MAX_ID_LENGTH = 76;

function invalid(message: string): KxError {
  return new KxError(ErrorCode.InvalidArgument, message);
}

