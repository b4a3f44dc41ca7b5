// A stand-in for /proc/<pid>: the files radar's resolver reads, so tests can make a PID change hands at will.

/** A /proc/<pid>/stat line with start time (field 22) `start`. */
export function fakeStat(pid: number, comm: string, start: number): string {
  const fields = ['S', ...Array.from({ length: 18 }, () => '0'), String(start), '0', '0'];
  return `${pid} (${comm}) ${fields.join(' ')}\n`;
}
