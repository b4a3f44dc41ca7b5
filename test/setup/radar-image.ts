// radar's image on the test engine, built from this checkout when the engine has none from these sources (the
// image's kx.source-hash label says which sources it holds). As vitest's global setup it is built once, before any
// test file runs, so no test spends its own wait on the build; tests that deploy the image (kx init's DaemonSet,
// the image's own checks) ask radarImage() for its name.
import Docker from 'dockerode';
import { resolveEngineAddress } from '../../pkg/docker/engine-address.ts';
import { RadarImage, radarImageName } from '../../pkg/docker/radar-image.ts';

async function ensure(): Promise<string> {
  const engine = await resolveEngineAddress();
  const name = radarImageName();
  const image = new RadarImage({ docker: new Docker(engine.options), engine, image: name, log: (line) => process.stderr.write(`test setup: ${line}\n`) });
  await image.ensure();
  return name;
}

/** The tag `kx init` deploys by default (kx-radar:<package version>, or KX_RADAR_IMAGE), up to date with this checkout. */
export function radarImage(): Promise<string> {
  return ensure();
}

export default async function setup(): Promise<void> {
  // Without an engine the tests that need one fail with their own message; the others still run.
  await ensure().catch((err: unknown) => process.stderr.write(`test setup: no radar image: ${(err as Error).message}\n`));
}
