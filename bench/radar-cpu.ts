// radar's CPU for an initial sync of the 10,000-file tree and a 1,000-file burst, radar alone: a directory-mode radar
// (node radar/main.ts --root) as a host process of the checkout given, fed over gRPC on loopback by kx's engine in
// this process, radar's user+system CPU read from /proc before and after each step. Radar's apply path is the one a
// Docker target's container runs (its root is reached through /proc/<pid>/root there); without the container and
// `kx watch` around it, its CPU can be profiled and traced:
//   node bench/radar-cpu.ts [--radar CHECKOUT] [--rounds N] [--quick] [--dir DIR] [--prof DIR] [--strace FILE] [--trace-gc] [--node=FLAG...]
//                           [--bursts N] [--pause-ms MS] [--perf FILE] [--alloc FILE]
// --bursts N: N 1,000-file bursts after the initial sync, each after --pause-ms of quiet (default 3000: longer than
// the placement thread's idle retirement, as between a real checkout and the one before; 0: at once);
// --perf FILE: `perf record -g` of radar over the initial sync (FILE.initial.ROUND) and over the bursts
// (FILE.bursts.ROUND); read them with `perf report -i`; radar runs with --perf-basic-prof so JavaScript frames have names.
// --alloc FILE: V8's sampling heap profile of everything radar allocates (what the garbage collector freed too, which
// --heap-prof leaves out), written to FILE.ROUND when radar exits; each node's selfSize is the bytes sampled there.
// --prof DIR: radar writes a V8 CPU profile there when it exits (read it with bench/profile-top.ts); --strace FILE:
// radar runs under `strace -c -f -o FILE` (the summary of its system calls); --trace-gc: radar's GC lines on stderr;
// --dir DIR: the trees go in a temp directory there (default the OS's; on a filesystem where creating a file costs
// the kernel much, e.g. an ext4 block group nearly out of inodes, that cost hides the rest).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHasher } from '../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../pkg/sync/push.ts';
import { RadarClient } from '../pkg/transport/client.ts';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';
import { threadsCpuByName } from './support/proc.ts';
import { listeningAddress } from './support/host-radar.ts';

