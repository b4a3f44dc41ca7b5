// Which spec syncs into which directory of which container, across all specs of the daemon: two specs writing into
// the same or nested directories of one container would fight over its files. The config refuses the overlaps it can
// see (same pod name, selectors that can both match); this catches the rest (a pod name against a selector) once
// the containers are known.

import { remotesNest } from '../config/remote-path.ts';

export class TargetClaims {
  private readonly claims = new Map<string, { spec: string; remote: string }[]>();

  /** Claim remote in the target for spec; returns the spec already syncing there (equal or nested), or null. */
  claim(targetId: string, spec: string, remote: string): string | null {
    const list = this.claims.get(targetId) ?? [];
    const other = list.find((c) => c.spec !== spec && remotesNest(c.remote, remote));
    if (other) return other.spec;
    if (!list.some((c) => c.spec === spec)) list.push({ spec, remote });
    this.claims.set(targetId, list);
    return null;
  }

  release(targetId: string, spec: string): void {
    const list = (this.claims.get(targetId) ?? []).filter((c) => c.spec !== spec);
    if (list.length === 0) this.claims.delete(targetId);
    else this.claims.set(targetId, list);
  }
}
