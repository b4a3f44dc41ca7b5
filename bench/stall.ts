// One spec's big initial sync must not stall another spec or `kx get`. One `kx watch` syncs spec B (a small
// project) into a busybox container; B's save → visible latency is measured idle, then again while spec A, added to
// kx.yaml meanwhile, runs its initial sync of 50,000 files into the same container. Meanwhile `kx get`'s status
// call is timed every 200 ms and A's progress is recorded. Goal: B's p50 and p95 during A's sync within 2× idle.
//
// Run alone with `node bench/stall.ts [files]`; `npm run bench` runs it last. Not a test: numbers vary with the machine.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigStore } from '../pkg/config/store.ts';
import type { SpecStatus } from '../pkg/daemon/status.ts';
import { BenchContainer } from './bench-container.ts';
import { writeManyFiles } from './dataset.ts';
import { Cleanup, measure, stats, writeProject, type Stats } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { containerPid, containersByLabel, UsageSampler, type SideUsage } from './support/proc.ts';

export const GOAL_RATIO = 2;

export interface StallResult {
  readonly idle: Stats;
  readonly during: Stats;
  /** Only the edits that started before A was watching (`during` counts the rest of the series too). */
  readonly beforeDone: Stats;
  /** Edits of B measured while A had not finished its initial sync. */
  readonly editsDuringSync: number;
  readonly edits: number;
  /** `kx get` status calls during A's sync: how long each took. */
  readonly statusCalls: Stats & { readonly n: number; readonly failed: number };
  /** Distinct file counts A's progress showed in `kx get` (live progress, not one jump at the end). */
  readonly progressSteps: number;
  /** A's initial sync, from its spec's appearance to watching. */
  readonly syncS: number;
  /** Peak RSS and CPU of `kx watch` and radar's container from adding A until A was watching and B's edits ended. */
  readonly usage: { readonly kx: SideUsage; readonly radar: SideUsage };
}

