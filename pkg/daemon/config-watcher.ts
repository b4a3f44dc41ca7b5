// Watches kx.yaml while the daemon runs and hands every good version to the daemon. A bad edit is reported (one
// line naming file, line and field) and the last good config stays in force.

import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { KxConfig } from '../config/types.ts';

/** Reads and validates the config file (ConfigStore.load in practice). */
export interface ConfigLoader {
  readonly file: string;
  load(): Promise<{ config: KxConfig }>;
}

export interface ConfigWatcherEvents {
  changed(config: KxConfig): void;
  invalid(message: string): void;
}

/** Editors and ConfigStore replace the file by rename; waiting this long after the last event reads it once, whole. */
const SETTLE_MS = 30;

export class ConfigWatcher {
  private readonly loader: ConfigLoader;
  private readonly events: ConfigWatcherEvents;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private closed = false;
  private started: Promise<void> | null = null;

  constructor(loader: ConfigLoader, events: ConfigWatcherEvents) {
    this.loader = loader;
    this.events = events;
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      const dir = dirname(this.loader.file);
      const name = basename(this.loader.file);
      await mkdir(dir, { recursive: true });
      // Closed while the directory was being made: open no watch that nothing would close.
      if (this.closed) return;
      // The directory, not the file: an atomic replace gives the file a new inode that a file watch would miss.
      this.watcher = watch(dir, { persistent: true }, (_event, changed) => {
        if (changed === null || changed === name) this.schedule();
      });
    })();
    return this.started;
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = null;
    // A start() still in flight sees `closed` before it would open its watch; wait for it, then any read.
    return (this.started ?? Promise.resolve()).catch(() => undefined).then(() => this.reading);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reading = this.reading.then(() => this.read());
    }, SETTLE_MS);
  }

  private async read(): Promise<void> {
    if (this.closed) return;
    try {
      const { config } = await this.loader.load();
      if (!this.closed) this.events.changed(config);
    } catch (err) {
      if (!this.closed) this.events.invalid((err as Error).message);
    }
  }
}
