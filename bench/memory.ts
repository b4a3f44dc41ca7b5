// Memory flat in tree size: one `kx watch` syncing a tree of 100,000 files into two containers (one spec whose
// selector matches both; Docker target, one radar container serving both), then at rest. Reported: the daemon's
// and radar's RSS at rest after the initial sync (and their peaks during it), the initial sync's time, and kx's
// initial scan of that tree alone in a fresh process (as the daemon runs it: stat only, ignore files read).
// The soak (`--soak MINUTES`) keeps the same setup editing for that long and samples RSS: no growth is the goal.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchContainer } from './bench-container.ts';
import { prng, writeManyFiles } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { run } from './support/measure.ts';
import { containerPid, containersByLabel, sideSamplers, type UsageSampler, type SideUsage } from './support/proc.ts';
import type { Row } from './summary.ts';
import { assertSame } from './throughput.ts';

interface Setup {
  readonly tree: string;
  readonly dests: readonly string[];
  readonly kx: KxWatch;
  readonly kxUse: UsageSampler;
  readonly radarUse: UsageSampler;
  /** Radar's process, as the host sees it (radar's container's main process). */
  readonly radarPids: readonly number[];
  /** `kx watch` starting → both rows watching. */
  readonly initialS: number;
  readonly peak: { readonly kx: SideUsage; readonly radar: SideUsage };
}

