// A/B of save → visible between two kx checkouts, paired: two `kx watch` daemons (each with its own radar image) sync
// two folders into one container; rounds of edits alternate between them, so both see the same machine load.
//   node bench/ab-latency.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [edits per round]
// Prints p50/p95 per round and over all rounds for each. Not a test; for comparing a change with its base.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchContainer } from './bench-container.ts';
import { Cleanup, measure, stats, writeProject } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';

const [baseCheckout, baseImage, newImage, roundsArg, editsArg] = process.argv.slice(2);
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-latency.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [edits]');
const rounds = Number(roundsArg ?? 6);
const edits = Number(editsArg ?? 15);
const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-ab-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const container = new BenchContainer(['/a', '/b']);
  cleanup.add(() => container.close());
  await container.start();
  const sides = [
    { name: 'base', entry: join(baseCheckout, 'cmd', 'kx.ts'), image: baseImage, remote: '/a' },
    { name: 'new', entry: join(import.meta.dirname, '..', 'cmd', 'kx.ts'), image: newImage, remote: '/b' },
  ].map((s) => ({ ...s, local: join(work, s.name), home: join(work, `${s.name}-home`), samples: [] as number[] }));
  const daemons = [];
  for (const s of sides) {
    await mkdir(s.local, { recursive: true });
    await mkdir(s.home, { recursive: true });
    writeProject(s.local);
    const kx = new KxWatch({ local: s.local, remote: s.remote, selector: container.label, home: s.home, command: [process.execPath, s.entry], env: { KX_RADAR_IMAGE: s.image } });
    cleanup.add(() => kx.close());
    await kx.start(300_000);
    daemons.push(kx);
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    const line: string[] = [];
    for (const s of order) {
      const res = await measure('kx', s.local, container.hostPath(s.remote), edits, 300);
      const ms = res.samples.map((x) => x.ms);
      s.samples.push(...ms);
      const st = stats(ms);
      line.push(`${s.name} p50 ${st.p50.toFixed(1)} p95 ${st.p95.toFixed(1)}`);
    }
    console.log(`round ${r + 1}: ${line.join(' | ')} (load ${loadavg()[0].toFixed(1)})`);
  }
  for (const s of sides) {
    const st = stats(s.samples);
    console.log(`${s.name}: n=${s.samples.length} p50 ${st.p50.toFixed(2)} ms, p95 ${st.p95.toFixed(2)} ms, mean ${st.mean.toFixed(2)} ms`);
  }
} finally {
  await cleanup.run();
}
