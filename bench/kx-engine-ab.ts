// The sender's engine of two checkouts, paired in ONE process: each side runs the initial sync of the 10,000-file tree
// (syncTree) into a receiver stub that copies each frame as gRPC frames it, and a 1,000-file continuous sync
// (syncPaths over compact manifests, the receiver's entries of those files made stale so they are sent again), the
// sides alternating run by run; the engine thread's CPU of each run (process.threadCpuUsage). kx-send-cpu.ts starts a
// process per side and round, whose start-up, JIT and load in between move its figures by ±15 % on a busy machine;
// alternating within one warm process pairs runs a fraction of a second apart. The tree is only read.
//   node bench/kx-engine-ab.ts BASE_CHECKOUT [NEW_CHECKOUT] [--pairs N] [--quick]
// Not a test; for comparing a change with its base.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { median } from './ab-side.ts';
import type { BatchOp, Entry, Manifest, Receiver } from '../pkg/sync/types.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { pairs: { type: 'string', default: '12' }, quick: { type: 'boolean', default: false } } });
const [baseCheckout, newCheckout = join(import.meta.dirname, '..')] = positionals;
if (!baseCheckout) throw new Error('usage: node bench/kx-engine-ab.ts BASE_CHECKOUT [NEW_CHECKOUT] [--pairs N] [--quick]');
const pairs = Number(values.pairs);
/** Runs before the measured ones, so both sides' code is optimized. */
const WARM_PAIRS = 2;

interface Side {
  initial(): Promise<number>;
  burst(): Promise<number>;
}

async function side(checkout: string, src: string): Promise<Side> {
  const [{ createHasher }, { syncPaths, syncTree }, { writeBatch }, { compactManifest }] = await Promise.all([
    import(join(checkout, 'pkg/sync/hash.ts')) as Promise<typeof import('../pkg/sync/hash.ts')>,
    import(join(checkout, 'pkg/sync/push.ts')) as Promise<typeof import('../pkg/sync/push.ts')>,
    import(join(checkout, 'pkg/transport/frame-writer.ts')) as Promise<typeof import('../pkg/transport/frame-writer.ts')>,
    import(join(checkout, 'pkg/sync/manifest-table.ts')) as Promise<typeof import('../pkg/sync/manifest-table.ts')>,
  ]);
  const hasher = await createHasher();
  const receiver: Receiver = {
    manifest: () => Promise.resolve(new Map()),
    acceptsDigestAtEnd: () => true,
    checksDirContents: () => true,
    digests: () => Promise.resolve(new Map()),
    async *signatures(paths) {
      for (const path of paths) yield { path, signature: null };
    },
    async apply(ops: AsyncIterable<BatchOp>) {
      let applied = 0;
      const bytesSent = await writeBatch(ops, {
        target: { containerId: '', runtime: '', remotePath: '' },
        compress: false,
        sink: {
          send(frame, written) {
            // As gRPC frames each message: a fresh buffer with its 5-byte header.
            frame.copy(Buffer.allocUnsafe(frame.length + 5), 5);
            applied++;
            written?.();
            return Promise.resolve();
          },
        },
      });
      return { applied, bytesSent, errors: [] };
    },
  };
  const safe = { mode: 'safe' as const, ancestor: undefined };
  const first = await syncTree({ root: src, receiver, hasher, rules: [], safety: safe });
  const files = [...first.local.values()].filter((e) => e.kind === 'file').map((e) => e.path);
  const paths = files.filter((_, i) => i % 10 === 3).slice(0, 1_000);
  const stale = new Map<string, Entry>(first.remote);
  for (const p of paths) stale.set(p, { ...stale.get(p)!, mtimeMs: 1_000 });
  const cpuMs = (t: NodeJS.CpuUsage): number => {
    const d = process.threadCpuUsage(t);
    return (d.user + d.system) / 1000;
  };
  return {
    initial: async () => {
      const t = process.threadCpuUsage();
      await syncTree({ root: src, receiver, hasher, rules: [], safety: safe });
      return cpuMs(t);
    },
    burst: async () => {
      const fresh = (m: Manifest): Manifest => compactManifest(new Map(m));
      const [local, remote, ancestor] = [fresh(first.local), fresh(stale), fresh(stale)];
      const t = process.threadCpuUsage();
      const r = await syncPaths({ root: src, receiver, hasher, rules: [], paths, local, remote, safety: { mode: 'safe', ancestor } });
      const ms = cpuMs(t);
      if (r.ops !== paths.length) throw new Error(`${checkout}: the continuous sync sent ${r.ops} ops, not ${paths.length}`);
      return ms;
    },
  };
}

const work = await mkdtemp(join(tmpdir(), 'kx-engine-ab-'));
try {
  const src = join(work, 'tree');
  await writeTree(src, values.quick ? QUICK_TREE : SOURCE_TREE, 42);
  const sides = { base: await side(baseCheckout, src), new: await side(newCheckout, src) };
  const runs = { base: { initial: [] as number[], burst: [] as number[] }, new: { initial: [] as number[], burst: [] as number[] } };
  for (let i = 0; i < pairs + WARM_PAIRS; i++) {
    for (const name of i % 2 === 0 ? (['base', 'new'] as const) : (['new', 'base'] as const)) {
      const initial = await sides[name].initial();
      const burst = await sides[name].burst();
      if (i < WARM_PAIRS) continue;
      runs[name].initial.push(initial);
      runs[name].burst.push(burst);
    }
    if (i >= WARM_PAIRS) console.log(`pair ${i - WARM_PAIRS}: initial base ${runs.base.initial.at(-1)!.toFixed(1)} new ${runs.new.initial.at(-1)!.toFixed(1)} ms; burst base ${runs.base.burst.at(-1)!.toFixed(1)} new ${runs.new.burst.at(-1)!.toFixed(1)} ms; load ${loadavg()[0].toFixed(1)}`);
  }
  for (const k of ['initial', 'burst'] as const) {
    const lower = runs.new[k].filter((x, i) => x < runs.base[k][i]).length;
    console.log(`${k}: base median ${median(runs.base[k]).toFixed(1)} ms, new ${median(runs.new[k]).toFixed(1)} ms, new/base ×${(median(runs.new[k]) / median(runs.base[k])).toFixed(3)}; new lower in ${lower} of ${pairs} pairs`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
