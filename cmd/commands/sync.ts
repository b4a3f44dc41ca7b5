// kx sync NAME --once: one full sync of that spec into each container it selects now, without a daemon; progress
// on stderr, one line per container when done. Exit code 1 if any container did not get everything.

import { batchLine, progressText } from '../../pkg/daemon/batch-line.ts';
import { streamLogger } from '../../pkg/daemon/logger.ts';
import { configStore, syncSpecOnce } from '../composition/root.ts';
import { daemonOf } from './daemon-of.ts';
import { fail } from './fail.ts';

const PROGRESS_EVERY_MS = 1000;

export async function syncCommand(args: { name: string; once: boolean; config?: string | undefined; context?: string | undefined }): Promise<void> {
  try {
    if (!args.once) throw new Error('kx sync runs one sync and exits: give --once (kx watch keeps syncing)');
    const store = configStore(args);
    const { config } = await store.load();
    const spec = config.specs.find((s) => s.name === args.name);
    if (!spec) throw new Error(`no spec named ${args.name} in ${store.file} (kx get lists them)`);
    // Two writers into one container would each hold their own record of what kx wrote there.
    const daemon = await daemonOf(args, 2000);
    if (daemon.kind === 'running' || daemon.kind === 'busy') {
      const pid = daemon.kind === 'running' ? daemon.status.pid : daemon.state?.pid;
      throw new Error(`the kx daemon${pid !== undefined ? ` (pid ${pid})` : ''} on 127.0.0.1:${daemon.port} already syncs ${store.file}: kx flush waits until it is in sync (or stop it to sync once)`);
    }
    const log = streamLogger(process.stderr, () => config.settings.logLevel);
    let lastShown = -Infinity; // the first report always shows, then one a second
    const results = await syncSpecOnce({
      config,
      configFile: store.file,
      spec,
      log,
      context: args.context,
      onProgress: (target, p) => {
        const now = performance.now();
        if (p.phase !== 'send' || p.totalFiles === 0 || now - lastShown < PROGRESS_EVERY_MS) return;
        lastShown = now;
        process.stderr.write(`${spec.name} → ${target.name}: ${progressText(p)}\n`);
      },
    });
    let failed = 0;
    for (const r of results) {
      if (!r.ok) {
        failed++;
        process.stderr.write(`kx sync: ${spec.name} → ${r.target.name}: ${r.error}\n`);
        continue;
      }
      process.stdout.write(`${batchLine(spec.name, r.target.name, r.result, r.ms)}\n`);
      const first = r.result.errors[0];
      if (first) {
        failed++;
        const more = r.result.errors.length > 1 ? ` (and ${r.result.errors.length - 1} more)` : '';
        process.stderr.write(`kx sync: ${spec.name} → ${r.target.name}: ${first.path}: ${first.message}${more}\n`);
      }
    }
    if (failed > 0) process.exitCode = 1;
  } catch (err) {
    fail(err);
  }
}
