// kx pause NAME / kx resume NAME [--confirm]: ask the running daemon to stop or continue syncing a spec.

import { DEFAULT_STATUS_PORT } from '../../pkg/config/types.ts';
import { configStore, controlClient } from '../composition/root.ts';
import { fail } from './fail.ts';

interface ControlArgs {
  config?: string | undefined;
  name: string;
  confirm?: boolean | undefined;
}

export function pauseCommand(args: ControlArgs): Promise<void> {
  return control(args, (c) => c.pause(args.name));
}

export function resumeCommand(args: ControlArgs): Promise<void> {
  return control(args, (c) => c.resume(args.name, args.confirm === true));
}

async function control(args: ControlArgs, act: (c: ReturnType<typeof controlClient>) => Promise<string>): Promise<void> {
  const store = configStore(args);
  const port = await store.load().then(({ config }) => config.settings.statusPort, () => DEFAULT_STATUS_PORT);
  const client = controlClient(port);
  try {
    process.stdout.write(`${await act(client)}\n`);
  } catch (err) {
    fail(err);
  } finally {
    client.close();
  }
}
