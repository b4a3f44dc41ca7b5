// The first initial sync against a radar just started, beside the same sync against the same radar once it has
// served one: what a cold radar (its code not yet optimized, its heap and thread pool not yet grown) adds, radar
// alone. A directory-mode radar of radar's staged image application (radar/image/stage.ts: the bundle radar's image
// runs) as a host process, fed over gRPC on loopback by kx's engine in this process, which is warmed first against
// a radar of its own so that only radar differs between the two syncs measured.
//   node bench/radar-cold.ts APP_DIR [--rounds N] [--quick] [--dir DIR] [--prof DIR] [--pause MS] [--node=FLAG...]
// APP_DIR: a staged application (node radar/image/stage.ts . APP_DIR); its compile cache is made in
// APP_DIR/.compile-cache by a first start, as the image build does. Each round prints radar's CPU (user+system, by
// thread) and the wall time of the cold sync and of the warm one (into an emptied destination, after --pause ms
// idle, 3000 by default: the placement thread retires after 2 s, as between two `kx watch` runs).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RADAR_COMMAND } from '../proto/radar-pod.ts';
import { createHasher } from '../pkg/sync/hash.ts';
import { syncTree } from '../pkg/sync/push.ts';
import { RadarClient } from '../pkg/transport/client.ts';
import { QUICK_TREE, SOURCE_TREE, writeTree } from './dataset.ts';
import { threadsCpuByName } from './support/proc.ts';
import { listeningAddress } from './support/host-radar.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
    dir: { type: 'string', default: tmpdir() },
    prof: { type: 'string' },
    pause: { type: 'string', default: '3000' },
    out: { type: 'string' },
    node: { type: 'string', multiple: true, default: [] },
  },
});
const [appArg] = positionals;
if (!appArg) throw new Error('usage: node bench/radar-cold.ts APP_DIR [--rounds N] [--quick] [--dir DIR] [--prof DIR] [--pause MS] [--node=FLAG...]');
const app = resolve(appArg);
const shape = values.quick ? QUICK_TREE : SOURCE_TREE;
// radar's own flags, as its container runs it (the compile cache is keyed by them).
const radarFlags = RADAR_COMMAND.slice(1, -1);
const base = await mkdtemp(join(values.dir, 'kx-radar-cold-'));
const hasher = await createHasher();

interface Radar {
  readonly proc: ChildProcess;
  readonly client: RadarClient;
  readonly pid: number;
  close(): Promise<void>;
}

async function startRadar(root: string, prof: boolean): Promise<Radar> {
  const token = randomBytes(16).toString('hex');
  const args = [...radarFlags, ...(prof && values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`] : []), ...values.node, join(app, 'dist', 'radar.mjs'), '--root', root, '--listen', '127.0.0.1:0'];
  const proc = spawn(process.execPath, args, { cwd: app, env: { ...process.env, KX_TOKEN: token, NODE_COMPILE_CACHE: join(app, '.compile-cache') }, stdio: ['ignore', 'pipe', 'pipe'] });
  const address = await listeningAddress(proc, values.out ? (d) => appendFileSync(values.out!, d) : undefined);
  const client = new RadarClient({ address, token, target: { containerId: '' }, clientName: 'kx-bench', compress: false });
  await client.handshake();
  return {
    proc,
    client,
    pid: proc.pid ?? 0,
    close: async () => {
      await client.close();
      proc.kill('SIGTERM');
      await new Promise((done) => proc.once('close', done));
    },
  };
}

async function sync(radar: Radar, src: string, dst: string, label = ''): Promise<string> {
  if (values.out && label) appendFileSync(values.out, `--- ${label}\n`);
  const before = await threads(radar.pid);
  const t = performance.now();
  const r = await syncTree({ root: src, receiver: radar.client, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
  const wall = (performance.now() - t) / 1000;
  const after = await threads(radar.pid);
  if (r.errors.length > 0) throw new Error(`${r.errors.length} errors: ${r.errors[0]?.message}`);
  const names = [...new Set([...before.keys(), ...after.keys()])];
  const used = names.map((n) => [n, (after.get(n) ?? 0) - (before.get(n) ?? 0)] as const).filter(([, s]) => s > 0.004);
  const total = [...after.values()].reduce((a, b) => a + b, 0) - [...before.values()].reduce((a, b) => a + b, 0);
  await rm(dst, { recursive: true, force: true });
  await mkdir(dst);
  return `${r.ops} ops ${wall.toFixed(2)} s, radar CPU ${total.toFixed(2)} s (live threads: ${used.map(([n, s]) => `${n} ${s.toFixed(2)}`).join(', ')})`;
}

try {
  const src = join(base, 'src');
  const dst = join(base, 'dst');
  await mkdir(src);
  await mkdir(dst);
  await writeTree(src, shape, 42);
  // The compile cache as the image has it, and this process's engine warmed, against a radar of their own.
  const warmer = await startRadar(dst, false);
  await sync(warmer, src, dst);
  await sync(warmer, src, dst);
  await warmer.close();
  for (let round = 0; round < Number(values.rounds); round++) {
    const radar = await startRadar(dst, true);
    try {
      const startCpu = await threads(radar.pid);
      const cold = await sync(radar, src, dst, `round ${round} cold`);
      await new Promise((done) => setTimeout(done, Number(values.pause)));
      const warm = await sync(radar, src, dst, `round ${round} warm`);
      process.stdout.write(`round ${round}: radar's start ${sum(startCpu).toFixed(2)} s CPU\n  cold: ${cold}\n  warm: ${warm}\n`);
    } finally {
      await radar.close();
    }
  }
} finally {
  await rm(base, { recursive: true, force: true });
}

function sum(m: Map<string, number>): number {
  return [...m.values()].reduce((a, b) => a + b, 0);
}

/** CPU seconds of a process's live threads by name, and of its ended ones (as "ended"). */
async function threads(pid: number): Promise<Map<string, number>> {
  const by = threadsCpuByName([pid]);
  const live = sum(by);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const all = (Number(f[11]) + Number(f[12])) / 100;
  if (all - live > 0) by.set('ended', all - live);
  return by;
}
