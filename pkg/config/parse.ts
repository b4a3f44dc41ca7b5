// Turn kx.yaml text into a validated KxConfig, or one error line naming the file, the line and the field.

import type { ErrorObject } from 'ajv';
import { isAbsolute, dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { parseReloadMode } from '../../proto/reload-mode.ts';
import { onSyncProblem, type OnSyncCommand } from './on-sync.ts';
import { findOverlap } from './overlap.ts';
import { portsProblem } from './port-forwards.ts';
import { remotePathProblem } from './remote-path.ts';
import { validate as generatedValidator } from './config-validator.generated.ts';
import { parseSelector } from './selector.ts';
import {
  DEFAULT_LOG_LEVEL,
  DEFAULT_SAFETY,
  DEFAULT_STATUS_PORT,
  type KxConfig,
  type LogLevel,
  type ReloadMode,
  type SafetySettings,
  type SpecConfig,
  type TargetKind,
} from './types.ts';

export interface ParsedConfig {
  readonly config: KxConfig;
  /** The document as written, for edits that keep the user's comments and order. */
  readonly document: Document;
}

/** Throws KxError INVALID_CONFIG: `<file>:<line>: <field>: <what is wrong>`. */
export function parseConfig(text: string, file: string): ParsedConfig {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = document.errors[0];
  if (syntax) {
    const line = lines.linePos(syntax.pos[0]).line;
    throw configError(file, line, null, syntax.message.split('\n')[0]);
  }
  const raw: unknown = document.toJS() ?? {};
  const problem = schemaProblem(raw) ?? crossFieldProblem(raw as RawConfig, (path) => lineOf(document, lines, path));
  if (problem) {
    const line = lineOf(document, lines, problem.path);
    throw configError(file, line, fieldName(problem.path), problem.message);
  }
  return { config: normalize(raw as RawConfig, dirname(file)), document };
}

interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

interface RawSpec {
  name: string;
  selector?: string;
  pod?: string;
  container?: string;
  namespace?: string;
  context?: string;
  local: string;
  remote: string;
  reload?: string;
  ignore?: string[];
  target?: TargetKind;
  owner?: string;
  mirror?: boolean;
  force?: boolean;
  keepSetIdBits?: boolean;
  onSync?: OnSyncCommand[];
  ports?: (string | number)[];
  persist?: boolean | 'session';
  persistClaim?: string;
}

interface RawConfig {
  context?: string;
  namespace?: string;
  radarNamespace?: string;
  statusPort?: number;
  logLevel?: LogLevel;
  safety?: Partial<SafetySettings>;
  specs?: RawSpec[];
}

/** schema.ts compiled by ajv ahead of time (validator-source.ts): no ajv to load and no schema to compile per start. */
const validateSchema = generatedValidator as unknown as ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

function schemaProblem(raw: unknown): Problem | null {
  if (validateSchema(raw)) return null;
  return fromAjv(validateSchema.errors![0]);
}

function fromAjv(err: ErrorObject): Problem {
  const path: (string | number)[] = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return { path, message: `missing required field '${String(params.missingProperty)}'` };
    case 'additionalProperties':
      return { path: [...path, String(params.additionalProperty)], message: 'unknown field' };
    case 'enum':
      return { path, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'pattern':
      return { path, message: patternHint(path) ?? `must match ${String(params.pattern)}` };
    default:
      return { path, message: err.message ?? err.keyword };
  }
}

function patternHint(path: readonly (string | number)[]): string | null {
  switch (path[path.length - 1]) {
    case 'name':
      return 'must be lowercase letters, digits and dashes (at most 63)';
    case 'remote':
      return 'must be an absolute path';
    case 'reload':
      return 'must be none, restart or signal:NAME (e.g. signal:HUP)';
    case 'owner':
      return 'must be UID:GID (numbers)';
    case 'persistClaim':
      return 'must be a PersistentVolumeClaim name (lowercase letters, digits, dashes and dots)';
    default:
      return null;
  }
}

function crossFieldProblem(raw: RawConfig, lineAt: (path: readonly (string | number)[]) => number): Problem | null {
  const seen = new Set<string>();
  for (const [i, spec] of (raw.specs ?? []).entries()) {
    if (seen.has(spec.name)) return { path: ['specs', i, 'name'], message: `duplicate spec name '${spec.name}'` };
    seen.add(spec.name);
    if ((spec.selector === undefined) === (spec.pod === undefined)) {
      return { path: ['specs', i], message: 'needs exactly one of selector and pod' };
    }
    if (spec.selector !== undefined) {
      try {
        parseSelector(spec.selector);
      } catch (err) {
        return { path: ['specs', i, 'selector'], message: (err as Error).message };
      }
    }
    const onSync = onSyncProblem(spec.onSync);
    if (onSync !== null) return { path: ['specs', i, 'onSync', ...onSync.path], message: onSync.message };
    const remote = remotePathProblem(spec.remote, spec.force === true);
    if (remote !== null) return { path: ['specs', i, 'remote'], message: `${spec.remote}: ${remote}` };
    const persistProblem = persistFieldProblem(spec);
    if (persistProblem !== null) return { path: ['specs', i, persistProblem.field], message: persistProblem.message };
    if (spec.reload !== undefined) {
      try {
        parseReloadMode(spec.reload);
      } catch (err) {
        return { path: ['specs', i, 'reload'], message: (err as Error).message.replace(/^reload mode "[^"]*": /, '') };
      }
    }
  }
  const ports = portsProblem(raw.specs ?? []);
  if (ports !== null) return { path: ['specs', ports.spec, 'ports', ports.entry], message: ports.message };
  const specs = (raw.specs ?? []).map((s) => ({ ...s, target: s.target ?? ('kubernetes' as const) }));
  const pair = findOverlap(specs, { namespace: raw.namespace, context: raw.context });
  if (pair !== null) {
    const [first, second] = pair;
    const i = specs.indexOf(second);
    return {
      path: ['specs', i, 'remote'],
      message: `${second.remote} overlaps spec '${first.name}' (${first.remote}, line ${lineAt(['specs', specs.indexOf(first), 'remote'])}) in the same containers: give each spec its own remote path`,
    };
  }
  return null;
}

/** persist is for Kubernetes workloads; persistClaim needs persist. */
function persistFieldProblem(spec: RawSpec): { field: 'persist' | 'persistClaim'; message: string } | null {
  const on = spec.persist === true || spec.persist === 'session';
  if (on && spec.target === 'docker') return { field: 'persist', message: PERSIST_DOCKER };
  if (spec.persistClaim !== undefined && !on) return { field: 'persistClaim', message: 'needs persist: true or persist: session' };
  return null;
}

/** Why the docker target refuses persist (kx create says the same). */
export const PERSIST_DOCKER = 'is for Kubernetes workloads; on the docker target give the container a volume at the remote path (docker run -v)';

function normalize(raw: RawConfig, baseDir: string): KxConfig {
  return {
    settings: {
      ...(raw.context !== undefined && { context: raw.context }),
      ...(raw.namespace !== undefined && { namespace: raw.namespace }),
      ...(raw.radarNamespace !== undefined && { radarNamespace: raw.radarNamespace }),
      statusPort: raw.statusPort ?? DEFAULT_STATUS_PORT,
      logLevel: raw.logLevel ?? DEFAULT_LOG_LEVEL,
      safety: { ...DEFAULT_SAFETY, ...raw.safety },
    },
    specs: (raw.specs ?? []).map(({ ports, ...s }): SpecConfig => ({
      ...s,
      // A relative local path means relative to the config file, not to wherever kx happens to run.
      local: isAbsolute(s.local) ? s.local : resolve(baseDir, s.local),
      reload: (s.reload ?? 'none') as ReloadMode,
      ignore: s.ignore ?? [],
      target: s.target ?? 'kubernetes',
      ...(ports !== undefined && { ports: ports.map(String) }),
    })),
  };
}

/** The line of the deepest node on the path that exists (the parent when the field itself is missing). */
function lineOf(document: Document, lines: LineCounter, path: readonly (string | number)[]): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      // For a missing-field error the range is the enclosing map: point at its first line, where the user looks.
      return lines.linePos(range[0]).line;
    }
  }
  return 1;
}

function fieldName(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function configError(file: string, line: number, field: string | null, message: string): KxError {
  return new KxError(ErrorCode.InvalidConfig, `${file}:${line}: ${field ? `${field}: ` : ''}${message}`);
}
