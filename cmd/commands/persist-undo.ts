// Undoing persist from the command line (kx delete, kx reset): no daemon needed, the record is on the workloads.

import type { KxConfig, SpecConfig } from '../../pkg/config/types.ts';
import { silentLogger } from '../../pkg/daemon/logger.ts';
import { persistence } from '../composition/root.ts';

/** Undo persist for each spec; one line per spec on stdout. Throws naming the spec whose undo failed. */
export async function undoPersist(specs: readonly SpecConfig[], config: KxConfig, context: string | undefined): Promise<void> {
  const p = persistence({ config, log: silentLogger, context });
  for (const spec of specs) {
    let undone: string[];
    try {
      undone = await p.undo(spec);
    } catch (err) {
      throw new Error(`${spec.name}: could not undo persist: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    process.stdout.write(undone.length > 0
      ? `${spec.name}: persist undone in ${undone.join(', ')} (their pods roll back to the template as it was)\n`
      : `${spec.name}: nothing persisted to undo\n`);
  }
}
