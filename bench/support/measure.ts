// Runs processes under GNU time so that wall time, CPU and peak RSS are read the same way for kx and its peers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Usage {
  wallS: number;
  cpuS: number;
  maxRssKb: number;
}

export interface Measured {
  child: ChildProcess;
  /** Signal the measured program itself (GNU time passes nothing on: signalling it would lose the usage). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the process ends, with its usage (including its waited-for children). */
  done: Promise<Usage & { code: number | null; stdout: string; stderr: string }>;
}

export function measured(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Measured {
  const out = join(mkdtempSync(join(tmpdir(), 'kx-bench-time-')), 'usage');
  const child = spawn('/usr/bin/time', ['-o', out, '-f', '%e %U %S %M', cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Usage & { code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const text = readFileSync(out, 'utf8').trim().split('\n').pop() ?? '';
      const [e, u, s, m] = text.split(' ').map(Number);
      resolve({ wallS: e ?? NaN, cpuS: (u ?? NaN) + (s ?? NaN), maxRssKb: m ?? NaN, code, stdout, stderr });
    });
  });
  const kill = (signal: NodeJS.Signals): void => {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of kids) process.kill(Number(pid), signal);
  };
  return { child, kill, done };
}

export async function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = await measured(cmd, args, opts).done;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/** SIGTERM a measured server and wait for its usage; undefined when it was not running. */
export async function stopMeasured(proc: Measured | undefined): Promise<Usage | undefined> {
  if (!proc) return undefined;
  proc.kill('SIGTERM');
  return proc.done;
}
