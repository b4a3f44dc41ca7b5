// rsync from Debian as a daemon on 127.0.0.1: the reference every kx number is divided by.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measured, run, stopMeasured, type Measured, type Usage } from '../support/measure.ts';
import { freePort, waitForPort } from '../support/net.ts';
import { CountingProxy } from '../support/proxy.ts';

/** An rsyncd.conf in `work` for one writable module `bench` at `path`, listening on 127.0.0.1:port only. */
export async function writeRsyncdConf(work: string, port: number, path: string, opts: { chroot: boolean }): Promise<string> {
  const conf = join(work, 'rsyncd.conf');
  const lines = [
    `port = ${port}`,
    'address = 127.0.0.1',
    `use chroot = ${opts.chroot ? 'yes' : 'no'}`,
    `pid file = ${join(work, 'rsyncd.pid')}`,
    `log file = ${join(work, 'rsyncd.log')}`,
    '[bench]',
    `  path = ${path}`,
    '  read only = no',
    '  uid = root',
    '  gid = root',
    '',
  ];
  await writeFile(conf, lines.join('\n'));
  return conf;
}

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
    const conf = await writeRsyncdConf(this.#work, this.port, this.#dest, { chroot: false });
    this.#proc = measured('rsync', ['--daemon', '--no-detach', `--config=${conf}`]);
    await waitForPort(this.port);
  }

  /** One client run: push src into the daemon's module through `port` (a counting proxy in front of the daemon). */
  push(src: string, port: number): Promise<Usage> {
    return run('rsync', ['-a', '--delete', `${src}/`, `rsync://127.0.0.1:${port}/bench/`]);
  }

  /** Stops the daemon; its usage covers the per-connection children it forked and waited for. */
  async close(): Promise<Usage | undefined> {
    const proc = this.#proc;
    this.#proc = undefined;
    return stopMeasured(proc);
  }
}

/** One rsync client run into a fresh daemon, through a counting proxy: the client's and the daemon's usage, the wire. */
export async function rsyncOnce(src: string, dest: string, work: string): Promise<{ client: Usage; server: Usage | undefined; wireBytes: number }> {
  const daemon = new RsyncDaemon(dest, work);
  await daemon.start();
  const proxy = new CountingProxy(daemon.port);
  await proxy.start();
  try {
    const client = await daemon.push(src, proxy.port);
    const wire = proxy.take();
    const server = await daemon.close();
    return { client, server, wireBytes: wire.up + wire.down };
  } finally {
    await daemon.close();
    await proxy.close();
  }
}
