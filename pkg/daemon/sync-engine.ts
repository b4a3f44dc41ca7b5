// The sender half of the sync engine as the daemon uses it: implemented by pkg/sync/push.ts and wired in cmd/,
// declared here so tests can hand the daemon an engine that fails or stalls on cue.

import type { PushOptions, PushResult } from '../sync/push.ts';
import type { Manifest, RelPath } from '../sync/types.ts';

export interface SyncEngine {
  syncTree(opts: PushOptions & { previousLocal?: Manifest }): Promise<PushResult>;
  syncPaths(opts: PushOptions & { paths: readonly RelPath[]; local: Manifest; remote: Manifest }): Promise<PushResult>;
}
