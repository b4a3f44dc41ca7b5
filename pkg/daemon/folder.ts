// One local folder kept in sync with one connected target: an initial sync (manifest diff, with progress), then
// continuous sync of the watcher's events in coalesced batches, each followed by a reload per the spec's mode.

import { basename } from 'node:path';
import { DEFAULT_SAFETY, type SafetySettings, type SpecConfig } from '../config/types.ts';
import { ErrorCode, isKxError } from '../sync/errors.ts';
import type { Hasher } from '../sync/hash.ts';
import { IGNORE_FILE_NAMES } from '../sync/ignore.ts';
import { sameContent } from '../sync/diff.ts';
import type { PushResult } from '../sync/push.ts';
import { ManifestTable, compactManifest } from '../sync/manifest-table.ts';
import type { Manifest, RelPath } from '../sync/types.ts';
import type { AncestorRecord } from './ancestor-store.ts';
import type { Batch } from './batcher.ts';
import { batchLine } from './batch-line.ts';
import { LocalWatcher, specRules, type LocalWatcherEvents, type SharedWatchers } from './local-watcher.ts';
import type { Logger } from './logger.ts';
import { Coalescer } from '../lifecycle/coalescer.ts';
import { OnSyncRunner } from './on-sync.ts';
import { SafetyLedger, rootProblem } from './safety-ledger.ts';
import type { FolderState, ServiceStatus, SyncProgress } from './status.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { Connection, Target } from './target.ts';
import { Backoff } from '../lifecycle/backoff.ts';

export interface FolderDeps {
  readonly spec: SpecConfig;
  readonly target: Target;
  readonly connection: Connection;
  readonly engine: SyncEngine;
  readonly hasher: Hasher;
  readonly log: Logger;
  /** Called whenever status() would return something new. */
  readonly onChange: () => void;
  /** Where this container's ancestor (what kx synced there) is kept across restarts; default: memory only. */
  readonly ancestors?: AncestorRecord;
  /** Bulk-delete halt thresholds (kx.yaml's safety). */
  readonly safety?: SafetySettings;
  /** Whether the user paused the spec (a folder made while paused starts paused). */
  readonly isPaused?: () => boolean;
  /** progressLogMs: how often a long full sync logs how far it got (default 2 s; 0 = at every progress report). */
  /** rootPollMs: how often a halted folder looks whether its local root is back (default 1 s). */
  readonly timing?: FolderTiming;
  /** The folder's watcher, started before the connection was (watchAhead()); the folder owns it from here. */
  readonly ahead?: WatchAhead;
  /** Where the folders of the daemon share one watcher per local tree (default: a watcher of its own). */
  readonly watchers?: SharedWatchers;
}

export type FolderTiming = { quietMs?: number; maxWaitMs?: number; reloadWindowMs?: number; retryMs?: number; progressLogMs?: number; rootPollMs?: number };

/**
 * A folder's watcher started before its target is connected, so that the watcher's walk of the local tree (its
 * inotify watch on each directory) overlaps radar's start and the connection instead of delaying the initial sync after it.
 * Events before a Folder adopts it are dropped: that folder's first full sync scans the tree after they happened.
 * A watcher error is kept and reported to the folder that adopts it. close() when no folder took it.
 */
export class WatchAhead {
  readonly watcher: LocalWatcher;
  /** Resolves with how long the watcher took to walk the tree (ms); never rejects. */
  readonly ready: Promise<number>;
  #events: LocalWatcherEvents | undefined;
  /** A watcher error before a folder adopted it. */
  #error: string | undefined;
  /** Why the watcher did not start: the adopting folder's start fails with it, as its own start of one would. */
  #startError: Error | undefined;

