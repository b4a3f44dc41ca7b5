// The single executable's own code (CommonJS, as Node's single executable applications run it): unpacks kx (an
// ES module bundle) and the files it reads at run time from the executable into a per-user cache folder named by
// their content (hashed at build time), once, then imports kx from there. Node's built-ins only.

import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sea from 'node:sea';

/** The asset naming the others (paths in the unpacked folder, like the package's) and their hash; see sea.ts. */
const MANIFEST = 'kx-manifest.json';
/** What runs kx, relative to the unpacked folder. */
const ENTRY = 'dist/main.js';

const manifest = JSON.parse(sea.getAsset(MANIFEST, 'utf8')) as { hash: string; files: string[] };
const root = cacheRoot();
mkdirSync(root, { recursive: true, mode: 0o700 });
// What is unpacked here runs as this user: a folder someone else owns or may write to would let them run code.
const owner = statSync(root);
if (owner.uid !== process.getuid?.() || (owner.mode & 0o022) !== 0) {
  process.stderr.write(`kx: ${root} must belong to you alone (it holds the code kx runs); set XDG_CACHE_HOME to a folder of yours\n`);
  process.exit(1);
}
const dir = join(root, `sea-${manifest.hash}`);
if (!exists(join(dir, ENTRY))) {
  const files = manifest.files.map((name) => ({ name, data: new Uint8Array(sea.getRawAsset(name)) }));
  // Written beside it and renamed: a second kx starting at the same moment never sees half the files.
  const tmp = mkdtempSync(`${dir}.tmp-`);
  for (const f of files) {
    mkdirSync(dirname(join(tmp, f.name)), { recursive: true });
    writeFileSync(join(tmp, f.name), f.data);
  }
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another kx unpacked the same content first
  }
}
import(pathToFileURL(join(dir, ENTRY)).href).catch((err: unknown) => {
  process.stderr.write(`kx: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

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
