// The message of the config error parseConfig throws for `text`, for tests that assert the one-line error.
import { parseConfig } from '../../pkg/config/parse.ts';

/** Where the tests pretend kx.yaml lives: errors name it. */
export const CONFIG_FILE = '/home/u/.kx/kx.yaml';

export function configErrorOf(text: string, file = CONFIG_FILE): string {
  try {
    parseConfig(text, file);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}
