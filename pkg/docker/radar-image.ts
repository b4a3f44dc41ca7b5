// radar's image on the user's engine: the same kx-radar:<version> that kx ships for Kubernetes. When the engine has
// no image of that name built from these sources (label kx.source-hash), it is built offline on first use by
// radar/image/build-offline.sh (`npm run image:offline`), then reused by every later start.
import type Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { EngineAddress } from './engine-address.ts';
import { radarSourceHash, SOURCE_HASH_LABEL } from './radar-source-hash.ts';

/** The package root: radar's sources and its image build script live there. */
const PACKAGE_ROOT = resolve(import.meta.dirname, '../..');

/** kx-radar:<package version>, or KX_RADAR_IMAGE. */
export function radarImageName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KX_RADAR_IMAGE) return env.KX_RADAR_IMAGE;
  const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return `kx-radar:${version}`;
}

export interface RadarImageOptions {
  readonly docker: Pick<Docker, 'getImage'>;
  readonly engine: EngineAddress;
  readonly image: string;
  readonly log: (line: string) => void;
  /** Where radar's sources are; default the package root. */
  readonly root?: string;
}

export class RadarImage {
  readonly #opts: RadarImageOptions;
  #ready: Promise<string> | undefined;

  constructor(opts: RadarImageOptions) {
    this.#opts = opts;
  }

  /** Resolves with the image name once the engine holds it; a failed build is retried by the next call. */
  ensure(): Promise<string> {
    this.#ready ??= this.#ensure().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #ensure(): Promise<string> {
    const { docker, image } = this.#opts;
    const root = this.#opts.root ?? PACKAGE_ROOT;
    const wanted = await radarSourceHash(root);
    const labels = await docker.getImage(image).inspect().then(
      (info) => info.Config?.Labels ?? {},
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return null;
        throw new KxError(ErrorCode.Unavailable, `docker engine at ${this.#opts.engine.url}: cannot inspect image ${image}: ${(err as Error).message}`, { cause: err });
      },
    );
    if (labels?.[SOURCE_HASH_LABEL] === wanted) return image;
    this.#opts.log(`radar image ${image} ${labels ? 'was built from other sources' : 'is not on the engine'}: building it offline (once; about half a minute)`);
    await this.#build(root);
    return image;
  }

  #build(root: string): Promise<void> {
    const { engine, image } = this.#opts;
    const env: NodeJS.ProcessEnv = { ...process.env, KX_RADAR_IMAGE: image, DOCKER_HOST: engine.url };
    // The docker CLI the script runs must reach the same engine: DOCKER_HOST names it, whatever context is current.
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_TLS_VERIFY;
    delete env.DOCKER_CERT_PATH;
    if (engine.tls?.dir) Object.assign(env, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: engine.tls.dir });
    const script = join(root, 'radar/image/build-offline.sh');
    return new Promise((resolvePromise, reject) => {
      const child = spawn('bash', [script], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', (err) => reject(new KxError(ErrorCode.Unavailable, `building radar image ${image}: ${err.message}`, { cause: err })));
      child.on('exit', (code) => {
        if (code === 0) return resolvePromise();
        const last = output.trim().split('\n').at(-1) ?? '';
        reject(new KxError(ErrorCode.Unavailable, `building radar image ${image} with ${script} failed (exit ${code}): ${last}`));
      });
    });
  }
}
