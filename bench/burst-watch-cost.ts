// What chokidar costs kx's main thread in a 1,000-file burst (a git checkout: 900 edits, 100 new) in the 10k tree:
// the watcher kx runs (pkg/daemon/local-watcher.ts, its batcher included) on the tree, the burst written by a child
// process (as an editor or git would), and this process's CPU time from the first write until the last path was
// reported; with how many events and batches it made.
// With --prof FILE, the main thread's CPU profile over the rounds (not the tree's writing) goes to FILE.
//   node bench/burst-watch-cost.ts [rounds] [--quick] [--prof FILE.cpuprofile]
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalWatcher } from '../pkg/daemon/local-watcher.ts';
import type { Batch } from '../pkg/daemon/batcher.ts';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';

const quick = process.argv.includes('--quick');
const shape = quick ? QUICK_TREE : SOURCE_TREE;
if (process.argv[2] === '--child') {
  const marks = await burst(process.argv[3], shape, 1_000, Number(process.argv[4]));
  process.send!(marks.map((m) => m.rel));
  process.exit(0);
}
const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 3);
const profAt = process.argv.indexOf('--prof');
const profFile = profAt > 0 ? process.argv[profAt + 1] : undefined;
const root = await mkdtemp(join(tmpdir(), 'kx-watch-cost-'));
try {
  await writeTree(root, shape, 42);
  const batches: Batch[] = [];
  let onBatch = (): void => undefined;
  const watcher = new LocalWatcher({ name: 'cost', local: root, remote: '/app', selector: 'a=b', ignore: [], reload: 'none', target: 'docker' } as never, {
    batch: (b) => {
      batches.push(b);
      onBatch();
    },
    error: (m) => console.error(m),
  });
  await watcher.start();
  const session = new Session();
  if (profFile !== undefined) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  for (let r = 0; r < rounds; r++) {
    batches.length = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const child = fork(import.meta.filename, ['--child', root, String(100 + r), ...(quick ? ['--quick'] : [])]);
    const rels = await new Promise<string[]>((res) => child.once('message', (m) => res(m as string[])));
    const wrote = performance.now();
    const want = new Set(rels);
    const seen = (): boolean => {
      const got = new Set(batches.flatMap((b) => b.paths));
      return [...want].every((p) => got.has(p));
    };
    if (!seen()) await new Promise<void>((res) => (onBatch = () => seen() && res()));
    const done = performance.now();
    const cpu = process.cpuUsage(cpu0);
    await new Promise((res) => setTimeout(res, 300));
    const events = batches.reduce((n, b) => n + b.paths.length, 0);
    console.log(`round ${r + 1}: written in ${(wrote - t0).toFixed(0)} ms, last path reported ${(done - wrote).toFixed(0)} ms after; main thread ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU; ${batches.length} batches, ${events} paths`);
  }
  if (profFile !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(profFile, JSON.stringify(profile));
    session.disconnect();
  }
  await watcher.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