  constructor(spec: SpecConfig, timing: FolderTiming = {}, watchers?: SharedWatchers) {
    this.watcher = new LocalWatcher(
      spec,
      {
        batch: (b) => this.#events?.batch(b),
        error: (m) => (this.#events ? this.#events.error(m) : (this.#error ??= m)),
        removalMatters: (rel) => this.#events?.removalMatters?.(rel) ?? true,
      },
      timing,
      watchers,
    );
    const started = performance.now();
    this.ready = this.watcher.start().then(
      () => performance.now() - started,
      (err: unknown) => {
        this.#startError = err instanceof Error ? err : new Error(String(err));
        return performance.now() - started;
      },
    );
  }

  /**
   * From now on its events go to `events`; resolves once the watcher is ready (an earlier watcher error is reported
   * then), rejects when it could not start.
   */
  async adopt(events: LocalWatcherEvents): Promise<void> {
    this.#events = events;
    await this.ready;
    if (this.#startError !== undefined) throw this.#startError;
    if (this.#error !== undefined) events.error(this.#error);
  }

  close(): Promise<void> {
    return this.watcher.close();
  }
}

/** Why a folder does not sync: the user paused it, its local root is gone or empty, or a batch would delete too much. */
interface Halt {
  readonly kind: 'paused' | 'root' | 'delete';
  readonly reason: string;
}

export class Folder {
  private readonly deps: FolderDeps;
  private readonly abort = new AbortController();
  /** After batches land: their onSync commands, then the reload (one coalescing policy, shared with radar). */
  private readonly reloads: Coalescer<readonly RelPath[], void>;
  private readonly onSync: OnSyncRunner | undefined;
  private watcher: LocalWatcher | null = null;
  /** A watcher started ahead (deps.ahead), until the folder's start adopts it. */
  private ahead: WatchAhead | undefined;
  private phase: 'starting' | 'initial-sync' | 'watching' | 'reconnecting' | 'error' = 'starting';
  private halt: Halt | undefined;
  /** The next full sync may delete past the limits and overwrite conflicts: the user said so (kx resume --confirm). */
  private confirmed = false;
  /** What kx has synced into this container; undefined until loaded, or when it never synced it. */
  private ancestor: Manifest | undefined;
  private readonly ledger: SafetyLedger;
  private rootTimer: NodeJS.Timeout | undefined;
  /** The watcher was closed because the local root went away; it is made afresh when the root is back. */
  private rootLost = false;
  /** When the link to the target went away (performance.now()), to report the time to resume. */
  private downSince: number | undefined;
  private syncing = false;
  private reloading = false;
  private progress: SyncProgress | undefined;
  private local: Manifest | undefined;
  /** Files in `local`, counted when status asks after a batch landed (not per save: the tree may be large). */
  private files: number | undefined;
  private remote: Manifest | undefined;
  private pending = new Set<RelPath>();
  private pendingSince = 0;
  private needFullSync = true;
  private lastSyncAt: number | undefined;
  private latencyMs: number | undefined;
  private reloadCount = 0;
  private lastError: string | undefined;
  private readonly retries: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | null = null;
  private started: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(deps: FolderDeps) {
    this.deps = deps;
    this.ahead = deps.ahead;
    this.reloads = new Coalescer((batches) => this.afterBatches(batches.flat()), {
      ...(deps.timing?.reloadWindowMs !== undefined && { windowMs: deps.timing.reloadWindowMs }),
      what: `reload of ${deps.target.name}`,
    });
    this.onSync = deps.spec.onSync?.length
      ? new OnSyncRunner({ commands: deps.spec.onSync, connection: deps.connection, log: deps.log, who: `${deps.spec.name}/${deps.target.name}` })
      : undefined;
    this.retries = new Backoff({ baseMs: deps.timing?.retryMs ?? 500, maxMs: 10_000 });
    this.ledger = new SafetyLedger(`${deps.spec.name} → ${deps.target.name}`, deps.spec.name, deps.log);
  }

  /** Starts watching and the initial sync; resolves once the watcher is ready (the sync goes on in the background). */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  status(): ServiceStatus {
    return {
      targetId: this.deps.target.id,
      target: this.deps.target.name,
      state: this.state(),
      ...(this.progress && this.phase === 'initial-sync' && { progress: this.progress }),
      files: this.fileCount(),
      ...(this.lastSyncAt !== undefined && { lastSyncAt: this.lastSyncAt }),
      ...(this.latencyMs !== undefined && { latencyMs: this.latencyMs }),
      reloads: this.reloadCount,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      ...(this.halt !== undefined && { haltReason: this.halt.reason }),
      ...this.ledger.status(),
      ...(this.onSync?.failure() && { onSyncFailure: this.onSync.failure() }),
    };
  }

  /** Stop syncing until resume(); local events are remembered and covered by a full sync then. */
  pause(): void {
    if (this.halt?.kind === 'paused') return;
    this.setHalt({ kind: 'paused', reason: 'paused by the user (kx resume to continue)' });
  }

  /**
   * Clear a pause or halt and sync again with a full sync. confirm: that sync may delete past the limits and replace
   * conflicting container files with the local ones (once). A root still missing halts again.
   */
  resume(confirm: boolean): void {
    if (confirm) this.confirmed = true;
    this.halt = undefined;
    this.stopRootPoll();
    if (this.rootLost) {
      void this.rewatch().catch((err: unknown) => this.fail((err as Error).message));
      return;
    }
    this.needFullSync = true;
    this.deps.log.info(`${this.deps.spec.name} → ${this.deps.target.name}: resumed${confirm ? ' (deletions and overwrites confirmed)' : ''}`);
    this.deps.onChange();
    this.kick();
  }

  /** Resolves when nothing is pending: no batch queued or syncing, no reload waiting. For tests and the demo. */
  async idle(): Promise<void> {
    for (;;) {
      await this.loop;
      await this.reloads.idle();
      if (!this.loop && this.pending.size === 0 && !this.needFullSync) return;
      if (this.phase === 'error' || this.phase === 'reconnecting') return;
      // A halted or paused folder waits for its root or the user, not for work.
      if (this.halt !== undefined && !this.loop) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * For `kx flush`: a rescan of the whole tree (so a save the watcher has not reported yet is included), then
   * idle(). A folder that is down (error, reconnecting) is left as it is; its status says so.
   */
  async flush(): Promise<void> {
    if (this.phase === 'watching') {
      this.needFullSync = true;
      this.kick();
    }
    await this.idle();
  }

  private fileCount(): number {
    if (this.local === undefined) return 0;
    this.files ??= countFiles(this.local);
    return this.files;
  }

  private state(): FolderState {
    if (this.halt !== undefined) return this.halt.kind === 'paused' ? 'paused' : 'halted';
    if (this.phase !== 'watching') return this.phase;
    if (this.syncing) return 'syncing';
    if (this.reloading) return 'reloading';
    return 'watching';
  }

  private async doStart(): Promise<void> {
    this.ancestor = await this.deps.ancestors?.load();
    if (this.deps.isPaused?.()) this.halt = { kind: 'paused', reason: 'paused by the user (kx resume to continue)' };
    const problem = rootProblem(this.deps.spec.local);
    if (problem !== null) {
      await this.dropAhead();
      this.haltOnRoot(problem);
      return;
    }
    await this.startWatcher(this.deps.watchers);
    this.kick();
  }

  private async startWatcher(shared: SharedWatchers | undefined): Promise<void> {
    const events: LocalWatcherEvents = {
      batch: (b) => this.onBatch(b),
      error: (m) => this.fail(m),
      // Only what the container is known to hold can be deleted there; before the first sync, anything may be.
      removalMatters: (rel) => this.remote === undefined || this.remote.has(rel),
    };
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead) {
      this.watcher = ahead.watcher;
      await ahead.adopt(events);
      return;
    }
    const watcher = new LocalWatcher(this.deps.spec, events, this.deps.timing ?? {}, shared);
    this.watcher = watcher;
    await watcher.start();
  }

  /** The local root is back: watch it afresh (the old watcher may follow the moved folder) and sync it in full. */
  private async rewatch(): Promise<void> {
    await this.watcher?.close();
    this.watcher = null;
    if (this.abort.signal.aborted) return;
    this.rootLost = false;
    // A watcher of its own: a shared one may still follow the folder that was moved away.
    await this.startWatcher(undefined);
    if (this.abort.signal.aborted) return;
    this.needFullSync = true;
    this.deps.log.info(`${this.deps.spec.name} → ${this.deps.target.name}: local folder ${this.deps.spec.local} is back; syncing`);
    this.deps.onChange();
    this.kick();
  }

  private async doClose(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.retryTimer);
    this.stopRootPoll();
    await this.started?.catch(() => {});
    await this.dropAhead();
    await this.watcher?.close();
    await this.loop;
    await this.reloads.close();
    if (this.ancestor !== undefined) this.deps.ancestors?.save(this.ancestor);
    await this.deps.ancestors?.close();
  }

  /** A watcher started ahead that this folder will not use (its root is gone, or it closes before starting). */
  private async dropAhead(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = undefined;
    await ahead?.close();
  }

  private onBatch(batch: Batch): void {
    if (this.pending.size === 0) this.pendingSince = batch.firstEventAt;
    for (const p of batch.paths) {
      this.pending.add(p);
      // A changed ignore file changes what is synced anywhere beneath it: rescan everything.
      if (IGNORE_FILE_NAMES.includes(basename(p))) this.needFullSync = true;
    }
    // Halted by a bulk delete: a local change may make the plan safe again (files restored); look again.
    if (this.halt?.kind === 'delete') this.needFullSync = true;
    this.kick();
  }

  /** Run the sync loop unless it is running (it picks up whatever is pending when it gets there). */
  private kick(): void {
    if (this.loop || this.abort.signal.aborted || this.retryTimer) return;
    if (this.halt !== undefined && this.halt.kind !== 'delete') return;
    this.loop = this.runLoop().finally(() => {
      this.loop = null;
      if (this.phase === 'error' || this.phase === 'reconnecting') return;
      // Halted by a plan: only a full sync owed since (a local change, kx resume) runs; other halts wait.
      const owed = this.halt === undefined ? this.pending.size > 0 || this.needFullSync : this.halt.kind === 'delete' && this.needFullSync;
      if (owed) this.kick();
    });
  }

  private async runLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted && (this.needFullSync || this.pending.size > 0)) {
      if (this.halt !== undefined && (this.halt.kind !== 'delete' || !this.needFullSync)) return;
      try {
        // A stat per batch: a moved, deleted or unmounted folder must halt, not empty the container.
        const problem = rootProblem(this.deps.spec.local);
        if (problem !== null) {
          this.needFullSync = true;
          this.haltOnRoot(problem);
          return;
        }
        if (this.needFullSync) await this.fullSync();
        else await this.batchSync();
        this.retries.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.needFullSync = true;
        if (isUnavailable(err)) this.lostLink((err as Error).message);
        else this.fail((err as Error).message);
        this.scheduleRetry();
        return;
      }
    }
  }

  private async fullSync(): Promise<void> {
    const { spec, connection, engine, hasher, log } = this.deps;
    const first = this.local === undefined;
    // What kx had synced into this container before: undefined when kx meets it for the first time.
    const before = this.ancestor;
    if (first) this.setPhase('initial-sync');
    else this.setSyncing(true);
    // Events arriving from here on are covered by this scan or queued for the next batch.
    this.pending.clear();
    this.needFullSync = false;
    await this.watcher?.reloadRules();
    const started = performance.now();
    const logEvery = this.deps.timing?.progressLogMs ?? PROGRESS_LOG_MS;
    // A short sync logs nothing until it is done; a long one says how far it got now and then.
    let lastLogged = started;
    try {
      const result = await engine.syncTree({
        root: spec.local,
        receiver: connection.receiver,
        ...(connection.bulk && { bulk: connection.bulk }),
        hasher,
        rules: specRules(this.deps.spec),
        signal: this.abort.signal,
        ...(this.local && { previousLocal: this.local }),
        safety: this.safetyOptions(),
        onProgress: (p) => {
          this.progress = { ...p };
          this.deps.onChange();
          const now = performance.now();
          if (p.phase === 'send' && p.totalFiles > 0 && now - lastLogged >= logEvery) {
            lastLogged = now;
            log.info(`${spec.name} → ${this.deps.target.name}: ${first ? 'initial' : 'full'} sync ${describeProgress(p)}`);
          }
        },
      });
      this.confirmed = false;
      if (result.halt !== undefined) {
        // Looked at again on the next local change (onBatch) or kx resume; not in a loop.
        this.progress = undefined;
        this.haltOnPlan(result.halt);
        return;
      }
      this.landed(result, started, null);
      log.info(`${spec.name} → ${this.deps.target.name}: ${first ? 'initial' : 'full'} sync sent ${result.ops} ops, ${result.bytesSent} bytes`);
      if (this.downSince !== undefined) {
        log.info(`${spec.name} → ${this.deps.target.name}: resumed after ${Math.round(performance.now() - this.downSince)} ms`);
        this.downSince = undefined;
      }
      this.progress = undefined;
      // A container kx meets for the first time gets no reload: it started with these files anyway, and reloading
      // it would restart every container kx meets. One kx synced before (a reconnect, a restarted container, kx watch
      // restarted) gets what a batch gets for the files this sync changed since: edits saved while it restarted
      // must not run stale, and their onSync commands must run. A failed write is not in the new ancestor, so it
      // cannot make a reload loop.
      const changed = before === undefined ? [] : changedSince(before, result.ancestor);
      if (changed.length > 0 && (spec.reload !== 'none' || this.onSync)) this.reloads.request(changed).catch(() => undefined);
      this.setPhase('watching');
    } finally {
      this.setSyncing(false);
    }
  }

  private async batchSync(): Promise<void> {
    const { spec, connection, engine, hasher } = this.deps;
    const paths = [...this.pending];
    const since = this.pendingSince;
    this.pending.clear();
    this.setSyncing(true);
    try {
      const result = await engine.syncPaths({
        root: spec.local,
        receiver: connection.receiver,
        hasher,
        // Per-spec rules only: the scan reads the ignore files of each path's directories afresh.
        rules: specRules(this.deps.spec),
        signal: this.abort.signal,
        paths,
        local: this.local!,
        remote: this.remote!,
        safety: this.safetyOptions(),
      });
      if (result.halt !== undefined) {
        // The batch's paths are covered by the full sync that clears the halt (on a local change or kx resume).
        this.haltOnPlan(result.halt);
        return;
      }
      if (result.needsFullSync) {
        // A directory goes: a full sync sees what the container made in it since, and keeps that.
        this.needFullSync = true;
        return;
      }
      this.landed(result, since, paths);
      // The container changed a path since kx last saw it, and radar left it alone: a full sync rescans the
      // container and reports it as a conflict with both sides, as it does for changes made while kx was away.
      if (result.errors.some((e) => e.code === ErrorCode.Changed)) this.needFullSync = true;
      if (result.ops > 0) this.deps.log.info(batchLine(spec.name, this.deps.target.name, result, this.latencyMs ?? 0));
      if (result.ops > result.errors.length && (spec.reload !== 'none' || this.onSync)) this.reloads.request(paths).catch(() => undefined);
    } finally {
      this.setSyncing(false);
    }
  }

  private landed(result: PushResult, since: number, scope: readonly RelPath[] | null): void {
    // Kept compact between syncs (a continuous sync changes them in place).
    this.local = compactManifest(result.local);
    this.files = undefined;
    this.remote = compactManifest(result.remote);
    this.ancestor = compactManifest(result.ancestor);
    this.deps.ancestors?.save(this.ancestor);
    if (this.halt?.kind === 'delete') this.clearHalt('the plan is within the limits again');
    this.ledger.note(result, scope);
    this.lastSyncAt = Date.now();
    this.latencyMs = Math.round(performance.now() - since);
    const failed = result.errors[0];
    this.lastError = failed ? `${failed.path}: ${failed.message}${result.errors.length > 1 ? ` (and ${result.errors.length - 1} more)` : ''}` : undefined;
    if (failed) this.deps.log.warn(`${this.deps.spec.name} → ${this.deps.target.name}: ${this.lastError}`);
    this.deps.onChange();
  }

  /** onSync commands the batches' paths trigger, then the reload unless one of them failed. */
  private async afterBatches(changed: readonly RelPath[]): Promise<void> {
    if (this.onSync && !this.abort.signal.aborted) {
      const ok = await this.onSync.run(changed, this.abort.signal);
      this.deps.onChange();
      if (!ok) return;
    }
    await this.reload();
  }

  private async reload(): Promise<void> {
    const { spec, connection, log } = this.deps;
    if (spec.reload === 'none' || this.abort.signal.aborted) return;
    this.reloading = true;
    this.deps.onChange();
    try {
      await connection.reload(spec.reload);
      this.reloadCount++;
      log.info(`${spec.name} → ${this.deps.target.name}: reloaded (${spec.reload})`);
    } catch (err) {
      this.lastError = `reload (${spec.reload}): ${(err as Error).message}`;
      log.warn(`${spec.name} → ${this.deps.target.name}: ${this.lastError}`);
    } finally {
      this.reloading = false;
      this.deps.onChange();
    }
  }

  private safetyOptions(): NonNullable<Parameters<SyncEngine['syncTree']>[0]['safety']> {
    const limits = this.deps.safety ?? DEFAULT_SAFETY;
    return {
      mode: this.deps.spec.mirror === true ? 'mirror' : 'safe',
      ancestor: this.ancestor,
      limits: { deleteShare: limits.maxDeleteShare, deleteMin: limits.maxDeleteFiles },
      ...(this.confirmed && { confirmed: true }),
    };
  }

  private haltOnPlan(reason: string): void {
    if (this.halt?.kind === 'delete' && this.halt.reason === reason) return;
    this.setHalt({ kind: 'delete', reason: `${reason}; nothing deleted (kx resume ${this.deps.spec.name} --confirm to go ahead)` });
  }

  /** The local root is missing, unreadable or not a directory: halt, stop watching, look again now and then. */
  private haltOnRoot(problem: string): void {
    this.setHalt({ kind: 'root', reason: `${problem}; nothing deleted, resumes when it is back` });
    this.rootLost = true;
    const watcher = this.watcher;
    this.watcher = null;
    void watcher?.close();
    this.pending.clear();
    this.needFullSync = true;
    this.stopRootPoll();
    const poll = (): void => {
      this.rootTimer = setTimeout(() => {
        if (this.abort.signal.aborted || this.halt?.kind !== 'root') return;
        if (rootProblem(this.deps.spec.local) !== null) return poll();
        this.rootTimer = undefined;
        this.halt = undefined;
        void this.rewatch().catch((err: unknown) => this.fail((err as Error).message));
      }, this.deps.timing?.rootPollMs ?? 1000);
    };
    poll();
  }

  private stopRootPoll(): void {
    clearTimeout(this.rootTimer);
    this.rootTimer = undefined;
  }

  private setHalt(halt: Halt): void {
    this.halt = halt;
    if (halt.kind === 'paused') this.deps.log.info(`${this.deps.spec.name} → ${this.deps.target.name}: paused`);
    else this.deps.log.warn(`${this.deps.spec.name} → ${this.deps.target.name}: halted: ${halt.reason}`);
    this.deps.onChange();
  }

  private clearHalt(why: string): void {
    this.halt = undefined;
    this.deps.log.info(`${this.deps.spec.name} → ${this.deps.target.name}: no longer halted: ${why}`);
    this.deps.onChange();
  }

  private scheduleRetry(): void {
    const delay = this.retries.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }

  /** The target is unreachable for now (tunnel, radar or network down): the retry resumes with a manifest diff. */
  private lostLink(reason: string): void {
    this.lastError = reason;
    if (this.phase !== 'reconnecting') this.deps.log.warn(`${this.deps.spec.name} → ${this.deps.target.name}: reconnecting: ${reason}`);
    this.downSince ??= performance.now();
    this.phase = 'reconnecting';
    this.deps.onChange();
  }

  private fail(reason: string): void {
    this.lastError = reason;
    this.phase = 'error';
    this.deps.log.warn(`${this.deps.spec.name} → ${this.deps.target.name}: ${reason}`);
    this.deps.onChange();
  }

  private setPhase(phase: Folder['phase']): void {
    this.phase = phase;
    this.deps.onChange();
  }

  private setSyncing(on: boolean): void {
    this.syncing = on;
    this.deps.onChange();
  }
}

/** The transport reports a lost link as KxError UNAVAILABLE (it maps every gRPC status at its edge). */
function isUnavailable(err: unknown): boolean {
  return isKxError(err, ErrorCode.Unavailable);
}

function countFiles(manifest: Manifest): number {
  if (manifest instanceof ManifestTable) return manifest.files;
  let n = 0;
  for (const e of manifest.values()) if (e.kind === 'file') n++;
  return n;
}

/** How often a long full sync logs its progress. */
const PROGRESS_LOG_MS = 2000;

/** "45% (4500/10000 files, 70.1/153.3 MiB)": by bytes, since a few large files can dominate a tree. */
function describeProgress(p: SyncProgress): string {
  const mib = (n: number): string => (n / (1 << 20)).toFixed(1);
  const pct = p.totalBytes > 0 ? Math.floor((100 * p.bytes) / p.totalBytes) : Math.floor((100 * p.files) / p.totalFiles);
  return `${pct}% (${p.files}/${p.totalFiles} files, ${mib(p.bytes)}/${mib(p.totalBytes)} MiB)`;
}

/** Files and links whose synced version differs between two ancestors, and paths kx removed. */
function changedSince(before: Manifest, after: Manifest): RelPath[] {
  const changed: RelPath[] = [];
  for (const [path, entry] of after) {
    if (entry.kind === 'dir') continue;
    const old = before.get(path);
    if (old === undefined || old.kind !== entry.kind || (entry.kind === 'file' ? !sameContent(old, entry) : old.target !== entry.target)) changed.push(path);
  }
  for (const [path, entry] of before) if (entry.kind !== 'dir' && !after.has(path)) changed.push(path);
  return changed;
}
