// How a command reports failure: one line naming what went wrong, exit code 1.

export function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`kx: ${message.split('\n')[0]}\n`);
  process.exitCode = 1;
}
