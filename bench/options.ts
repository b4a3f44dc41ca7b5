// `npm run bench [-- --quick] [--only a,b] [--soak MINUTES] [--list]`: which cases run, and how big.
import { parseArgs } from 'node:util';

/** In the order a full run takes them. */
export const CASES = ['throughput', 'latency', 'stall', 'cluster', 'memory', 'scale', 'fuzz'] as const;
/** Run only when named in --only (or, for soak, by --soak). */
export const EXTRA_CASES = ['engine', 'soak'] as const;
export type CaseName = (typeof CASES)[number] | (typeof EXTRA_CASES)[number];

export interface BenchOptions {
  readonly quick: boolean;
  readonly cases: readonly CaseName[];
  /** 0: no soak. */
  readonly soakMinutes: number;
  readonly list: boolean;
  /** Where the markdown report goes. */
  readonly out: string;
}

export const USAGE = `usage: npm run bench -- [--quick] [--only ${[...CASES, ...EXTRA_CASES].join(',')}] [--soak MINUTES] [--out FILE] [--list]`;

export function parseBenchArgs(argv: readonly string[], defaultOut: string): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      soak: { type: 'string' },
      out: { type: 'string' },
      list: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const known: readonly string[] = [...CASES, ...EXTRA_CASES];
  let cases: CaseName[] = [...CASES];
  if (values.only !== undefined) {
    const named = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = named.filter((n) => !known.includes(n));
    if (named.length === 0 || unknown.length > 0) throw new Error(`--only: unknown case ${unknown.map((u) => `'${u}'`).join(', ') || "''"}; cases: ${known.join(', ')}`);
    // In the run's order, whatever order they were named in.
    cases = (known as CaseName[]).filter((c) => named.includes(c));
  }
  let soakMinutes = 0;
  if (values.soak !== undefined) {
    soakMinutes = Number(values.soak);
    if (!(soakMinutes > 0)) throw new Error(`--soak: expected minutes (a number > 0), got '${values.soak}'`);
    if (!cases.includes('soak')) cases.push('soak');
  } else if (cases.includes('soak')) soakMinutes = 30;
  return { quick: values.quick, cases, soakMinutes, list: values.list, out: values.out ?? defaultOut };
}
