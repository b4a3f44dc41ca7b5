// kx's TypeScript bundled to ES modules in a `dist` folder placed like the package's own, so that the files read at
// run time (protos, package.json) are found one level up (asset-urls.ts). Used by the npm package (dependencies
// left to npm) and by the single executable (everything inside).

import { build, type Plugin } from 'esbuild';
import { rm } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { PACKAGE_ROOT, assetUrls } from './asset-urls.ts';
import { LAZY_MODULES, lazyStub } from './lazy-modules.ts';

export const PACKAGE_DIR = resolve(import.meta.dirname, '..');

export async function bundleKx(outdir: string, opts: { dependencies: 'external' | 'bundled' }): Promise<void> {
  await rm(outdir, { recursive: true, force: true });
  const bundled = opts.dependencies === 'bundled';
  await build({
    absWorkingDir: PACKAGE_DIR,
    // The daemon's full syncs run in worker threads from their own entry (pkg/daemon/sync-worker.ts finds it).
    entryPoints: { main: 'cmd/kx.ts', 'sync-worker': 'pkg/daemon/sync-worker-main.ts' },
    outdir,
    bundle: true,
    splitting: true, // each command's handler stays a chunk loaded when that command runs
    format: 'esm',
    platform: 'node',
    target: 'node22',
    chunkNames: '[name]-[hash]',
    legalComments: 'none',
    logLevel: 'warning',
    // Bundled dependencies: the rarely used modules of lazy-modules.ts are stand-ins that load them on first call
    // (the npm package's bin does the same for node_modules with module hooks).
    plugins: [assetUrls(PACKAGE_DIR, PACKAGE_ROOT), ...(bundled ? [lazyModules()] : [])],
    ...(bundled
      ? {
          // CommonJS dependencies use require() (for Node's built-ins) and __dirname; an ES module has neither.
          banner: {
            js: [
              `import { createRequire as __kxCreateRequire } from 'node:module';`,
              `import { dirname as __kxPathDirname } from 'node:path';`,
              `import { fileURLToPath as __kxFileURLToPath } from 'node:url';`,
              `const require = __kxCreateRequire(import.meta.url);`,
              `const __kxFilename = __kxFileURLToPath(import.meta.url);`,
              `const __kxDirname = __kxPathDirname(__kxFilename);`,
            ].join(' '),
          },
          // Only where a dependency uses them undeclared (some declare their own).
          define: { __dirname: '__kxDirname', __filename: '__kxFilename' },
          // Optional native speed-ups of ssh2 (dockerode's ssh transport), which falls back to JavaScript;
          // ink's devtools load only with DEV=true.
          external: ['*.node', 'cpu-features', 'react-devtools-core'],
        }
      : { packages: 'external' as const }),
  });
}

/** esbuild's side of lazy-modules.ts: a require of one of LAZY_MODULES gets a stand-in whose first call loads it. */
function lazyModules(): Plugin {
  return {
    name: 'kx-lazy-modules',
    setup(b) {
      b.onResolve({ filter: /^\.\/(ssh|session)$/ }, async (args) => {
        if (args.pluginData === 'lazy-stub') return undefined;
        const real = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'lazy-stub' });
        if (real.errors.length > 0 || !LAZY_MODULES.test(real.path)) return undefined;
        // Relative: the bundle names its modules, and must not carry the build machine's paths.
        return { path: relative(PACKAGE_DIR, real.path), namespace: 'kx-lazy' };
      });
      // The stand-in's require of the real file is bundled as usual; esbuild runs a CommonJS module only when required.
      b.onLoad({ filter: /.*/, namespace: 'kx-lazy' }, (args) => ({ contents: lazyStub(resolve(PACKAGE_DIR, args.path)), loader: 'js', resolveDir: PACKAGE_DIR }));
    },
  };
}
