// The sender half of the sync engine as the daemon uses it: implemented by pkg/sync/push.ts and wired in cmd/,
// declared here so tests can hand the daemon an engine that fails or stalls on cue.

import type { PushOptions, PushResult } from '../sync/push.ts';
import type { Manifest, RelPath } from '../sync/types.ts';
import type { BulkChannel } from './target.ts';

export interface SyncEngine {
  /** bulk: the connection's channel for another thread (an engine may then run the sync off the event loop). */
  syncTree(opts: PushOptions & { previousLocal?: Manifest; bulk?: BulkChannel }): Promise<PushResult>;
  syncPaths(opts: PushOptions & { paths: readonly RelPath[]; local: Manifest; remote: Manifest }): Promise<PushResult>;
}
