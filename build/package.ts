// Builds what the npm package runs (npm's prepack runs it): kx bundled to ES modules in dist/, dependencies left
// for npm to install, and dist/kx.js, the bin: it checks the Node version before anything else loads, so an
// unsupported Node gets one line instead of a stack trace. Also dist/radar-image/: what an installed kx needs to
// build radar's image on first use (radar-image-files.ts).

import { build } from 'esbuild';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_DIR, bundleKx } from './bundle.ts';
import { WATCH_ENV, WATCH_NODE_FLAGS } from './node-flags.ts';
import { stageRadarImageFiles } from './radar-image-files.ts';

const dist = join(PACKAGE_DIR, 'dist');
const pkg = JSON.parse(await readFile(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { engines: { node: string } };
const minimum = /^>=\s*(\d+)\.(\d+)/.exec(pkg.engines.node);
if (!minimum) throw new Error(`package.json engines.node must start with ">=MAJOR.MINOR", not ${pkg.engines.node}`);

await bundleKx(dist, { dependencies: 'external' });
// Module hooks the bin installs before kx loads: rarely used parts of dependencies load on first use (lazy-modules.ts).
await build({ absWorkingDir: PACKAGE_DIR, entryPoints: ['build/lazy-deps.ts'], outfile: join(dist, 'lazy-deps.js'), bundle: true, format: 'esm', platform: 'node', target: 'node22', logLevel: 'warning' });

// Plain syntax and no imports before the check: this must run on any Node that can start an ES module.
const gate = `#!/usr/bin/env node
// kx's command: checks the Node version, then runs kx (main.js).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < ${minimum[1]} || (major === ${minimum[1]} && minor < ${minimum[2]})) {
  process.stderr.write('kx: needs Node.js ${minimum[1]}.${minimum[2]} or newer (this is Node.js ' + process.versions.node + '); or use the kx single executable, which needs no Node\\n');
  process.exit(1);
}
// kx watch, the long-running daemon, runs with ${WATCH_NODE_FLAGS.join(' ')} and glibc's ${Object.keys(WATCH_ENV).join(' ')}
// (build/node-flags.ts). V8 and glibc read them only when the process starts: it replaces itself (same pid, stdio and
// signals; process.execve, not on Windows) with one started with them. A semi-space size given already, on the
// command line or in NODE_OPTIONS, wins (and nothing is re-executed); so does a malloc setting in the environment.
if (process.argv.slice(2).includes('watch') && typeof process.execve === 'function' && ![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(' ')].some((a) => a.startsWith('--max-semi-space-size'))) {
  try {
    process.execve(process.execPath, [process.execPath, ...${JSON.stringify(WATCH_NODE_FLAGS)}, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], { ...${JSON.stringify(WATCH_ENV)}, ...process.env });
  } catch {
    // Runs as it is.
  }
}
// V8's compile cache from here on (the OS temp directory; off where it cannot be written): main.js and the chunks
// it loads then start from cached code on every run after the first.
(await import('node:module')).enableCompileCache?.();
await import('./lazy-deps.js');
await import('./main.js');
`;
await writeFile(join(dist, 'kx.js'), gate);
await chmod(join(dist, 'kx.js'), 0o755);

await stageRadarImageFiles(PACKAGE_DIR, join(dist, 'radar-image'));
