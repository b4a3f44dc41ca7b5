// RSS and CPU of running processes (and their descendants) read from /proc, sampled while a case runs: `kx watch`,
// radar's container, a test cluster's radar pods. Peak RSS is the largest sum seen at a sample.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** RSS and CPU of one side during a case. */
export interface SideUsage {
  readonly rssMb: number;
  readonly cpuS: number;
}
/** USER_HZ: /proc/<pid>/stat counts CPU in ticks of 1/100 s on Linux. */
const TICKS_PER_S = 100;

/** A process and every descendant that is alive now. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    out.push(p);
    let tasks: string[];
    try {
      tasks = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return;
    }
    for (const child of tasks) visit(Number(child));
  };
  visit(pid);
  return out;
}

/** RSS (MB) and CPU (s, user + system of the process and its waited-for children) of one process; undefined when gone. */
export function readProcess(pid: number): SideUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at state: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { rssMb: rssKb / 1024, cpuS: ticks / TICKS_PER_S };
  } catch {
    return undefined;
  }
}

/** One thread of a process as /proc shows it: its id, name (comm) and CPU so far. */
export interface ThreadUsage {
  readonly tid: string;
  readonly name: string;
  /** user + system, seconds */
  readonly cpuS: number;
  readonly sysS: number;
}

/** The live threads of `pid` (none when it is gone); a thread that ends while they are read is left out. */
export function readThreads(pid: number): ThreadUsage[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadUsage[] = [];
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const sysS = Number(f[12]) / TICKS_PER_S;
    out.push({ tid, name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpuS: Number(f[11]) / TICKS_PER_S + sysS, sysS });
  }
  return out;
}

/** CPU seconds of the live threads of the given processes, summed by thread name (V8's workers, libuv's pool, …). */
export function threadsCpuByName(pids: readonly number[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const pid of pids) for (const t of readThreads(pid)) by.set(t.name, (by.get(t.name) ?? 0) + t.cpuS);
  return by;
}

/** Sum over a process tree. */
export function readTree(pid: number): SideUsage {
  let rssMb = 0;
  let cpuS = 0;
  for (const p of processTree(pid)) {
    const u = readProcess(p);
    if (!u) continue;
    rssMb += u.rssMb;
    cpuS += u.cpuS;
  }
  return { rssMb, cpuS };
}

/** The main process of a running container on the local engine. */
export async function containerPid(id: string): Promise<number> {
  const { stdout } = await run('docker', ['inspect', '-f', '{{.State.Pid}}', id]);
  const pid = Number(stdout.trim());
  if (!(pid > 0)) throw new Error(`container ${id} is not running`);
  return pid;
}

/** The IDs of running containers with a label (`key=value`). */
export async function containersByLabel(label: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-q', '--no-trunc', '--filter', `label=${label}`]);
  return stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

/**
 * Samples a set of process trees every `intervalMs` (the set is asked again at every sample: containers come and
 * go). begin() starts a window; end() returns the window's peak RSS and the CPU spent in it.
 */
export class UsageSampler {
  readonly #pids: () => readonly number[];
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #peak = 0;
  #cpuAtBegin = 0;
  #last: SideUsage = { rssMb: 0, cpuS: 0 };

  constructor(pids: () => readonly number[], intervalMs = 100) {
    this.#pids = pids;
    this.#intervalMs = intervalMs;
  }

  /** What the processes hold now. */
  now(): SideUsage {
    let rssMb = 0;
    let cpuS = 0;
    for (const pid of this.#pids()) {
      const u = readTree(pid);
      rssMb += u.rssMb;
      cpuS += u.cpuS;
    }
    this.#last = { rssMb, cpuS };
    this.#peak = Math.max(this.#peak, rssMb);
    return this.#last;
  }

  begin(): void {
    this.#cpuAtBegin = this.now().cpuS;
    this.#peak = this.#last.rssMb;
    this.#timer ??= setInterval(() => this.now(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Peak RSS since begin() and CPU spent since begin(). */
  end(): SideUsage & { readonly endRssMb: number } {
    const u = this.now();
    return { rssMb: this.#peak, cpuS: u.cpuS - this.#cpuAtBegin, endRssMb: u.rssMb };
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * A sampler for `kx watch` and one for radar's processes, both closed through `onClose`: every case reports the
 * two sides.
 */
export function sideSamplers(kx: { readonly pid?: number | undefined }, radarPids: () => readonly number[], onClose: (close: () => Promise<void>) => void): { kxUse: UsageSampler; radarUse: UsageSampler } {
  const kxUse = new UsageSampler(() => (kx.pid ? [kx.pid] : []));
  const radarUse = new UsageSampler(radarPids);
  onClose(async () => {
    kxUse.close();
    radarUse.close();
  });
  return { kxUse, radarUse };
}
