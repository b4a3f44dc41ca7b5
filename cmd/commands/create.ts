// kx create: validate a new spec and write it to kx.yaml. Needs no daemon and no cluster.

import { createInterface } from 'node:readline/promises';
import { buildSpec } from '../../pkg/config/new-spec.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { configStore } from '../composition/root.ts';
import { fail } from './fail.ts';
import { persistFromFlags } from './persist-flag.ts';

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
  mirror?: boolean | undefined;
  keepSetIdBits?: boolean | undefined;
  onSync?: string[] | undefined;
  port?: (string | number)[] | undefined;
  yes?: boolean | undefined;
  persist?: boolean | undefined;
  persistSession?: boolean | undefined;
  persistValue?: string | undefined;
  persistClaim?: string | undefined;
}

/** How `--mirror` is confirmed: injected so tests can answer; the default asks on the terminal. */
export interface Confirm {
  readonly interactive: boolean;
  ask(question: string): Promise<boolean>;
}

export async function create(args: CreateArgs, confirm: Confirm = terminalConfirm()): Promise<void> {
  try {
    const store = configStore(args);
    const { config } = await store.load();
    const { settings } = config;
    let persist: true | 'session' | undefined;
    try {
      persist = persistFromFlags(args);
    } catch (err) {
      throw new KxError(ErrorCode.InvalidArgument, (err as Error).message);
    }
    const spec = await buildSpec({ ...args, persist, target: args.docker ? 'docker' : 'kubernetes' }, config.specs, process.cwd(), {
      namespace: settings.namespace,
      context: settings.context,
    });
    if (spec.mirror && !args.yes) {
      const what = `--mirror makes ${spec.remote} an exact copy of ${spec.local}: files only the container has there are deleted`;
      if (!confirm.interactive) throw new KxError(ErrorCode.InvalidArgument, `${what}; add --yes to confirm (stdin is not a terminal)`);
      if (!(await confirm.ask(`${what}. Continue? [y/N] `))) throw new KxError(ErrorCode.Cancelled, 'not created: --mirror was not confirmed');
    }
    await store.addSpec(spec, { replace: args.force ?? false });
    const persisted = spec.persist === 'session' ? ', persisted while kx watch runs' : spec.persist ? ', persisted' : '';
    process.stdout.write(`spec ${spec.name} created: ${spec.local} → ${spec.remote} (${spec.target}${spec.mirror ? ', mirror' : ''}${persisted}${spec.ports ? `, ports ${spec.ports.join(' ')}` : ''}) in ${store.file}\n`);
  } catch (err) {
    fail(err);
  }
}

function terminalConfirm(): Confirm {
  return {
    interactive: process.stdin.isTTY === true,
    async ask(question) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return /^y(es)?$/i.test((await rl.question(question)).trim());
      } finally {
        rl.close();
      }
    },
  };
}
