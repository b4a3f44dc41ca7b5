// kx delete: remove specs from kx.yaml; a running daemon stops their sync when it sees the edit. A spec with
// persist is undone in its workloads first; when that fails the spec stays (it holds where to undo), unless
// --keep-persist says to leave the workloads as they are.

import { persists } from '../../pkg/config/types.ts';
import { configStore } from '../composition/root.ts';
import { fail } from './fail.ts';
import { undoPersist } from './persist-undo.ts';

export async function deleteSpecs(args: {
  config?: string | undefined; context?: string | undefined; names?: string[] | undefined; all?: boolean | undefined; keepPersist?: boolean | undefined;
}): Promise<void> {
  try {
    const names = args.names ?? [];
    if (args.all === (names.length > 0)) throw new Error('give spec names or --all (not both)');
    const store = configStore(args);
    const { config } = await store.load();
    const persisted = config.specs.filter((s) => (args.all || names.includes(s.name)) && s.target === 'kubernetes' && persists(s));
    if (persisted.length > 0 && !args.keepPersist) {
      try {
        await undoPersist(persisted, config, args.context);
      } catch (err) {
        throw new Error(`${(err as Error).message}; nothing deleted (retry, or add --keep-persist to delete and leave the workload patched)`, { cause: err });
      }
    }
    const gone = await store.removeSpecs(args.all ? 'all' : names);
    process.stdout.write(gone.length === 0 ? 'no specs to delete\n' : `deleted ${gone.join(', ')}\n`);
  } catch (err) {
    fail(err);
  }
}
