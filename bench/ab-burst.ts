// A/B of the continuous-sync cases between two kx checkouts, paired: two `kx watch` daemons (each with its own radar
// image) keep two copies of the tree in one container; rounds alternate which goes first, so both see the same load.
// Each round: a 1,000-file burst (a git checkout: 900 edits, 100 new), then renaming the burst's 100-file directory
// aside, each timed from the first write to the last file seen in the destination, with the CPU its `kx watch`
// spent from the first write until the last file was seen.
//   node bench/ab-burst.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [--quick] [--new NEW_CHECKOUT]
// --new: the `new` side's checkout (default this one), so that a run can swap the sides' roles.
// Not a test; for comparing a change with its base. Run it A/A too (the same checkout and image on both sides): at
// the 1,000-file tree's size it has favoured its `base` side by ~10 % (5 of 6 pairs), for reasons not found yet.
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchContainer } from './bench-container.ts';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';
import { Cleanup, stats } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { absent, converged, hasText, type Check } from './support/converge.ts';
import { UsageSampler, containerPid, containersByLabel } from './support/proc.ts';

const argv = process.argv.slice(2);
const newAt = argv.indexOf('--new');
const newCheckout = newAt >= 0 ? argv[newAt + 1] : join(import.meta.dirname, '..');
const args = argv.filter((a, i) => a !== '--quick' && (newAt < 0 || (i !== newAt && i !== newAt + 1)));
const [baseCheckout, baseImage, newImage, roundsArg] = args;
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-burst.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [--quick]');
const shape = process.argv.includes('--quick') ? QUICK_TREE : SOURCE_TREE;
const rounds = Number(roundsArg ?? 3);
const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-ab-burst-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const sides = [
    { name: 'base', entry: join(baseCheckout, 'cmd', 'kx.ts'), image: baseImage, remote: '/a' },
    { name: 'new', entry: join(newCheckout, 'cmd', 'kx.ts'), image: newImage, remote: '/b' },
  ].map((s) => ({ ...s, local: join(work, s.name), dest: join(work, `${s.name}-dest`), home: join(work, `${s.name}-home`), burst: [] as number[], rename: [] as number[], burstCpu: [] as number[], radarCpu: [] as number[], radarPid: 0, kx: undefined as KxWatch | undefined }));
  for (const s of sides) {
    await mkdir(s.dest, { recursive: true });
    await mkdir(s.home, { recursive: true });
    await writeTree(s.local, shape, 42);
  }
  const container = new BenchContainer([], sides.map((s) => [s.dest, s.remote] as const));
  cleanup.add(() => container.close());
  await container.start();
  for (const s of sides) {
    const kx = new KxWatch({ local: s.local, remote: s.remote, selector: container.label, home: s.home, command: [process.execPath, s.entry], env: { KX_RADAR_IMAGE: s.image } });
    cleanup.add(() => kx.close());
    await kx.start(600_000);
    s.kx = kx;
    // Each side's radar: its own container (its own image).
    const [radarId] = await containersByLabel(kx.radarLabel);
    s.radarPid = radarId ? await containerPid(radarId) : 0;
  }
  let cpu = 0;
  let radarCpu = 0;
  const timed = async (s: (typeof sides)[number], change: () => Promise<Check[]>): Promise<number> => {
    const use = new UsageSampler(() => (s.kx?.pid ? [s.kx.pid] : []));
    const radar = new UsageSampler(() => (s.radarPid ? [s.radarPid] : []));
    use.begin();
    radar.begin();
    try {
      const start = performance.now();
      const checks = await change();
      const t = ((await converged(checks, { timeoutMs: 300_000, what: 'kx' })) - start) / 1000;
      cpu = use.end().cpuS;
      radarCpu = radar.end().cpuS;
      return t;
    } finally {
      use.close();
      radar.close();
    }
  };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    const line: string[] = [];
    for (const s of order) {
      const b = await timed(s, async () => (await burst(s.local, shape, 1_000, 100 + r)).map((m) => hasText(join(s.dest, m.rel), m.marker)));
      s.burstCpu.push(cpu);
      s.radarCpu.push(radarCpu);
      await new Promise((res) => setTimeout(res, 1_000));
      // Each burst makes src/feature anew (100 new files): moved aside under a name of its own.
      const [from, to] = ['feature', `feature-moved-${r}`];
      const first = (await readFile(join(s.local, 'src', from, 'new0.ts'), 'utf8')).split('\n')[0];
      const m = await timed(s, async () => {
        await rename(join(s.local, 'src', from), join(s.local, 'src', to));
        return [absent(join(s.dest, 'src', from)), hasText(join(s.dest, 'src', to, 'new0.ts'), first)];
      });
      await new Promise((res) => setTimeout(res, 1_000));
      s.burst.push(b);
      s.rename.push(m);
      line.push(`${s.name} burst ${b.toFixed(2)} s (CPU kx ${s.burstCpu.at(-1)!.toFixed(2)} s, radar ${s.radarCpu.at(-1)!.toFixed(2)} s), rename ${m.toFixed(2)} s`);
    }
    console.log(`round ${r + 1}: ${line.join(' | ')} (load ${loadavg()[0].toFixed(1)})`);
  }
  for (const s of sides) {
    const b = stats(s.burst);
    const m = stats(s.rename);
    const c = stats(s.burstCpu);
    const rc = stats(s.radarCpu);
    console.log(`${s.name}: burst median ${b.p50.toFixed(2)} s (mean ${b.mean.toFixed(2)}), CPU kx median ${c.p50.toFixed(2)} s of ${s.burstCpu.map((x) => x.toFixed(2)).join(', ')}, radar median ${rc.p50.toFixed(2)} s; rename median ${m.p50.toFixed(2)} s (mean ${m.mean.toFixed(2)})`);
  }
} finally {
  await cleanup.run();
}
