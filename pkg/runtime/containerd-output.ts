// The files containerd's shim writes an exec'd process's stdout and stderr into, read by radar as they grow and
// handed to the sink. A process writing past the hard limit is killed: the files are on radar's disk.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecSink } from './exec.ts';

/** Bytes one stream may write to its file before the process is killed (radar forwards far less; see LIMITS). */
export const EXEC_FILE_LIMIT = 64 * 1024 * 1024;
const POLL_MS = 50;
const CHUNK = 64 * 1024;

export class ContainerdOutputFiles {
  readonly #dir: string;
  readonly #sink: ExecSink;
  readonly #offsets = { stdout: 0, stderr: 0 };
  #closed = false;

  private constructor(dir: string, sink: ExecSink) {
    this.#dir = dir;
    this.#sink = sink;
  }

  static async create(parent: string, sink: ExecSink): Promise<ContainerdOutputFiles> {
    const dir = await mkdtemp(join(parent, 'kx-exec-'));
    // Made here, empty, so a read never races the shim creating them.
    for (const name of ['stdout', 'stderr']) await (await open(join(dir, name), 'wx', 0o600)).close();
    return new ContainerdOutputFiles(dir, sink);
  }

  /**
   * The path for the shim, which opens it in the node's mount namespace: radar's file through radar's root. A plain
   * path to an existing regular file, not a `file://` URI: for that scheme the shim writes both streams into one file
   * and closes it when stdout ends, so stderr written after that instant is lost (about one command in thirty here).
   * A plain path is opened per stream (the shim falls back from a FIFO to a regular file that exists).
   */
  path(which: 'stdout' | 'stderr'): string {
    return `/proc/${process.pid}/root${join(this.#dir, which)}`;
  }

  /** Reads new output every few ms until the returned function is called (which reads what is left). */
  follow(onRunaway: () => void): () => Promise<void> {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const tick = (): void => {
      running = this.#drain(onRunaway).finally(() => {
        if (!stopped) timer = setTimeout(tick, POLL_MS);
      });
    };
    tick();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      await this.#drain(onRunaway);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #drain(onRunaway: () => void): Promise<void> {
    for (const which of ['stdout', 'stderr'] as const) {
      let fh: FileHandle;
      try {
        fh = await open(join(this.#dir, which), 'r');
      } catch {
        continue;
      }
      try {
        const buf = Buffer.allocUnsafe(CHUNK);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, CHUNK, this.#offsets[which]);
          if (bytesRead === 0) break;
          this.#offsets[which] += bytesRead;
          this.#sink[which](Buffer.from(buf.subarray(0, bytesRead)));
          if (this.#offsets[which] > EXEC_FILE_LIMIT) {
            onRunaway();
            break;
          }
        }
      } finally {
        await fh.close();
      }
    }
  }
}
