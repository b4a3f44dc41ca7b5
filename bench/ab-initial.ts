// A/B of the initial sync from `kx watch` starting, between two kx checkouts, paired: the same tree (10,000 files by
// default) is synced by each side in turn into an empty directory of a fresh container, the sides alternating, so
// both see the same machine load. Each side keeps its own kx home across rounds (a radar container one `kx watch`
// leaves running is the next one's to adopt, if the side does that); `cold` removes every radar container of the
// side's home before each run.
//   node bench/ab-initial.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]
// Prints each run's total, its phases and the CPU kx and radar spent in it (radar's container's process tree,
// sampled every 100 ms; of kx's, its full-sync worker thread's too), then the medians. Not a test; for comparing a change with its base.
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, formatPhases } from './peers/kx-watch.ts';
import { median, removeRadars, resetCold, runSide } from './ab-side.ts';

const [baseCheckout, baseImage, newImage, roundsArg, modeArg, quickArg] = process.argv.slice(2);
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-initial.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]');
const rounds = Number(roundsArg ?? 3);
const mode = modeArg ?? 'both';
const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-ab-initial-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const src = join(work, 'src');
  await mkdir(src);
  await writeTree(src, quickArg === 'quick' ? QUICK_TREE : SOURCE_TREE, 42);
  const sides = [
    { name: 'base', entry: join(baseCheckout, 'cmd', 'kx.ts'), image: baseImage },
    { name: 'new', entry: join(import.meta.dirname, '..', 'cmd', 'kx.ts'), image: newImage },
  ].map((s) => ({ ...s, home: join(work, `${s.name}-home`), results: new Map<string, number[]>(), cpu: new Map<string, number[]>() }));
  for (const s of sides) {
    await mkdir(s.home);
    cleanup.add(async () => removeRadars(s.home));
  }
  const kinds = mode === 'both' ? ['cold', 'warm'] : [mode];
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        if (kind === 'cold') await resetCold(s.home);
        // KX_BENCH_CPU_PROF=DIR: each daemon writes a V8 CPU profile there (DIR/<side>) when it exits.
        const prof = process.env.KX_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.KX_BENCH_CPU_PROF, s.name)}`] : [];
        // The worker thread's CPU only grows while it lives (it ends 2 s after the sync): its largest reading.
        let workerCpu = 0;
        const during = (kx: KxWatch) => {
          const timer = setInterval(() => (workerCpu = Math.max(workerCpu, threadCpu(kx.pid, 'kx-full-sync'))), 100);
          return () => {
            workerCpu = Math.max(workerCpu, threadCpu(kx.pid, 'kx-full-sync'));
            clearInterval(timer);
          };
        };
        const run = await runSide({ src, dest: join(work, `dest-${s.name}-${r}-${kind}`), home: s.home, command: [process.execPath, ...prof, s.entry], image: s.image, warm: kind === 'warm', during });
        const key = kind;
        s.results.set(key, [...(s.results.get(key) ?? []), run.totalS]);
        s.cpu.set(`${key} kx`, [...(s.cpu.get(`${key} kx`) ?? []), run.kxCpuS]);
        s.cpu.set(`${key} radar`, [...(s.cpu.get(`${key} radar`) ?? []), run.radarCpuS]);
        s.cpu.set(`${key} kx worker`, [...(s.cpu.get(`${key} kx worker`) ?? []), workerCpu]);
        const radarLine = /radar: container \S+ \(\S+\) serves the docker target at \S+(.*)/.exec(run.log)?.[1] ?? '';
        console.log(`round ${r} ${kind} ${s.name}: ${run.totalS.toFixed(2)} s${run.phases ? ` (${formatPhases(run.phases)})` : ''}, CPU kx ${run.kxCpuS.toFixed(2)} s (its sync worker ${workerCpu.toFixed(2)} s), radar ${run.radarCpuS.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}; radar${radarLine}`);
      }
    }
  }
  for (const s of sides) {
    for (const [kind, xs] of s.results) console.log(`${s.name} ${kind}: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
    for (const [what, xs] of s.cpu) console.log(`${s.name} ${what} CPU: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
  }
} finally {
  await cleanup.run();
}


/** CPU seconds (user + system) of the thread of `pid` named `name`; 0 when there is none. */
function threadCpu(pid: number, name: string): number {
  if (pid <= 0) return 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== name) continue;
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    }
  } catch {
    // the process or thread ended meanwhile
  }
  return 0;
}

