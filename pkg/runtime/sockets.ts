// Where the container runtimes listen, on the node layouts radar knows (proto/radar-pod.ts, shared with the pod
// spec that mounts them). A module of its own, free of dependencies, so that parsing radar's command line does
// not load the runtime clients (dockerode, grpc) a directory-mode radar never uses.
import { AUTO_SOCKET, KNOWN_SOCKETS, type KnownSocket, type SocketRuntime } from '../../proto/radar-pod.ts';

export { AUTO_SOCKET, KNOWN_SOCKETS, type KnownSocket, type SocketRuntime };
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
/** The containerd namespace the kubelet (CRI) puts Kubernetes containers in. */
export const KUBERNETES_NAMESPACE = 'k8s.io';

/** One socket to try: where it is on the node, and where radar sees it (under its host root). */
export interface SocketCandidate extends KnownSocket {
  readonly seenAt: string;
}

/**
 * The sockets to try for `runtime`: the one given, none when disabled (''), or every known layout for 'auto'.
 * `hostRoot` is where the node's paths appear in radar's pod ('' when radar runs on the node itself).
 */
export function socketCandidates(runtime: SocketRuntime, setting: string, hostRoot: string): SocketCandidate[] {
  const seen = (path: string) => `${hostRoot.replace(/\/+$/, '')}${path}`;
  if (setting === '') return [];
  if (setting !== AUTO_SOCKET) return [{ runtime, path: setting, layout: 'given', seenAt: seen(setting) }];
  return KNOWN_SOCKETS.filter((k) => k.runtime === runtime).map((k) => ({ ...k, seenAt: seen(k.path) }));
}
