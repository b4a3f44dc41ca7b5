// Label and field selectors as the apiserver parses them from the query string.
import type { Json } from './wire.ts';

export type Selector = (obj: Json) => boolean;

interface Requirement { key: string; op: '=' | '!=' | 'in' | 'notin' | 'exists' | '!'; values: string[] }

/** Throws Error with the apiserver's wording when the selector does not parse. */
export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map(parseRequirement);
  return (obj) => {
    const labels = ((obj.metadata as Json | undefined)?.labels ?? {}) as Record<string, string>;
    return reqs.every((r) => matches(r, labels));
  };
}

/** metadata.name, metadata.namespace, spec.nodeName, status.phase with =, == and !=. */
export function parseFieldSelector(text: string | null | undefined): Selector {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map((part) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part.trim());
    if (!m) throw new Error(`invalid selector: '${text}'; can't understand '${part}'`);
    const [, field, op, value] = m;
    if (!FIELD_PATHS[field]) throw new Error(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"`);
    return { field: field, negate: op === '!=', value: value.trim() };
  });
  return (obj) => reqs.every((r) => (FIELD_PATHS[r.field](obj) === r.value) !== r.negate);
}

const FIELD_PATHS: Record<string, (o: Json) => string> = {
  'metadata.name': (o) => String((o.metadata as Json | undefined)?.name ?? ''),
  'metadata.namespace': (o) => String((o.metadata as Json | undefined)?.namespace ?? ''),
  'spec.nodeName': (o) => String((o.spec as Json | undefined)?.nodeName ?? ''),
  'status.phase': (o) => String((o.status as Json | undefined)?.phase ?? ''),
};

export function labelSelectorFromMatchLabels(matchLabels: Record<string, string> | undefined): string {
  return Object.entries(matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function parseRequirement(part: string): Requirement {
  let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
  if (m) return { key: m[1], op: m[2] as 'in' | 'notin', values: m[3].split(',').map((v) => v.trim()).filter((v) => v !== '') };
  m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part);
  if (m) return { key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] };
  m = /^!\s*([\w./-]+)$/.exec(part);
  if (m) return { key: m[1], op: '!', values: [] };
  m = /^([\w./-]+)$/.exec(part);
  if (m) return { key: m[1], op: 'exists', values: [] };
  throw new Error(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case '=': return has && v === r.values[0];
    case '!=': return !has || v !== r.values[0];
    case 'in': return has && r.values.includes(v);
    case 'notin': return !has || !r.values.includes(v);
    case 'exists': return has;
    case '!': return !has;
  }
}
