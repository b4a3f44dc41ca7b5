// Kubernetes label selectors (the syntax kubectl -l accepts): parsed once, matched against label maps.
// Shared by the Docker target (container labels) and, later, the Kubernetes one (the API server takes the text).

import { ErrorCode, KxError } from '../sync/errors.ts';

export type Requirement =
  | { readonly key: string; readonly op: 'exists' | 'notexists' }
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] };

export type LabelSelector = readonly Requirement[];

/** Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Throws KxError INVALID_ARGUMENT naming the bad part. */
export function parseSelector(text: string): LabelSelector {
  const parts = splitTopLevel(text);
  if (parts.length === 0) throw invalid(text, 'empty selector');
  return parts.map((part) => parseRequirement(part, text));
}

export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((req) => {
    const has = Object.hasOwn(labels, req.key);
    switch (req.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && req.values.includes(labels[req.key]);
      case 'notin':
        return !has || !req.values.includes(labels[req.key]);
    }
  });
}

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function parseRequirement(part: string, whole: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
  if (set) {
    const values = set[3].split(',').map((v) => v.trim());
    values.forEach((v) => checkValue(v, whole));
    return { key: checkKey(set[1], whole), op: set[2] as 'in' | 'notin', values };
  }
  const eq = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(part);
  if (eq) {
    const value = checkValue(eq[3], whole);
    return { key: checkKey(eq[1], whole), op: eq[2] === '!=' ? 'notin' : 'in', values: [value] };
  }
  if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), whole), op: 'notexists' };
  return { key: checkKey(part, whole), op: 'exists' };
}

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key) || key.length > 316) throw invalid(whole, `invalid label key '${key}'`);
  return key;
}

function checkValue(value: string, whole: string): string {
  if (!VALUE.test(value)) throw invalid(whole, `invalid label value '${value}'`);
  return value;
}

/** Split on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  if (parts.some((p) => p === '') && text.trim() !== '') throw invalid(text, 'empty requirement');
  return parts.filter((p) => p !== '');
}

function invalid(whole: string, why: string): KxError {
  return new KxError(ErrorCode.InvalidArgument, `selector '${whole}': ${why}`);
}
