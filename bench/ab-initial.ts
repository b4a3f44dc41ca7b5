// A/B of the initial sync from `kx watch` starting, between two kx checkouts, paired: the same tree (10,000 files by
// default) is synced by each side in turn into an empty directory of a fresh container, the sides alternating, so
// both see the same machine load. Each side keeps its own kx home across rounds (a radar container one `kx watch`
// leaves running is the next one's to adopt, if the side does that); `cold` removes every radar container of the
// side's home before each run.
//   node bench/ab-initial.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]
// (KX_AB_FLAGS_NEW / _BASE: Node flags for one side's daemon; KX_AB_PREFIX_NEW / _BASE: a command it runs under.)
// Prints each run's total, its phases and the CPU kx and radar spent in it (radar's container's process tree,
// sampled every 100 ms; of kx's, its full-sync worker thread's too, and every thread's by name: main, the sync worker,
// V8's helpers, libuv's pool, and what ended unseen such as the first Node start before the re-execution), then the
// medians. Each side runs its checkout's installed package (npm pack + install, as users run it); KX_BENCH_KX=checkout
// runs cmd/kx.ts of each checkout instead. Not a test; for comparing a change with its base.
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, formatPhases } from './peers/kx-watch.ts';
import { installKx } from './support/installed-kx.ts';
import { median, removeRadars, resetCold, runSide } from './ab-side.ts';
import { readThreads } from './support/proc.ts';

const [baseCheckout, baseImage, newImage, roundsArg, modeArg, quickArg] = process.argv.slice(2);
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-initial.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]');
const rounds = Number(roundsArg ?? 3);
const mode = modeArg ?? 'both';
// KX_AB_REST_MS=5000: kx's RSS that long after the sync (worker retired, heap handed back) is reported too.
const restMs = process.env.KX_AB_REST_MS ? Number(process.env.KX_AB_REST_MS) : undefined;
const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-ab-initial-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const src = join(work, 'src');
  await mkdir(src);
  await writeTree(src, quickArg === 'quick' ? QUICK_TREE : SOURCE_TREE, 42);
  const repos = [
    { name: 'base', repo: resolve(baseCheckout), image: baseImage },
    { name: 'new', repo: resolve(import.meta.dirname, '..'), image: newImage },
  ];
  const sides = [];
  for (const r of repos) {
    let entry = join(r.repo, 'cmd', 'kx.ts');
    if (process.env.KX_BENCH_KX !== 'checkout') {
      const installed = await installKx((line) => console.log(`${r.name}: ${line}`), r.repo);
      cleanup.add(() => rm(installed.prefix, { recursive: true, force: true }));
      entry = installed.entry;
    }
    sides.push({ ...r, entry, home: join(work, `${r.name}-home`), results: new Map<string, number[]>(), cpu: new Map<string, number[]>(), rss: new Map<string, number[]>() });
  }
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
        const threads = new Map<string, { comm: string; cpuS: number; sysS: number }>();
        const during = (kx: KxWatch) => {
          const sample = () => {
            workerCpu = Math.max(workerCpu, threadCpu(kx.pid, 'kx-full-sync'));
            sampleThreads(kx.pid, threads);
          };
          const timer = setInterval(sample, 50);
          return () => {
            sample();
            clearInterval(timer);
          };
        };
        const run = await runSide({ src, dest: join(work, `dest-${s.name}-${r}-${kind}`), home: s.home, command: [...sideWords('KX_AB_PREFIX', s.name), process.execPath, ...sideWords('KX_AB_FLAGS', s.name), ...prof, s.entry], image: s.image, warm: kind === 'warm', during, ...(restMs !== undefined && { restMs }) });
        const key = kind;
        s.results.set(key, [...(s.results.get(key) ?? []), run.totalS]);
        s.cpu.set(`${key} kx`, [...(s.cpu.get(`${key} kx`) ?? []), run.kxCpuS]);
        s.cpu.set(`${key} radar`, [...(s.cpu.get(`${key} radar`) ?? []), run.radarCpuS]);
        if (run.restRssMb !== undefined) s.rss.set(key, [...(s.rss.get(key) ?? []), run.restRssMb]);
        s.cpu.set(`${key} kx worker`, [...(s.cpu.get(`${key} kx worker`) ?? []), workerCpu]);
        const byName = new Map<string, number>();
        const sysByName = new Map<string, number>();
        for (const t of threads.values()) {
          byName.set(t.comm, (byName.get(t.comm) ?? 0) + t.cpuS);
          sysByName.set(t.comm, (sysByName.get(t.comm) ?? 0) + t.sysS);
        }
        const seen = [...byName.values()].reduce((a, b) => a + b, 0);
        byName.set('(unseen)', run.kxCpuS - seen);
        for (const [comm, cpuS] of byName) s.cpu.set(`${key} kx thread ${comm}`, [...(s.cpu.get(`${key} kx thread ${comm}`) ?? []), cpuS]);
        // KX_AB_LOG_DIR=DIR: each run's daemon log is kept there (with KX_AB_FLAGS_NEW=--trace-gc, its collections).
        if (process.env.KX_AB_LOG_DIR) writeFileSync(join(process.env.KX_AB_LOG_DIR, `${s.name}-${r}-${kind}.log`), run.log);
        const radarLine = /radar: container \S+ \(\S+\) serves the docker target at \S+(.*)/.exec(run.log)?.[1] ?? '';
        console.log(`round ${r} ${kind} ${s.name}: ${run.totalS.toFixed(2)} s${run.phases ? ` (${formatPhases(run.phases)})` : ''}, CPU kx ${run.kxCpuS.toFixed(2)} s (its sync worker ${workerCpu.toFixed(2)} s), radar ${run.radarCpuS.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}${run.restRssMb !== undefined ? `, kx RSS at rest ${run.restRssMb.toFixed(0)} MB` : ''}; radar${radarLine}`);
        console.log(`  kx threads: ${[...byName].filter(([, cpuS]) => Math.abs(cpuS) >= 0.005).map(([comm, cpuS]) => `${comm} ${cpuS.toFixed(2)}${sysByName.has(comm) ? ` (sys ${sysByName.get(comm)!.toFixed(2)})` : ''}`).join(', ')}`);
      }
    }
  }
  for (const s of sides) {
    for (const [kind, xs] of s.results) console.log(`${s.name} ${kind}: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
    for (const [what, xs] of s.cpu) console.log(`${s.name} ${what} CPU: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
    for (const [kind, xs] of s.rss) console.log(`${s.name} ${kind} kx RSS at rest: median ${median(xs).toFixed(0)} MB of ${xs.map((x) => x.toFixed(0)).join(', ')}`);
  }
} finally {
  await cleanup.run();
}


