// kx delete: remove specs from kx.yaml; a running daemon stops their sync when it sees the edit.

import { configStore } from '../composition/root.ts';
import { fail } from './fail.ts';

export async function deleteSpecs(args: { config?: string | undefined; names?: string[] | undefined; all?: boolean | undefined }): Promise<void> {
  try {
    const names = args.names ?? [];
    if (args.all === (names.length > 0)) throw new Error('give spec names or --all (not both)');
    const store = configStore(args);
    const gone = await store.removeSpecs(args.all ? 'all' : names);
    process.stdout.write(gone.length === 0 ? 'no specs to delete\n' : `deleted ${gone.join(', ')}\n`);
  } catch (err) {
    fail(err);
  }
}
