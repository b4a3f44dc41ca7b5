// One side's run in a paired A/B of `kx watch`'s initial sync (bench/ab-initial.ts, bench/ab-startup.ts): the tree
// synced into an empty directory of a fresh container, timed from `kx watch` starting to every row watching, with the
// CPU kx and radar spent meanwhile (radar: the container the side's kx home leaves running, or the one this run
// starts). Everything the run made is removed after it, except the side's radar (its home's, for the next run).
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RADAR_STATE_FILE } from '../cmd/composition/docker-radar.ts';
import { BenchContainer } from './bench-container.ts';
import { KxWatch, type StartupPhases } from './peers/kx-watch.ts';
import { assertSame } from './throughput.ts';
import { UsageSampler, containerPid, containersByLabel } from './support/proc.ts';

export interface SideRunOptions {
  readonly src: string;
  /** An empty directory is made here and mounted at /app of the run's container. */
  readonly dest: string;
  readonly home: string;
  /** The kx command: node, its flags, the entry. */
  readonly command: readonly string[];
  /** KX_RADAR_IMAGE for the side. */
  readonly image: string;
  /** Give the radar the home left running a moment to be found before the clock starts. */
  readonly warm: boolean;
  /** Started once `kx watch` is spawned; the function it returns is called when the run ends (samplers of its own). */
  readonly during?: (kx: KxWatch) => () => void;
  /** Once every row is watching, wait this long and read kx's RSS then (at rest: the sync worker retired, the heap handed back). */
  readonly restMs?: number;
}

export interface SideRun {
  /** `kx watch` spawned → every row watching, seconds. */
  readonly totalS: number;
  readonly phases: StartupPhases | undefined;
  readonly kxCpuS: number;
  readonly radarCpuS: number;
  /** The daemon's log. */
  readonly log: string;
  /** kx's RSS restMs after watching (MB), when restMs was given. */
  readonly restRssMb?: number;
}

export async function runSide(opts: SideRunOptions): Promise<SideRun> {
  await mkdir(opts.dest);
  const container = new BenchContainer([], [[opts.dest, '/app']]);
  await container.start();
  const kx = new KxWatch({ local: opts.src, remote: '/app', selector: container.label, home: opts.home, command: [...opts.command], env: { KX_RADAR_IMAGE: opts.image } });
  const radarPids: number[] = [];
  const kxUse = new UsageSampler(() => (kx.pid ? [kx.pid] : []));
  const radarUse = new UsageSampler(() => radarPids);
  let looking = true;
  const findRadar = (async () => {
    while (looking && radarPids.length === 0) {
      const [id] = await containersByLabel(kx.radarLabel).catch(() => []);
      const pid = id ? await containerPid(id).catch(() => 0) : 0;
      if (pid > 0) radarPids.push(pid);
      else await new Promise((done) => setTimeout(done, 20));
    }
  })();
  let stopDuring: (() => void) | undefined;
  try {
    execFileSync('sync');
    if (opts.warm) await Promise.race([findRadar, new Promise((done) => setTimeout(done, 2000))]);
    kxUse.begin();
    radarUse.begin();
    const started = kx.start(300_000);
    stopDuring = opts.during?.(kx);
    const spawned = await started;
    const watchingAt = performance.now();
    const kxCpuS = kxUse.end().cpuS;
    const radarCpuS = radarUse.end().cpuS;
    // the run's own samplers see what kx spent up to the same moment
    stopDuring?.();
    stopDuring = undefined;
    const phases = await kx.startupPhases(spawned, watchingAt);
    assertSame(opts.src, opts.dest);
    let restRssMb: number | undefined;
    if (opts.restMs !== undefined) {
      await new Promise((done) => setTimeout(done, Math.max(0, opts.restMs! - (performance.now() - watchingAt))));
      restRssMb = kxUse.now().rssMb;
    }
    return { totalS: (watchingAt - spawned) / 1000, phases, kxCpuS, radarCpuS, log: await readFile(kx.log, 'utf8'), ...(restRssMb !== undefined && { restRssMb }) };
  } finally {
    looking = false;
    stopDuring?.();
    await findRadar;
    kxUse.close();
    radarUse.close();
    await kx.close();
    await container.close();
    await rm(opts.dest, { recursive: true, force: true });
  }
}

/** Removes every radar container of a kx home (cold runs, and at the end). */
export function removeRadars(home: string): void {
  // The label value is the digest of the home (pkg/docker/radar-container.ts homeHash); by the list, not by name.
  const label = new KxWatch({ local: '', remote: '', selector: '', home }).radarLabel;
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
}

/** How long the engine takes to tear a removed container down after answering (unmounts, cgroup, shim). */
const SETTLE_MS = 1500;

/**
 * Before a cold run: the home's radar containers removed, no record of a radar left running that may be adopted (as
 * after radar's idle exit or `kx clean --docker`), and the engine's teardown of them over before the run's time starts.
 */
export async function resetCold(home: string): Promise<void> {
  removeRadars(home);
  await rm(join(home, RADAR_STATE_FILE), { force: true });
  await new Promise((done) => setTimeout(done, SETTLE_MS));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