/**
 * Words from the environment for one side: KX_AB_FLAGS_NEW="--v8-pool-size=2" passes Node flags to the new side's
 * daemon (to compare launch settings on one checkout), KX_AB_PREFIX_BASE="perf record -g -o FILE --" runs the base
 * side's daemon under a profiler (its CPU then counts the profiler's too).
 */
function sideWords(variable: string, side: string): string[] {
  return (process.env[`${variable}_${side.toUpperCase()}`] ?? '').split(/\s+/).filter(Boolean);
}

/**
 * Records each thread of `pid` with the most CPU seen of it (a thread's CPU only grows while it lives; one that ended
 * between samples keeps its last reading, and one that lived and ended unseen counts in the process's total only).
 * Threads of one name (V8's DefaultWorker, libuv-worker) are summed by the caller.
 */
function sampleThreads(pid: number, into: Map<string, { comm: string; cpuS: number; sysS: number }>): void {
  if (pid <= 0) return;
  for (const t of readThreads(pid)) {
    // the re-executed process keeps the pid and the main thread's tid: its comm tells the images apart
    const key = `${t.tid} ${t.name}`;
    const was = into.get(key);
    if (!was || was.cpuS < t.cpuS) into.set(key, { comm: t.name, cpuS: t.cpuS, sysS: t.sysS });
  }
}

/** CPU seconds (user + system) of the thread of `pid` named `name`; 0 when there is none. */
function threadCpu(pid: number, name: string): number {
  return pid <= 0 ? 0 : (readThreads(pid).find((t) => t.name === name)?.cpuS ?? 0);
}

