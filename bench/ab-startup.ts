// A/B of `kx watch`'s start as users run it, between two kx checkouts, paired: each side's npm package is packed
// and installed (bench/support/installed-kx.ts), then the same tree (10,000 files by default) is synced by each
// side in turn into an empty directory of a fresh container, the sides alternating so both see the same machine
// load. `cold` removes the side's radar containers before each run (radar started by kx watch); `warm` adopts the
// radar the last run left.
//   node bench/ab-startup.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]
// Prints each run's phases (bench/peers/kx-watch.ts), the daemon's own start-up line and radar's container steps
// from kx's log, and the CPU kx and radar spent; then the medians. Not a test; for comparing a change with its base.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BenchContainer } from './bench-container.ts';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, formatPhases } from './peers/kx-watch.ts';
import { installKx } from './support/installed-kx.ts';
import { UsageSampler, containerPid, containersByLabel } from './support/proc.ts';
import { assertSame } from './throughput.ts';

const [baseCheckout, baseImage, newImage, roundsArg, modeArg, quickArg] = process.argv.slice(2);
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-startup.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]');
const rounds = Number(roundsArg ?? 3);
const mode = modeArg ?? 'both';
const say = (line: string): void => console.log(line);
const cleanup = new Cleanup();
try {
  // KX_AB_DIR=/dev/shm: the tree and destinations on tmpfs, so the disk's mood stays out of the figures.
  const work = await mkdtemp(join(process.env.KX_AB_DIR ?? tmpdir(), 'kx-ab-startup-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const src = join(work, 'src');
  await mkdir(src);
  await writeTree(src, quickArg === 'quick' ? QUICK_TREE : SOURCE_TREE, 42);
  const repos = [{ name: 'base', repo: resolve(baseCheckout), image: baseImage }, { name: 'new', repo: resolve(import.meta.dirname, '..'), image: newImage }];
  const sides = [];
  for (const r of repos) {
    const installed = await installKx((line) => say(`${r.name}: ${line}`), r.repo);
    cleanup.add(() => rm(installed.prefix, { recursive: true, force: true }));
    sides.push({ ...r, entry: installed.entry, home: join(work, `${r.name}-home`), values: new Map<string, number[]>() });
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
        if (kind === 'cold') removeRadars(s.home);
        const dest = join(work, `dest-${s.name}-${r}-${kind}`);
        await mkdir(dest);
        const container = new BenchContainer([], [[dest, '/app']]);
        await container.start();
        const prof = process.env.KX_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.KX_BENCH_CPU_PROF, s.name)}`] : [];
        const kx = new KxWatch({ local: src, remote: '/app', selector: container.label, home: s.home, command: [process.execPath, ...prof, s.entry], env: { KX_RADAR_IMAGE: s.image } });
        const radarPids: number[] = [];
        const kxUse = new UsageSampler(() => (kx.pid ? [kx.pid] : []));
        const radarUse = new UsageSampler(() => radarPids);
        let looking = true;
        const findRadar = (async () => {
          while (looking && radarPids.length === 0) {
            const [id] = await containersByLabel(kx.radarLabel).catch(() => []);
            const pid = id ? await containerPid(id).catch(() => 0) : 0;
            if (pid > 0) radarPids.push(pid);
            else await new Promise((done) => setTimeout(done, 20));
          }
        })();
        try {
          execFileSync('sync');
          if (kind === 'warm') await Promise.race([findRadar, new Promise((done) => setTimeout(done, 2000))]);
          kxUse.begin();
          radarUse.begin();
          const spawned = await kx.start(300_000);
          const watchingAt = performance.now();
          const kxCpu = kxUse.end().cpuS;
          const radarCpu = radarUse.end().cpuS;
          const phases = await kx.startupPhases(spawned, watchingAt);
          assertSame(src, dest);
          const log = await readFile(kx.log, 'utf8');
          const up = /kx watch: .*?; (up \d+ ms .*?\))/.exec(log)?.[1] ?? '';
          const radarLine = /radar: container \S+ \(\S+\) serves the docker target at \S+(.*)/.exec(log)?.[1] ?? '';
          const add = (what: string, v: number | undefined): void => {
            if (v !== undefined) s.values.set(`${kind} ${what}`, [...(s.values.get(`${kind} ${what}`) ?? []), v]);
          };
          for (const k of ['upS', 'radarS', 'syncingS', 'doneS'] as const) add(k, phases?.[k]);
          if (phases) add('sync itself', phases.doneS - phases.syncingS);
          add('kx CPU', kxCpu);
          add('radar CPU', radarCpu);
          console.log(`round ${r} ${kind} ${s.name}: ${phases ? formatPhases(phases) : '?'}; CPU kx ${kxCpu.toFixed(2)} s, radar ${radarCpu.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}; ${up}; radar${radarLine}`);
        } finally {
          looking = false;
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
    for (const [what, xs] of s.values) console.log(`${s.name} ${what}: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
  }
} finally {
  await cleanup.run();
}

function removeRadars(home: string): void {
  const label = new KxWatch({ local: '', remote: '', selector: '', home }).radarLabel;
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
