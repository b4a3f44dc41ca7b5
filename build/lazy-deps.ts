// The npm package's bin loads this (dist/lazy-deps.js) before kx: module hooks that hand out a lazy stand-in for
// each of LAZY_MODULES (lazy-modules.ts). Node's built-ins only; a Node without module.registerHooks loads
// everything as before.
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { LAZY_MODULES, lazyStub } from './lazy-modules.ts';

/** The stand-in's own file name: CommonJS caches by file name, and it must not take the real module's place. */
const STUB = '.kx-lazy.cjs';

module.registerHooks?.({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    // The stand-in's own require of the real module goes through.
    if (!LAZY_MODULES.test(resolved.url) || context.parentURL?.endsWith(STUB)) return resolved;
    return { ...resolved, url: `${resolved.url}${STUB}`, shortCircuit: true };
  },
  load(url, context, next) {
    if (!url.endsWith(STUB)) return next(url, context);
    return { format: 'commonjs', source: lazyStub(fileURLToPath(url.slice(0, -STUB.length))), shortCircuit: true };
  },
});
