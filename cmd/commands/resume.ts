// kx pause NAME / kx resume NAME [--confirm]: ask the running daemon to stop or continue syncing a spec.

import { controlClient } from '../composition/root.ts';
import { runningDaemonPort, type DaemonArgs } from './daemon-of.ts';
import { fail } from './fail.ts';

interface ControlArgs extends DaemonArgs {
  readonly name: string;
  readonly confirm?: boolean | undefined;
}

export function pauseCommand(args: ControlArgs): Promise<void> {
  return control(args, (c) => c.pause(args.name));
}

export function resumeCommand(args: ControlArgs): Promise<void> {
  return control(args, (c) => c.resume(args.name, args.confirm === true));
}

async function control(args: ControlArgs, act: (c: ReturnType<typeof controlClient>) => Promise<string>): Promise<void> {
  try {
    const client = controlClient(await runningDaemonPort(args));
    try {
      process.stdout.write(`${await act(client)}\n`);
    } finally {
      client.close();
    }
  } catch (err) {
    fail(err);
  }
}
