// `--persist[=session]`: a flag with an optional value, which yargs has no shape for (a string option would take
// the LOCAL positional after a bare --persist as its value). The command line is rewritten before parsing:
// --persist=session → --persist-session, --persist=true → --persist, --persist=false → --no-persist; any other
// value is kept for kx create to refuse by name.

export function rewritePersistFlag(argv: readonly string[]): string[] {
  return argv.map((a) => {
    const m = /^--persist=(.*)$/.exec(a);
    if (!m) return a;
    switch (m[1]) {
      case 'session': return '--persist-session';
      case 'true': case '': return '--persist';
      case 'false': return '--no-persist';
      default: return `--persist-value=${m[1]}`;
    }
  });
}

/** The spec's persist from the parsed flags; throws naming the flag for a value other than session. */
export function persistFromFlags(args: { persist?: boolean | undefined; persistSession?: boolean | undefined; persistValue?: string | undefined }): true | 'session' | undefined {
  if (args.persistValue !== undefined) throw new Error(`--persist=${args.persistValue}: must be --persist or --persist=session`);
  if (args.persistSession === true) return 'session';
  return args.persist === true ? true : undefined;
}
