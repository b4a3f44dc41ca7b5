// vitest global setup: radar's image on the test engine, built from this checkout when the engine has none from
// these sources. Every `kx watch` with a Docker spec runs radar from it; building it here, once, keeps the first
// test that starts a daemon from spending its wait on the build.
import Docker from 'dockerode';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { RadarImage, radarImageName } from '../../pkg/docker/radar-image.ts';

export default async function setup(): Promise<void> {
  const engine = await resolveEngineAddress();
  const image = new RadarImage({ docker: new Docker(engine.options), engine, image: radarImageName(), log: (line) => process.stderr.write(`test setup: ${line}\n`) });
  // Without an engine the tests that need one fail with their own message; the others still run.
  await image.ensure().catch((err: unknown) => process.stderr.write(`test setup: no radar image: ${(err as Error).message}\n`));
}
