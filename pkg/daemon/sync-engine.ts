// The sender half of the sync engine as the daemon uses it (implemented by pkg/sync/push.ts, wired in cmd/).

import type { Hasher } from '../sync/hash.ts';
import type { IgnoreRuleSet, Manifest, PathError, Receiver, RelPath } from '../sync/types.ts';

export interface PushProgress {
  phase: 'scan' | 'compare' | 'send';
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface PushOptions {
  root: string;
  receiver: Receiver;
  hasher: Hasher;
  rules: readonly IgnoreRuleSet[];
  onProgress?: (p: PushProgress) => void;
  signal?: AbortSignal;
}

export interface PushResult {
  local: Manifest;
  remote: Manifest;
  ops: number;
  bytesSent: number;
  errors: readonly PathError[];
}

export interface SyncEngine {
  syncTree(opts: PushOptions & { previousLocal?: Manifest }): Promise<PushResult>;
  syncPaths(opts: PushOptions & { paths: readonly RelPath[]; local: Manifest; remote: Manifest }): Promise<PushResult>;
}
