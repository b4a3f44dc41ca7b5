// Whether two specs may write into the same directory of the same container: then each one's sync would fight the
// other's (and, mirroring, delete its files). Decided from the config alone, so it errs on the side of "may".

import { parseSelector, type LabelSelector } from './selector.ts';
import { remotesNest } from './remote-path.ts';
import type { SpecConfig } from './types.ts';

/** What a spec's namespace and context are when it names none. */
export interface SpecDefaults {
  readonly namespace?: string | undefined;
  readonly context?: string | undefined;
}

type Placed = Pick<SpecConfig, 'name' | 'target' | 'selector' | 'pod' | 'container' | 'namespace' | 'context' | 'remote'>;

/** The first pair (earlier, later) of specs whose remote paths are equal or nested in containers both may select. */
export function findOverlap<S extends Placed>(specs: readonly S[], defaults: SpecDefaults = {}): [S, S] | null {
  for (let j = 1; j < specs.length; j++) {
    for (let i = 0; i < j; i++) if (specsOverlap(specs[i], specs[j], defaults)) return [specs[i], specs[j]];
  }
  return null;
}

export function specsOverlap(a: Placed, b: Placed, defaults: SpecDefaults = {}): boolean {
  if (a.target !== b.target || !remotesNest(a.remote, b.remote)) return false;
  if (a.target === 'kubernetes') {
    if ((a.namespace ?? defaults.namespace) !== (b.namespace ?? defaults.namespace)) return false;
    if ((a.context ?? defaults.context) !== (b.context ?? defaults.context)) return false;
  }
  // No container named: the pod's only (or first) one, which may be the other's.
  if (a.container !== undefined && b.container !== undefined && a.container !== b.container) return false;
  if (a.pod !== undefined && b.pod !== undefined) return a.pod === b.pod;
  if (a.selector !== undefined && b.selector !== undefined) return selectorsOverlap(parseSelector(a.selector), parseSelector(b.selector));
  // A name and a selector: the named one's labels are not known here.
  return false;
}

/** Whether some label set satisfies both selectors. */
export function selectorsOverlap(a: LabelSelector, b: LabelSelector): boolean {
  const byKey = new Map<string, { exists: boolean; absent: boolean; allowed: Set<string> | null; excluded: Set<string> }>();
  for (const req of [...a, ...b]) {
    let k = byKey.get(req.key);
    if (!k) byKey.set(req.key, (k = { exists: false, absent: false, allowed: null, excluded: new Set() }));
    switch (req.op) {
      case 'exists':
        k.exists = true;
        break;
      case 'notexists':
        k.absent = true;
        break;
      case 'in':
        k.exists = true;
        k.allowed = new Set(k.allowed === null ? req.values : req.values.filter((v) => k.allowed!.has(v)));
        break;
      case 'notin':
        for (const v of req.values) k.excluded.add(v);
        break;
    }
  }
  for (const k of byKey.values()) {
    if (k.absent && k.exists) return false;
    if (k.allowed !== null && [...k.allowed].every((v) => k.excluded.has(v))) return false;
  }
  return true;
}
