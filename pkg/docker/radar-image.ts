// radar's image on the user's engine: the same kx-radar:<version> that kx ships for Kubernetes. When the engine has
// no image of that name built from these sources (label kx.source-hash), it is built offline on first use, then
// reused by every later start: in a checkout by radar/image/build-offline.sh (`npm run image:offline`), in an
// installed package from the application staged into it at pack time (build/radar-image-files.ts).
import type Docker from 'dockerode';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { EngineAddress } from './engine-address.ts';
import { radarSourceHash, SOURCE_HASH_LABEL } from './radar-source-hash.ts';

/**
 * The package root: the checkout, or the installed package. Through import.meta.url, which the bundle rewrites to
 * this file's place in the package (build/asset-urls.ts), so it holds in dist/ as in the checkout.
 */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where an installed package keeps what builds radar's image, and the names of those files. */
export const STAGED_DIR = 'dist/radar-image';
export const STAGED_FILES = { app: 'app.tar.gz', build: 'build-staged.sh', sourceHash: 'source-hash' } as const;
/** The oldest Node the image's radar runs on (the image runs radar bundled to plain JavaScript, built for Node 24). */
const IMAGE_NODE_MAJOR = 24;

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
    const recipe = await imageRecipe(this.#opts.root ?? PACKAGE_ROOT, image);
    const wanted = recipe.sourceHash;
    const labels = await docker.getImage(image).inspect().then(
      (info) => info.Config?.Labels ?? {},
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return null;
        throw new KxError(ErrorCode.Unavailable, `docker engine at ${this.#opts.engine.url}: cannot inspect image ${image}: ${(err as Error).message}`, { cause: err });
      },
    );
    if (labels?.[SOURCE_HASH_LABEL] === wanted) return image;
    this.#opts.log(`radar image ${image} ${labels ? 'was built from other sources' : 'is not on the engine'}: building it offline (once; about half a minute)`);
    await this.#build(recipe);
    return image;
  }

  async #build(recipe: Recipe): Promise<void> {
    const { engine, image } = this.#opts;
    const env: NodeJS.ProcessEnv = { ...process.env, KX_RADAR_IMAGE: image, DOCKER_HOST: engine.url };
    // The docker CLI the script runs must reach the same engine: DOCKER_HOST names it, whatever context is current.
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_TLS_VERIFY;
    delete env.DOCKER_CERT_PATH;
    if (engine.tls?.dir) Object.assign(env, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: engine.tls.dir });
    const command = await recipe.command(env);
    try {
      await this.#run(command.script, command.args, command.cwd, env);
    } finally {
      await command.dispose();
    }
  }

  #run(script: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
    const { image } = this.#opts;
    return new Promise((resolvePromise, reject) => {
      const child = spawn('bash', [script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

interface Recipe {
  readonly sourceHash: string;
  command(env: NodeJS.ProcessEnv): Promise<{ script: string; args: string[]; cwd: string; dispose(): Promise<void> }>;
}

/** How the image is built from `root`: from radar's sources in a checkout, else from the package's staged app. */
async function imageRecipe(root: string, image: string): Promise<Recipe> {
  const checkoutScript = join(root, 'radar/image/build-offline.sh');
  if (existsSync(checkoutScript)) {
    return { sourceHash: await radarSourceHash(root), command: async () => ({ script: checkoutScript, args: [], cwd: root, dispose: async () => undefined }) };
  }
  const staged = join(root, STAGED_DIR);
  // 64 bytes, read synchronously: on kx watch's start the libuv pool is busy with the watcher's walk of the tree,
  // and radar's container (new or left running) waits for this answer.
  let sourceHash: string;
  try {
    sourceHash = readFileSync(join(staged, STAGED_FILES.sourceHash), 'utf8').trim();
  } catch (err) {
    throw new KxError(ErrorCode.Unavailable, `cannot build radar image ${image}: ${join(staged, STAGED_FILES.sourceHash)} is missing (${(err as Error).message}); reinstall kx, or build the image from a kx checkout with npm run image:offline`, { cause: err });
  }
  return {
    sourceHash,
    async command(env) {
      const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
      const node = await imageNode(env);
      const args = [node.bin, join(staged, STAGED_FILES.app), sourceHash, version, image];
      return { script: join(staged, STAGED_FILES.build), args, cwd: staged, dispose: () => node.dispose() };
    },
  };
}

/** A Node binary to copy into the image, and how to release it once the image is built. */
interface ImageNode {
  readonly bin: string;
  dispose(): Promise<void>;
}

/** postject's fuse in Node's binary: its last character is 1 in a single executable, 0 in a plain Node. */
const SEA_FUSE = Buffer.from(`${['NODE_SEA_FUSE', 'fce680ab2cc467b6e072b8b5df1996b2'].join('_')}:`);

/**
 * The Node binary copied into the image: KX_NODE_BIN; else the one running kx when it is a plain Node of the image's
 * major or newer; inside kx's single executable, a copy of it with the fuse turned off, which is plain Node 24 again
 * (so the single executable still needs no Node); else the first such `node` on PATH.
 */
async function imageNode(env: NodeJS.ProcessEnv): Promise<ImageNode> {
  const kept = (bin: string): ImageNode => ({ bin, dispose: async () => undefined });
  if (env.KX_NODE_BIN) return kept(env.KX_NODE_BIN);
  const recent = (version: string): boolean => Number(version.replace(/^v/, '').split('.')[0]) >= IMAGE_NODE_MAJOR;
  if (recent(process.versions.node)) {
    const sea = await import('node:sea').catch(() => null);
    if (!(sea?.isSea() ?? false)) return kept(process.execPath);
    const defused = await plainCopyOfSelf();
    if (defused) return defused;
  }
  const seen: string[] = [`this kx runs on Node ${process.versions.node}`];
  for (const bin of (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'node'))) {
    const version = await nodeVersion(bin);
    if (version === null) continue;
    seen.push(`${bin} is ${version}`);
    if (recent(version)) return kept(bin);
  }
  throw new KxError(
    ErrorCode.Unavailable,
    `building radar's image needs a Node.js ${IMAGE_NODE_MAJOR} or newer binary to copy into it: set KX_NODE_BIN to one (${seen.join('; ')}; no node ${IMAGE_NODE_MAJOR}+ on PATH)`,
  );
}

/** The single executable's binary with its fuse off, in a private temp folder; null when the fuse is not found. */
async function plainCopyOfSelf(): Promise<ImageNode | null> {
  const binary = await readFile(process.execPath);
  const at = binary.indexOf(SEA_FUSE);
  if (at < 0) return null;
  binary[at + SEA_FUSE.length] = 0x30; // '0'
  const dir = await mkdtemp(join(tmpdir(), 'kx-radar-node-'));
  const bin = join(dir, 'node');
  await writeFile(bin, binary, { mode: 0o755 });
  return { bin, dispose: () => rm(dir, { recursive: true, force: true }) };
}

async function nodeVersion(bin: string): Promise<string | null> {
  try {
    return (await promisify(execFile)(bin, ['--version'], { timeout: 10_000, env: {} })).stdout.trim();
  } catch {
    return null;
  }
}
