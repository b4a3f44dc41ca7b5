// rsync from Debian as a daemon on 127.0.0.1: the reference every kx number is divided by.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measured, run, type Measured, type Usage } from '../measure.ts';
import { freePort, waitForPort } from '../net.ts';

export class RsyncDaemon {
  readonly #dest: string;
  readonly #work: string;
  #proc: Measured | undefined;
  port = 0;

  constructor(dest: string, work: string) {
    this.#dest = dest;
    this.#work = work;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const conf = join(this.#work, 'rsyncd.conf');
    await writeFile(
      conf,
      [
        `port = ${this.port}`,
        'address = 127.0.0.1',
        'use chroot = no',
        `pid file = ${join(this.#work, 'rsyncd.pid')}`,
        `log file = ${join(this.#work, 'rsyncd.log')}`,
        '[bench]',
        `  path = ${this.#dest}`,
        '  read only = no',
        '  uid = root',
        '  gid = root',
        '',
      ].join('\n'),
    );
    this.#proc = measured('rsync', ['--daemon', '--no-detach', `--config=${conf}`]);
    await waitForPort(this.port);
  }

  /** One client run: push src into the daemon's module through `port` (a counting proxy in front of the daemon). */
  push(src: string, port: number): Promise<Usage> {
    return run('rsync', ['-a', '--delete', `${src}/`, `rsync://127.0.0.1:${port}/bench/`]);
  }

  /** Stops the daemon; its usage covers the per-connection children it forked and waited for. */
  async close(): Promise<Usage | undefined> {
    if (!this.#proc) return undefined;
    this.#proc.kill('SIGTERM');
    const u = await this.#proc.done;
    this.#proc = undefined;
    return u;
  }
}
