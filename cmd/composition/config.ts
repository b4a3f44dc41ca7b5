// Where a command's config file is: the one piece of the composition root that commands need before (or without)
// the daemon's modules, kept apart so that loading it loads nothing else.

import { ConfigStore } from '../../pkg/config/store.ts';
import { configFilePath } from '../../pkg/config/location.ts';

export interface GlobalOptions {
  readonly config?: string | undefined;
  /** --context: the kubeconfig context for specs that name none (over kx.yaml's context). */
  readonly context?: string | undefined;
}

export function configStore(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ConfigStore {
  return new ConfigStore(configFilePath({ flag: opts.config, env }));
}
