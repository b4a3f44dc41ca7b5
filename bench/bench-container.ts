// A busybox container for the latency benchmark: its synced directories are tmpfs mounts of their own, read and
// written from the host through /proc/<pid>/root (no `docker exec` on the measured path: that costs 50–100 ms).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const IMAGE = 'kx-test-busybox:1';

export class BenchContainer {
  readonly name = `kx-bench-${randomBytes(4).toString('hex')}`;
  /** The label the container carries, `key=value`, for a kx spec's selector (its own, unless given one to share). */
  readonly label: string;
  readonly #mounts: readonly string[];
  #pid = 0;
  #closing: Promise<void> | null = null;

  readonly #binds: readonly (readonly [host: string, inContainer: string])[];

  /** `mounts`: absolute directories in the container, each a tmpfs of its own; `binds`: host directories mounted in. */
  constructor(mounts: readonly string[], binds: readonly (readonly [host: string, inContainer: string])[] = [], label?: string) {
    this.#mounts = mounts;
    this.#binds = binds;
    this.label = label ?? `kx.bench=${this.name}`;
  }

  /** The container's main process on the host. */
  get pid(): number {
    return this.#pid;
  }

  async start(): Promise<void> {
    await run('docker', ['image', 'inspect', IMAGE]).catch(() => {
      throw new Error(`image ${IMAGE} missing: build it with: bash test/setup/host.sh`);
    });
    const tmpfs = this.#mounts.flatMap((m) => ['--tmpfs', m]);
    const binds = this.#binds.flatMap(([host, path]) => ['-v', `${host}:${path}`]);
    await run('docker', ['run', '-d', '--name', this.name, '--label', this.label, ...tmpfs, ...binds, IMAGE, 'sleep', '7200']);
    const { stdout } = await run('docker', ['inspect', '-f', '{{.State.Pid}}', this.name]);
    this.#pid = Number(stdout.trim());
    if (!(this.#pid > 0)) throw new Error(`container ${this.name}: no pid (${stdout.trim()})`);
  }

  /** The host's view of a path inside the container. */
  hostPath(inContainer: string): string {
    return join(`/proc/${this.#pid}/root`, inContainer);
  }

  close(): Promise<void> {
    this.#closing ??= run('docker', ['rm', '-f', this.name]).then(
      () => {},
      () => {},
    );
    return this.#closing;
  }
}
