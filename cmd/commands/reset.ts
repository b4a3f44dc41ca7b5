// kx reset NAME: undo what persist changed in the spec's workloads, keeping the spec. A running kx watch does not
// persist the path again until the spec restarts (kx watch restarts, or the spec is edited).

import { configStore } from '../composition/root.ts';
import { fail } from './fail.ts';
import { undoPersist } from './persist-undo.ts';

export async function reset(args: { config?: string | undefined; context?: string | undefined; names: string[] }): Promise<void> {
  try {
    const store = configStore(args);
    const { config } = await store.load();
    const missing = args.names.filter((n) => !config.specs.some((s) => s.name === n));
    if (missing.length > 0) throw new Error(`no spec named ${missing.map((n) => `'${n}'`).join(', ')} in ${store.file}`);
    const specs = config.specs.filter((s) => args.names.includes(s.name));
    const docker = specs.find((s) => s.target !== 'kubernetes');
    if (docker) throw new Error(`${docker.name}: a docker spec has nothing persisted to reset`);
    await undoPersist(specs, config, args.context);
  } catch (err) {
    fail(err);
  }
}
