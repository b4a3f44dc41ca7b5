// kx's own CPU for the initial sync of the 10,000-file tree and a 1,000-file burst, kx alone: each run is a fresh
// process of the checkout given that dials a directory-mode radar (a host process of this checkout, the same for both
// sides) and runs the engine as the daemon's sync worker does (syncTree), then as the daemon's main thread does for
// a burst (syncPaths with compact manifests), with its own user+system CPU (all its threads) read around each step.
// Module loading and the radar are outside what is measured. Two checkouts alternate, paired, on the same load:
//   node bench/kx-sync-cpu.ts BASE_CHECKOUT [NEW_CHECKOUT] [--rounds N] [--quick] [--prof DIR] [--node=FLAG...]
// --node=FLAG: a flag for each run's node (e.g. --node=--trace-gc); --prof DIR: each run writes a V8 CPU profile of its steps to DIR/<side>-<round>-{initial,burst}.cpuprofile.
// Not a test; for comparing a change with its base.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';
import { median } from './ab-side.ts';
import { listeningAddress } from './support/host-radar.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
    prof: { type: 'string' },
    child: { type: 'string' },
    address: { type: 'string' },
    token: { type: 'string' },
    src: { type: 'string' },
    label: { type: 'string' },
    node: { type: 'string', multiple: true, default: [] },
  },
});
const shape = values.quick ? QUICK_TREE : SOURCE_TREE;

if (values.child !== undefined) await child(values.child);
else await drive();

interface Measured {
  initialCpu: number;
  /** Of it, the CPU of the thread that ran the engine (the rest: the thread pool's reads, GC helpers). */
  initialThread: number;
  initialWall: number;
  burstCpu: number;
  burstThread: number;
  burstWall: number;
  ops: number;
  burstOps: number;
  errors: number;
  /** Garbage collections on the engine's thread during the initial sync: full (mark-compact) and young, and their pauses. */
  initialMajorGcs: number;
  initialMinorGcs: number;
  initialGcMs: number;
}

