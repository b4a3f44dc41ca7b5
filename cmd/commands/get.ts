// kx get: what the daemon of this home syncs. Without a daemon (or with a busy one): one line saying so and the
// configured specs, exit code 1. `-o json|yaml` has one shape either way: { daemon: null | {...}, specs: [...] }.

import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { configFilePath, kxHome } from '../../pkg/config/location.ts';
import type { KxConfig } from '../../pkg/config/types.ts';
import type { SpecStatus } from '../../pkg/daemon/status.ts';
import { findDaemon, type FoundDaemon } from '../../pkg/status/find-daemon.ts';
import type { StatusReply } from '../../pkg/status/identity.ts';
import { formatStatus, type OutputFormat } from '../../pkg/ui/output.ts';
import { configRows } from '../../pkg/ui/rows.ts';
import { renderTable } from '../../pkg/ui/table.ts';
import { configStore, statusClient } from '../composition/root.ts';
import { fail } from './fail.ts';

export interface GetArgs {
  config?: string | undefined;
  home?: string | undefined;
  port?: number | undefined;
  output: OutputFormat;
  watch: boolean;
}

/** What `kx get -o json|yaml` prints. */
export interface GetDocument {
  readonly daemon: null | {
    readonly pid: number;
    readonly port: number;
    readonly home: string | null;
    readonly configFile: string;
    readonly version: string | null;
    readonly state: 'running' | 'busy';
    readonly configError?: string;
    readonly tunnels?: StatusReply['tunnels'];
  };
  readonly specs: readonly SpecStatus[];
}

export async function get(args: GetArgs): Promise<void> {
  try {
    if (args.port !== undefined && !(Number.isInteger(args.port) && args.port > 0 && args.port <= 65535)) throw new Error('--port: expected a port number (1-65535)');
    const home = args.home !== undefined ? resolve(args.home) : kxHome(process.env);
    const file = configFilePath({ flag: args.config, env: args.home !== undefined ? { KX_HOME: home } : process.env });
    let config: KxConfig | null = null;
    try {
      config = (await configStore({ config: file }).load()).config;
    } catch (err) {
      // A bad file must not hide a running daemon (found through the home's daemon.json): say so, and go on.
      process.stderr.write(`kx: ${(err as Error).message}\n`);
    }
    const found = await findDaemon({ home, configFile: file, port: args.port });
    if (found.kind === 'other') throw new Error(found.message);
    if (args.watch) {
      if (found.kind !== 'running') throw new Error(found.message);
      await liveView(found.port);
      return;
    }
    process.stdout.write(`${render(found, config, args.output)}\n`);
    if (found.kind !== 'running') process.exitCode = 1;
  } catch (err) {
    fail(err);
  }
}

async function liveView(port: number): Promise<void> {
  const client = statusClient(port);
  try {
    const { runLiveView } = await import('../../pkg/ui/live-view.ts');
    const err = await runLiveView({
      subscribe: (onStatus, onEnd) => {
        const w = client.watch(onStatus, onEnd);
        return () => w.close();
      },
    });
    if (err) fail(err);
  } finally {
    client.close();
  }
}

function render(found: Exclude<FoundDaemon, { kind: 'other' }>, config: KxConfig | null, output: OutputFormat): string {
  if (output === 'table') {
    if (found.kind === 'running') return formatStatus(found.status, 'table', Date.now());
    const specs = config?.specs ?? [];
    return [found.message, ...(specs.length > 0 ? [renderTable(configRows(specs))] : [])].join('\n');
  }
  const doc = document(found, config);
  return output === 'json' ? JSON.stringify(doc, null, 2) : stringify(doc).trimEnd();
}

export function document(found: Exclude<FoundDaemon, { kind: 'other' }>, config: KxConfig | null): GetDocument {
  const configured: SpecStatus[] = (config?.specs ?? []).map((s) => ({ name: s.name, kind: s.target, local: s.local, remote: s.remote, services: [] }));
  switch (found.kind) {
    case 'running': {
      const { pid, home, configFile, version, configError, tunnels, specs } = found.status;
      return {
        daemon: { pid, port: found.port, home: home ?? null, configFile, version: version ?? null, state: 'running', ...(configError !== undefined && { configError }), ...(tunnels && { tunnels }) },
        specs,
      };
    }
    case 'busy': {
      const s = found.state;
      return {
        daemon: { pid: s?.pid ?? 0, port: found.port, home: s?.home ?? null, configFile: s?.configFile ?? '', version: s?.version ?? null, state: 'busy' },
        specs: configured,
      };
    }
    case 'none':
      return { daemon: null, specs: configured };
  }
}
