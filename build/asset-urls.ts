// An esbuild plugin that keeps `new URL('./x.proto', import.meta.url)` pointing at kx's files after bundling.
// Each source's `import.meta.url` becomes the URL that source had in the package (its path under the package
// root), so the files it reads at run time (protos, package.json) are found at their usual place: in the npm
// package beside dist/, in the single executable under the folder it unpacks its assets to.

import type { Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';

/** How a bundle finds the package root at run time, as a JavaScript expression giving a file URL ending in '/'. */
export type RootExpression = string;

/** For bundles in dist/ of the package: the root is one level up from the bundle file. */
export const PACKAGE_ROOT: RootExpression = `new URL('../', import.meta.url).href`;
/** For the single executable: its prelude sets this global to the folder it unpacked the assets to. */
export const SEA_ROOT: RootExpression = 'globalThis.__kxAssetRoot';

export function assetUrls(packageRoot: string, root: RootExpression): Plugin {
  return {
    name: 'kx-asset-urls',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const rel = relative(packageRoot, args.path);
        const url = `new URL(${JSON.stringify(rel)}, ${root}).href`;
        return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
      });
    },
  };
}
