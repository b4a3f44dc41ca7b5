// A spec's onSync commands: what kx.yaml may say, checked with one line naming the field, and which commands a
// batch of changed paths triggers (`when` patterns are gitignore-style, matched against paths relative to the
// spec's local root, like `ignore`).
import ignore from 'ignore';

/** One command run in the container after a batch lands, before the reload. */
export interface OnSyncCommand {
  /** Patterns of changed paths that trigger it (gitignore syntax); absent: every batch. */
  readonly when?: readonly string[];
  /** argv, run without a shell; `["sh", "-c", "…"]` for one. */
  readonly run: readonly string[];
  /** Absolute directory in the container; default the spec's remote path. */
  readonly workdir?: string;
  /** How it runs: through radar (the container runtime's exec; the only way for now). */
  readonly via?: 'radar';
}

const FIELDS = new Set(['when', 'run', 'workdir', 'via']);

/** The first problem with a spec's `onSync` value: the path below `onSync` and a message, or null. */
export function onSyncProblem(value: unknown): { readonly path: readonly (string | number)[]; readonly message: string } | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) return { path: [], message: 'must be a list of { run: [...], when?: [...], workdir?: ... }' };
  for (const [i, entry] of value.entries()) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { path: [i], message: 'must be a map with run: [command, args...]' };
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) if (!FIELDS.has(key)) return { path: [i, key], message: 'unknown field (one of when, run, workdir, via)' };
    if (!isStrings(e.run) || e.run.length === 0 || e.run[0] === '') return { path: [i, 'run'], message: 'must be a non-empty list of strings' };
    if (e.when !== undefined && (!isStrings(e.when) || e.when.length === 0 || e.when.some((p) => p.trim() === ''))) {
      return { path: [i, 'when'], message: 'must be a non-empty list of path patterns (gitignore syntax)' };
    }
    if (e.workdir !== undefined && (typeof e.workdir !== 'string' || !e.workdir.startsWith('/'))) return { path: [i, 'workdir'], message: 'must be an absolute path in the container' };
    if (e.via !== undefined && e.via !== 'radar') return { path: [i, 'via'], message: 'must be radar (commands run through the container runtime)' };
  }
  return null;
}

/** The commands a batch of changed paths (relative to the spec's root) triggers, in order. */
export function commandsFor(commands: readonly OnSyncCommand[], changed: readonly string[]): OnSyncCommand[] {
  return commands.filter((c) => {
    if (c.when === undefined) return true;
    const match = ignore().add([...c.when]);
    return changed.some((p) => p !== '' && match.ignores(p));
  });
}

/**
 * `kx create --on-sync 'npm ci'`: a command line split into argv without a shell. Words are separated by spaces;
 * single or double quotes keep spaces inside a word; nothing else is special. Throws on an unclosed quote.
 */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const ch of line) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (ch === ' ' || ch === '\t') {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote !== undefined) throw new Error(`unclosed ${quote} quote in ${JSON.stringify(line)}`);
  if (word !== undefined) out.push(word);
  return out;
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
