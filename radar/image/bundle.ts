// radar bundled into plain JavaScript for its image: dist/radar.mjs (radar/main.ts) and one file per mode it loads
// on demand (dist/docker-target.mjs, dist/node.mjs), with the packages they use inside. Measured against the same
// sources run by type stripping from node_modules (10,000 files × 2 containers, and radar just started):
// - type stripping loads Node's TypeScript transformer, a WebAssembly module of its own, into radar for good
//   (~16 MB RSS of ~110 MB just started, ~40 ms CPU);
// - one module graph instead of ~300 files keeps fewer sources and module records in the heap.
// The files radar reads at run time (kx.proto, containerd's protos) stay at their paths under the app directory;
// each bundled source's import.meta.url is rewritten to its own path there (see assetUrls).
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';

/** The entry points, by output name, and the folder under the app directory that holds them. */
export const BUNDLE_DIR = 'dist';
export const ENTRIES = { radar: 'radar/main.ts', 'docker-target': 'radar/docker-target.ts', node: 'radar/node.ts' } as const;

/**
 * Modules loaded on first call rather than with their parent (what build/lazy-modules.ts does for kx): docker-modem's
 * ssh transport, which requires ssh2 and its crypto at load for engines radar never reaches over ssh://, and
 * dockerode's BuildKit session, which radar never uses. Each exports one function.
 */
const LAZY = /[/\\]node_modules[/\\](?:docker-modem[/\\]lib[/\\]ssh|dockerode[/\\]lib[/\\]session)\.js$/;

/** Bundles radar from the repository at `root` into `<app>/dist`. Resolves with the packages bundled, by name. */
export async function bundleRadar(root: string, app: string): Promise<string[]> {
  const { metafile } = await build({
    metafile: true,
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: resolve(app, BUNDLE_DIR),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    chunkNames: '[name]-[hash]',
    legalComments: 'none',
    logLevel: 'warning',
    // Without comments and whitespace: radar keeps each file's source text in its heap for its life, and one
    // non-ASCII character in a comment made a 1 MB chunk a 2 MB two-byte string. Names stay, for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    // CommonJS packages use require() (for Node's built-ins) and __dirname; an ES module has neither.
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
    define: { __dirname: '__kxDirname', __filename: '__kxFilename' },
    // Optional native speed-ups of ssh2, which falls back to JavaScript.
    external: ['*.node', 'cpu-features'],
    plugins: [assetUrls(root), lazyModules(root)],
  });
  const packages = Object.keys(metafile.inputs).map((input) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]);
  return [...new Set(packages.filter((p): p is string => p !== undefined))].sort();
}

/** `import.meta.url` in radar's own sources becomes that source's URL under the app directory (dist/'s parent). */
function assetUrls(root: string): Plugin {
  return {
    name: 'radar-asset-urls',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const url = `new URL(${JSON.stringify(relative(root, args.path))}, new URL('../', import.meta.url)).href`;
        return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
      });
    },
  };
}

function lazyModules(root: string): Plugin {
  return {
    name: 'radar-lazy-modules',
    setup(b) {
      b.onResolve({ filter: /^\.\/(ssh|session)$/ }, async (args) => {
        if (args.pluginData === 'lazy-stub') return undefined;
        const real = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'lazy-stub' });
        if (real.errors.length > 0 || !LAZY.test(real.path)) return undefined;
        // Relative: the bundle must not carry the build machine's paths.
        return { path: relative(root, real.path), namespace: 'radar-lazy' };
      });
      // The stand-in's require of the real file is bundled as usual; esbuild runs a CommonJS module only when required.
      b.onLoad({ filter: /.*/, namespace: 'radar-lazy' }, (args) => ({
        contents: `module.exports = function () { return require(${JSON.stringify(resolve(root, args.path))}).apply(this, arguments); };\n`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}
