// The stall case at radar alone, paired between two checkouts: a directory-mode radar (node radar/main.ts --root, with
// the image's V8 flags) serves a full sync of the 10,000-file tree, sent by a child process over its own connection as
// kx's full-sync worker does, while this process saves one small file on another connection every --every-ms and
// times each save (apply → ack). Without `kx watch`, Docker and the sender in the same process as the saver, the saves'
// latency is radar's part of the stall case, with hundreds of samples a run; radar's main-thread CPU during the sync
// (what a save waits behind) is read from /proc.
//   node bench/radar-stall.ts --base CHECKOUT [--new CHECKOUT] [--rounds N] [--every-ms MS] [--dir DIR] [--bundled]
// --bundled: each side's radar bundled as its image holds it (radar/image/stage.ts; dist/radar.mjs, a compile cache of
// its own), rather than its sources run by type stripping (which a thread started by radar pays for again).
// (--new defaults to this checkout; --new the base's for an A/A run.)
// Each round runs the base checkout's radar and this one's, the order alternating. Not a test.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHasher, type Hasher } from '../pkg/sync/hash.ts';
import { syncTree } from '../pkg/sync/push.ts';
import type { BatchOp } from '../pkg/sync/types.ts';
import { RadarClient } from '../pkg/transport/client.ts';
import { SOURCE_TREE, writeTree } from './dataset.ts';
import { threadsCpuByName } from './support/proc.ts';
import { listeningAddress } from './support/host-radar.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    new: { type: 'string', default: join(import.meta.dirname, '..') },
    rounds: { type: 'string', default: '3' },
    'every-ms': { type: 'string', default: '20' },
    dir: { type: 'string', default: tmpdir() },
    'sync-child': { type: 'string' },
    bundled: { type: 'boolean', default: false },
  },
});

