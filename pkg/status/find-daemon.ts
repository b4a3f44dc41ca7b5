// How `kx get`, `kx doctor` and `kx flush` reach the daemon of a home: through its daemon.json (or a port named
// with --port), then a status call that tells a daemon that is there but slow ("busy") from none at all, and one
// that serves another config from the one asked about.

import { readDaemonState, type DaemonState } from './daemon-home.ts';
import { DaemonBusyError, StatusClient } from './client.ts';
import type { StatusReply } from './identity.ts';
import { ErrorCode, isKxError } from '../sync/errors.ts';

export interface FindOptions {
  readonly home: string;
  /** The config file the command works with; the daemon must serve this one. */
  readonly configFile: string;
  /** --port: ask this port instead of reading daemon.json. */
  readonly port?: number | undefined;
  readonly timeoutMs?: number;
}

export type FoundDaemon =
  | { readonly kind: 'running'; readonly port: number; readonly status: StatusReply }
  | { readonly kind: 'busy'; readonly port: number; readonly state: DaemonState | null; readonly message: string }
  | { readonly kind: 'none'; readonly message: string }
  /** A daemon answered, but it serves another config file than the one asked about. */
  | { readonly kind: 'other'; readonly port: number; readonly status: StatusReply; readonly message: string };

export async function findDaemon(opts: FindOptions): Promise<FoundDaemon> {
  const state = opts.port === undefined ? await readDaemonState(opts.home) : null;
  const port = opts.port ?? state?.port;
  if (port === undefined) return { kind: 'none', message: `no kx daemon for ${opts.home} (start one with: kx watch)` };
  const client = new StatusClient(port);
  try {
    const status = await client.get(opts.timeoutMs ?? 2000);
    if (status.configFile !== opts.configFile) {
      const who = `the kx daemon on 127.0.0.1:${port} (pid ${status.pid}${status.home ? `, home ${status.home}` : ''})`;
      return { kind: 'other', port, status, message: `${who} serves ${status.configFile}, not ${opts.configFile}` };
    }
    return { kind: 'running', port, status };
  } catch (err) {
    if (err instanceof DaemonBusyError) {
      const who = state ? `kx daemon (pid ${state.pid}) on 127.0.0.1:${port}` : `kx daemon on 127.0.0.1:${port}`;
      return { kind: 'busy', port, state, message: `${who} is busy: no answer within ${(opts.timeoutMs ?? 2000) / 1000} s (try again)` };
    }
    if (isKxError(err, ErrorCode.Unavailable)) {
      return { kind: 'none', message: state ? `no kx daemon for ${opts.home}: pid ${state.pid} does not answer on 127.0.0.1:${port} (start one with: kx watch)` : err.message };
    }
    throw err;
  } finally {
    client.close();
  }
}
