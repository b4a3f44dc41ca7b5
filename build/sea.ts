// `npm run sea`: dist/sea/kx, one Linux x64 executable that needs no Node (Node's single executable
// applications): kx and every dependency bundled, embedded as assets in a copy of the Node 24 binary from the
// `node` npm package (postject), with a small CommonJS main that unpacks and runs them (sea-main.ts).

import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { PACKAGE_DIR, bundleKx } from './bundle.ts';
import { WATCH_NODE_FLAGS } from './node-flags.ts';
import { stageRadarImageFiles } from './radar-image-files.ts';

const out = join(PACKAGE_DIR, 'dist', 'sea');
const node = join(PACKAGE_DIR, 'node_modules', 'node', 'bin', 'node'); // Node 24, whatever Node runs this script
const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
/** sea-main.ts reads the list of assets from this one. */
const MANIFEST = 'kx-manifest.json';
/** Read by kx at run time, at these paths under the package root. */
const RUNTIME_FILES = ['package.json', 'proto/kx.proto', 'pkg/status/status.proto'];

await rm(out, { recursive: true, force: true });
const app = join(out, 'app');
await bundleKx(join(app, 'dist'), { dependencies: 'bundled' });
await build({
  absWorkingDir: PACKAGE_DIR,
  entryPoints: ['build/sea-main.ts'],
  outfile: join(out, 'sea-main.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node24',
  logLevel: 'warning',
});

const assets: Record<string, string> = Object.fromEntries(RUNTIME_FILES.map((name) => [name, join(PACKAGE_DIR, name)]));
for (const name of await readdir(join(app, 'dist'))) assets[`dist/${name}`] = join(app, 'dist', name);
// What builds radar's image on first use, as in the npm package (the Node it copies in is the executable's own).
const radarImage = join(app, 'radar-image');
await stageRadarImageFiles(PACKAGE_DIR, radarImage);
for (const name of await readdir(radarImage)) assets[`dist/radar-image/${name}`] = join(radarImage, name);
const hash = createHash('sha256');
for (const [name, path] of Object.entries(assets)) hash.update(name).update('\0').update(await readFile(path)).update('\0');
await writeFile(join(out, MANIFEST), JSON.stringify({ hash: hash.digest('hex').slice(0, 20), files: Object.keys(assets) }));
assets[MANIFEST] = join(out, MANIFEST);

const config = {
  main: join(out, 'sea-main.cjs'),
  output: join(out, 'kx.blob'),
  disableExperimentalSEAWarning: true,
  // For every command (the executable cannot choose per command); the short-lived ones never grow a young generation.
  execArgv: WATCH_NODE_FLAGS,
  assets,
};
await writeFile(join(out, 'sea-config.json'), JSON.stringify(config, null, 2));
execFileSync(node, ['--experimental-sea-config', join(out, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
const exe = join(out, 'kx');
await copyFile(node, exe);
await chmod(exe, 0o755);
// postject prints warnings about ELF note names it does not know; they are harmless.
execFileSync(node, [postject, exe, 'NODE_SEA_BLOB', config.output, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'ignore' });
await rm(config.output);
process.stdout.write(`${relative(process.cwd(), exe)}\n`);
