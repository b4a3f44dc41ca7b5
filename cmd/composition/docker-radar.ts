// radar's container for the Docker target, made here so that `kx watch` can start it the moment its config shows a
// Docker spec: the engine creating the container and radar's own process start (about half a second of the
// container's CPU) then overlap kx loading the rest of the daemon, instead of following it. This module loads only
// dockerode and pkg/docker's radar pieces; the daemon takes the running container over (DockerDriver's `radar`).

import Docker from 'dockerode';
import { dirname, join } from 'node:path';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { homeHash, RadarContainer, type RadarLinger } from '../../pkg/docker/radar-container.ts';
import { RadarImage, radarImageName } from '../../pkg/docker/radar-image.ts';

/** KX_RADAR_NETWORK=host|published: how the Docker target's radar container is networked (default: by the engine). */
export function radarNetwork(env: NodeJS.ProcessEnv): { radarNetwork?: 'host' | 'published' } {
  const v = env.KX_RADAR_NETWORK;
  if (v === undefined || v === '') return {};
  if (v === 'host' || v === 'published') return { radarNetwork: v };
  throw new KxError(ErrorCode.InvalidConfig, `KX_RADAR_NETWORK=${v}: expected host or published`);
}

/** How long radar's container stays up for the next `kx watch` after this one stops, by default. */
export const DEFAULT_RADAR_LINGER_SECONDS = 600;
/** In the kx home: the address and token of the radar container kx left running (mode 0600). */
export const RADAR_STATE_FILE = 'radar-docker.json';

/**
 * KX_RADAR_LINGER=SECONDS: how long the Docker target's radar container stays up with no client after `kx watch`
 * stops, for the next `kx watch` of the kx home to adopt (default 600); 0 removes it with kx watch.
 */
export function radarLinger(env: NodeJS.ProcessEnv, home: string): { radarLinger?: RadarLinger } {
  const v = env.KX_RADAR_LINGER;
  const seconds = v === undefined || v === '' ? DEFAULT_RADAR_LINGER_SECONDS : Number(v);
  if (!Number.isInteger(seconds) || seconds < 0) throw new KxError(ErrorCode.InvalidConfig, `KX_RADAR_LINGER=${v}: expected whole seconds ≥ 0 (0: radar's container goes with kx watch)`);
  return seconds === 0 ? {} : { radarLinger: { seconds, stateFile: join(home, RADAR_STATE_FILE) } };
}

/**
 * A RadarContainer for the kx home of `configFile`, on the engine `env` names, already starting. A failed start is
 * not reported here: the first connection asks again (RadarContainer starts anew) and reports on its spec's row.
 * The caller owns it: close() removes the container.
 */
export async function startRadarContainer(opts: { configFile: string; env: NodeJS.ProcessEnv; log: (line: string) => void }): Promise<RadarContainer> {
  const { env, log } = opts;
  const network = radarNetwork(env).radarNetwork;
  const linger = radarLinger(env, dirname(opts.configFile)).radarLinger;
  const engine = await resolveEngineAddress(env);
  const docker = new Docker(engine.options);
  const image = new RadarImage({ docker, engine, image: radarImageName(env), log });
  const radar = new RadarContainer({ docker, engine, image: () => image.ensure(), home: homeHash(dirname(opts.configFile)), log, ...(network && { network }), ...(linger && { linger }) });
  radar.endpoint().catch(() => undefined);
  return radar;
}
