// kx's receiving side for the benchmark: radar serving a directory, as its own measured process.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measured, run, stopMeasured, type Measured, type Usage } from '../support/measure.ts';
import { freePort, waitForPort } from '../support/net.ts';

const repo = join(import.meta.dirname, '..', '..');

export class RadarProcess {
  readonly #dest: string;
  readonly #work: string;
  readonly token = randomBytes(16).toString('hex');
  #proc: Measured | undefined;
  port = 0;

  constructor(dest: string, work: string) {
    this.#dest = dest;
    this.#work = work;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const tokenFile = join(this.#work, 'radar.token');
    await writeFile(tokenFile, this.token, { mode: 0o600 });
    this.#proc = measured(process.execPath, [join(repo, 'radar/main.ts'), '--root', this.#dest, '--listen', `127.0.0.1:${this.port}`, '--token-file', tokenFile]);
    await waitForPort(this.port);
  }

  push(src: string, port: number): Promise<Usage & { stdout: string }> {
    return run(process.execPath, [join(repo, 'bench/kx-push.ts'), '--root', src, '--address', `127.0.0.1:${port}`, '--token', this.token]);
  }

  async close(): Promise<Usage | undefined> {
    const proc = this.#proc;
    this.#proc = undefined;
    return stopMeasured(proc);
  }
}