const { values } = parseArgs({
  options: {
    radar: { type: 'string', default: join(import.meta.dirname, '..') },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    dir: { type: 'string', default: tmpdir() },
    prof: { type: 'string' },
    strace: { type: 'string' },
    'trace-gc': { type: 'boolean', default: false },
    bursts: { type: 'string', default: '1' },
    'pause-ms': { type: 'string', default: '3000' },
    perf: { type: 'string' },
    alloc: { type: 'string' },
    node: { type: 'string', multiple: true, default: [] },
  },
});
const shape = values.quick ? QUICK_TREE : SOURCE_TREE;
const base = await mkdtemp(join(values.dir, 'kx-radar-cpu-'));
try {
  const hasher = await createHasher();
  for (let round = 0; round < Number(values.rounds); round++) {
    const src = join(base, `src-${round}`);
    const dst = join(base, `dst-${round}`);
    await mkdir(src);
    await mkdir(dst);
    await writeTree(src, shape, 42 + round);
    const token = randomBytes(16).toString('hex');
    const node = [
      ...(values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`] : []),
      ...(values['trace-gc'] ? ['--trace-gc'] : []),
      ...(values.perf ? ['--perf-basic-prof'] : []),
      ...(values.alloc ? [`--import=data:text/javascript,${encodeURIComponent(allocSampler(`${values.alloc}.${round}`))}`] : []),
      ...values.node,
      join(values.radar, 'radar', 'main.ts'), '--root', dst, '--listen', '127.0.0.1:0',
    ];
    const [cmd, args] = values.strace ? ['strace', ['-c', '-f', '-o', `${values.strace}.${round}`, process.execPath, ...node]] : [process.execPath, node];
    const radar = spawn(cmd, args, { env: { ...process.env, KX_TOKEN: token }, stdio: ['ignore', 'pipe', values['trace-gc'] ? 'inherit' : 'pipe'] });
    const address = await listeningAddress(radar, values['trace-gc'] ? (d) => process.stderr.write(d) : undefined);
    // Under strace the radar process is strace's child.
    const pid = values.strace ? await childOf(radar.pid ?? 0) : (radar.pid ?? 0);
    const client = new RadarClient({ address, token, target: { containerId: '' }, clientName: 'kx-bench', compress: false }); // as the Docker target's client (radar on this machine)
    try {
      await client.handshake();
      const startThreads = await threadsCpu(pid);
      let perf = values.perf ? await perfRecord(`${values.perf}.initial.${round}`, pid) : undefined;
      let cpu = await cpuS(pid);
      let t = performance.now();
      const first = await syncTree({ root: src, receiver: client, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
      const initialWall = (performance.now() - t) / 1000;
      const initialCpu = (await cpuS(pid)) - cpu;
      const initialThreads = await threadsCpu(pid);
      await perf?.stop();
      let local = first.local;
      let remote = first.remote;
      let ancestor = first.ancestor;
      const bursts: string[] = [];
      let errors = first.errors.length;
      perf = values.perf ? await perfRecord(`${values.perf}.bursts.${round}`, pid) : undefined;
      for (let b = 0; b < Number(values.bursts); b++) {
        await new Promise((resolve) => setTimeout(resolve, Number(values['pause-ms'])));
        const marks = await burst(src, shape, 1_000, 7 + b);
        const paths = [...new Set([...marks.map((m) => m.rel), 'src/feature'])];
        const before = await threadsCpuMap(pid);
        cpu = await cpuS(pid);
        t = performance.now();
        const res = await syncPaths({ root: src, receiver: client, hasher, rules: [], paths, local, remote, safety: { mode: 'safe', ancestor } });
        const burstWall = (performance.now() - t) / 1000;
        const burstCpu = (await cpuS(pid)) - cpu;
        const after = await threadsCpuMap(pid);
        ({ local, remote, ancestor } = res);
        errors += res.errors.length;
        bursts.push(`burst ${b}: ${res.ops} ops ${burstWall.toFixed(2)} s, radar CPU ${burstCpu.toFixed(2)} s (${[...after].map(([n, s]) => [n, s - (before.get(n) ?? 0)] as const).filter(([, s]) => s > 0).map(([n, s]) => `${n} ${s.toFixed(2)}`).join(', ')})`);
      }
      await perf?.stop();
      process.stdout.write(`round ${round}: initial ${first.ops} ops ${initialWall.toFixed(2)} s, radar CPU ${initialCpu.toFixed(2)} s${errors ? `; ${errors} ERRORS` : ''}\n  threads at the start: ${startThreads}\n  threads after initial: ${initialThreads}\n  ${bursts.join('\n  ')}\n`);
    } finally {
      await client.close();
      radar.kill('SIGTERM');
      await new Promise((resolve) => radar.once('close', resolve));
    }
  }
} finally {
  await rm(base, { recursive: true, force: true });
}

/** User+system CPU seconds of a process, its ended threads included. */
async function cpuS(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU seconds of radar's live threads by name (since radar started). */
async function threadsCpu(pid: number): Promise<string> {
  return [...(await threadsCpuMap(pid))].filter(([, s]) => s > 0).map(([n, s]) => `${n} ${s.toFixed(2)}`).join(', ');
}

async function threadsCpuMap(pid: number): Promise<Map<string, number>> {
  return threadsCpuByName([pid]);
}

/**
 * A module radar loads first (--import): it samples every allocation through the inspector, those collected since
 * included, and writes the profile to `file` at SIGTERM (which the bench sends).
 */
function allocSampler(file: string): string {
  return `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const s = new Session();
s.connect();
s.post('HeapProfiler.enable');
s.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
process.prependListener('SIGTERM', () => s.post('HeapProfiler.stopSampling', (err, res) => { if (!err) writeFileSync(${JSON.stringify(file)}, JSON.stringify(res.profile)); }));
`;
}

/** `perf record -g` of process `pid` into `file`, until stop(). */
async function perfRecord(file: string, pid: number): Promise<{ stop: () => Promise<void> }> {
  const perf = spawn('perf', ['record', '-g', '-o', file, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  // perf writes nothing until it stops; give it a moment to attach.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    stop: async () => {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.once('close', resolve));
    },
  };
}

async function childOf(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const kids = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim();
    if (kids) return Number(kids.split(' ')[0]);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('radar under strace: no child process');
}
