// kx flush: for scripts. Returns once every spec of this home's daemon is in sync (each folder rescanned, nothing
// pending). Exit code 0 when every container got everything; 1 (one line per problem) otherwise, or without daemon.

import type { DaemonStatus } from '../../pkg/daemon/status.ts';
import { statusClient } from '../composition/root.ts';
import { runningDaemonPort, type DaemonArgs } from './daemon-of.ts';
import { fail } from './fail.ts';

export async function flushCommand(args: DaemonArgs): Promise<void> {
  try {
    // A daemon busy with a long sync is still a daemon to wait for: give it time to answer.
    const client = statusClient(await runningDaemonPort(args, 30_000));
    let status: DaemonStatus;
    try {
      status = await client.flush();
    } finally {
      client.close();
    }
    const problems = problemsOf(status);
    if (problems.length > 0) {
      for (const p of problems) process.stderr.write(`kx flush: ${p}\n`);
      process.exitCode = 1;
      return;
    }
    const targets = status.specs.reduce((n, s) => n + s.services.length, 0);
    process.stdout.write(`in sync: ${status.specs.length} spec(s), ${targets} container(s)\n`);
  } catch (err) {
    fail(err);
  }
}

/** What keeps a spec from being in sync: a problem following its targets, a container not watching, an error. */
export function problemsOf(status: DaemonStatus): string[] {
  const out: string[] = [];
  if (status.configError) out.push(`config: ${status.configError} (the daemon runs on the last good config)`);
  for (const spec of status.specs) {
    if (spec.problem) out.push(`${spec.name}: ${spec.problem}`);
    for (const s of spec.services) {
      if (s.state !== 'watching') out.push(`${spec.name} → ${s.target}: ${s.state}${s.lastError ? ` (${s.lastError})` : ''}`);
      else if (s.lastError) out.push(`${spec.name} → ${s.target}: ${s.lastError}`);
    }
  }
  return out;
}
