// Parts of kx's dependencies loaded when first called instead of when their parent loads. docker-modem (under
// dockerode) requires ssh2 at load, for engines reached over ssh://, and ssh2 then instantiates its WebAssembly
// (~17 MB RSS and ~20-40 ms per start); dockerode requires its BuildKit session (its own gRPC proto loader), which
// kx never uses. Each of them exports one function (docker-modem's ssh agent factory, dockerode's withSession), so
// a stand-in function that requires the real module on its first call is all the parent sees. Used by the npm
// package's bin (lazy-deps.ts) and the single executable's bundle (bundle.ts).

/** The real modules, by path (a resolved file name or file URL). */
export const LAZY_MODULES = /[/\\]node_modules[/\\](?:docker-modem[/\\]lib[/\\]ssh|dockerode[/\\]lib[/\\]session)\.js$/;

/** CommonJS standing for the module at `real` (a path): a function requiring it on the first call. */
export function lazyStub(real: string): string {
  return `module.exports = function () { return require(${JSON.stringify(real)}).apply(this, arguments); };\n`;
}
