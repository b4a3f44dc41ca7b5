// kx as users run it: the tarball `npm pack` makes (prepack bundles kx with esbuild into dist/), installed with
// `npm install --global` into a prefix of the bench's own. Every `kx watch` the bench starts runs that package
// (KX_BENCH_KX names its entry), so process start and module loading are measured as users pay them, not through
// the checkout's type stripping. Packed once per bench run (npm's cache is warm after `npm ci`).
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..');

/** The installed package's `kx` entry (a JavaScript file: the bench runs it with its own Node, as `kx` would). */
export interface InstalledKx {
  readonly entry: string;
  /** The prefix everything was installed into (removed by the caller when done). */
  readonly prefix: string;
}

/**
 * Packs a checkout (this one by default) and installs the tarball globally into a fresh prefix under the OS temp
 * directory.
 */
export async function installKx(say: (line: string) => void, repo = REPO): Promise<InstalledKx> {
  const dir = await mkdtemp(join(tmpdir(), 'kx-bench-package-'));
  const t0 = performance.now();
  // npm runs prepack (build/package.ts) with the Node that runs npm: put the project's Node 24 first on PATH.
  const env = { ...process.env, PATH: `${resolve(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: repo, env, maxBuffer: 16 << 20 });
  const tarball = join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);
  const prefix = join(dir, 'prefix');
  await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir, env, maxBuffer: 16 << 20 });
  const entry = join(prefix, 'lib', 'node_modules', 'kx', 'dist', 'kx.js');
  say(`kx package: packed and installed in ${((performance.now() - t0) / 1000).toFixed(0)} s (${entry})`);
  return { entry, prefix: dir };
}
