// kx clean: remove what kx init installed (radar's namespace only if kx created it); with --docker, the radar
// containers kx watch started on the Docker engine for this kx home (left behind when kx was killed, or kept for the
// next kx watch), and kx's record of the one kept.

import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { clean } from '../../pkg/cluster/install.ts';
import { configStore } from '../composition/root.ts';
import { clusterTarget } from './cluster-target.ts';
import { fail } from './fail.ts';
import { progressLine } from './init.ts';

export async function cleanCommand(args: { config?: string | undefined; context?: string | undefined; namespace?: string | undefined; docker?: boolean | undefined }): Promise<void> {
  if (args.docker) {
    // Checked here: yargs counts --docker's default as given, so .conflicts() would refuse every --namespace.
    if (args.namespace !== undefined) return fail(new Error('--docker removes radar containers from the Docker engine; --namespace is for the cluster: pass one'));
    return cleanDocker(args);
  }
  try {
    const { cluster } = await clusterTarget(args);
    const namespace = args.namespace ?? 'kx-system';
    await clean({ kubeConfig: cluster.kc, context: cluster.context, namespace, onProgress: (p) => void process.stderr.write(`${progressLine(p)}\n`) });
    process.stdout.write(`radar removed from namespace "${namespace}" of context "${cluster.context}"\n`);
  } catch (err) {
    fail(err);
  }
}

async function cleanDocker(args: { config?: string | undefined }): Promise<void> {
  try {
    const [{ default: Docker }, { resolveEngineAddress }, { homeHash, removeRadarContainers }, { RADAR_STATE_FILE }] = await Promise.all([
      import('dockerode'),
      import('../../pkg/docker/engine-address.ts'),
      import('../../pkg/docker/radar-container.ts'),
      import('../composition/docker-radar.ts'),
    ]);
    const engine = await resolveEngineAddress();
    const home = dirname(configStore(args).file);
    const removed = await removeRadarContainers(new Docker(engine.options), homeHash(home));
    await rm(join(home, RADAR_STATE_FILE), { force: true });
    process.stdout.write(removed.length === 0
      ? `no radar containers of ${home} on the docker engine at ${engine.url}\n`
      : `removed ${removed.length} radar container(s) of ${home} from the docker engine at ${engine.url}: ${removed.join(', ')}\n`);
  } catch (err) {
    fail(err);
  }
}