async function drive(): Promise<void> {
  const [baseCheckout, newCheckout = join(import.meta.dirname, '..')] = positionals;
  if (!baseCheckout) throw new Error('usage: node bench/kx-sync-cpu.ts BASE_CHECKOUT [NEW_CHECKOUT] [--rounds N] [--quick] [--prof DIR]');
  const work = await mkdtemp(join(tmpdir(), 'kx-sync-cpu-'));
  const sides = [
    { name: 'base', checkout: baseCheckout, runs: [] as Measured[] },
    { name: 'new', checkout: newCheckout, runs: [] as Measured[] },
  ];
  try {
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const src = join(work, `src-${s.name}-${r}`);
        const dst = join(work, `dst-${s.name}-${r}`);
        await mkdir(src);
        await mkdir(dst);
        await writeTree(src, shape, 42);
        const m = await withRadar(dst, (address, token) => runChild(s.checkout, address, token, src, `${s.name}-${r}`));
        s.runs.push(m);
        console.log(`round ${r} ${s.name}: initial ${m.ops} ops CPU ${m.initialCpu.toFixed(3)} s (thread ${m.initialThread.toFixed(3)} s) wall ${m.initialWall.toFixed(3)} s, GCs ${m.initialMajorGcs} full + ${m.initialMinorGcs} young, ${m.initialGcMs.toFixed(0)} ms; burst ${m.burstOps} ops CPU ${m.burstCpu.toFixed(3)} s (thread ${m.burstThread.toFixed(3)} s) wall ${m.burstWall.toFixed(3)} s${m.errors ? `; ${m.errors} ERRORS` : ''}; load ${loadavg()[0].toFixed(1)}`);
        await rm(src, { recursive: true, force: true });
        await rm(dst, { recursive: true, force: true });
      }
    }
    for (const s of sides) {
      const med = (k: keyof Measured): string => median(s.runs.map((m) => m[k])).toFixed(3);
      console.log(`${s.name}: median initial CPU ${med('initialCpu')} s (thread ${med('initialThread')} s) wall ${med('initialWall')} s, full GCs ${med('initialMajorGcs')}; burst CPU ${med('burstCpu')} s (thread ${med('burstThread')} s) wall ${med('burstWall')} s`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function withRadar<T>(dst: string, fn: (address: string, token: string) => Promise<T>): Promise<T> {
  const token = randomBytes(16).toString('hex');
  const radar = spawn(process.execPath, [join(import.meta.dirname, '..', 'radar', 'main.ts'), '--root', dst, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, KX_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const address = await listeningAddress(radar);
    return await fn(address, token);
  } finally {
    radar.kill('SIGTERM');
    await new Promise((resolve) => radar.once('close', resolve));
  }
}

function runChild(checkout: string, address: string, token: string, src: string, label: string): Promise<Measured> {
  const args = [import.meta.filename, '--child', checkout, '--address', address, '--token', token, '--src', src, '--label', label, ...(values.quick ? ['--quick'] : []), ...(values.prof ? ['--prof', values.prof] : [])];
  const p = spawn(process.execPath, [...values.node, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    p.once('close', (code) => {
      const line = out.trim().split('\n').findLast((l) => l.startsWith('{')) ?? '';
      if (values.node.length > 0) process.stderr.write(out);
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`child exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Measured);
    });
  });
}

async function child(checkout: string): Promise<void> {
  const [{ createHasher }, { syncPaths, syncTree }, { RadarClient }, { compactManifest }] = await Promise.all([
    import(join(checkout, 'pkg/sync/hash.ts')) as Promise<typeof import('../pkg/sync/hash.ts')>,
    import(join(checkout, 'pkg/sync/push.ts')) as Promise<typeof import('../pkg/sync/push.ts')>,
    import(join(checkout, 'pkg/transport/client.ts')) as Promise<typeof import('../pkg/transport/client.ts')>,
    import(join(checkout, 'pkg/sync/manifest-table.ts')) as Promise<typeof import('../pkg/sync/manifest-table.ts')>,
  ]);
  const src = values.src!;
  // As the Docker target's client: radar on this machine, no compression.
  const client = new RadarClient({ address: values.address!, token: values.token!, target: { containerId: '' }, clientName: 'kx-bench', compress: false });
  const session = values.prof ? new Session() : undefined;
  const profiled = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    if (!session) return fn();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    try {
      return await fn();
    } finally {
      const { profile } = await session.post('Profiler.stop');
      await mkdir(values.prof!, { recursive: true });
      await writeFile(join(values.prof!, `${values.label}-${name}.cpuprofile`), JSON.stringify(profile));
    }
  };
  session?.connect();
  try {
    const hasher = await createHasher();
    await client.handshake();
    const gcs = { major: 0, minor: 0, ms: 0 };
    const countGc = (e: PerformanceEntry): void => {
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
      else gcs.minor++;
      gcs.ms += e.duration;
    };
    const gcObserver = new PerformanceObserver((list) => list.getEntries().forEach(countGc));
    gcObserver.observe({ entryTypes: ['gc'] });
    let cpu = process.cpuUsage();
    let thread = process.threadCpuUsage();
    let t = performance.now();
    const first = await profiled('initial', () => syncTree({ root: src, receiver: client, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } }));
    const initialWall = (performance.now() - t) / 1000;
    const c1 = process.cpuUsage(cpu);
    const t1 = process.threadCpuUsage(thread);
    // Entries still queued are delivered on takeRecords.
    gcObserver.takeRecords().forEach(countGc);
    gcObserver.disconnect();
    // The daemon keeps its manifests compact between syncs.
    const local = compactManifest(first.local);
    const remote = compactManifest(first.remote);
    const ancestor = compactManifest(first.ancestor);
    const marks = await burst(src, shape, 1_000, 7);
    const paths = [...new Set([...marks.map((m) => m.rel), 'src/feature'])];
    cpu = process.cpuUsage();
    thread = process.threadCpuUsage();
    t = performance.now();
    const res = await profiled('burst', () => syncPaths({ root: src, receiver: client, hasher, rules: [], paths, local, remote, safety: { mode: 'safe', ancestor } }));
    const burstWall = (performance.now() - t) / 1000;
    const c2 = process.cpuUsage(cpu);
    const t2 = process.threadCpuUsage(thread);
    const m: Measured = {
      initialCpu: (c1.user + c1.system) / 1e6,
      initialThread: (t1.user + t1.system) / 1e6,
      initialWall,
      burstCpu: (c2.user + c2.system) / 1e6,
      burstThread: (t2.user + t2.system) / 1e6,
      burstWall,
      ops: first.ops,
      burstOps: res.ops,
      errors: first.errors.length + res.errors.length,
      initialMajorGcs: gcs.major,
      initialMinorGcs: gcs.minor,
      initialGcMs: gcs.ms,
    };
    process.stdout.write(`${JSON.stringify(m)}\n`);
  } finally {
    session?.disconnect();
    await client.close();
  }
}

