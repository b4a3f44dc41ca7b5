// Which specs the user paused, kept in KX_HOME/paused.json so that `kx pause` holds across a restart of `kx watch`
// (as mutagen keeps a paused session paused). Written atomically (temp file, then rename); pausing is rare, so the
// write is synchronous and done before the command answers.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class PauseFile {
  readonly file: string;
  private readonly names: Set<string>;

  /** Read the file; a missing file is no pauses, an unreadable one is reported through onError and ignored. */
  static load(file: string, onError: (message: string) => void): PauseFile {
    let names: string[] = [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!Array.isArray(parsed) || !parsed.every((n) => typeof n === 'string')) throw new Error('not a list of spec names');
      names = parsed;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError(`${file}: ${(err as Error).message}; no spec starts paused`);
    }
    return new PauseFile(file, names);
  }

  constructor(file: string, names: Iterable<string> = []) {
    this.file = file;
    this.names = new Set(names);
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Record a pause or its end; throws when the file cannot be written (the command then says so). */
  set(name: string, paused: boolean): void {
    if (this.names.has(name) === paused) return;
    const next = new Set(this.names);
    if (paused) next.add(name);
    else next.delete(name);
    this.write(next);
  }

  /** Forget pauses of specs no longer configured, so that a new spec of an old name does not start paused. */
  retain(configured: readonly string[]): void {
    const keep = new Set(configured);
    const next = new Set([...this.names].filter((n) => keep.has(n)));
    if (next.size !== this.names.size) this.write(next);
  }

  private write(next: Set<string>): void {
    if (next.size === 0) {
      rmSync(this.file, { force: true });
    } else {
      mkdirSync(dirname(this.file), { recursive: true });
      const temp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        writeFileSync(temp, `${JSON.stringify([...next].sort())}\n`, { mode: 0o600 });
        renameSync(temp, this.file);
      } catch (err) {
        rmSync(temp, { force: true });
        throw err;
      }
    }
    this.names.clear();
    for (const n of next) this.names.add(n);
  }
}
