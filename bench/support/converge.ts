// "The last file is in the container": a list of checks on the destination, each of which must hold, walked in
// order and never rechecked once it held, so polling costs one read per file overall plus one per poll.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export type Check = () => boolean;

export const hasText = (path: string, text: string): Check => () => {
  try {
    return readFileSync(path, 'utf8').includes(text);
  } catch {
    return false;
  }
};

export const absent = (path: string): Check => () => !existsSync(path);

export const present = (path: string): Check => () => existsSync(path);

/** The byte at `offset` of `path` is `value`. */
export const byteIs = (path: string, offset: number, value: number): Check => () => {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(1);
    return readSync(fd, b, 0, 1, offset) === 1 && b[0] === value;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
};

/** Resolves with performance.now() at the poll that found every check holding. */
export async function converged(checks: readonly Check[], opts: { timeoutMs: number; pollMs?: number; what: string }): Promise<number> {
  const deadline = performance.now() + opts.timeoutMs;
  let i = 0;
  for (;;) {
    while (i < checks.length && checks[i]()) i++;
    const now = performance.now();
    if (i === checks.length) return now;
    if (now > deadline) throw new Error(`${opts.what}: not there after ${opts.timeoutMs} ms (${i} of ${checks.length} checks held)`);
    await sleep(opts.pollMs ?? 5);
  }
}
