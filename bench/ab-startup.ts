// A/B of `kx watch`'s start as users run it, between two kx checkouts, paired: each side's npm package is packed
// and installed (bench/support/installed-kx.ts), then the same tree (10,000 files by default) is synced by each
// side in turn into an empty directory of a fresh container, the sides alternating so both see the same machine
// load. `cold` removes the side's radar containers before each run (radar started by kx watch); `warm` adopts the
// radar the last run left.
//   node bench/ab-startup.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [cold|warm|both] [quick]
// Prints each run's phases (bench/peers/kx-watch.ts), the daemon's own start-up line and radar's container steps
// from kx's log, and the CPU kx and radar spent; then the medians. Not a test; for comparing a change with its base.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { formatPhases } from './peers/kx-watch.ts';
import { installKx } from './support/installed-kx.ts';
import { median, removeRadars, resetCold, runSide } from './ab-side.ts';

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
        if (kind === 'cold') await resetCold(s.home);
        const prof = process.env.KX_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.KX_BENCH_CPU_PROF, s.name)}`] : [];
        const run = await runSide({ src, dest: join(work, `dest-${s.name}-${r}-${kind}`), home: s.home, command: [process.execPath, ...prof, s.entry], image: s.image, warm: kind === 'warm' });
        const { phases } = run;
        const up = /kx watch: .*?; (up \d+ ms .*?\))/.exec(run.log)?.[1] ?? '';
        const radarLine = /radar: container \S+ \(\S+\) serves the docker target at \S+(.*)/.exec(run.log)?.[1] ?? '';
        const add = (what: string, v: number | undefined): void => {
          if (v !== undefined) s.values.set(`${kind} ${what}`, [...(s.values.get(`${kind} ${what}`) ?? []), v]);
        };
        for (const k of ['upS', 'radarS', 'syncingS', 'doneS'] as const) add(k, phases?.[k]);
        if (phases) add('sync itself', phases.doneS - phases.syncingS);
        add('kx CPU', run.kxCpuS);
        add('radar CPU', run.radarCpuS);
        console.log(`round ${r} ${kind} ${s.name}: ${phases ? formatPhases(phases) : '?'}; CPU kx ${run.kxCpuS.toFixed(2)} s, radar ${run.radarCpuS.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}; ${up}; radar${radarLine}`);
      }
    }
  }
  for (const s of sides) {
    for (const [what, xs] of s.values) console.log(`${s.name} ${what}: median ${median(xs).toFixed(2)} s of ${xs.map((x) => x.toFixed(2)).join(', ')}`);
  }
} finally {
  await cleanup.run();
}


