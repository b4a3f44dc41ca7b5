// Stages radar's application directory for an image: radar bundled into plain JavaScript (bundle.ts: dist/ with
// the packages it uses inside, no node_modules), the files it reads at run time (the .proto files of proto/ and
// pkg/runtime/, at their paths in the repository), and a minimal package.json. Used by both radar/Dockerfile and
// radar/image/build-offline.sh (and, at pack time, build/radar-image-files.ts), so every image holds the same
// application files.
//
//   node radar/image/stage.ts <repo root> <output app dir>
import { cp, mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { RADAR_SOURCE_DIRS as SOURCE_DIRS } from '../../proto/radar-pod.ts';
import { bundleRadar } from './bundle.ts';

/** What radar reads at run time besides its code. */
const RUNTIME_FILE = /\.proto$/;

async function main(): Promise<void> {
  const [rootArg, outArg] = process.argv.slice(2);
  if (!rootArg || !outArg) throw new Error('usage: node radar/image/stage.ts <repo root> <output app dir>');
  const [root, out] = [resolve(rootArg), resolve(outArg)];
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await bundleRadar(root, out);
  const copied: string[] = [];
  for (const dir of SOURCE_DIRS) {
    await cp(join(root, dir), join(out, dir), {
      recursive: true,
      filter: async (src) => {
        if (RUNTIME_FILE.test(src)) copied.push(relative(root, src));
        return RUNTIME_FILE.test(src) || (await isDir(src));
      },
    });
  }
  await removeEmptyDirs(out);
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  // "type": "module": the bundle is ES modules.
  await writeFile(join(out, 'package.json'), `${JSON.stringify({ name: `${pkg.name}-radar`, version: pkg.version, private: true, type: 'module' }, null, 2)}\n`);
  process.stdout.write(`${copied.sort().join('\n')}\n`);
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/** The copy keeps every source folder; those that held no run-time file go. */
async function removeEmptyDirs(dir: string): Promise<boolean> {
  let empty = true;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory() && (await removeEmptyDirs(join(dir, e.name)))) await rmdir(join(dir, e.name));
    else empty = false;
  }
  return empty;
}

// Run main only as a script.
if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
