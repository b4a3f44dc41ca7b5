// The one way tests wait for a condition: vitest's vi.waitFor, retried until the probe gives a value (anything but
// null, undefined or false) or stops throwing. Never a timing assertion: the timeout only bounds the wait, and a
// failure names what was awaited and the probe's last error.
import { vi } from 'vitest';

export type Probe<T> = () => T | null | undefined | false | Promise<T | null | undefined | false>;

export async function poll<T>(what: string, probe: Probe<T>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  try {
    return await vi.waitFor(async () => {
      const v = await probe();
      if (v === null || v === undefined || v === false) throw new Error('not yet');
      return v;
    }, { timeout: timeoutMs, interval: intervalMs });
  } catch (err) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${(err as Error).message}`, { cause: err });
  }
}
