// A DaemonStatus (or just the configured specs, when no daemon runs) as the rows `kx get` shows.

import { homedir } from 'node:os';
import type { SpecConfig } from '../config/types.ts';
import type { DaemonStatus, ServiceStatus, SpecStatus } from '../daemon/status.ts';

export const COLUMNS = ['NAME', 'LOCAL', 'REMOTE', 'STATUS', 'POD/CONTAINER', 'FILES', 'LAST SYNC', 'LATENCY', 'ERROR'] as const;

export interface Row {
  readonly name: string;
  readonly local: string;
  readonly remote: string;
  readonly status: string;
  readonly target: string;
  readonly files: string;
  readonly lastSync: string;
  readonly latency: string;
  readonly error: string;
  /** 0..1 while an initial sync runs. */
  readonly progress?: number;
}

export function statusRows(status: DaemonStatus, now: number): Row[] {
  return status.specs.flatMap((spec) => (spec.services.length === 0 ? [specRow(spec)] : spec.services.map((s) => serviceRow(spec, s, now))));
}

/** No daemon: the configured specs, each "not running". */
export function configRows(specs: readonly SpecConfig[]): Row[] {
  return specs.map((s) => ({
    name: s.name,
    local: shortPath(s.local),
    remote: s.remote,
    status: 'not running',
    target: s.selector !== undefined ? `-l ${s.selector}` : s.pod!,
    files: '',
    lastSync: '',
    latency: '',
    error: '',
  }));
}

function specRow(spec: SpecStatus): Row {
  return {
    name: spec.name,
    local: shortPath(spec.local),
    remote: remoteColumn(spec),
    status: 'waiting',
    target: '-',
    files: '',
    lastSync: '',
    latency: '',
    error: spec.problem ?? persistProblem(spec),
  };
}

function serviceRow(spec: SpecStatus, s: ServiceStatus, now: number): Row {
  const p = s.progress;
  const fraction = p ? progressFraction(p) : undefined;
  return {
    name: spec.name,
    local: shortPath(spec.local),
    remote: remoteColumn(spec),
    status: s.state === 'initial-sync' && fraction !== undefined ? `initial-sync ${Math.floor(fraction * 100)}%` : s.state,
    target: s.target,
    files: String(s.files),
    lastSync: s.lastSyncAt !== undefined ? ago(now - s.lastSyncAt) : '',
    latency: s.latencyMs !== undefined ? `${s.latencyMs}ms` : '',
    error: s.haltReason ?? onSyncNote(s) ?? s.lastError ?? (conflictNote(s) || persistProblem(spec)),
    ...(fraction !== undefined && { progress: fraction }),
  };
}

/** `onSync npm ci: exit 1 (npm ERR! …); not reloaded`. */
function onSyncNote(s: ServiceStatus): string | undefined {
  const f = s.onSyncFailure;
  if (f === undefined) return undefined;
  const why = f.timedOut === true ? 'timed out' : f.exitCode >= 0 ? `exit ${f.exitCode}` : 'failed';
  return `onSync ${f.command}: ${why}${f.output ? ` (${f.output})` : ''}; not reloaded`;
}

/** The remote path, marked when the spec persists it: `/app [persisted, seeded]`, `/app [not persisted]`. */
function remoteColumn(spec: SpecStatus): string {
  const p = spec.persist;
  if (!p) return spec.remote;
  if (p.state === 'off' || p.state === 'waiting') return `${spec.remote} [not persisted]`;
  return `${spec.remote} [persisted, ${p.state}]`;
}

/** Why a spec with persist syncs unpersisted. */
function persistProblem(spec: SpecStatus): string {
  return spec.persist?.state === 'off' ? spec.persist.detail : '';
}

/** `2 conflicting files kept: a.txt, b.txt` (see kx get -o json for both sides). */
function conflictNote(s: ServiceStatus): string {
  const n = s.conflicts ?? 0;
  if (n === 0) return '';
  const paths = (s.conflictList ?? []).slice(0, 3).map((c) => c.path).join(', ');
  return `${n} conflicting file${n === 1 ? '' : 's'} kept: ${paths}${n > 3 ? ', …' : ''}`;
}

function progressFraction(p: NonNullable<ServiceStatus['progress']>): number {
  // Scanning has no known total; the send phase is where the time goes, measured in bytes when there are any.
  if (p.phase !== 'send') return 0;
  if (p.totalBytes > 0) return Math.min(1, p.bytes / p.totalBytes);
  return p.totalFiles > 0 ? Math.min(1, p.files / p.totalFiles) : 0;
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function shortPath(p: string): string {
  const home = homedir();
  return p === home || p.startsWith(`${home}/`) ? `~${p.slice(home.length)}` : p;
}
