// Coalesces file events into batches. The first event after a quiet spell is sent at once (on the next turn of the
// event loop, with whatever else that turn reported); the events that follow it within QUIET_MS of each other form
// the next batch, which closes after QUIET_MS without events (REMOVAL_QUIET_MS once a removal is in it; or MAX_WAIT_MS
// after its first event, so a steady stream still flows).
//
// Why leading-edge: every millisecond of waiting is latency on each save, and test/local/measure-save-gaps.ts shows
// most saves need no waiting. It replays editors' save patterns against kx's watcher (tree-watch.ts) on Linux: each
// save's events (1 for a truncate-then-write, 3 for write-temp-then-rename, 4 for vim's backup-rename: the temp or
// backup path's too) come within p95 0.9 ms, max 1.5 ms of each other on an idle 2-core machine (the watcher holds a
// truncated-to-empty file's event until its data lands; chokidar 6, before it, gave gaps up to 5.5 ms). An async
// save split across batches costs an extra batch, never a wrong file: content is read when a batch is sent, so the
// last batch carries the final content, and reloads and onSync are coalesced separately (pkg/lifecycle/coalescer.ts, 50 ms),
// so they run once, after it. Events that come while a batch is in flight wait in the Folder for the next one.
//
// A removal is never sent at once: it is often the first step of a save (vim renames the file away, then writes
// it anew), and sending it alone would make the file vanish in the container until the next batch (a path the
// container does not hold, such as an editor's temp file renamed into place, is no removal here), and it waits
// REMOVAL_QUIET_MS, so such a save still lands as one batch. That also keeps a bulk delete (rm -r, git checkout) in
// whole batches, which the bulk-delete halt judges.
//
// Why 2 ms within a burst: the smallest whole delay above the largest gap measured within one save (1.5 ms). It is
// what the last file of a save waits: an editor's temp file is often reported (and sent) before the rename that
// puts it in place, and the renamed file then waits the window. A gap longer than it (a loaded machine) costs an
// extra batch. A split save with a removal in it would make the file vanish in the container until the next batch,
// so a window with a removal in it is 6 ms, above the largest gap measured with chokidar (5.5 ms), as all windows
// were before.
//
// A long burst (a git checkout writing a thousand files) is not held for the whole window: once BURST_PATHS paths
// without a removal are waiting, they go at once, so the sync starts on them while the rest of the burst is still
// being written (the Folder merges whatever arrives meanwhile into its next batch). No save has that many paths,
// and a burst with a removal in it still waits, whole, for the bulk-delete halt to judge.

import type { RelPath } from '../sync/types.ts';

export const QUIET_MS = 2;
export const REMOVAL_QUIET_MS = 6;
export const MAX_WAIT_MS = 100;
/** Paths of a burst (none of them removals) that go without waiting for its window to close. */
export const BURST_PATHS = 64;

export interface Batch {
  readonly paths: readonly RelPath[];
  /** performance.now() of the batch's first event: the start of its save-to-landed latency. */
  readonly firstEventAt: number;
}

export interface BatcherTiming {
  /** Default QUIET_MS. */
  readonly quietMs?: number;
  /** The window once a removal waits in it; default REMOVAL_QUIET_MS, never below quietMs. */
  readonly removalQuietMs?: number;
  /** Default MAX_WAIT_MS. */
  readonly maxWaitMs?: number;
  /** Send the first event of a burst at once (default true); false waits QUIET_MS for every batch. */
  readonly leading?: boolean;
  /** Default BURST_PATHS. */
  readonly burstPaths?: number;
}

export class EventBatcher {
  private readonly flush: (batch: Batch) => void;
  private readonly quietMs: number;
  private readonly removalQuietMs: number;
  private readonly maxWaitMs: number;
  private readonly leading: boolean;
  private readonly burstPaths: number;
  private paths = new Set<RelPath>();
  /** A removal is among the paths waiting: they wait for the window, whole. */
  private removals = false;
  private firstEventAt = 0;
  /** Armed while a burst lasts: fires its window after its last event. */
  private quietTimer: NodeJS.Timeout | undefined;
  /** The window quietTimer was armed with. */
  private armedMs = 0;
  private maxTimer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(flush: (batch: Batch) => void, opts: BatcherTiming = {}) {
    this.flush = flush;
    this.quietMs = opts.quietMs ?? QUIET_MS;
    this.removalQuietMs = Math.max(this.quietMs, opts.removalQuietMs ?? REMOVAL_QUIET_MS);
    this.maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_MS;
    this.leading = opts.leading ?? true;
    this.burstPaths = opts.burstPaths ?? BURST_PATHS;
  }

  /** `removal`: the event says the path is gone (unlink, unlinkDir). */
  add(path: RelPath, removal = false): void {
    const burstStarts = this.quietTimer === undefined;
    if (this.paths.size === 0) {
      this.firstEventAt = performance.now();
      this.maxTimer = setTimeout(() => this.emit(), this.maxWaitMs);
    }
    this.paths.add(path);
    if (removal) this.removals = true;
    if (burstStarts && this.leading && !removal) this.immediate ??= setImmediate(() => this.emit());
    // Moved on by each event of a burst: re-armed in place (a burst is thousands of events; a timer each costs),
    // anew only when the window changes (a removal came, or the batch with one went).
    const windowMs = this.removals ? this.removalQuietMs : this.quietMs;
    if (this.quietTimer !== undefined && this.armedMs === windowMs) this.quietTimer.refresh();
    else {
      clearTimeout(this.quietTimer);
      this.armedMs = windowMs;
      this.quietTimer = setTimeout(() => {
        this.quietTimer = undefined;
        this.emit();
      }, windowMs);
    }
    // The burst goes on (its quiet timer stays armed, so its next event is not a leading one).
    if (!this.removals && this.paths.size >= this.burstPaths) this.emit();
  }

  /** Drop what is pending without emitting it. */
  close(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    clearImmediate(this.immediate);
    this.quietTimer = undefined;
    this.maxTimer = undefined;
    this.immediate = undefined;
    this.paths = new Set();
    this.removals = false;
  }

  private emit(): void {
    clearTimeout(this.maxTimer);
    clearImmediate(this.immediate);
    this.maxTimer = undefined;
    this.immediate = undefined;
    if (this.paths.size === 0) return;
    const batch: Batch = { paths: [...this.paths], firstEventAt: this.firstEventAt };
    this.paths = new Set();
    this.removals = false;
    this.flush(batch);
  }
}
