// One daemon per kx home, and how commands find it: `kx watch` holds daemon.lock (its pid, created exclusively)
// and, once its status server listens, publishes daemon.json (pid, port, config file, version), written whole by
// a rename. A lock whose pid is gone is taken over. `kx get` and `kx doctor` read daemon.json, so they find the
// daemon even when kx.yaml is broken or names another port.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KxError } from '../sync/errors.ts';

export const LOCK_FILE = 'daemon.lock';
export const STATE_FILE = 'daemon.json';

/** What daemon.json says about the running daemon. */
export interface DaemonState {
  readonly pid: number;
  /** Status port on 127.0.0.1. */
  readonly port: number;
  readonly home: string;
  readonly configFile: string;
  readonly version: string;
  /** Epoch ms. */
  readonly startedAt: number;
  /** processIdentity(pid) when it was written. */
  readonly process?: string;
}

export type LockResult =
  | { readonly held: true; readonly lock: HomeLock }
  | { readonly held: false; readonly pid: number; readonly state: DaemonState | null };

/** Takes the home's lock for this process, or tells who holds it (pid, and its state once published). */
export async function lockHome(home: string, pid = process.pid): Promise<LockResult> {
  await mkdir(home, { recursive: true });
  const path = join(home, LOCK_FILE);
  // Two rounds at most: the second after removing a lock left by a process that is gone.
  for (let round = 0; round < 2; round++) {
    try {
      const file = await open(path, 'wx', 0o644);
      await file.writeFile(`${pid} ${processIdentity(pid)}\n`);
      await file.close();
      return { held: true, lock: new HomeLock(home, pid) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(path, err);
    }
    const seen = await readFile(path, 'utf8').catch(() => '');
    const [holder, identity] = parseLock(seen);
    if (holder > 0 && isRunning(holder, identity)) {
      return { held: false, pid: holder, state: await readDaemonState(home) };
    }
    // Stale (or torn while its writer died): take it over. Renamed aside first and checked: if another process
    // took it over in between, what was moved is that process's fresh lock, and it goes back.
    const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
    if (!(await rename(path, aside).then(() => true, () => false))) continue;
    if ((await readFile(aside, 'utf8').catch(() => seen)) !== seen) await link(aside, path).catch(() => {});
    await rm(aside, { force: true });
  }
  const [holder] = parseLock(await readFile(path, 'utf8').catch(() => ''));
  return { held: false, pid: holder, state: await readDaemonState(home) };
}

/** daemon.json of the home, or null when there is none (or it belongs to a process that is gone). */
export async function readDaemonState(home: string): Promise<DaemonState | null> {
  let text: string;
  try {
    text = await readFile(join(home, STATE_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const s = JSON.parse(text) as DaemonState;
    if (!Number.isInteger(s.pid) || !Number.isInteger(s.port)) return null;
    return isRunning(s.pid, s.process) ? s : null;
  } catch {
    return null;
  }
}

/**
 * Which process a pid is: boot id and start time (Linux), so that a pid reused after the daemon died, or after a
 * reboot, is not taken for the daemon. '' where that cannot be told.
 */
export function processIdentity(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22, starttime
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}:${start}`;
  } catch {
    return '';
  }
}

/** Whether pid runs and, when identity is known on both sides, is the same process as when it was recorded. */
export function isRunning(pid: number, identity: string | undefined): boolean {
  if (!isAlive(pid)) return false;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === '' || now === identity;
}

/** A lock file's `pid identity` line. */
function parseLock(text: string): [number, string | undefined] {
  const [pid, identity] = text.trim().split(/\s+/);
  const n = Number(pid);
  return [Number.isInteger(n) && n > 0 ? n : 0, identity];
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** The lock held by this process: publishes the state, and removes both files on release. */
export class HomeLock {
  readonly home: string;
  private readonly pid: number;
  private released: Promise<void> | null = null;

  constructor(home: string, pid: number) {
    this.home = home;
    this.pid = pid;
  }

  /** Writes daemon.json whole (temp file, then rename), so a reader never sees half of it. */
  async publish(state: Omit<DaemonState, 'pid' | 'home'>): Promise<void> {
    const path = join(this.home, STATE_FILE);
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const full: DaemonState = { pid: this.pid, home: this.home, ...state, process: processIdentity(this.pid) };
    await writeFile(tmp, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, path);
  }

  /** Removes daemon.json, then the lock (only if still this process's). Idempotent. */
  release(): Promise<void> {
    this.released ??= (async () => {
      const state = await readFile(join(this.home, STATE_FILE), 'utf8').catch(() => '');
      if (state.includes(`"pid": ${this.pid},`)) await rm(join(this.home, STATE_FILE), { force: true });
      const lock = await readFile(join(this.home, LOCK_FILE), 'utf8').catch(() => '');
      if (parseLock(lock)[0] === this.pid) await rm(join(this.home, LOCK_FILE), { force: true });
    })();
    return this.released;
  }
}

function lockError(path: string, err: unknown): KxError {
  return new KxError(ErrorCode.Io, `${path}: ${(err as Error).message}`, { cause: err });
}
