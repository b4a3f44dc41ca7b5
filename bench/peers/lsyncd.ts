// lsyncd from Debian (inotify + rsync) as the latency peer, with its delay as low as it goes: `delay = 0` (the
// default is 15 s; lsyncd 2.2.3 accepts 0 and then runs rsync at its next loop turn after an event).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './rsync-module.ts';

/** The bench installs its own peers: Debian's lsyncd, through apt, when it is not on this machine. */
export function ensureLsyncd(): void {
  if (spawnSync('sh', ['-c', 'command -v lsyncd'], { stdio: 'ignore' }).status === 0) return;
  process.stderr.write('bench: installing lsyncd (apt)\n');
  const root = process.getuid?.() === 0;
  const apt = (args: string[]): void => {
    const cmd = root ? 'env' : 'sudo';
    const r = spawnSync(cmd, [...(root ? [] : ['-n', 'env']), 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status})`);
  };
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', 'lsyncd']);
}

export class Lsyncd {
  readonly #source: string;
  readonly #target: string;
  readonly #work: string;
  #proc: ChildProcess | undefined;
  #closing: Promise<void> | null = null;

  /** `source`: local directory; `target`: an rsync destination (here an rsync:// URL); `work`: config and log. */
  constructor(source: string, target: string, work: string) {
    this.#source = source;
    this.#target = target;
    this.#work = work;
  }

  get pid(): number {
    return this.#proc?.pid ?? 0;
  }

  get log(): string {
    return join(this.#work, 'lsyncd.log');
  }

  /** Starts lsyncd and resolves once its startup rsync of the whole tree finished (it watches from then on). */
  async start(timeoutMs = 30_000): Promise<void> {
    const conf = join(this.#work, 'lsyncd.lua');
    const lua = (s: string): string => JSON.stringify(s);
    await writeFile(
      conf,
      [
        `settings { nodaemon = true, logfile = ${lua(this.log)}, insist = false }`,
        `sync { default.rsync, source = ${lua(`${this.#source}/`)}, target = ${lua(this.#target)}, delay = 0,`,
        '  rsync = { archive = true } }',
        '',
      ].join('\n'),
    );
    const proc = spawn('lsyncd', ['-nodaemon', conf], { stdio: 'ignore' });
    this.#proc = proc;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`lsyncd exited ${proc.exitCode}; see ${this.log}`);
      const text = await readFile(this.log, 'utf8').catch(() => '');
      // "Startup of '…' finished." ends the initial rsync; lsyncd handles inotify events from there.
      if (/Startup of .* finished/.test(text)) return;
      if (Date.now() > deadline) throw new Error(`lsyncd did not finish its startup sync within ${timeoutMs} ms; see ${this.log}`);
      await sleep(20);
    }
  }

  close(): Promise<void> {
    this.#closing ??= stopChild(this.#proc);
    return this.#closing;
  }
}
