// Coalesces file events into batches. A batch closes after QUIET_MS without events (or MAX_WAIT_MS after its first
// event, so a steady stream still flows).
//
// Why 6 ms: test/local/measure-save-gaps.ts replays editors' save patterns against chokidar 6 on Linux. Synchronous
// saves (write-temp-then-rename, truncate-then-write, vim's backup-rename) arrive as ONE event; async ones
// (each step its own event-loop turn) arrive as 1–3 events with gaps of p50 0.9 ms, p95 3.7 ms, max 5.5 ms on an
// idle 2-core machine. 6 ms is the smallest whole delay above that max; every millisecond of it is latency on each
// save (bench/latency.ts: 10 ms gave p50 13 ms save→visible, 5 ms gave 9 ms). A save split by a stalled machine costs only
// an extra batch: content is read when the batch is sent, and reloads are coalesced separately (pkg/lifecycle/coalescer.ts).

import type { RelPath } from '../sync/types.ts';

export const QUIET_MS = 6;
export const MAX_WAIT_MS = 100;

export interface Batch {
  readonly paths: readonly RelPath[];
  /** performance.now() of the batch's first event: the start of its save-to-landed latency. */
  readonly firstEventAt: number;
}

export class EventBatcher {
  private readonly flush: (batch: Batch) => void;
  private readonly quietMs: number;
  private readonly maxWaitMs: number;
  private paths = new Set<RelPath>();
  private firstEventAt = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(flush: (batch: Batch) => void, opts: { quietMs?: number; maxWaitMs?: number } = {}) {
    this.flush = flush;
    this.quietMs = opts.quietMs ?? QUIET_MS;
    this.maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_MS;
  }

  add(path: RelPath): void {
    if (this.paths.size === 0) {
      this.firstEventAt = performance.now();
      this.maxTimer = setTimeout(() => this.emit(), this.maxWaitMs);
    }
    this.paths.add(path);
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.emit(), this.quietMs);
  }

  /** Drop what is pending without emitting it. */
  close(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.paths = new Set();
  }

  private emit(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    if (this.paths.size === 0) return;
    const batch: Batch = { paths: [...this.paths], firstEventAt: this.firstEventAt };
    this.paths = new Set();
    this.flush(batch);
  }
}