/** A tree of `files` files synced by one `kx watch` into two containers; measured from the daemon's start. */
export async function twoContainers(cleanup: Cleanup, files: number, say: (line: string) => void): Promise<Setup> {
  const work = await mkdtemp(join(tmpdir(), 'kx-bench-memory-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const tree = join(work, 'tree');
  const dests = [join(work, 'dest-a'), join(work, 'dest-b')];
  for (const d of [tree, ...dests]) await mkdir(d);
  say(`memory: writing ${files.toLocaleString('en')} files`);
  writeManyFiles(tree, files);
  const label = `kx.bench.memory=${randomBytes(4).toString('hex')}`;
  for (const d of dests) {
    const c = new BenchContainer([], [[d, '/app']], label);
    cleanup.add(() => c.close());
    await c.start();
  }
  const kx = new KxWatch({ local: tree, remote: '/app', selector: label, home: join(work, 'home'), rows: 2 });
  await mkdir(join(work, 'home'));
  cleanup.add(() => kx.close());
  const radarPids: number[] = [];
  const { kxUse, radarUse } = sideSamplers(kx, () => radarPids, (c) => cleanup.add(c));
  say(`memory: kx watch syncing ${files.toLocaleString('en')} files into two containers`);
  kxUse.begin();
  radarUse.begin();
  let starting = true;
  const findRadar = (async () => {
    while (starting && radarPids.length === 0) {
      const [id] = await containersByLabel(kx.radarLabel).catch(() => []);
      if (id) radarPids.push(await containerPid(id));
      else await sleep(100);
    }
  })();
  const spawned = await kx.start(1_200_000).finally(() => (starting = false));
  const initialS = (performance.now() - spawned) / 1000;
  await findRadar;
  const peak = { kx: kxUse.end(), radar: radarUse.end() };
  say(`memory: initial sync took ${initialS.toFixed(1)} s; peak RSS kx ${peak.kx.rssMb.toFixed(0)} MB, radar ${peak.radar.rssMb.toFixed(0)} MB`);
  for (const d of dests) assertSame(tree, d);
  return { tree, dests, kx, kxUse, radarUse, radarPids, initialS, peak };
}

export async function runMemory(opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  const { say } = opts;
  const files = opts.quick ? 10_000 : 100_000;
  const cleanup = new Cleanup();
  try {
    const s = await twoContainers(cleanup, files, say);
    // At rest: what the daemon and radar keep once the sync is done and the garbage collector has had a turn (radar
    // collects after two quiet seconds, the daemon once its retired sync worker has ended), at the same time after
    // the sync at either size: 3 s read a radar still holding the sync's garbage (143 MB, then 84 MB).
    await sleep(10_000);
    const rest = { kx: s.kxUse.now(), radar: s.radarUse.now() };
    say(`memory: at rest kx ${rest.kx.rssMb.toFixed(0)} MB, radar ${rest.radar.rssMb.toFixed(0)} MB`);
    // V8 hands the pages of a burst back late: a worker's ~8 s after it ends (it ends 2 s after the last full sync),
    // the main thread's when its memory reducer runs. What stays after a minute is what kx and radar keep.
    await sleep(opts.quick ? 5_000 : 50_000);
    const settled = { kx: s.kxUse.now(), radar: s.radarUse.now() };
    say(`memory: a minute after the sync kx ${settled.kx.rssMb.toFixed(0)} MB, radar ${settled.radar.rssMb.toFixed(0)} MB`);
    await s.kx.close();
    say(`memory: kx's initial scan of ${files.toLocaleString('en')} files in a fresh process`);
    const scan = await run(process.execPath, [join(import.meta.dirname, 'scan-tree.ts'), s.tree]);
    const { ms } = JSON.parse(scan.stdout) as { files: number; ms: number };
    const n = `${(files / 1000).toFixed(0)}k files`;
    return [
      { case: `memory: kx watch RSS at rest, ${n} synced to two containers`, unit: 'MB', kx: rest.kx.rssMb, goal: { kind: 'at-most', max: 150 }, usage: { kx: s.peak.kx, radar: s.peak.radar }, note: `peak ${s.peak.kx.rssMb.toFixed(0)} MB during the initial sync; ${settled.kx.rssMb.toFixed(0)} MB ${opts.quick ? 15 : 60} s after it` },
      { case: `memory: radar RSS at rest, serving ${n} in two containers`, unit: 'MB', kx: rest.radar.rssMb, goal: { kind: 'at-most', max: 100 }, note: `peak ${s.peak.radar.rssMb.toFixed(0)} MB during the initial sync; ${settled.radar.rssMb.toFixed(0)} MB ${opts.quick ? 15 : 60} s after it` },
      { case: `memory: initial scan of ${n}`, unit: 's', kx: ms / 1000, goal: { kind: 'at-most', max: 5 }, note: `fresh process, ${(scan.maxRssKb / 1024).toFixed(0)} MB peak RSS` },
      { case: `memory: initial sync of ${n} into two containers`, unit: 's', kx: s.initialS, goal: { kind: 'none' }, note: 'from `kx watch` starting' },
    ];
  } finally {
    await cleanup.run();
  }
}

/**
 * The soak: the memory case's setup, then an edit every 100 ms for `minutes` (in-place edits, new files, renames,
 * deletes of files it made), RSS sampled every 5 s. Start is the first sample, 10 s after the initial sync.
 */
export async function runSoak(opts: { minutes: number; files?: number; say: (line: string) => void }): Promise<Row[]> {
  const { say } = opts;
  const files = opts.files ?? 100_000;
  const cleanup = new Cleanup();
  try {
    const s = await twoContainers(cleanup, files, say);
    // The start is kx at rest, as the memory case measures it: its heap is handed back a few seconds after the sync
    // (the worker retires, the ancestor records are written, then a quiet second), and 5 s caught it before that.
    await sleep(10_000);
    const series: { t: number; kx: number; radar: number }[] = [];
    const sample = (): void => void series.push({ t: performance.now(), kx: s.kxUse.now().rssMb, radar: s.radarUse.now().rssMb });
    sample();
    const rand = prng(11);
    const made: string[] = [];
    const end = performance.now() + opts.minutes * 60_000;
    let edits = 0;
    let lastSample = performance.now();
    let lastSay = performance.now();
    say(`soak: editing for ${opts.minutes} min (RSS kx ${series[0].kx.toFixed(0)} MB, radar ${series[0].radar.toFixed(0)} MB)`);
    while (performance.now() < end) {
      const k = edits++;
      const i = rand() % files;
      const file = join(s.tree, `d${Math.floor(i / 100)}`, `f${i}.txt`);
      if (k % 10 === 3) {
        const p = join(s.tree, `d${k % 50}`, `soak-${k}.txt`);
        await writeFile(p, `soak ${k}\n`);
        made.push(p);
      } else if (k % 25 === 7 && made.length > 0) {
        await rm(made.shift()!, { force: true });
      } else if (k % 50 === 11 && made.length > 0) {
        const from = made.shift()!;
        await rename(from, `${from}.moved`);
        made.push(`${from}.moved`);
      } else {
        await writeFile(file, `file ${i} soak edit ${k}\n`.repeat(4));
      }
      await sleep(100);
      if (performance.now() - lastSample >= 5_000) {
        sample();
        lastSample = performance.now();
      }
      if (performance.now() - lastSay >= 60_000) {
        const last = series[series.length - 1];
        say(`soak: ${edits} edits, RSS kx ${last.kx.toFixed(0)} MB, radar ${last.radar.toFixed(0)} MB`);
        lastSay = performance.now();
      }
    }
    await s.kx.waitWatching(300_000, 2);
    await sleep(5_000);
    sample();
    for (const d of s.dests) assertSame(s.tree, d);
    const first = series[0];
    const last = series[series.length - 1];
    const peakKx = Math.max(...series.map((x) => x.kx));
    const peakRadar = Math.max(...series.map((x) => x.radar));
    say(`soak: ${edits} edits; kx ${first.kx.toFixed(0)} → ${last.kx.toFixed(0)} MB (peak ${peakKx.toFixed(0)}), radar ${first.radar.toFixed(0)} → ${last.radar.toFixed(0)} MB (peak ${peakRadar.toFixed(0)})`);
    // "No growth" with room for the garbage collector's timing: the end within 10% of the start.
    const note = (a: number, peak: number): string => `start ${a.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, ${edits} edits over ${opts.minutes} min`;
    return [
      { case: `soak: kx watch RSS at the end, ${(files / 1000).toFixed(0)}k files, two containers`, unit: 'MB', kx: last.kx, goal: { kind: 'at-most', max: first.kx * 1.1 }, note: note(first.kx, peakKx) },
      { case: 'soak: radar RSS at the end', unit: 'MB', kx: last.radar, goal: { kind: 'at-most', max: first.radar * 1.1 }, note: note(first.radar, peakRadar) },
    ];
  } finally {
    await cleanup.run();
  }
}
