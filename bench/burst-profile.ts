// The sender's side of a 1,000-file burst without a network or daemon: a LocalTree receiver in this process, the
// 10k tree synced once, its manifests kept compact as the daemon keeps them, then the burst's paths sent by one continuous sync (syncPaths), timed. Run it under
// see where the engine's CPU goes in it (not chokidar, gRPC or radar's process): with --prof FILE, the burst's sync
// alone is profiled into FILE (read it with bench/profile-top.ts).
//   node bench/burst-profile.ts [--quick] [--batch N] [--prof FILE.cpuprofile]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHasher } from '../pkg/sync/hash.ts';
import { compactManifest } from '../pkg/sync/manifest-table.ts';
import { syncPaths, syncTree } from '../pkg/sync/push.ts';
import { LocalTree } from '../pkg/receiver/local-tree.ts';
import type { Manifest } from '../pkg/sync/types.ts';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';

const shape = process.argv.includes('--quick') ? QUICK_TREE : SOURCE_TREE;
const profAt = process.argv.indexOf('--prof');
const profFile = profAt > 0 ? process.argv[profAt + 1] : undefined;
// --batch N: the burst's paths in batches of N, as the daemon's batcher cuts a burst (default: one batch).
const batchAt = process.argv.indexOf('--batch');
const batchSize = batchAt > 0 ? Number(process.argv[batchAt + 1]) : Infinity;
const base = await mkdtemp(join(tmpdir(), 'kx-burst-profile-'));
try {
  const src = join(base, 'src');
  const dst = join(base, 'dst');
  await writeTree(src, shape, 42);
  await mkdir(dst);
  const hasher = await createHasher();
  const tree = new LocalTree({ root: dst, hasher });
  await tree.start();
  let t = performance.now();
  const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
  process.stdout.write(`initial: ${(performance.now() - t).toFixed(0)} ms\n`);
  const marks = await burst(src, shape, 1_000, 7);
  const paths = [...new Set([...marks.map((m) => m.rel), 'src/feature'])];
  const [local, remote, ancestor] = [compactManifest(first.local), compactManifest(first.remote), compactManifest(first.ancestor)];
  const session = new Session();
  if (profFile !== undefined) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  t = performance.now();
  let [l, r, a]: Manifest[] = [local, remote, ancestor];
  let ops = 0;
  let errors = 0;
  let batches = 0;
  for (let i = 0; i < paths.length; i += batchSize) {
    const res = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: paths.slice(i, i + batchSize), local: l, remote: r, safety: { mode: 'safe', ancestor: a } });
    [l, r, a] = [res.local, res.remote, res.ancestor];
    ops += res.ops;
    errors += res.errors.length;
    batches++;
  }
  if (profFile !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(profFile, JSON.stringify(profile));
    session.disconnect();
  }
  process.stdout.write(`burst: ${paths.length} paths in ${batches} batches, ${ops} ops, ${errors} errors, ${(performance.now() - t).toFixed(0)} ms\n`);
} finally {
  await rm(base, { recursive: true, force: true });
}
