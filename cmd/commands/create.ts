// kx create: validate a new spec and write it to kx.yaml. Needs no daemon and no cluster.

import { buildSpec } from '../../pkg/config/new-spec.ts';
import { configStore } from '../composition/root.ts';
import { fail } from './fail.ts';

export interface CreateArgs {
  config?: string | undefined;
  local: string;
  remote: string;
  name?: string | undefined;
  selector?: string | undefined;
  pod?: string | undefined;
  container?: string | undefined;
  namespace?: string | undefined;
  context?: string | undefined;
  reload?: string | undefined;
  ignore?: string[] | undefined;
  docker?: boolean | undefined;
  owner?: string | undefined;
  force?: boolean | undefined;
}

export async function create(args: CreateArgs): Promise<void> {
  try {
    const store = configStore(args);
    const { config } = await store.load();
    const spec = await buildSpec({ ...args, target: args.docker ? 'docker' : 'kubernetes' }, config.specs, process.cwd());
    await store.addSpec(spec, { replace: args.force ?? false });
    process.stdout.write(`spec ${spec.name} created: ${spec.local} → ${spec.remote} (${spec.target}) in ${store.file}\n`);
  } catch (err) {
    fail(err);
  }
}
