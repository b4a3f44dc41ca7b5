// Where the container runtimes listen by default. A module of its own, free of dependencies, so that parsing
// radar's command line does not load the runtime clients (dockerode, grpc) a directory-mode radar never uses.

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
/** The containerd namespace the kubelet (CRI) puts Kubernetes containers in. */
export const KUBERNETES_NAMESPACE = 'k8s.io';
