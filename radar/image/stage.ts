// Stages radar's application directory for an image: radar/, proto/, the parts of pkg/ radar shares (sync,
// receiver, runtime, wire, lifecycle), a minimal package.json, and only the production packages radar's code
// imports (transitively), found from the import statements themselves so the image never silently misses or
// carries the CLI's dependencies. Used by both radar/Dockerfile and
// radar/image/build-offline.sh, so both images hold the same application files.
//
//   node radar/image/stage.ts <repo root> <output app dir>
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { RADAR_SOURCE_DIRS as SOURCE_DIRS } from '../../proto/radar-pod.ts';

/** Build tooling for the image itself, not needed at run time. */
const EXCLUDE = ['radar/image', 'radar/Dockerfile'];

async function main(): Promise<void> {
  const [root, out] = process.argv.slice(2);
  if (!root || !out) throw new Error('usage: node radar/image/stage.ts <repo root> <output app dir>');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  const sources: string[] = [];
  for (const dir of SOURCE_DIRS) {
    await cp(join(root, dir), join(out, dir), {
      recursive: true,
      filter: (src) => {
        const rel = relative(root, src);
        if (EXCLUDE.includes(rel) || /\.test\.ts$/.test(rel)) return false;
        if (rel.endsWith('.ts')) sources.push(src);
        return true;
      },
    });
  }

  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  // "type": "module" makes Node read radar's .ts files as ES modules, as in the repository.
  await writeFile(join(out, 'package.json'), `${JSON.stringify({ name: `${pkg.name}-radar`, version: pkg.version, private: true, type: 'module' }, null, 2)}\n`);

  const wanted = new Set<string>();
  for (const file of sources) for (const spec of bareImports(await readFile(file, 'utf8'))) wanted.add(packageName(spec));
  const dirs = await closure(root, [...wanted].sort());
  for (const dir of dirs) {
    await cp(join(root, dir), join(out, dir), {
      recursive: true,
      // Nested node_modules are staged on their own when something resolves into them.
      filter: (src) => relative(join(root, dir), src) !== 'node_modules',
    });
  }
  process.stdout.write(`${dirs.join('\n')}\n`);
}

export function bareImports(text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3] ?? '');
  return specs.filter((s) => s && !s.startsWith('.') && !s.startsWith('/') && !s.startsWith('node:'));
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Package directories (relative to root) needed by `names`, resolved the way Node does from the repo root. */
async function closure(root: string, names: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  const queue: Array<{ name: string; from: string }> = names.map((name) => ({ name, from: '' }));
  while (queue.length > 0) {
    const { name, from } = queue.shift()!;
    const dir = await resolvePackage(root, name, from);
    if (dir === null) throw new Error(`stage: cannot resolve package ${name} (needed by ${from || 'radar'})`);
    if (found.has(dir)) continue;
    found.add(dir);
    const meta = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(meta.dependencies ?? {})) queue.push({ name: dep, from: dir });
    // Optional and peer dependencies are staged when installed; their absence is what the package expects.
    for (const dep of [...Object.keys(meta.optionalDependencies ?? {}), ...Object.keys(meta.peerDependencies ?? {})]) {
      if ((await resolvePackage(root, dep, dir)) !== null) queue.push({ name: dep, from: dir });
    }
  }
  return [...found].sort();
}

async function resolvePackage(root: string, name: string, from: string): Promise<string | null> {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (await isDir(join(root, candidate))) return candidate;
    if (dir === '' || dir === '.') return null;
    dir = dirname(dir) === '.' ? '' : dirname(dir);
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

// Also loaded by tests for bareImports(); run main only as a script.
if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
