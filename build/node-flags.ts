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
 * The old generation's initial size, in MiB: the floor of the limit at which V8 plans a full collection, in every
 * isolate of the process (the sync worker's too). V8 starts marking once the room left under that limit falls below
 * the young generation's capacity (16 MiB at 8 MiB semi-spaces); it sets the limit at about twice the live old
 * generation (15 MiB in the sync worker), so during a full sync, whose in-flight frames and gRPC copies are promoted
 * a little at each scavenge, marking started again right after each collection: 4–15 full collections per initial
 * sync of 10,000 files, 2 with this floor (installed package, radar left running, 4 alternated pairs at load 5–8:
 * V8's helper threads 0.44 → 0.34 s of CPU, kx's whole process 1.86 → 1.76 s). The live heap at rest is unchanged:
 * a collection still runs once the garbage reaches the floor, and the daemon's heap release after a sync runs one.
 */
const INITIAL_OLD_SPACE_MB = 64;

/**
 * --expose-gc: the daemon hands back the pages V8 pooled during a full sync's burst with a last-resort collection
 * (pkg/daemon/heap-release.ts), which only `gc` can ask for.
 */
export const WATCH_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${SEMI_SPACE_MB}`, '--expose-gc', `--initial-old-space-size=${INITIAL_OLD_SPACE_MB}`];

/**
 * glibc malloc's settings for kx watch, read when the process starts (the npm bin's re-exec passes them; a value in
 * the user's environment wins). glibc raises its mmap threshold to the size of each large block freed (up to
 * 32 MiB), so after a full sync's burst of file buffers and frames the next large blocks come from the heap and its
 * per-thread arenas, where the holes they leave stay resident. A fixed threshold keeps blocks of 64 KiB and more in
 * mappings of their own, handed back when freed. Measured with 100,000 files in two containers (installed package):
 * kx watch at rest 373 → 300 MB; after V8's pooled pages are released too, 245 → 204 MB.
 */
export const WATCH_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: String(64 * 1024) };