export async function runStallBench(
  opts: { files?: number; edits?: number; spacingMs?: number; kxCommand?: readonly string[]; say?: (line: string) => void } = {},
): Promise<StallResult> {
  const say = opts.say ?? ((line: string): void => void process.stderr.write(`bench: ${line}\n`));
  const files = opts.files ?? 50_000;
  // KX_BENCH_STALL_EDITS / KX_BENCH_STALL_SPACING_MS: more, closer edits put more samples inside A's sync (A/B runs).
  const edits = Number(process.env.KX_BENCH_STALL_EDITS ?? opts.edits ?? 30);
  const spacingMs = Number(process.env.KX_BENCH_STALL_SPACING_MS ?? opts.spacingMs ?? 300);
  const cleanup = new Cleanup();
  try {
    const work = await mkdtemp(join(tmpdir(), 'kx-stall-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const container = new BenchContainer(['/app', '/big']);
    cleanup.add(() => container.close());
    await container.start();
    const small = join(work, 'small');
    const big = join(work, 'big');
    const home = join(work, 'kx-home');
    for (const d of [small, big, home]) await mkdir(d, { recursive: true });
    writeProject(small);
    say(`stall: writing ${files} files for spec A`);
    writeManyFiles(big, files);

    const kx = new KxWatch({ local: small, remote: '/app', selector: container.label, home, ...(opts.kxCommand && { command: opts.kxCommand }) });
    cleanup.add(() => kx.close());
    // The first start may build radar's image.
    await kx.start(300_000);
    say(`stall: spec B idle, ${edits} edits ${spacingMs} ms apart`);
    const idle = await measure('kx', small, container.hostPath('/app'), edits, spacingMs);

    say(`stall: adding spec A (${files} files) and measuring spec B during its initial sync`);
    const [radarId] = await containersByLabel(kx.radarLabel);
    const radarPids = radarId ? [await containerPid(radarId)] : [];
    const kxUse = new UsageSampler(() => [kx.pid]);
    const radarUse = new UsageSampler(() => radarPids);
    cleanup.add(async () => {
      kxUse.close();
      radarUse.close();
    });
    kxUse.begin();
    radarUse.begin();
    const added = performance.now();
    await new ConfigStore(join(home, 'kx.yaml')).addSpec({ name: 'big', selector: container.label, local: big, remote: '/big', reload: 'none', ignore: [], target: 'docker' });
    const bigSpec = async (): Promise<SpecStatus | undefined> => (await kx.status()).specs.find((s) => s.name === 'big');
    while (!(await bigSpec())?.services.length) await sleep(20);

    const calls: number[] = [];
    let failed = 0;
    const steps = new Set<number>();
    let doneAt = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const t0 = performance.now();
        try {
          const row = (await kx.status()).specs.find((s) => s.name === 'big')?.services[0];
          calls.push(performance.now() - t0);
          if (row?.progress) steps.add(row.progress.files);
          if (row?.state === 'watching' && doneAt === 0) doneAt = performance.now();
        } catch {
          failed++;
        }
        await sleep(200);
      }
    })();
    const edited = performance.now();
    const during = await measure('kx', small, container.hostPath('/app'), edits, spacingMs);
    const editsEnd = performance.now();
    while (doneAt === 0) await sleep(100);
    probing = false;
    const usage = { kx: kxUse.end(), radar: radarUse.end() };
    await prober;

    // Each edit takes about spacingMs plus its latency: count those that started before A was watching.
    const perEdit = (editsEnd - edited) / during.samples.length;
    const editsDuringSync = Math.min(during.samples.length, Math.max(0, Math.floor((doneAt - edited) / perEdit)));
    const result: StallResult = {
      idle: stats(idle.samples.map((s) => s.ms)),
      during: stats(during.samples.map((s) => s.ms)),
      beforeDone: stats(during.samples.slice(0, Math.max(1, editsDuringSync)).map((s) => s.ms)),
      editsDuringSync,
      edits: during.samples.length,
      statusCalls: { ...stats(calls), n: calls.length, failed },
      progressSteps: steps.size,
      syncS: (doneAt - added) / 1000,
      usage,
    };
    printStall(result, files);
    return result;
  } finally {
    await cleanup.run();
  }
}


function printStall(r: StallResult, files: number): void {
  const ms = (n: number): string => `${n.toFixed(1)} ms`;
  const ratio = (a: number, b: number): string => `×${(a / b).toFixed(2)}`;
  console.log('');
  console.log(`stall: spec B's save → visible while spec A syncs ${files} files (A took ${r.syncS.toFixed(1)} s)`);
  console.log(`  idle                p50 ${ms(r.idle.p50)}  p95 ${ms(r.idle.p95)}  max ${ms(r.idle.max)}`);
  console.log(`  during A's sync     p50 ${ms(r.during.p50)}  p95 ${ms(r.during.p95)}  max ${ms(r.during.max)}  (${r.editsDuringSync}/${r.edits} edits before A finished)`);
  console.log(`  before A finished   p50 ${ms(r.beforeDone.p50)}  p95 ${ms(r.beforeDone.p95)}  max ${ms(r.beforeDone.max)}  (the ${r.editsDuringSync} edits that started before A was watching)`);
  const met = r.during.p50 <= GOAL_RATIO * r.idle.p50 && r.during.p95 <= GOAL_RATIO * r.idle.p95;
  console.log(`  ratio               p50 ${ratio(r.during.p50, r.idle.p50)}  p95 ${ratio(r.during.p95, r.idle.p95)}  goal ≤ ×${GOAL_RATIO}: ${met ? 'met' : 'MISSED'}`);
  console.log(`  kx get during A     ${r.statusCalls.n} calls, p50 ${ms(r.statusCalls.p50)}  max ${ms(r.statusCalls.max)}, ${r.statusCalls.failed} failed; A's progress showed ${r.progressSteps} distinct file counts`);
  console.log(`machine: ${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(1)} (1 min) at the end of the run`);
}

if (import.meta.main) {
  try {
    await runStallBench(process.argv[2] ? { files: Number(process.argv[2]) } : {});
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
