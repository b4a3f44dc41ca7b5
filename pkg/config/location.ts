// Where kx.yaml lives: --config FILE, else $KX_HOME/kx.yaml, else ~/.kx/kx.yaml.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONFIG_FILE_NAME } from './types.ts';

export function configFilePath(opts: { flag?: string | undefined; env: NodeJS.ProcessEnv }): string {
  if (opts.flag) return resolve(opts.flag);
  const home = opts.env.KX_HOME ? resolve(opts.env.KX_HOME) : join(homedir(), '.kx');
  return join(home, CONFIG_FILE_NAME);
}
