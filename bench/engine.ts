// The engine alone, with nothing of the daemon: one fresh kx client process pushing a tree to one fresh radar
// process over gRPC on loopback, beside one rsync client run against its daemon, both through a counting proxy.
// Opt-in (`--only engine`): the throughput case measures what users run; this one isolates the protocol.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUICK_TREE, SOURCE_TREE, editSmallFiles, flipByte, writeLargeFile, writeTree } from './dataset.ts';
import { RadarProcess } from './peers/radar.ts';
import { RsyncDaemon } from './peers/rsync.ts';
import { CountingProxy } from './support/proxy.ts';
import type { Usage } from './support/measure.ts';
import { formatBytes, type Row } from './summary.ts';
import { assertSame } from './throughput.ts';

interface Peer {
  port: number;
  start(): Promise<void>;
  push(src: string, port: number): Promise<Usage>;
  close(): Promise<Usage | undefined>;
}

interface Measured {
  readonly client: Usage;
  readonly server: Usage | undefined;
  readonly wireBytes: number;
}

async function measure(peer: Peer, src: string): Promise<Measured> {
  execFileSync('sync');
  await peer.start();
  const proxy = new CountingProxy(peer.port);
  await proxy.start();
  try {
    const client = await peer.push(src, proxy.port);
    const wire = proxy.take();
    const server = await peer.close();
    return { client, server, wireBytes: wire.up + wire.down };
  } finally {
    await peer.close();
    await proxy.close();
  }
}

export async function runEngine(opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  const shape = opts.quick ? QUICK_TREE : SOURCE_TREE;
  const largeFile = (opts.quick ? 50 : 200) * 1024 * 1024;
  const work = await mkdtemp(join(tmpdir(), 'kx-bench-'));
  const rows: Row[] = [];
  try {
    const src = join(work, 'src');
    const dests = { kx: join(work, 'dest-kx'), rsync: join(work, 'dest-rsync') };
    await Promise.all([mkdir(src), mkdir(dests.kx), mkdir(dests.rsync)]);
    const both = async (name: string, from: string): Promise<void> => {
      opts.say(`engine: ${name}`);
      const kx = await measure(new RadarProcess(dests.kx, work), from);
      assertSame(from, dests.kx);
      const rs = await measure(new RsyncDaemon(dests.rsync, work), from);
      assertSame(from, dests.rsync);
      const side = (u: Usage | undefined) => (u ? { rssMb: u.maxRssKb / 1024, cpuS: u.cpuS } : undefined);
      const usage = { kx: side(kx.client), radar: side(kx.server), peer: side(rs.client), peerServer: side(rs.server) };
      rows.push({ case: `engine: ${name}`, unit: 's', kx: kx.client.wallS, rsync: rs.client.wallS, goal: { kind: 'none' }, usage: Object.fromEntries(Object.entries(usage).filter(([, v]) => v)) });
      rows.push({ case: `engine: ${name}, bytes on the wire`, unit: 'bytes', kx: kx.wireBytes, rsync: rs.wireBytes, goal: { kind: 'none' } });
    };
    const tree = await writeTree(src, shape, 42);
    await both(`initial sync, ${tree.files} files, ${formatBytes(tree.bytes)}`, src);
    await editSmallFiles(src, shape, 1_000, 7);
    await both('1,000 small files changed', src);

    // The large file lives in a tree of its own, so the step measures that file and nothing else.
    const bigSrc = join(work, 'big');
    await mkdir(bigSrc);
    await writeLargeFile(join(bigSrc, 'big.bin'), largeFile, 9);
    for (const d of Object.values(dests)) {
      await rm(d, { recursive: true, force: true });
      execFileSync('cp', ['-a', bigSrc, d]);
    }
    await flipByte(join(bigSrc, 'big.bin'), largeFile / 2);
    const later = new Date(Date.now() + 5_000);
    await utimes(join(bigSrc, 'big.bin'), later, later);
    await both(`1 byte changed in a ${formatBytes(largeFile)} file`, bigSrc);
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
