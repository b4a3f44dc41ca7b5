// The single executable's own code (CommonJS, as Node's single executable applications run it): unpacks kx (an
// ES module bundle) and the files it reads at run time from the executable into a per-user cache folder named by
// their content (hashed at build time), once, then imports kx from there. Node's built-ins only.

import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sea from 'node:sea';
import { WATCH_ENV } from './node-flags.ts';

/** The asset naming the others (paths in the unpacked folder, like the package's) and their hash; see sea.ts. */
const MANIFEST = 'kx-manifest.json';
/** What runs kx, relative to the unpacked folder. */
const ENTRY = 'dist/main.js';

// kx watch, the long-running daemon, runs with glibc's malloc settings (WATCH_ENV, build/node-flags.ts; its Node
// flags come from the executable's execArgv). glibc reads them only when the process starts: it replaces itself
// (same pid, stdio and signals) with one started with them, as the npm bin does. A setting in the environment wins.
if (process.argv.slice(2).includes('watch') && typeof process.execve === 'function' && Object.keys(WATCH_ENV).some((k) => process.env[k] === undefined)) {
  try {
    process.execve(process.execPath, [process.execPath, ...process.argv.slice(2)], { ...WATCH_ENV, ...process.env });
  } catch {
    // Runs as it is.
  }
}

const manifest = JSON.parse(sea.getAsset(MANIFEST, 'utf8')) as { hash: string; files: string[] };
const root = cacheRoot();
try {
  const dir = unpack(root, manifest);
  import(pathToFileURL(join(dir, ENTRY)).href).catch(oneLine);
} catch (err) {
  oneLine(err);
}

function unpack(root: string, manifest: { hash: string; files: string[] }): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // What is unpacked here runs as this user: a folder someone else owns or may write to would let them run code.
  const owner = statSync(root);
  if (owner.uid !== process.getuid?.() || (owner.mode & 0o022) !== 0) {
    throw new Error(`${root} must belong to you alone (it holds the code kx runs); set XDG_CACHE_HOME to a folder of yours`);
  }
  const dir = join(root, `sea-${manifest.hash}`);
  if (exists(join(dir, ENTRY))) return dir;
  // Written beside it and renamed: a second kx starting at the same moment never sees half the files.
  const tmp = mkdtempSync(`${dir}.tmp-`);
  for (const name of manifest.files) {
    mkdirSync(dirname(join(tmp, name)), { recursive: true });
    writeFileSync(join(tmp, name), new Uint8Array(sea.getRawAsset(name)));
  }
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another kx unpacked the same content first
  }
  return dir;
}

function oneLine(err: unknown): void {
  process.stderr.write(`kx: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}

function cacheRoot(): string {
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'kx');
  const home = homedir();
  return home && exists(home) ? join(home, '.cache', 'kx') : join(tmpdir(), `kx-${process.getuid?.() ?? 'user'}`);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
