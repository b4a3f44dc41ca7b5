// When a radar that kx leaves running on the Docker engine (so the next `kx watch` of that kx home starts at once)
// has served no one for a while, it exits by itself: "no one" is no established TCP connection to its port, read
// from the kernel's socket table of radar's network namespace (/proc/net/tcp, tcp6), so a client that holds a
// connection open without a call in flight still counts, and nothing in the gRPC server has to keep score.
import { readFile } from 'node:fs/promises';

export interface IdleExitOptions {
  /** The port radar listens on. */
  readonly port: number;
  /** How long with no connection before onIdle. */
  readonly idleMs: number;
  readonly onIdle: () => void;
  /** How many connections to `port` are established now; default: the kernel's socket table. */
  readonly connections?: (port: number) => Promise<number>;
  /** How often to look; default a tenth of idleMs, between 1 and 10 s. */
  readonly pollMs?: number;
}

export class IdleExit {
  readonly #opts: IdleExitOptions;
  #timer: NodeJS.Timeout | undefined;
  #idleSince: number | undefined;
  #closed = false;

  constructor(opts: IdleExitOptions) {
    this.#opts = opts;
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#idleSince = Date.now();
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const poll = this.#opts.pollMs ?? Math.min(10_000, Math.max(1_000, Math.floor(this.#opts.idleMs / 10)));
    this.#timer = setTimeout(() => void this.#check(), poll);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const count = await (this.#opts.connections ?? establishedConnections)(this.#opts.port).catch(() => 1);
    if (this.#closed) return;
    const now = Date.now();
    if (count > 0) this.#idleSince = undefined;
    else this.#idleSince ??= now;
    if (this.#idleSince !== undefined && now - this.#idleSince >= this.#opts.idleMs) {
      this.close();
      this.#opts.onIdle();
      return;
    }
    this.#schedule();
  }
}

/** Established connections whose local port is `port`, in the kernel's tables of this network namespace. */
export async function establishedConnections(port: number): Promise<number> {
  const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  return tables.reduce((n, t) => n + establishedOn(port, t), 0);
}

/** Counts the rows of a /proc/net/tcp table in state ESTABLISHED (01) with local port `port`. */
export function establishedOn(port: number, table: string): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const line of table.split('\n').slice(1)) {
    // "  0: 0100007F:1B9D 0100007F:D2F0 01 ...": local address:port, remote address:port, state.
    const [, local, , state] = line.trim().split(/\s+/);
    if (state === '01' && local?.endsWith(`:${hex}`)) n++;
  }
  return n;
}
