// What one-way-safe sync did in one container — files deleted, conflicting files left alone, files only the
// container has — for `kx get`, and the log lines that say so. Plus the check that the local root can be synced from.

import { accessSync, constants, statSync } from 'node:fs';
import type { PushResult } from '../sync/push.ts';
import type { Conflict } from '../sync/reconcile.ts';
import type { RelPath } from '../sync/types.ts';
import type { Logger } from './logger.ts';
import type { ConflictStatus, ServiceStatus } from './status.ts';

/** Paths listed in a log line; conflicts listed in the status. */
const PATHS_SHOWN = 5;
const CONFLICTS_SHOWN = 20;

export class SafetyLedger {
  private readonly prefix: string;
  private readonly specName: string;
  private readonly log: Logger;
  private conflicts = new Map<RelPath, Conflict>();
  private foreign = 0;
  private deletedFiles = 0;

  /** prefix: `spec → target`, as the folder's other log lines begin. */
  constructor(prefix: string, specName: string, log: Logger) {
    this.prefix = prefix;
    this.specName = specName;
    this.log = log;
  }

  /**
   * Take in a landed push: every batch that deletes says so (how many files, the first paths); conflicts of a full
   * sync (scope null) replace the known ones, a batch's replace those within its paths; new conflicts are logged.
   * The container-only files are the full sync's count: a batch plans against kx's last view of the container, so
   * the container-only files within its paths are ones that count already holds (adding them counted them twice).
   */
  note(result: PushResult, scope: readonly RelPath[] | null): void {
    if (result.removed.length > 0) {
      this.deletedFiles += result.deletedFiles;
      const shown = [...result.removed].sort().slice(0, PATHS_SHOWN).join(', ');
      const more = result.removed.length > PATHS_SHOWN ? ` (and ${result.removed.length - PATHS_SHOWN} more)` : '';
      this.log.info(`${this.prefix}: deleted ${result.deletedFiles} file(s) in the container: ${shown}${more}`);
    }
    const before = this.conflicts;
    const next = new Map<RelPath, Conflict>();
    if (scope !== null) {
      const roots = new Set(scope);
      for (const [p, c] of before) if (!beneathAny(p, roots)) next.set(p, c);
    } else this.foreign = result.foreign;
    for (const c of result.conflicts) next.set(c.path, c);
    this.conflicts = next;
    const fresh = result.conflicts.filter((c) => !before.has(c.path));
    if (fresh.length === 0) return;
    const shown = fresh.slice(0, PATHS_SHOWN).map(describeConflict).join('; ');
    const more = fresh.length > PATHS_SHOWN ? ` (and ${fresh.length - PATHS_SHOWN} more)` : '';
    this.log.warn(`${this.prefix}: left ${fresh.length} conflicting container file(s) alone: ${shown}${more} (kx resume ${this.specName} --confirm overwrites them)`);
  }

  status(): Pick<ServiceStatus, 'deletedFiles' | 'foreignFiles' | 'conflicts' | 'conflictList'> {
    return {
      deletedFiles: this.deletedFiles,
      foreignFiles: this.foreign,
      conflicts: this.conflicts.size,
      ...(this.conflicts.size > 0 && { conflictList: [...this.conflicts.values()].slice(0, CONFLICTS_SHOWN).map(conflictStatus) }),
    };
  }
}

/**
 * Why the local root cannot be synced from (missing, not a directory, unreadable), or null. Synchronous: it runs
 * before every batch, and two cached-inode system calls cost less than two thread-pool round trips.
 */
export function rootProblem(root: string): string | null {
  try {
    const st = statSync(root);
    if (!st.isDirectory()) return `local folder ${root} is not a directory`;
    accessSync(root, constants.R_OK | constants.X_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `local folder ${root} is missing`;
    return `local folder ${root} is unreadable (${code ?? (err as Error).message})`;
  }
}

function conflictStatus(c: Conflict): ConflictStatus {
  return {
    path: c.path,
    reason: c.reason,
    ...(c.local !== null && { localSize: c.local.size, localMtimeMs: c.local.mtimeMs }),
    remoteSize: c.remote.size,
    remoteMtimeMs: c.remote.mtimeMs,
  };
}

/** `app.js (local 120 B, 2026-11-28T15:00:00.000Z; container 98 B, 2026-11-28T14:59:00.000Z, changed there since kx wrote it)` */
function describeConflict(c: Conflict): string {
  const side = (f: { size: number; mtimeMs: number }): string => `${f.size} B, ${new Date(f.mtimeMs).toISOString()}`;
  const local = c.local === null ? 'deleted locally' : `local ${side(c.local)}`;
  const why = c.reason === 'changed' ? 'changed there since kx wrote it' : 'not written by kx';
  return `${c.path} (${local}; container ${side(c.remote)}, ${why})`;
}

function beneathAny(p: RelPath, roots: ReadonlySet<RelPath>): boolean {
  for (let q = p; ; ) {
    if (roots.has(q)) return true;
    const i = q.lastIndexOf('/');
    if (i < 0) return false;
    q = q.slice(0, i);
  }
}
