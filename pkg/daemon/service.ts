// One target of one spec: connects to it (retrying with backoff while it cannot) and runs a Folder over the link.

import type { SafetySettings, SpecConfig } from '../config/types.ts';
import { Backoff } from '../lifecycle/backoff.ts';
import { closeInOrder } from '../lifecycle/close.ts';
import type { Hasher } from '../sync/hash.ts';
import type { AncestorStore } from './ancestor-store.ts';
import type { TargetClaims } from './target-claims.ts';
import { Folder, WatchAhead, type FolderTiming } from './folder.ts';
import type { SharedWatchers } from './local-watcher.ts';
import type { Logger } from './logger.ts';
import { rootProblem } from './safety-ledger.ts';
import type { ServiceStatus } from './status.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { Connection, Target, TargetConnector } from './target.ts';

export interface ServiceDeps {
  readonly spec: SpecConfig;
  readonly target: Target;
  readonly connector: TargetConnector;
  readonly engine: SyncEngine;
  readonly hasher: Hasher;
  readonly log: Logger;
  readonly onChange: () => void;
  readonly timing?: FolderTiming;
  /** Where ancestors are kept across restarts (default: memory only, per folder). */
  readonly ancestorStore?: AncestorStore;
  readonly safety?: SafetySettings;
  readonly isPaused?: () => boolean;
  /** Who syncs where across the daemon's specs (default: no check). */
  readonly claims?: TargetClaims;
  /** Where the folders share one watcher per local tree (default: each its own). */
  readonly watchers?: SharedWatchers;
}

export class Service {
  readonly target: Target;
  private readonly deps: ServiceDeps;
  private readonly abort = new AbortController();
  private connection: Connection | null = null;
  private folder: Folder | null = null;
  /** The folder's watcher, walking the local tree while the connection is made; handed to the folder. */
  private ahead: WatchAhead | undefined;
  private connectError: string | undefined;
  /** Another spec syncs into the same or a nested directory of this container: this one waits. */
  private blockedBy: string | undefined;
  private claimed = false;
  private attempts = 0;
  private started: Promise<void> | null = null;
  private retrying: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(deps: ServiceDeps) {
    this.deps = deps;
    this.target = deps.target;
  }

  /** Connects and starts the folder; on failure keeps retrying with backoff in the background. */
  start(): Promise<void> {
    this.started ??= this.attempt().then((ok) => {
      // Not awaited by start(): a target that cannot be reached yet must not hold up the others.
      if (!ok) this.retrying = this.retryLoop();
    });
    return this.started;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.abort.abort();
      await this.started;
      await this.retrying;
      await closeInOrder([
        () => this.folder?.close(),
        () => this.ahead?.close(),
        () => this.connection?.close(),
        () => { if (this.claimed) this.deps.claims?.release(this.target.id, this.deps.spec.name); },
      ]);
      this.deps.onChange();
    })();
    return this.closing;
  }

  status(): ServiceStatus {
    if (this.folder) return this.folder.status();
    if (this.blockedBy !== undefined) {
      return {
        targetId: this.target.id,
        target: this.target.name,
        state: 'halted',
        files: 0,
        reloads: 0,
        haltReason: `spec '${this.blockedBy}' already syncs into ${this.deps.spec.remote} or a path nesting it in this container; give each spec its own remote path`,
      };
    }
    return {
      targetId: this.target.id,
      target: this.target.name,
      state: this.connectError === undefined ? 'starting' : this.attempts > 1 ? 'reconnecting' : 'error',
      files: 0,
      reloads: 0,
      ...(this.connectError !== undefined && { lastError: this.connectError }),
    };
  }

  /** A service not connected yet starts its folder paused (the spec tells it through isPaused). */
  pause(): void {
    this.folder?.pause();
  }

  resume(confirm: boolean): void {
    this.folder?.resume(confirm);
  }

  /** Resolves when the folder has nothing pending (or the service is not connected). */
  async idle(): Promise<void> {
    await this.started;
    await this.folder?.idle();
  }

  async flush(): Promise<void> {
    await this.started;
    await this.folder?.flush();
  }

  private async attempt(): Promise<boolean> {
    const { spec, target, connector, log } = this.deps;
    const signal = this.abort.signal;
    this.attempts++;
    if (!this.claimed && this.deps.claims) {
      const other = this.deps.claims.claim(target.id, spec.name, spec.remote);
      if (other !== null) {
        if (this.blockedBy === undefined) log.warn(`${spec.name} → ${target.name}: halted: spec '${other}' already syncs into ${spec.remote} or a path nesting it in this container`);
        this.blockedBy = other;
        this.deps.onChange();
        return false;
      }
      this.claimed = true;
      this.blockedBy = undefined;
    }
    this.watchAhead();
    try {
      const connection = await connector.connect(spec, target, signal);
      if (signal.aborted) {
        await connection.close();
        return true;
      }
      this.connection = connection;
      log.info(`${spec.name}: syncing ${spec.local} → ${connection.describe()}`);
      const ancestors = this.deps.ancestorStore?.open(spec, target.id);
      const ahead = this.ahead;
      this.ahead = undefined;
      this.folder = new Folder({ ...this.deps, connection, ...(ancestors && { ancestors }), ...(ahead && { ahead }) });
      this.connectError = undefined;
      await this.folder.start();
      this.deps.onChange();
      return true;
    } catch (err) {
      // A half-made attempt releases what it got before the next one starts afresh.
      await closeInOrder([() => this.folder?.close(), () => this.connection?.close()]).catch((closeErr: unknown) => {
        log.warn(`${spec.name} → ${target.name}: releasing a failed connection: ${(closeErr as Error).message}`);
      });
      this.folder = null;
      this.connection = null;
      if (signal.aborted) return true;
      this.connectError = (err as Error).message;
      log.warn(`${spec.name} → ${target.name}: ${this.connectError}`);
      this.deps.onChange();
      return false;
    }
  }

  /**
   * Starts the folder's watcher now, before connecting: the walk of the local tree then overlaps radar's start and
   * the connection (a missing root is left to the folder, which halts on it). Kept across failed attempts.
   */
  private watchAhead(): void {
    const { spec, target, log } = this.deps;
    if (this.ahead !== undefined || rootProblem(spec.local) !== null) return;
    const ahead = new WatchAhead(spec, this.deps.timing, this.deps.watchers);
    this.ahead = ahead;
    void ahead.ready.then((ms) => log.debug(`${spec.name} → ${target.name}: watching ${spec.local} (ready in ${Math.round(ms)} ms, ahead of the connection)`));
  }

  private async retryLoop(): Promise<void> {
    const backoff = new Backoff({ baseMs: this.deps.timing?.retryMs ?? 500, maxMs: 10_000 });
    while (await backoff.wait(this.abort.signal)) {
      if (await this.attempt()) return;
    }
  }
}
