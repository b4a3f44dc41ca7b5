// npm run bench: kx's engine over real gRPC on loopback beside rsync (a daemon on 127.0.0.1), same data, one run.
// Prints wall time, CPU (client + server), peak RSS and bytes on the wire for each, and the ratio kx/rsync.
// Not a test: numbers vary with the machine; CI does not run this.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SOURCE_TREE, editSmallFiles, flipByte, writeLargeFile, writeTree } from './dataset.ts';
import type { Usage } from './support/measure.ts';
import { RadarProcess } from './peers/radar.ts';
import { RsyncDaemon } from './peers/rsync.ts';
import { CountingProxy } from './proxy.ts';
import { runLatencyBench } from './latency.ts';
import { runStallBench } from './stall.ts';

interface Row {
  scenario: string;
  tool: 'kx' | 'rsync';
  wallS: number;
  cpuS: number;
  clientRssMb: number;
  serverRssMb: number;
  wireBytes: number;
}

interface Peer {
  port: number;
  start(): Promise<void>;
  push(src: string, port: number): Promise<Usage>;
  close(): Promise<Usage | undefined>;
}

const LARGE_FILE = 200 * 1024 * 1024;

async function measure(scenario: string, tool: Row['tool'], peer: Peer, src: string): Promise<Row> {
  // Flush what the previous step wrote (the generated tree, the other tool's copy), so neither tool pays for the
  // other's writeback.
  execFileSync('sync');
  await peer.start();
  const proxy = new CountingProxy(peer.port);
  await proxy.start();
  try {
    const client = await peer.push(src, proxy.port);
    const wire = proxy.take();
    const server = await peer.close();
    return {
      scenario,
      tool,
      wallS: client.wallS,
      cpuS: client.cpuS + (server?.cpuS ?? 0),
      clientRssMb: client.maxRssKb / 1024,
      serverRssMb: (server?.maxRssKb ?? 0) / 1024,
      wireBytes: wire.up + wire.down,
    };
  } finally {
    await peer.close();
    await proxy.close();
  }
}

/** The two trees must be equal after every run, or the numbers mean nothing. */
function assertSame(src: string, dest: string): void {
  try {
    execFileSync('diff', ['-rq', '--no-dereference', src, dest], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`bench: ${dest} differs from ${src} after the run: ${String((err as { stdout?: Buffer }).stdout ?? err).trim()}`, { cause: err });
  }
}

const fmtBytes = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

function print(rows: readonly Row[]): void {
  const head = ['scenario', 'tool', 'wall', 'CPU', 'RSS client', 'RSS server', 'wire'];
  const body = rows.map((r) => [r.scenario, r.tool, `${r.wallS.toFixed(2)} s`, `${r.cpuS.toFixed(2)} s`, `${r.clientRssMb.toFixed(0)} MiB`, `${r.serverRssMb.toFixed(0)} MiB`, fmtBytes(r.wireBytes)]);
  const ratios: string[][] = [];
  for (const scenario of new Set(rows.map((r) => r.scenario))) {
    const kx = rows.find((r) => r.scenario === scenario && r.tool === 'kx');
    const rs = rows.find((r) => r.scenario === scenario && r.tool === 'rsync');
    if (!kx || !rs) continue;
    const q = (a: number, b: number): string => (b > 0 ? `×${(a / b).toFixed(2)}` : '-');
    ratios.push([scenario, 'kx/rsync', q(kx.wallS, rs.wallS), q(kx.cpuS, rs.cpuS), q(kx.clientRssMb, rs.clientRssMb), q(kx.serverRssMb, rs.serverRssMb), q(kx.wireBytes, rs.wireBytes)]);
  }
  const all = [head, ...body, ...ratios];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const r of body) console.log(line(r));
  console.log('');
  for (const r of ratios) console.log(line(r));
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kx-bench-'));
  const rows: Row[] = [];
  try {
    const src = join(work, 'src');
    const dests = { kx: join(work, 'dest-kx'), rsync: join(work, 'dest-rsync') };
    await Promise.all([mkdir(src), mkdir(dests.kx), mkdir(dests.rsync)]);
    const peers = (): Record<Row['tool'], Peer> => ({
      kx: new RadarProcess(dests.kx, work),
      rsync: new RsyncDaemon(dests.rsync, work),
    });

    const tree = await writeTree(src, SOURCE_TREE, 42);
    const initial = `initial sync: ${tree.files} files, ${fmtBytes(tree.bytes)}`;
    console.error(`bench: ${initial}`);
    for (const [tool, peer] of Object.entries(peers()) as [Row['tool'], Peer][]) {
      rows.push(await measure(initial, tool, peer, src));
      assertSame(src, dests[tool]);
    }

    await editSmallFiles(src, SOURCE_TREE, 1_000, 7);
    const edits = '1,000 small files changed';
    console.error(`bench: ${edits}`);
    for (const [tool, peer] of Object.entries(peers()) as [Row['tool'], Peer][]) {
      rows.push(await measure(edits, tool, peer, src));
      assertSame(src, dests[tool]);
    }

    // The large file lives in a tree of its own, so the scenario measures that file and nothing else.
    const bigSrc = join(work, 'big');
    await mkdir(bigSrc);
    await writeLargeFile(join(bigSrc, 'big.bin'), LARGE_FILE, 9);
    for (const d of Object.values(dests)) {
      await rm(d, { recursive: true, force: true });
      execFileSync('cp', ['-a', bigSrc, d]);
    }
    await flipByte(join(bigSrc, 'big.bin'), LARGE_FILE / 2);
    // Same size and, within one second, the same mtime: rsync's quick check would skip the file. Move mtime on.
    const later = new Date(Date.now() + 5_000);
    await utimes(join(bigSrc, 'big.bin'), later, later);
    const big = '1 byte changed in a 200 MiB file';
    console.error(`bench: ${big}`);
    for (const [tool, peer] of Object.entries(peers()) as [Row['tool'], Peer][]) {
      rows.push(await measure(big, tool, peer, bigSrc));
      assertSame(bigSrc, dests[tool]);
    }
    print(rows);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
await runLatencyBench();
await runStallBench();
// radar's fuzz test (test/radar/fuzz.test.ts), for longer than CI gives it: KX_BENCH_FUZZ_MS, default 2 min.
const fuzzMs = process.env.KX_BENCH_FUZZ_MS ?? '120000';
console.error(`bench: fuzzing radar's RPCs for ${Number(fuzzMs) / 1000} s`);
execFileSync('npx', ['vitest', 'run', 'test/radar/fuzz.test.ts'], { stdio: 'inherit', env: { ...process.env, KX_FUZZ_MS: fuzzMs } });
