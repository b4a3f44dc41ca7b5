// Where "1 byte changed in a large file" spends its time on radar's side: one `kx watch` with its radar container,
// the change made `rounds` times, each with `strace -c -f` (or with KX_PROBE=perf, `perf record -g`) attached to
// radar's process for the change, and radar's user and system CPU (from /proc) printed apart.
//   node bench/delta-probe.ts IMAGE [rounds] [--quick]   (KX_PROBE=perf|timeline|strace|none; KX_PROBE_LIVE=1: file written while kx watches; KX_PROBE_REST_MS: the rest before each change, default 1000)
// Not a test; a probe for bench/ab-delta.ts's case.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, utimes } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchContainer } from './bench-container.ts';
import { flipByte, writeLargeFile } from './dataset.ts';
import { Cleanup } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { byteIs, converged } from './support/converge.ts';
import { containerPid, containersByLabel, processTree } from './support/proc.ts';

const args = process.argv.slice(2).filter((a) => a !== '--quick');
const [image, roundsArg] = args;
if (!image) throw new Error('usage: node bench/delta-probe.ts IMAGE [rounds] [--quick]');
const size = (process.argv.includes('--quick') ? 50 : 200) * 1024 * 1024;
const rel = join('big', 'big.bin');
const offset = Math.floor(size / 2);
const probe = process.env.KX_PROBE ?? 'strace';

/** User and system CPU seconds of a process tree. */
function cpu(pid: number): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]) / 100;
      sys += Number(f[12]) / 100;
    } catch {
      // gone
    }
  }
  return { user, sys };
}

const cleanup = new Cleanup();
try {
  const work = await mkdtemp(join(tmpdir(), 'kx-delta-probe-'));
  cleanup.add(() => rm(work, { recursive: true, force: true }));
  const local = join(work, 'src');
  const dest = join(work, 'dest');
  const home = join(work, 'home');
  for (const d of [join(local, 'big'), dest, home]) await mkdir(d, { recursive: true });
  // KX_PROBE_LIVE=1: the file is written while kx watches (as the throughput case does), not before it starts.
  const live = process.env.KX_PROBE_LIVE === '1';
  if (!live) await writeLargeFile(join(local, rel), size, 9);
  const container = new BenchContainer([], [[dest, '/app']]);
  cleanup.add(() => container.close());
  await container.start();
  const kx = new KxWatch({ local, remote: '/app', selector: container.label, home, env: { KX_RADAR_IMAGE: image } });
  cleanup.add(() => kx.close());
  await kx.start(600_000);
  if (live) {
    await writeLargeFile(join(local, rel), size, 9);
    const { statSync } = await import('node:fs');
    await converged([() => { try { return statSync(join(dest, rel)).size === size; } catch { return false; } }], { timeoutMs: 300_000, what: 'the large file' });
    await kx.waitWatching(60_000, 1);
    await sleep(1_000);
  }
  const [id] = await containersByLabel(kx.radarLabel);
  const radar = await containerPid(id);
  for (let r = 0; r < Number(roundsArg ?? 3); r++) {
    execFileSync('sync');
    await sleep(Number(process.env.KX_PROBE_REST_MS ?? 1_000));
    const out = join(work, `probe-${r}`);
    const tracer = probe === 'none'
      ? spawn('sleep', ['3600'], { stdio: 'ignore' })
      : probe === 'perf'
      ? spawn('perf', ['record', '-g', '-o', out, '-p', String(radar)], { stdio: 'ignore' })
      : probe === 'timeline'
        ? spawn('strace', ['-f', '-ttt', '-e', 'trace=openat,read,pread64,pwrite64,write,writev,rename,renameat,renameat2,inotify_add_watch', '-o', out, '-p', `${radar},${kx.pid}`], { stdio: 'ignore' })
        : spawn('strace', ['-c', '-f', '-o', out, '-p', String(radar)], { stdio: 'ignore' });
    await sleep(500);
    const c0 = cpu(radar);
    const start = performance.now();
    const fh = await open(join(local, rel), 'r');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    await fh.close();
    await flipByte(join(local, rel), offset);
    const later = new Date(Date.now() + 5_000);
    await utimes(join(local, rel), later, later);
    const done = await converged([byteIs(join(dest, rel), offset, b[0] ^ 0xff)], { timeoutMs: 300_000, what: 'kx' });
    await kx.waitWatching(60_000, 1);
    await sleep(300);
    const c1 = cpu(radar);
    tracer.kill('SIGINT');
    await new Promise((res) => tracer.once('exit', res));
    console.log(`round ${r + 1}: ${((done - start) / 1000).toFixed(3)} s; radar user ${(c1.user - c0.user).toFixed(2)} s, sys ${(c1.sys - c0.sys).toFixed(2)} s`);
    if (probe === 'perf') {
      console.log(execFileSync('perf', ['report', '-i', out, '--no-children', '--sort', 'sym', '--stdio', '-g', 'none', '--percent-limit', '0.8'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 40).join('\n'));
    } else if (probe === 'none') {
      // the times alone
    } else if (probe === 'timeline') {
      console.log(`kx pid ${kx.pid}, radar pid ${radar}, change at ${(performance.timeOrigin + start) / 1000}; trace in ${out}`);
      execFileSync('cp', [out, `/tmp/delta-probe-${r}.trace`]);
    } else {
      console.log((await readFile(out, 'utf8')).split('\n').slice(0, 18).join('\n'));
    }
  }
} finally {
  await cleanup.run();
}
