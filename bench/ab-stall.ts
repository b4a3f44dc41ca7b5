// A/B of the stall case between two kx checkouts, paired: the stall bench (stall.ts) runs once per side per round,
// the order alternating each round, each side with its own `kx watch` and radar image, so both meet the same load.
//   node bench/ab-stall.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [files]
// Prints each run's figures as stall.ts does, then per side the median over its runs of spec B's p50/p95 idle, during
// A's sync and before A finished, and radar's CPU. Not a test; for comparing a change with its base.
import { join } from 'node:path';
import { runStallBench, type StallResult } from './stall.ts';

const [baseCheckout, baseImage, newImage, roundsArg, filesArg] = process.argv.slice(2);
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-stall.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [files]');
const rounds = Number(roundsArg ?? 2);
const files = Number(filesArg ?? 50_000);
const sides = [
  { name: 'base', entry: join(baseCheckout, 'cmd', 'kx.ts'), image: baseImage, runs: [] as StallResult[] },
  { name: 'new', entry: join(import.meta.dirname, '..', 'cmd', 'kx.ts'), image: newImage, runs: [] as StallResult[] },
];
for (let r = 0; r < rounds; r++) {
  for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
    process.env.KX_RADAR_IMAGE = s.image;
    console.log(`\n== round ${r + 1}: ${s.name}`);
    try {
      s.runs.push(await runStallBench({ files, kxCommand: [process.execPath, s.entry] }));
    } catch (err) {
      // A run that failed (kx watch not up in time on a loaded machine) is reported and left out, not the whole A/B.
      console.log(`${s.name}: run failed: ${(err as Error).message}`);
    }
  }
}
const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
console.log('');
for (const s of sides) {
  if (s.runs.length === 0) continue;
  const m = (f: (x: StallResult) => number): string => median(s.runs.map(f)).toFixed(1);
  const each = (f: (x: StallResult) => number): string => s.runs.map((x) => f(x).toFixed(1)).join('/');
  console.log(
    `${s.name}: median of ${s.runs.length} runs: idle p50 ${m((x) => x.idle.p50)} p95 ${m((x) => x.idle.p95)} ms; ` +
      `during p50 ${m((x) => x.during.p50)} p95 ${m((x) => x.during.p95)} ms (runs ${each((x) => x.during.p95)}); ` +
      `before A finished p95 ${m((x) => x.beforeDone.p95)} ms (runs ${each((x) => x.beforeDone.p95)}); ` +
      `A ${m((x) => x.syncS)} s; radar CPU ${m((x) => x.usage.radar.cpuS)} s`,
  );
}
