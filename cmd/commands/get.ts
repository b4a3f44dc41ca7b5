// kx get: what the running daemon syncs; without a daemon, one line saying so and the configured specs.

import { stringify } from 'yaml';
import { DEFAULT_STATUS_PORT, type KxConfig } from '../../pkg/config/types.ts';
import { isKxError, ErrorCode } from '../../pkg/sync/errors.ts';
import { formatStatus, type OutputFormat } from '../../pkg/ui/output.ts';
import { configRows } from '../../pkg/ui/rows.ts';
import { renderTable } from '../../pkg/ui/table.ts';
import { configStore, statusClient } from '../composition/root.ts';
import { fail } from './fail.ts';

export async function get(args: { config?: string | undefined; output: OutputFormat; watch: boolean }): Promise<void> {
  const store = configStore(args);
  let config: KxConfig | null = null;
  try {
    config = (await store.load()).config;
  } catch (err) {
    // A bad file must not hide a running daemon: report it, and ask the default port.
    process.stderr.write(`kx: ${(err as Error).message}\n`);
  }
  const port = config?.settings.statusPort ?? DEFAULT_STATUS_PORT;
  const client = statusClient(port);
  try {
    if (args.watch) {
      const { runLiveView } = await import('../../pkg/ui/live-view.ts');
      const err = await runLiveView({
        subscribe: (onStatus, onEnd) => {
          const w = client.watch(onStatus, onEnd);
          return () => w.close();
        },
      });
      if (err) fail(err);
      return;
    }
    const status = await client.get();
    process.stdout.write(`${formatStatus(status, args.output, Date.now())}\n`);
  } catch (err) {
    if (!isKxError(err, ErrorCode.Unavailable)) {
      fail(err);
      return;
    }
    noDaemon(err.message, config, args.output);
  } finally {
    client.close();
  }
}

function noDaemon(message: string, config: KxConfig | null, output: OutputFormat): void {
  const specs = config?.specs ?? [];
  if (output !== 'table') {
    const data = { daemon: 'not running', specs };
    process.stdout.write(`${output === 'json' ? JSON.stringify(data, null, 2) : stringify(data).trimEnd()}\n`);
    return;
  }
  process.stdout.write(`${message}\n`);
  if (specs.length > 0) process.stdout.write(`${renderTable(configRows(specs))}\n`);
}
