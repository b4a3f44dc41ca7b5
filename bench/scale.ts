// Scale on the test cluster: one `kx watch` holding 10 specs, first with one pod each, then with five each (50
// pods on two nodes, radar installed by `kx init`, every sync through port-forwards). Reported: the daemon's RSS
// and idle CPU at 10 and at 50 pods (and so the cost of one more pod), radar's RSS, the time the 40 new pods took
// to be synced, and a 10,000-file burst in one spec converging in all five of its pods.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NS, sleeperPod, startBenchCluster } from './cluster.ts';
import { writeManyFiles } from './dataset.ts';
import { Cleanup, writeProject } from './latency.ts';
import { KxWatch } from './peers/kx-watch.ts';
import { converged, present, type Check } from './support/converge.ts';
import { sideSamplers, type SideUsage } from './support/proc.ts';
import type { Row } from './summary.ts';

export async function runScale(opts: { quick: boolean; say: (line: string) => void }): Promise<Row[]> {
  const { say } = opts;
  const specs = opts.quick ? 2 : 10;
  const perSpec = opts.quick ? 2 : 5;
  const burstFiles = opts.quick ? 2_000 : 10_000;
  const settleMs = opts.quick ? 3_000 : 10_000;
  const cleanup = new Cleanup();
  try {
    const work = await mkdtemp(join(tmpdir(), 'kx-bench-scale-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const bc = await startBenchCluster(cleanup, { nodes: ['node-a', 'node-b'], say });
    const { cluster } = bc;
    const pod = (s: number, k: number): string => `s${s}-p${k}`;
    const startPods = async (k: number): Promise<void> => {
      for (let s = 0; s < specs; s++) await cluster.createPod(NS, sleeperPod(pod(s, k), { app: `s${s}` }, ['/app']));
      for (let s = 0; s < specs; s++) await cluster.waitForRunning(NS, pod(s, k), 300_000);
    };
    say(`scale: ${specs} pods (one per spec)`);
    await startPods(0);

    const locals: string[] = [];
    for (let s = 0; s < specs; s++) {
      const local = join(work, `spec${s}`);
      await mkdir(local);
      writeProject(local);
      locals.push(local);
    }
    const kx = new KxWatch({ local: locals[0], remote: '/app', selector: 'app=s0', home: bc.home, env: bc.env, spec: { target: 'kubernetes', namespace: NS, name: 's0' } });
    cleanup.add(() => kx.close());
    await kx.configure();
    for (let s = 1; s < specs; s++) await kx.addSpec({ name: `s${s}`, selector: `app=s${s}`, namespace: NS, local: locals[s], remote: '/app', reload: 'none', ignore: [], target: 'kubernetes' });
    const radarPids = await bc.radarPids();
    const { kxUse, radarUse } = sideSamplers(kx, () => radarPids, (c) => cleanup.add(c));
    say(`scale: kx watch with ${specs} specs`);
    await kx.start(600_000);
    // Rows appear as specs come up: wait for all of them.
    await kx.waitWatching(600_000, specs);

    /** RSS at rest, and CPU over a quiet window (the daemon holding its pods and doing nothing else). */
    const atRest = async (): Promise<{ kx: SideUsage; radar: SideUsage }> => {
      await sleep(settleMs);
      kxUse.begin();
      radarUse.begin();
      await sleep(settleMs);
      const k = kxUse.end();
      const r = radarUse.end();
      return { kx: { rssMb: k.endRssMb, cpuS: k.cpuS / (settleMs / 1000) }, radar: { rssMb: r.endRssMb, cpuS: r.cpuS / (settleMs / 1000) } };
    };
    const few = await atRest();
    say(`scale: ${specs} pods: kx ${few.kx.rssMb.toFixed(0)} MB, ${(few.kx.cpuS * 100).toFixed(1)}% CPU idle; radar ${few.radar.rssMb.toFixed(0)} MB`);

    say(`scale: ${specs * (perSpec - 1)} more pods`);
    const t0 = performance.now();
    for (let k = 1; k < perSpec; k++) await startPods(k);
    await kx.waitWatching(600_000, specs * perSpec);
    const growS = (performance.now() - t0) / 1000;
    const many = await atRest();
    const pods = specs * perSpec;
    const perPod = (many.kx.rssMb - few.kx.rssMb) / (pods - specs);
    say(`scale: ${pods} pods: kx ${many.kx.rssMb.toFixed(0)} MB (${perPod.toFixed(2)} MB a pod), ${(many.kx.cpuS * 100).toFixed(1)}% CPU idle; radar ${many.radar.rssMb.toFixed(0)} MB`);

    say(`scale: ${burstFiles.toLocaleString('en')}-file burst into spec s0 (${perSpec} pods)`);
    const dests = await Promise.all(Array.from({ length: perSpec }, (_, k) => bc.podPath(pod(0, k), '/app/burst')));
    kxUse.begin();
    radarUse.begin();
    const b0 = performance.now();
    writeManyFiles(join(locals[0], 'burst'), burstFiles);
    const checks: Check[] = [];
    for (const d of dests) for (let i = 0; i < burstFiles; i++) checks.push(present(join(d, `d${Math.floor(i / 100)}`, `f${i}.txt`)));
    const done = await converged(checks, { timeoutMs: 900_000, pollMs: 50, what: 'the burst in every pod' });
    const burstS = (done - b0) / 1000;
    const burstUse = { kx: kxUse.end(), radar: radarUse.end() };
    say(`scale: burst converged in ${burstS.toFixed(1)} s`);

    const label = `${pods} pods / ${specs} specs, one daemon`;
    const cpu = (u: SideUsage): string => `${(u.cpuS * 100).toFixed(1)}% CPU idle`;
    return [
      { case: `scale: kx watch RSS, ${specs} pods / ${specs} specs`, unit: 'MB', kx: few.kx.rssMb, goal: { kind: 'none' }, note: `${cpu(few.kx)}; radar ${few.radar.rssMb.toFixed(0)} MB` },
      { case: `scale: kx watch RSS, ${label}`, unit: 'MB', kx: many.kx.rssMb, goal: { kind: 'none' }, note: `${cpu(many.kx)}; radar ${many.radar.rssMb.toFixed(0)} MB on 2 nodes` },
      { case: 'scale: kx watch RSS per additional pod', unit: 'MB', kx: perPod, goal: { kind: 'none' }, note: `between ${specs} and ${pods} pods` },
      { case: `scale: ${pods - specs} more pods synced`, unit: 's', kx: growS, goal: { kind: 'none' }, note: 'pods created → every row watching' },
      { case: `scale: ${burstFiles.toLocaleString('en')}-file burst converged in ${perSpec} pods`, unit: 's', kx: burstS, goal: { kind: 'none' }, usage: burstUse, note: `with ${label}` },
    ];
  } finally {
    await cleanup.run();
  }
}
