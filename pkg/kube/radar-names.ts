// How radar's objects are named and labelled in the cluster: what `kx init` installs them as and what the local
// side finds radar pods by. A leaf, so installing (pkg/cluster) and locating (pkg/kube) share it without a cycle.

export const RADAR_NAME = 'kx-radar';
/** The labels the local side selects radar pods by (together with spec.nodeName). */
export const RADAR_SELECTOR: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'kx-radar',
  'app.kubernetes.io/component': 'radar',
};
/** The name of radar's container port, which port-forwards target. */
export const RADAR_PORT_NAME = 'grpc';
