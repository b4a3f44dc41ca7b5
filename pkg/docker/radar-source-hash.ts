// A digest of what goes into radar's image: radar's sources, the parts of pkg/ it runs, the wire contract, and the
// lock file that pins its packages and Node. The image carries it as label kx.source-hash, so kx can tell without
// building whether the image on the engine holds this checkout's radar. Also run by radar/image/build-offline.sh:
//   node pkg/docker/radar-source-hash.ts <repo root>
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RADAR_SOURCE_DIRS } from '../../proto/radar-pod.ts';

export const SOURCE_HASH_LABEL = 'kx.source-hash';
const SOURCES = [...RADAR_SOURCE_DIRS, 'package-lock.json'];

/** sha256 over the sorted relative paths and contents of radar's sources under `root` (tests left out). */
export async function radarSourceHash(root: string): Promise<string> {
  const files: string[] = [];
  for (const source of SOURCES) await collect(join(root, source), files);
  files.sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${relative(root, file)}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

async function collect(path: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') out.push(path);
    else if (code !== 'ENOENT') throw err;
    return;
  }
  for (const e of entries) {
    if (e.isDirectory()) await collect(join(path, e.name), out);
    else if (e.isFile() && !e.name.endsWith('.test.ts')) out.push(join(path, e.name));
  }
}

if (import.meta.main) {
  const root = process.argv[2];
  if (!root) {
    process.stderr.write('usage: node pkg/docker/radar-source-hash.ts <repo root>\n');
    process.exit(2);
  }
  process.stdout.write(`${await radarSourceHash(root)}\n`);
}
