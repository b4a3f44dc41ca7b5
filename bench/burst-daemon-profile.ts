// Where a 1,000-file burst's time goes in a real `kx watch` (this checkout, Docker target, radar in its container):
// the tree synced, then `rounds` bursts (a git checkout: 900 edits, 100 new), each timed from its first write to the
// last file seen in the destination, with the batches the daemon logged for it (size, latency, start). With
// --prof FILE the daemon's main-thread CPU profile is cut to the bursts alone (samples before the first burst
// dropped) and written to FILE (read it with bench/profile-top.ts).
// --kx ENTRY runs another checkout's cmd/kx.ts (the base of an A/B; give it its own KX_RADAR_IMAGE).
// --pause-ms MS: quiet before each burst (default 3000: longer than radar's placement thread's idle retirement, as
// between a real checkout and the work before it; with 1000 the bursts continue the initial sync's stretch of work
// and go to that thread).
//   KX_RADAR_IMAGE=… node bench/burst-daemon-profile.ts [rounds] [--quick] [--prof FILE.cpuprofile] [--kx ENTRY] [--pause-ms MS]
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchContainer } from './bench-container.ts';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch, kxEntry } from './peers/kx-watch.ts';
import { converged, hasText } from './support/converge.ts';
import { containerPid, containersByLabel, processTree, readTree, threadsCpuByName } from './support/proc.ts';
import { describeBatches } from './throughput.ts';

const argv = process.argv.slice(2);
const profAt = argv.indexOf('--prof');
const profFile = profAt >= 0 ? argv[profAt + 1] : undefined;
const kxAt = argv.indexOf('--kx');
const entry = kxAt >= 0 ? argv[kxAt + 1] : kxEntry({});
const pauseAt = argv.indexOf('--pause-ms');
const pauseMs = pauseAt >= 0 ? Number(argv[pauseAt + 1]) : 3000;
const rounds = Number(argv.find((a, i) => /^\d+$/.test(a) && argv[i - 1] !== '--prof' && argv[i - 1] !== '--pause-ms') ?? 3);
const shape = argv.includes('--quick') ? QUICK_TREE : SOURCE_TREE;
const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-burst-daemon-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const [local, dest, home, profDir] = ['src', 'dest', 'home', 'prof'].map((d) => join(work, d));
  for (const d of [dest, home, profDir]) await mkdir(d, { recursive: true });
  await writeTree(local, shape, 42);
  const container = new BenchContainer([], [[dest, '/app']]);
  cleanup.add(() => container.close());
  await container.start();
  const prof = profFile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const kx = new KxWatch({ local, remote: '/app', selector: container.label, home, command: [process.execPath, ...prof, entry], env: process.env.KX_BURST_TRACE ? { KX_BURST_TRACE: '1' } : {} });
  cleanup.add(() => kx.close());
  await kx.start(600_000);
  const [radarId] = await containersByLabel(kx.radarLabel);
  const radarPid = await containerPid(radarId);
  const cpu = (): [number, number] => [readTree(kx.pid).cpuS, readTree(radarPid).cpuS];
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  for (let r = 0; r < rounds; r++) {
    await new Promise((res) => setTimeout(res, pauseMs));
    const logFrom = (await readFile(kx.log, 'utf8')).length;
    const cpu0 = cpu();
    const threads0 = threadsCpu(radarPid);
    const start = performance.now();
    const marks = await burst(local, shape, 1_000, 100 + r);
    const wrote = performance.now();
    const done = await converged(marks.map((m) => hasText(join(dest, m.rel), m.marker)), { timeoutMs: 300_000, what: 'kx' });
    await kx.waitWatching(60_000, 1);
    const cpu1 = cpu();
    const threads1 = threadsCpu(radarPid);
    const perThread = [...threads1].map(([n, t]) => [n, t - (threads0.get(n) ?? 0)] as const).filter(([, t]) => t > 0).map(([n, t]) => `${n} ${t.toFixed(2)}`).join(', ');
    const batches = describeBatches((await readFile(kx.log, 'utf8')).slice(logFrom));
    if (process.env.KX_BURST_TRACE) console.log((await readFile(kx.log, 'utf8')).slice(logFrom).split('\n').filter((l) => l.includes('TRACE')).join('\n'));
    console.log(`round ${r + 1}: ${((done - start) / 1000).toFixed(2)} s (written in ${((wrote - start) / 1000).toFixed(2)} s, then ${((done - wrote) / 1000).toFixed(2)} s); cpu kx ${(cpu1[0] - cpu0[0]).toFixed(2)} s, radar ${(cpu1[1] - cpu0[1]).toFixed(2)} s (${perThread}); load ${loadavg()[0].toFixed(1)}; ${batches}`);
  }
  if (profFile !== undefined) {
    await kx.close();
    const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
    // The main thread's profile: the largest (workers' are a full sync's worker, idle during the bursts).
    const sized = await Promise.all(files.map(async (f) => ({ f, text: await readFile(join(profDir, f), 'utf8') })));
    const main = sized.sort((a, b) => b.text.length - a.text.length)[0];
    await writeFile(profFile, JSON.stringify(fromTime(JSON.parse(main.text) as Profile, fromUs)));
    console.log(`profile of the bursts: ${profFile}`);
  }
} finally {
  await cleanup.run();
}

/** CPU seconds of a process tree's threads by name (radar's main thread, libuv's pool, V8's helpers, kx-place). */
function threadsCpu(pid: number): Map<string, number> {
  return threadsCpuByName(processTree(pid));
}

interface Profile {
  nodes: unknown[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The profile without its samples before `fromUs` (V8's ticks and process.hrtime share the monotonic clock). */
function fromTime(p: Profile, fromUs: number): Profile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let t = p.startTime;
  let last = fromUs;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    if (t < fromUs) continue;
    samples.push(p.samples[i]);
    timeDeltas.push(t - last);
    last = t;
  }
  return { ...p, startTime: Math.max(p.startTime, fromUs), samples, timeDeltas };
}
