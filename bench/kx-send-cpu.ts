// The CPU of kx's engine thread per file, with nothing else in the way: scan, plan, read and frame the 10,000-file
// tree (syncTree) into frames that go nowhere (a receiver stub whose frame sink drops them), then a 1,000-file burst
// (syncPaths) the same way, several times in one process of each checkout, the checkouts alternating. The engine
// thread's own CPU (process.threadCpuUsage) is the measure: no radar, gRPC or socket shares it, so a change of a few
// per cent in the sender shows through a loaded machine's noise, which the end-to-end cases cannot resolve.
//   [KX_SEND_COPY=1] node bench/kx-send-cpu.ts BASE_CHECKOUT [NEW_CHECKOUT] [--rounds N] [--reps N] [--quick]
// Not a test; for comparing a change with its base.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { QUICK_TREE, SOURCE_TREE, burst, writeTree } from './dataset.ts';
import { median } from './ab-side.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    child: { type: 'string' },
    src: { type: 'string' },
  },
});
const shape = values.quick ? QUICK_TREE : SOURCE_TREE;

interface Measured {
  /** Thread CPU seconds of each repetition. */
  initial: number[];
  burst: number[];
}

if (values.child !== undefined) await child(values.child, values.src!);
else await drive();

async function drive(): Promise<void> {
  const [baseCheckout, newCheckout = join(import.meta.dirname, '..')] = positionals;
  if (!baseCheckout) throw new Error('usage: node bench/kx-send-cpu.ts BASE_CHECKOUT [NEW_CHECKOUT] [--rounds N] [--reps N] [--quick]');
  const work = await mkdtemp(join(tmpdir(), 'kx-send-cpu-'));
  const tree = join(work, 'tree');
  const sides = [
    { name: 'base', checkout: baseCheckout, initial: [] as number[], burst: [] as number[] },
    { name: 'new', checkout: newCheckout, initial: [] as number[], burst: [] as number[] },
  ];
  try {
    await mkdir(tree);
    await writeTree(tree, shape, 42);
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        // Each run edits its own copy (the burst writes into it).
        const src = join(work, `src-${s.name}-${r}`);
        await cp(tree, src, { recursive: true, preserveTimestamps: true });
        const m = await runChild(s.checkout, src);
        await rm(src, { recursive: true, force: true });
        s.initial.push(...m.initial);
        s.burst.push(...m.burst);
        console.log(`round ${r} ${s.name}: initial ${m.initial.map((x) => x.toFixed(3)).join(' ')} s; burst ${m.burst.map((x) => x.toFixed(3)).join(' ')} s; load ${loadavg()[0].toFixed(1)}`);
      }
    }
    for (const s of sides) console.log(`${s.name}: initial median ${median(s.initial).toFixed(3)} s (min ${Math.min(...s.initial).toFixed(3)}); burst median ${median(s.burst).toFixed(3)} s (min ${Math.min(...s.burst).toFixed(3)})`);
    const [b, n] = sides;
    console.log(`new/base: initial ×${(median(n.initial) / median(b.initial)).toFixed(3)}, burst ×${(median(n.burst) / median(b.burst)).toFixed(3)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function runChild(checkout: string, src: string): Promise<Measured> {
  const args = [import.meta.filename, '--child', checkout, '--src', src, '--reps', values.reps, ...(values.quick ? ['--quick'] : [])];
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    p.once('close', (code) => {
      const line = out.trim().split('\n').findLast((l) => l.startsWith('{')) ?? '';
      if (code !== 0 || line === '') reject(new Error(`child exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Measured);
    });
  });
}

async function child(checkout: string, src: string): Promise<void> {
  const [{ createHasher }, { syncPaths, syncTree }, { writeBatch }, { compactManifest }] = await Promise.all([
    import(join(checkout, 'pkg/sync/hash.ts')) as Promise<typeof import('../pkg/sync/hash.ts')>,
    import(join(checkout, 'pkg/sync/push.ts')) as Promise<typeof import('../pkg/sync/push.ts')>,
    import(join(checkout, 'pkg/transport/frame-writer.ts')) as Promise<typeof import('../pkg/transport/frame-writer.ts')>,
    import(join(checkout, 'pkg/sync/manifest-table.ts')) as Promise<typeof import('../pkg/sync/manifest-table.ts')>,
  ]);
  type Receiver = import('../pkg/sync/types.ts').Receiver;
  type Manifest = import('../pkg/sync/types.ts').Manifest;
  // A receiver with nothing in it that takes every frame at once: the sender's own work is all that runs.
  const receiver: Receiver = {
    manifest: () => Promise.resolve(new Map()),
    acceptsDigestAtEnd: () => true,
    async *signatures(paths) {
      for (const path of paths) yield { path, signature: null };
    },
    async apply(ops) {
      let applied = 0;
      const bytesSent = await writeBatch(ops, {
        target: { containerId: '', runtime: '', remotePath: '' },
        compress: false,
        sink: {
          send: (frame, written) => {
            // KX_SEND_COPY=1: each frame copied as gRPC frames it (a fresh buffer with its 5-byte header), to see
            // what that copy and the garbage it makes cost the sender.
            if (process.env.KX_SEND_COPY === '1') frame.copy(Buffer.allocUnsafe(frame.length + 5), 5);
            applied++;
            written?.();
            return Promise.resolve();
          },
        },
      });
      return { applied, bytesSent, errors: [] };
    },
  };
  const hasher = await createHasher();
  const reps = Number(values.reps);
  const m: Measured = { initial: [], burst: [] };
  let first: Awaited<ReturnType<typeof syncTree>> | undefined;
  for (let i = 0; i < reps; i++) {
    const t = process.threadCpuUsage();
    first = await syncTree({ root: src, receiver, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    const d = process.threadCpuUsage(t);
    m.initial.push((d.user + d.system) / 1e6);
  }
  const marks = await burst(src, shape, 1_000, 7);
  const paths = [...new Set([...marks.map((x) => x.rel), 'src/feature'])];
  for (let i = 0; i < reps; i++) {
    // The manifests as the daemon keeps them after the initial sync, afresh for each repetition.
    const [local, remote, ancestor]: Manifest[] = [compactManifest(first!.local), compactManifest(first!.remote), compactManifest(first!.ancestor)];
    const t = process.threadCpuUsage();
    await syncPaths({ root: src, receiver, hasher, rules: [], paths, local, remote, safety: { mode: 'safe', ancestor } });
    const d = process.threadCpuUsage(t);
    m.burst.push((d.user + d.system) / 1e6);
  }
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

