// An rsync daemon on 127.0.0.1 whose one module is a directory inside a container, reached through
// /proc/<pid>/root. `use chroot = yes` matters: rsync 3.5 resolves the symlinks of a destination path itself, and
// /proc/<pid>/root (a kernel "magic link") read that way leads to the host's /, not the container's; chroot(2)
// lets the kernel follow it instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, waitForPort } from '../support/net.ts';
import { writeRsyncdConf } from './rsync.ts';

export class RsyncModule {
  readonly #dir: string;
  readonly #work: string;
  #proc: ChildProcess | undefined;
  #closing: Promise<void> | null = null;
  port = 0;

  /** `dir`: the module's directory (e.g. /proc/<pid>/root/app2); `work`: where its config and log go. */
  constructor(dir: string, work: string) {
    this.#dir = dir;
    this.#work = work;
  }

  get pid(): number {
    return this.#proc?.pid ?? 0;
  }

  /** rsync's URL of the module's root. */
  get url(): string {
    return `rsync://127.0.0.1:${this.port}/bench/`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const conf = await writeRsyncdConf(this.#work, this.port, this.#dir, { chroot: true });
    const proc = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`], { stdio: 'ignore' });
    this.#proc = proc;
    await Promise.race([
      waitForPort(this.port),
      new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`rsync daemon exited ${code}; see ${join(this.#work, 'rsyncd.log')}`)))),
    ]);
  }

  close(): Promise<void> {
    this.#closing ??= stopChild(this.#proc);
    return this.#closing;
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the child is gone. */
export function stopChild(proc: ChildProcess | undefined, graceMs = 5_000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