if (values['sync-child'] !== undefined) {
  // The full sync, alone in its process: address, token, source tree.
  const [address, token, src] = values['sync-child'].split(',');
  const hasher = await createHasher();
  const client = new RadarClient({ address, token, target: { containerId: '' }, clientName: 'kx-bench', compress: false });
  const t = performance.now();
  const res = await syncTree({ root: src, receiver: client, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
  process.stdout.write(JSON.stringify({ wallS: (performance.now() - t) / 1000, ops: res.ops, errors: res.errors.length }) + '\n');
  await client.close();
  process.exit(0);
}

if (!values.base) throw new Error('usage: node bench/radar-stall.ts --base CHECKOUT [--rounds N] [--every-ms MS] [--dir DIR]');
const sides = [
  { name: 'base', checkout: values.base, runs: [] as Run[] },
  { name: 'new', checkout: values.new, runs: [] as Run[] },
];
const everyMs = Number(values['every-ms']);
const saveHasher = await createHasher();
const work = await mkdtemp(join(values.dir, 'kx-radar-stall-'));
try {
  const src = join(work, 'src');
  await mkdir(src);
  await writeTree(src, SOURCE_TREE, 42);
  const entries = new Map<string, { entry: string; env: NodeJS.ProcessEnv }>();
  for (const side of sides) {
    if (!values.bundled) {
      entries.set(side.name, { entry: join(side.checkout, 'radar', 'main.ts'), env: {} });
      continue;
    }
    const app = join(work, `app-${side.name}`);
    await new Promise<void>((resolve, reject) => {
      const stage = spawn(process.execPath, [join(side.checkout, 'radar', 'image', 'stage.ts'), side.checkout, app], { stdio: ['ignore', 'ignore', 'inherit'] });
      stage.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`staging ${side.checkout} failed (${code})`))));
    });
    entries.set(side.name, { entry: join(app, 'dist', 'radar.mjs'), env: { NODE_COMPILE_CACHE: join(work, `cache-${side.name}`) } });
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const run = await runOnce(entries.get(side.name)!, src, join(work, `dst-${side.name}-${round}`), saveHasher);
      side.runs.push(run);
      process.stdout.write(`round ${round + 1} ${side.name}: ${show(run)}\n`);
    }
  }
  process.stdout.write('\n');
  for (const s of sides) {
    const med = (f: (r: Run) => number): string => median(s.runs.map(f)).toFixed(1);
    process.stdout.write(
      `${s.name}: medians of ${s.runs.length}: idle p50 ${med((r) => r.idle.p50)} p95 ${med((r) => r.idle.p95)} ms; during p50 ${med((r) => r.during.p50)} ` +
        `p95 ${med((r) => r.during.p95)} p99 ${med((r) => r.during.p99)} max ${med((r) => r.during.max)} ms; sync ${med((r) => r.syncS)} s; ` +
        `radar CPU ${med((r) => r.radarCpuS)} s, main thread ${med((r) => r.mainCpuS)} s\n`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

interface Stats { p50: number; p95: number; p99: number; max: number; n: number }
interface Run { idle: Stats; during: Stats; syncS: number; radarCpuS: number; mainCpuS: number; threads: string; load: number }

async function runOnce(radarEntry: { entry: string; env: NodeJS.ProcessEnv }, src: string, dst: string, hasher: Hasher): Promise<Run> {
  await mkdir(dst);
  const token = randomBytes(16).toString('hex');
  // The image's flags (proto/radar-pod.ts's RADAR_COMMAND).
  const radar = spawn(process.execPath, ['--max-semi-space-size=2', '--expose-gc', radarEntry.entry, '--root', dst, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ...radarEntry.env, KX_TOKEN: token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const address = await listeningAddress(radar);
    const pid = radar.pid!;
    const saver = new RadarClient({ address, token, target: { containerId: '' }, clientName: 'kx-bench-save', compress: false });
    try {
      await saver.handshake();
      let n = 0;
      const save = async (): Promise<number> => {
        const data = new TextEncoder().encode(`save ${n++}\n`);
        const h = hasher.stream();
        h.update(data);
        const op: BatchOp = { op: 'write', path: 'save.txt', mode: 0o644, mtimeMs: Date.now(), size: data.length, digest: h.digest(), basis: 'whole', body: (async function* () { yield { kind: 'literal' as const, data }; })() };
        const t = performance.now();
        const res = await saver.apply((async function* () { yield op; })());
        if (res.errors.length > 0) throw new Error(`save refused: ${res.errors[0].message}`);
        return performance.now() - t;
      };
      const idle: number[] = [];
      for (let i = 0; i < 60; i++) {
        idle.push(await save());
        await sleep(everyMs);
      }
      const threads0 = await threadsCpu(pid);
      const cpu0 = await cpuS(`/proc/${pid}/stat`);
      const main0 = await cpuS(`/proc/${pid}/task/${pid}/stat`);
      const child = spawn(process.execPath, [import.meta.filename, '--sync-child', [address, token, src].join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sync child exited ${code}`)))));
      let finished = false;
      void done.then(() => (finished = true), () => (finished = true));
      const during: number[] = [];
      // The first saves wait for the child's start and scan: count those that overlap radar's part of the sync.
      while (!finished) {
        during.push(await save());
        await sleep(everyMs);
      }
      await done;
      const cpu1 = await cpuS(`/proc/${pid}/stat`);
      const main1 = await cpuS(`/proc/${pid}/task/${pid}/stat`);
      const threads1 = await threadsCpu(pid);
      const threads = [...threads1].map(([n, c]) => [n, c - (threads0.get(n) ?? 0)] as const).filter(([, c]) => c > 0).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(', ');
      const sync = JSON.parse(out) as { wallS: number; errors: number };
      if (sync.errors > 0) throw new Error(`the sync had ${sync.errors} errors`);
      return { idle: stats(idle), during: stats(during), syncS: sync.wallS, radarCpuS: cpu1 - cpu0, mainCpuS: main1 - main0, threads, load: loadavg()[0] };
    } finally {
      await saver.close();
    }
  } finally {
    radar.kill('SIGTERM');
    await new Promise((resolve) => radar.once('close', resolve));
    await rm(dst, { recursive: true, force: true });
  }
}

function show(r: Run): string {
  const s = (x: Stats): string => `p50 ${x.p50.toFixed(1)} p95 ${x.p95.toFixed(1)} p99 ${x.p99.toFixed(1)} max ${x.max.toFixed(1)} ms (${x.n})`;
  return `idle ${s(r.idle)}; during ${s(r.during)}; sync ${r.syncS.toFixed(2)} s; radar CPU ${r.radarCpuS.toFixed(2)} s, main thread ${r.mainCpuS.toFixed(2)} s (live threads: ${r.threads}); load ${r.load.toFixed(1)}`;
}

function stats(xs: readonly number[]): Stats {
  const v = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => v[Math.min(v.length - 1, Math.floor(p * v.length))] ?? 0;
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: v[v.length - 1] ?? 0, n: v.length };
}

function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

async function cpuS(statFile: string): Promise<number> {
  const stat = await readFile(statFile, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU seconds of the process's live threads, by name. */
async function threadsCpu(pid: number): Promise<Map<string, number>> {
  return threadsCpuByName([pid]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
