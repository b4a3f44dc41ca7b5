// The contract between the objects `kx init` applies and radar in its pod: which node paths the pod mounts and
// radar looks in for the container runtime, and the annotation where radar tells `kx doctor` what it found.

/**
 * How radar's process starts, in its pod and in its container on a Docker engine: radar bundled into plain
 * JavaScript (dist/radar.mjs, radar/image/bundle.ts: no TypeScript transformer loaded), by node with a young generation of
 * 2 MiB semi-spaces. V8 sizes them from the machine's memory (64 MiB each on a 16 GiB machine); radar's bursts of
 * short-lived objects (a large tree's manifest, the frames of a full sync) grow them to that, and the pages stay
 * resident once they have been touched. Capped, radar runs more, shorter scavenges; measured serving 10,000 files in
 * two containers, it rests at 130-138 MB instead of 177 MB. V8 reads the flag only when it sets up its heap, so it
 * is on the command line, not set by radar itself. --expose-gc lets radar run one full collection when it goes quiet
 * after work (radar/grpc/idle-gc.ts): old space otherwise keeps a sync's garbage resident until it grows again.
 */
export const RADAR_COMMAND: readonly string[] = ['node', '--max-semi-space-size=2', '--expose-gc', 'dist/radar.mjs'];

/** Set by radar on its own pod once it has looked for the runtime: the runtime and socket it uses, or "none: tried …". */
export const RUNTIME_ANNOTATION = 'kx.dev/runtime';

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
  { runtime: 'containerd', path: '/run/containerd/containerd.sock', layout: 'containerd' },
  { runtime: 'containerd', path: '/run/k3s/containerd/containerd.sock', layout: 'k3s, RKE2' },
  { runtime: 'containerd', path: '/var/snap/microk8s/common/run/containerd.sock', layout: 'MicroK8s' },
  { runtime: 'docker', path: '/var/run/docker.sock', layout: 'Docker, cri-dockerd' },
];

/**
 * What radar's image carries of this repository: radar itself, the wire contract and the parts of pkg/ it runs.
 * radar/image/stage.ts copies them, kx hashes them to tell whether an image holds this radar, and the architecture
 * test keeps radar's imports within them.
 */
export const RADAR_SOURCE_DIRS = ['radar', 'proto', 'pkg/sync', 'pkg/receiver', 'pkg/runtime', 'pkg/wire', 'pkg/lifecycle'] as const;
