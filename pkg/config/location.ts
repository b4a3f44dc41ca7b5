// Where kx.yaml lives: --config FILE, else $KX_HOME/kx.yaml, else ~/.kx/kx.yaml.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONFIG_FILE_NAME } from './types.ts';

export function configFilePath(opts: { flag?: string | undefined; env: NodeJS.ProcessEnv }): string {
  if (opts.flag) return resolve(opts.flag);
  return join(kxHome(opts.env), CONFIG_FILE_NAME);
}

/** kx's home: $KX_HOME, else ~/.kx. One daemon runs per home (its lock and state file live there). */
export function kxHome(env: NodeJS.ProcessEnv): string {
  return env.KX_HOME ? resolve(env.KX_HOME) : join(homedir(), '.kx');
}
