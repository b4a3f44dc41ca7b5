// Where the container runtimes listen, on the node layouts radar knows. A module of its own, free of dependencies,
// so that parsing radar's command line (and rendering radar's pod spec) does not load the runtime clients
// (dockerode, grpc) a directory-mode radar never uses.

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
/** The containerd namespace the kubelet (CRI) puts Kubernetes containers in. */
export const KUBERNETES_NAMESPACE = 'k8s.io';
/** A socket setting that means "look for it among KNOWN_SOCKETS". */
export const AUTO_SOCKET = 'auto';

export type SocketRuntime = 'docker' | 'containerd';

export interface KnownSocket {
  readonly runtime: SocketRuntime;
  /** Path on the node. */
  readonly path: string;
  /** The distributions that put it there, for messages. */
  readonly layout: string;
}

/** Tried in this order; the first of each runtime that answers is used. */
export const KNOWN_SOCKETS: readonly KnownSocket[] = [
  { runtime: 'containerd', path: DEFAULT_CONTAINERD_SOCKET, layout: 'containerd' },
  { runtime: 'containerd', path: '/run/k3s/containerd/containerd.sock', layout: 'k3s, RKE2' },
  { runtime: 'containerd', path: '/var/snap/microk8s/common/run/containerd.sock', layout: 'MicroK8s' },
  { runtime: 'docker', path: DEFAULT_DOCKER_SOCKET, layout: 'Docker, cri-dockerd' },
];

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
