// Which daemon a status reply comes from: its home and version, beside the config file it serves.

import type { DaemonStatus } from '../daemon/status.ts';

export interface DaemonIdentity {
  readonly home: string;
  readonly version: string;
}

/** What the status service sends: the daemon's status and, from daemons that know it, who they are. */
export type StatusReply = DaemonStatus & Partial<DaemonIdentity>;
