// A/B of "1 byte changed in a large file" between two kx checkouts, paired: two `kx watch` daemons (each with its own
// radar image and its own radar container) keep a copy of a 200 MiB file (50 MiB with --quick) in one container;
// rounds alternate which side goes first, so both see the same load, and rsync (one-shot, against its daemon on
// 127.0.0.1) runs the same change in each round as the reference. Each side's change is timed from the write to the
// flipped byte seen in the destination, with the CPU each side's kx and radar spent meanwhile.
//   node bench/ab-delta.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [--quick]
// Not a test; for comparing a change with its base.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchContainer } from './bench-container.ts';
import { flipByte, writeLargeFile } from './dataset.ts';
import { Cleanup, stats } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { rsyncOnce } from './peers/rsync.ts';
import { byteIs, converged } from './support/converge.ts';
import { containerPid, containersByLabel, UsageSampler } from './support/proc.ts';
import { assertSame, byteAt, describeBatches } from './throughput.ts';

const args = process.argv.slice(2).filter((a) => a !== '--quick');
const [baseCheckout, baseImage, newImage, roundsArg] = args;
if (!baseCheckout || !baseImage || !newImage) throw new Error('usage: node bench/ab-delta.ts BASE_CHECKOUT BASE_IMAGE NEW_IMAGE [rounds] [--quick]');
const size = (process.argv.includes('--quick') ? 50 : 200) * 1024 * 1024;
const rounds = Number(roundsArg ?? 4);
const rel = join('big', 'big.bin');
const offset = Math.floor(size / 2);

interface Side {
  readonly name: string;
  readonly entry: string;
  readonly image: string;
  readonly remote: string;
  readonly local: string;
  readonly dest: string;
  readonly home: string;
  readonly wall: number[];
  readonly kxCpu: number[];
  readonly radarCpu: number[];
  kx?: KxWatch;
  radarPid?: number;
}

const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-ab-delta-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const sides: Side[] = [
    { name: 'base', entry: join(baseCheckout, 'cmd', 'kx.ts'), image: baseImage, remote: '/a' },
    { name: 'new', entry: join(import.meta.dirname, '..', 'cmd', 'kx.ts'), image: newImage, remote: '/b' },
  ].map((s) => ({ ...s, local: join(work, s.name), dest: join(work, `${s.name}-dest`), home: join(work, `${s.name}-home`), wall: [], kxCpu: [], radarCpu: [] }));
  const rsync = { src: join(work, 'rsync'), dest: join(work, 'rsync-dest'), scratch: join(work, 'rsync-work'), wall: [] as number[], clientCpu: [] as number[], serverCpu: [] as number[] };
  for (const d of [rsync.src, rsync.dest, rsync.scratch]) await mkdir(join(d, 'big'), { recursive: true });
  await writeLargeFile(join(rsync.src, rel), size, 9);
  for (const s of sides) {
    await mkdir(s.dest, { recursive: true });
    await mkdir(s.home, { recursive: true });
    await mkdir(s.local, { recursive: true });
    execFileSync('cp', ['-a', join(rsync.src, 'big'), join(s.local, 'big')]);
  }
  await rsyncOnce(rsync.src, rsync.dest, rsync.scratch);
  const container = new BenchContainer([], sides.map((s) => [s.dest, s.remote] as const));
  cleanup.add(() => container.close());
  await container.start();
  for (const s of sides) {
    const kx = new KxWatch({ local: s.local, remote: s.remote, selector: container.label, home: s.home, command: [process.execPath, s.entry], env: { KX_RADAR_IMAGE: s.image } });
    cleanup.add(() => kx.close());
    await kx.start(600_000);
    s.kx = kx;
    const [id] = await containersByLabel(kx.radarLabel);
    if (!id) throw new Error(`${s.name}: no radar container`);
    s.radarPid = await containerPid(id);
    assertSame(s.local, s.dest);
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    const line: string[] = [];
    for (const s of order) {
      const kxUse = new UsageSampler(() => [s.kx!.pid]);
      const radarUse = new UsageSampler(() => [s.radarPid!]);
      const path = join(s.local, rel);
      execFileSync('sync');
      await sleep(1_000);
      const logFrom = (await readFile(s.kx!.log, 'utf8')).length;
      kxUse.begin();
      radarUse.begin();
      const start = performance.now();
      const flipped = await flip(path);
      const done = await converged([byteIs(join(s.dest, rel), offset, flipped)], { timeoutMs: 300_000, what: s.name });
      // The CPU of what follows the byte's arrival (the rename is its last step) is part of the change too.
      await s.kx!.waitWatching(60_000, 1);
      await sleep(300);
      const k = kxUse.end();
      const d = radarUse.end();
      kxUse.close();
      radarUse.close();
      const wall = (done - start) / 1000;
      s.wall.push(wall);
      s.kxCpu.push(k.cpuS);
      s.radarCpu.push(d.cpuS);
      line.push(`${s.name} ${wall.toFixed(3)} s (kx ${k.cpuS.toFixed(2)}, radar ${d.cpuS.toFixed(2)} s CPU)`);
      assertSame(s.local, s.dest);
      const log = (await readFile(s.kx!.log, 'utf8')).slice(logFrom);
      if (process.env.KX_AB_LOG) console.log(`${s.name} log:\n${log}`);
      else console.log(`  ${s.name}: ${describeBatches(log)}`);
    }
    execFileSync('sync');
    await sleep(1_000);
    await flip(join(rsync.src, rel));
    const rs = await rsyncOnce(rsync.src, rsync.dest, rsync.scratch);
    rsync.wall.push(rs.client.wallS);
    rsync.clientCpu.push(rs.client.cpuS);
    rsync.serverCpu.push(rs.server?.cpuS ?? NaN);
    assertSame(rsync.src, rsync.dest);
    line.push(`rsync ${rs.client.wallS.toFixed(3)} s (client ${rs.client.cpuS.toFixed(2)}, server ${rs.server?.cpuS.toFixed(2)} s CPU)`);
    console.log(`round ${r + 1}: ${line.join(' | ')} (load ${loadavg()[0].toFixed(1)})`);
  }
  const med = (v: readonly number[]): string => stats(v).p50.toFixed(3);
  for (const s of sides) console.log(`${s.name}: wall median ${med(s.wall)} s, kx CPU ${med(s.kxCpu)} s, radar CPU ${med(s.radarCpu)} s`);
  console.log(`rsync: wall median ${med(rsync.wall)} s, client CPU ${med(rsync.clientCpu)} s, server CPU ${med(rsync.serverCpu)} s`);
} finally {
  await cleanup.run();
}

/** Flip the byte at `offset` and move mtime on (rsync's quick check would skip a same-size, same-second file). */
async function flip(path: string): Promise<number> {
  await flipByte(path, offset);
  const later = new Date(Date.now() + 5_000);
  await utimes(path, later, later);
  return byteAt(path, offset);
}
