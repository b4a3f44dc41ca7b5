// radar's image, built from this checkout before anything is timed (kx would build it on first use, inside the
// initial sync's wall time). The bench uses a tag of its own, so test runs of other checkouts on the same engine
// (which rebuild kx-radar:<version> for their sources) cannot swap the image under a running benchmark.
import Docker from 'dockerode';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { RadarImage, radarImageName } from '../../pkg/docker/radar-image.ts';

export async function ensureRadarImage(say: (line: string) => void): Promise<string> {
  process.env.KX_RADAR_IMAGE ??= radarImageName().replace(/^kx-radar:/, 'kx-radar-bench:');
  const engine = await resolveEngineAddress();
  const name = radarImageName();
  await new RadarImage({ docker: new Docker(engine.options), engine, image: name, log: (line) => say(`radar image: ${line}`) }).ensure();
  return name;
}
