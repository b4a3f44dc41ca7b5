// The Node flags `kx watch`, the long-running daemon, runs with, in the npm package (its bin re-executes itself with
// them, package.ts) and the single executable (its execArgv, sea.ts).

/**
 * The young generation's semi-spaces, in MiB. V8 sizes them from the machine's memory (64 MiB each on a 16 GiB
 * machine) and a sync's short-lived objects grow them to that for good. Measured with 10,000 files synced to two
 * containers (bench --quick --only memory, alternated, installed package, load 8-11): kx watch at rest 238 / 250 MB
 * by default, 208 / 201 MB at 8, 241 / 225 MB at 16; kx's CPU for that initial sync 3.28 / 2.77 s, 2.84 / 3.34 s,
 * 2.94 / 3.21 s (no difference within the noise). 100,000 files to two containers (bench --only memory, one run
 * each): at rest 508 MB by default, 355 MB at 8, 381 MB at 16; peak 753 / 636 / 590 MB; kx's CPU 20.2 / 16.9 /
 * 15.0 s. (2 MiB, measured before, rested at 396 MB but cost 26 s of CPU instead of 15.)
 */
const SEMI_SPACE_MB = 8;

/**
 * --expose-gc: the daemon hands back the pages V8 pooled during a full sync's burst with a last-resort collection
 * (pkg/daemon/heap-release.ts), which only `gc` can ask for.
 */
export const WATCH_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${SEMI_SPACE_MB}`, '--expose-gc'];

/**
 * glibc malloc's settings for kx watch, read when the process starts (the npm bin's re-exec passes them; a value in
 * the user's environment wins). glibc raises its mmap threshold to the size of each large block freed (up to
 * 32 MiB), so after a full sync's burst of file buffers and frames the next large blocks come from the heap and its
 * per-thread arenas, where the holes they leave stay resident. A fixed threshold keeps blocks of 64 KiB and more in
 * mappings of their own, handed back when freed. Measured with 100,000 files in two containers (installed package):
 * kx watch at rest 373 → 300 MB; after V8's pooled pages are released too, 245 → 204 MB.
 */
export const WATCH_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: String(64 * 1024) };
