// npm run bench [-- --quick] [--only a,b] [--soak MINUTES]: every case the performance goals name, measured in one
// run — kx beside rsync and lsyncd where they do the same job, kx/best, the goal and whether this run met it, and
// RSS/CPU of kx's client and radar. Progress goes to stderr; the report (markdown) to stdout and to
// bench/results/latest.md. Not a test: numbers vary with the machine and its load; CI does not run this.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { runCluster } from './cluster.ts';
import { runEngine } from './engine.ts';
import { runMemory, runSoak } from './memory.ts';
import { runScale } from './scale.ts';
import { runThroughput } from './throughput.ts';
import { TARGET, runLatencyBench, stats } from './latency.ts';
import { CASES, EXTRA_CASES, USAGE, parseBenchArgs, type BenchOptions, type CaseName } from './options.ts';
import { runStallBench } from './stall.ts';
import { report, type Row } from './summary.ts';
import { installKx } from './support/installed-kx.ts';
import { ensureRadarImage } from './support/radar-image.ts';
import { openWorkFs } from './support/work-fs.ts';

const started = performance.now();
const say = (line: string): void => {
  const s = Math.round((performance.now() - started) / 1000);
  process.stderr.write(`bench [${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}]: ${line}\n`);
};

/** What a case adds to the report's first lines (where its files lived, say). */
type Runner = (opts: BenchOptions, context: string[]) => Promise<Row[]>;

const RUNNERS: Record<CaseName, Runner> = {
  throughput: async (o, context) => {
    const fs = openWorkFs(say);
    try {
      return await runThroughput({ quick: o.quick, say, dir: fs.dir });
    } finally {
      fs.close();
      context.push(`throughput: ${fs.description}.`);
    }
  },
  latency: async (o) => {
    const results = await runLatencyBench({ edits: o.quick ? 20 : 60, spacingMs: 300, say });
    const of = (tool: string) => stats(results.find((r) => r.tool === tool)?.samples.map((s) => s.ms) ?? []);
    const kx = of('kx');
    const ls = of('lsyncd');
    const usage = results.find((r) => r.tool === 'kx')?.usage;
    return [
      { case: 'save → visible p50, Docker target', unit: 'ms', kx: kx.p50, lsyncd: ls.p50, goal: { kind: 'at-most', max: TARGET.p50Ms }, ...(usage && { usage }) },
      { case: 'save → visible p95, Docker target', unit: 'ms', kx: kx.p95, lsyncd: ls.p95, goal: { kind: 'at-most', max: TARGET.p95Ms } },
    ];
  },
  stall: async (o) => {
    const files = o.quick ? 5_000 : 50_000;
    const r = await runStallBench({ files, edits: o.quick ? 15 : 30, ...(o.quick && { spacingMs: 150 }), say });
    const note = `spec A: ${files.toLocaleString('en')} files, ${r.syncS.toFixed(1)} s; idle p50 ${r.idle.p50.toFixed(1)} / p95 ${r.idle.p95.toFixed(1)} ms`;
    return [
      { case: "spec B's save → visible p50 during spec A's initial sync", unit: 'ms', kx: r.during.p50, goal: { kind: 'at-most', max: 2 * r.idle.p50 }, usage: r.usage, note },
      { case: "spec B's save → visible p95 during spec A's initial sync", unit: 'ms', kx: r.during.p95, goal: { kind: 'at-most', max: 2 * r.idle.p95 } },
    ];
  },
  cluster: (o) => runCluster({ quick: o.quick, say }),
  memory: (o) => runMemory({ quick: o.quick, say }),
  scale: (o) => runScale({ quick: o.quick, say }),
  fuzz: async (o) => {
    // radar's fuzz test (test/radar/fuzz.test.ts), for longer than CI gives it: KX_BENCH_FUZZ_MS, default 2 min.
    const ms = process.env.KX_BENCH_FUZZ_MS ?? (o.quick ? '10000' : '120000');
    say(`fuzz: radar's RPCs for ${Number(ms) / 1000} s`);
    execFileSync('npx', ['vitest', 'run', 'test/radar/fuzz.test.ts'], { stdio: ['ignore', process.stderr, 'inherit'], env: { ...process.env, KX_FUZZ_MS: ms } });
    return [];
  },
  engine: (o) => runEngine({ quick: o.quick, say }),
  soak: (o) => runSoak({ minutes: o.soakMinutes, ...(o.quick && { files: 10_000 }), say }),
};

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2), join(import.meta.dirname, 'results', 'latest.md'));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (opts.list) {
    process.stdout.write(`${CASES.join('\n')}\n${EXTRA_CASES.map((c) => `${c} (only when named)`).join('\n')}\n`);
    return 0;
  }
  const loadAtStart = loadavg()[0];
  say(`cases: ${opts.cases.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  if (opts.cases.some((c) => c !== 'engine' && c !== 'fuzz')) await ensureRadarImage(say);
  // kx watch as users run it (the installed package), unless KX_BENCH_KX names another entry ('checkout': cmd/kx.ts).
  const installed = process.env.KX_BENCH_KX === undefined && opts.cases.some((c) => c !== 'engine' && c !== 'fuzz') ? await installKx(say) : undefined;
  if (installed) process.env.KX_BENCH_KX = installed.entry;
  // Each case's kx watch takes its radar container with it when it stops (none left running for 10 minutes beside
  // the next case); the throughput case leaves one on purpose for its second initial sync.
  process.env.KX_RADAR_LINGER ??= '0';
  const rows: Row[] = [];
  const notes: string[] = [];
  const context: string[] = [];
  const failed = await runCases(opts, rows, notes, context);
  if (installed) rmSync(installed.prefix, { recursive: true, force: true });
  const minutes = (performance.now() - started) / 60_000;
  const text = report({
    title: `npm run bench${opts.quick ? ' --quick' : ''}${opts.cases.length < CASES.length ? ` (${opts.cases.join(', ')})` : ''}`,
    context: [
      `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${gitCommit()}, Node ${process.version}; ${availableParallelism()} CPUs, ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; the run took ${minutes.toFixed(1)} min.`,
      ...context,
      'kx/best: kx over the better of rsync and lsyncd (ratio goals); absolute goals compare kx\'s own value. Numbers vary with the machine and its load.',
    ],
    rows,
    notes,
  });
  process.stdout.write(`\n${text}`);
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, text);
  say(`report written to ${opts.out}`);
  return failed > 0 ? 1 : 0;
}

/** Runs each case in turn, collecting its rows (a case that fails leaves a note); returns how many failed. */
async function runCases(opts: BenchOptions, rows: Row[], notes: string[], context: string[]): Promise<number> {
  let failed = 0;
  for (const name of opts.cases) {
    const t0 = performance.now();
    say(`${name}: start`);
    try {
      rows.push(...(await RUNNERS[name](opts, context)));
      say(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      failed++;
      const msg = (err as Error).message.split('\n')[0];
      notes.push(`case ${name} FAILED: ${msg}`);
      say(`${name}: FAILED: ${(err as Error).stack ?? msg}`);
    }
  }
  return failed;
}

process.exitCode = await main();
