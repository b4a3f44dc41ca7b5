// A renderer for exactly the Helm template subset that pkg/cluster/chart.ts generates (Helm is not installable
// here). It throws on anything else, so a template feature it does not know cannot pass silently:
//   {{ PIPELINE }} and {{- PIPELINE }}, where PIPELINE is a command followed by `| fn ...` stages;
//   commands: .Values.a.b, .Chart.AppVersion, dir X, printf "fmt" X..., (PIPELINE);
//   stage functions: quote, toYaml, nindent N.
import { posix } from 'node:path';
import { stringify } from 'yaml';

export interface RenderContext {
  Values: Record<string, unknown>;
  Chart: { AppVersion: string };
}

export function renderTemplate(text: string, ctx: RenderContext): string {
  return text.replace(/(\s*)\{\{(-?)\s*(.*?)\s*\}\}/g, (_all, space: string, trim: string, expr: string) => {
    const value = evaluate(tokenize(expr), ctx);
    return (trim === '-' ? '' : space) + String(value);
  });
}

/** Helm merges user values over values.yaml: maps deeply, everything else (lists included) replaced. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? mergeValues(b, v) : v;
  }
  return out;
}

const isMap = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);

type Token = { kind: 'str'; value: string } | { kind: 'num'; value: number } | { kind: 'word'; value: string } | { kind: 'pipe' | 'open' | 'close' };

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|(\d+)|(\|)|(\()|(\))|([.\w]+))/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < expr.length && (m = re.exec(expr))) {
    if (m[1]) out.push({ kind: 'str', value: JSON.parse(m[1]) as string });
    else if (m[2]) out.push({ kind: 'num', value: Number(m[2]) });
    else if (m[3]) out.push({ kind: 'pipe' });
    else if (m[4]) out.push({ kind: 'open' });
    else if (m[5]) out.push({ kind: 'close' });
    else out.push({ kind: 'word', value: m[6]! });
  }
  if (re.lastIndex !== expr.length && expr.slice(re.lastIndex).trim() !== '') throw new Error(`helm-subset: cannot parse {{ ${expr} }}`);
  return out;
}

function evaluate(tokens: Token[], ctx: RenderContext): unknown {
  let pos = 0;
  const pipeline = (): unknown => {
    let value = command(undefined);
    while (tokens[pos]?.kind === 'pipe') {
      pos++;
      value = command(value);
    }
    return value;
  };
  const operand = (): unknown => {
    const t = tokens[pos++];
    if (!t) throw new Error('helm-subset: missing operand');
    if (t.kind === 'str' || t.kind === 'num') return t.value;
    if (t.kind === 'open') {
      const v = pipeline();
      if (tokens[pos++]?.kind !== 'close') throw new Error('helm-subset: missing )');
      return v;
    }
    if (t.kind === 'word' && t.value.startsWith('.')) return lookup(t.value, ctx);
    throw new Error(`helm-subset: unexpected token ${JSON.stringify(t)}`);
  };
  const command = (piped: unknown): unknown => {
    const t = tokens[pos];
    if (t?.kind !== 'word' || t.value.startsWith('.')) {
      if (piped !== undefined) throw new Error('helm-subset: a value cannot follow |');
      return operand();
    }
    pos++;
    const args: unknown[] = [];
    while (pos < tokens.length && tokens[pos]!.kind !== 'pipe' && tokens[pos]!.kind !== 'close') args.push(operand());
    if (piped !== undefined) args.push(piped);
    return call(t.value, args);
  };
  const v = pipeline();
  if (pos !== tokens.length) throw new Error('helm-subset: trailing tokens');
  return v;
}

function call(fn: string, args: unknown[]): unknown {
  switch (fn) {
    case 'quote':
      return JSON.stringify(String(args[0]));
    case 'dir':
      return posix.dirname(String(args[0]));
    case 'printf': {
      const [format, ...rest] = args;
      let i = 0;
      return String(format).replace(/%[sv]/g, () => String(rest[i++]));
    }
    case 'toYaml':
      return stringify(args[0], { lineWidth: 0 }).replace(/\n$/, '');
    case 'nindent': {
      const pad = ' '.repeat(Number(args[0]));
      return `\n${String(args[1]).split('\n').map((l) => pad + l).join('\n')}`;
    }
    default:
      throw new Error(`helm-subset: unknown function ${fn}`);
  }
}

function lookup(path: string, ctx: RenderContext): unknown {
  let cur: unknown = ctx;
  for (const key of path.slice(1).split('.')) {
    if (!isMap(cur) || !(key in cur)) throw new Error(`helm-subset: ${path} is not set`);
    cur = cur[key];
  }
  return cur;
}
