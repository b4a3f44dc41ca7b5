// A/B of the initial sync from `kx watch` starting, between two kx checkouts, paired: the same tree (10,000 files by
// default) is synced by each side in turn into an empty directory of a fresh container, the sides alternating, so
// both see the same machine load. Each side keeps its own kx home across rounds (a radar container one `kx watch`
// leaves running is the next one's to adopt, if the side does that); `cold` removes every radar container of the
// side's home before each run.
//   node bench/ab-initial.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]
// Prints each run's total, its phases and the CPU kx and radar spent in it (radar's container's process tree,
// sampled every 100 ms; of kx's, its full-sync worker thread's too), then the medians. Not a test; for comparing a change with its base.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchContainer } from './bench-container.ts';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, formatPhases } from './peers/kx-watch.ts';
import { UsageSampler, containerPid, containersByLabel } from './support/proc.ts';
import { assertSame } from './throughput.ts';

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
        if (kind === 'cold') removeRadars(s.home);
        const dest = join(work, `dest-${s.name}-${r}-${kind}`);
        await mkdir(dest);
        const container = new BenchContainer([], [[dest, '/app']]);
        await container.start();
        // KX_BENCH_CPU_PROF=DIR: each daemon writes a V8 CPU profile there (DIR/<side>) when it exits.
        const prof = process.env.KX_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.KX_BENCH_CPU_PROF, s.name)}`] : [];
        const kx = new KxWatch({ local: src, remote: '/app', selector: container.label, home: s.home, command: [process.execPath, ...prof, s.entry], env: { KX_RADAR_IMAGE: s.image } });
        const radarPids: number[] = [];
        const kxUse = new UsageSampler(() => (kx.pid ? [kx.pid] : []));
        const radarUse = new UsageSampler(() => radarPids);
        // The worker thread's CPU only grows while it lives (it ends 2 s after the sync): its largest reading.
        let workerCpu = 0;
        const workerTimer = setInterval(() => (workerCpu = Math.max(workerCpu, threadCpu(kx.pid, 'kx-full-sync'))), 100);
        let looking = true;
        // radar's process: the one left running (warm) or the one this kx watch starts (cold), once it is up.
        const findRadar = (async () => {
          while (looking && radarPids.length === 0) {
            const [id] = await containersByLabel(kx.radarLabel).catch(() => []);
            const pid = id ? await containerPid(id).catch(() => 0) : 0;
            if (pid > 0) radarPids.push(pid);
            else await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })();
        try {
          execFileSync('sync');
          if (kind === 'warm') await Promise.race([findRadar, new Promise((resolve) => setTimeout(resolve, 2000))]);
          kxUse.begin();
          radarUse.begin();
          const spawned = await kx.start(300_000);
          const watchingAt = performance.now();
          const kxCpu = kxUse.end().cpuS;
          workerCpu = Math.max(workerCpu, threadCpu(kx.pid, 'kx-full-sync'));
          const radarCpu = radarUse.end().cpuS;
          const phases = await kx.startupPhases(spawned, watchingAt);
          const total = (watchingAt - spawned) / 1000;
          assertSame(src, dest);
          const key = kind;
          s.results.set(key, [...(s.results.get(key) ?? []), total]);
          s.cpu.set(`${key} kx`, [...(s.cpu.get(`${key} kx`) ?? []), kxCpu]);
          s.cpu.set(`${key} radar`, [...(s.cpu.get(`${key} radar`) ?? []), radarCpu]);
          s.cpu.set(`${key} kx worker`, [...(s.cpu.get(`${key} kx worker`) ?? []), workerCpu]);
          const radarLine = /radar: container \S+ \(\S+\) serves the docker target at \S+(.*)/.exec(await readFile(kx.log, 'utf8'))?.[1] ?? '';
          console.log(`round ${r} ${kind} ${s.name}: ${total.toFixed(2)} s${phases ? ` (${formatPhases(phases)})` : ''}, CPU kx ${kxCpu.toFixed(2)} s (its sync worker ${workerCpu.toFixed(2)} s), radar ${radarCpu.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}; radar${radarLine}`);
        } finally {
          looking = false;
          clearInterval(workerTimer);
          await findRadar;
          kxUse.close();
          radarUse.close();
          await kx.close();
          await container.close();
          await rm(dest, { recursive: true, force: true });
        }
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

function removeRadars(home: string): void {
  // The label value is the digest of the home (pkg/docker/radar-container.ts homeHash); by the list, not by name.
  const label = new KxWatch({ local: '', remote: '', selector: '', home }).radarLabel;
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
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

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
