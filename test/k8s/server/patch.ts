// PATCH bodies: JSON merge patch (RFC 7386; strategic merge and apply patches are approximated by it) and
// JSON patch (RFC 6902).
import { parse as parseYaml } from 'yaml';
import type { Json } from './wire.ts';

export function applyPatch(target: Json, contentType: string, raw: string): Json {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'application/json-patch+json') return jsonPatch(target, JSON.parse(raw) as Json[]);
  if (type === 'application/apply-patch+yaml') return mergePatch(target, parseYaml(raw) as Json) as Json;
  if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
    return mergePatch(target, JSON.parse(raw)) as Json;
  }
  throw new UnsupportedPatch(type);
}

export class UnsupportedPatch extends Error {}

/** A JSON patch that cannot be applied (a failed `test`, a missing path): the apiserver answers 422. */
export class PatchFailed extends Error {}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPatch(target: Json, ops: Json[]): Json {
  let doc: unknown = structuredClone(target);
  for (const op of ops) {
    const path = parsePointer(String(op.path));
    switch (op.op) {
      case 'add': doc = setAt(doc, path, op.value, true); break;
      case 'replace': doc = setAt(doc, path, op.value, false); break;
      case 'remove': doc = removeAt(doc, path); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw new PatchFailed(`testing value ${String(op.path)} failed`);
        break;
      default: throw new PatchFailed(`Unexpected kind: ${String(op.op)}`);
    }
  }
  return doc as Json;
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: unknown, path: string[]): unknown {
  let cur = doc;
  for (const k of path) cur = (cur as Record<string, unknown> | undefined)?.[k];
  return cur;
}

function setAt(doc: unknown, path: string[], value: unknown, insert: boolean): unknown {
  if (path.length === 0) return value;
  const parent = getAt(doc, path.slice(0, -1));
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (insert) parent.splice(i, 0, value); else parent[i] = value;
  } else if (isObject(parent)) {
    parent[last] = value;
  } else {
    throw new PatchFailed(`doc is missing path: ${path.join('/')}`);
  }
  return doc;
}

function removeAt(doc: unknown, path: string[]): unknown {
  const parent = getAt(doc, path.slice(0, -1));
  const last = path[path.length - 1];
  if (getAt(doc, path) === undefined) throw new PatchFailed(`Unable to remove nonexistent key: ${last}: missing value`);
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return doc;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
