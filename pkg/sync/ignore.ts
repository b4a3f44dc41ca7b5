// gitignore-semantics matching over nested rule sets, using the `ignore` package for the pattern language.
import ignore from 'ignore';
import type { Ignore } from 'ignore';
import { isAtOrBeneath, isTempName } from './paths.ts';
import type { IgnoreRuleSet, RelPath } from './types.ts';

/** Always ignored, whatever other rules say: git's own data and radar's temporary files. */
export const DEFAULT_PATTERNS: readonly string[] = ['.git/', '.kx-tmp-*'];

/** The ignore files read in each directory, in increasing precedence. */
export const IGNORE_FILE_NAMES: readonly string[] = ['.gitignore', '.kxignore'];

export class IgnoreMatcher {
  readonly #sets: readonly IgnoreRuleSet[];
  readonly #compiled: readonly CompiledRuleSet[];

  /** DEFAULT_PATTERNS always apply in addition; a set applies beneath its base and later sets win. */
  constructor(sets: readonly IgnoreRuleSet[]) {
    this.#sets = sets.map((s) => ({ base: s.base, patterns: [...s.patterns] }));
    this.#compiled = this.#sets.map(compileRuleSet);
  }

  /** Whether path is ignored, including because one of its ancestor directories is (git never looks inside those). */
  ignores(path: RelPath, isDir: boolean): boolean {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      if (decideIgnored(this.#compiled, path.slice(0, i), true)) return true;
    }
    return decideIgnored(this.#compiled, path, isDir);
  }

  /** The rule sets, serializable, to send to the receiver. */
  ruleSets(): IgnoreRuleSet[] {
    return this.#sets.map((s) => ({ base: s.base, patterns: [...s.patterns] }));
  }
}

// ---- internals shared with scan.ts ----

export interface CompiledRuleSet {
  readonly base: RelPath | '';
  readonly matcher: Ignore;
}

export function compileRuleSet(set: IgnoreRuleSet): CompiledRuleSet {
  // git on Linux is case-sensitive; the package defaults to case-insensitive.
  return { base: set.base, matcher: ignore({ ignorecase: false }).add(set.patterns) };
}

/** Parse an ignore file's text into patterns (blank lines and comments dropped; `ignore` handles escapes). */
export function parseIgnoreFile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

/**
 * The decision for path itself, assuming no ancestor directory is ignored: defaults first (absolute), then the
 * last set beneath whose base path lies and which has an opinion (an ignore or a negation) wins.
 */
export function decideIgnored(sets: readonly CompiledRuleSet[], path: RelPath, isDir: boolean): boolean {
  if (isDefaultIgnored(path, isDir)) return true;
  let ignored = false;
  for (const set of sets) {
    if (set.base !== '' && (path.length <= set.base.length || !isAtOrBeneath(path, set.base))) continue;
    const rel = set.base === '' ? path : path.slice(set.base.length + 1);
    const r = set.matcher.test(isDir ? `${rel}/` : rel);
    if (r.ignored) ignored = true;
    else if (r.unignored) ignored = false;
  }
  return ignored;
}

// DEFAULT_PATTERNS, hand-compiled: checked for every path, so kept off the `ignore` machinery.
function isDefaultIgnored(path: RelPath, isDir: boolean): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return (isDir && name === '.git') || isTempName(name);
}
