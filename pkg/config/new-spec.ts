// The checks `kx create` makes before a spec is written, and the readable name it gets when none is given.

import { splitCommand } from './on-sync.ts';
import { stat } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { OWNER_PATTERN } from './owner.ts';
import { parseReloadMode } from '../../proto/reload-mode.ts';
import { parsePortForward, portsProblem } from './port-forwards.ts';
import { specsOverlap, type SpecDefaults } from './overlap.ts';
import { remotePathProblem } from './remote-path.ts';
import { parseSelector } from './selector.ts';
import type { PersistMode, ReloadMode, SpecConfig, TargetKind } from './types.ts';

export interface NewSpecInput {
  readonly name?: string | undefined;
  readonly selector?: string | undefined;
  readonly pod?: string | undefined;
  readonly container?: string | undefined;
  readonly namespace?: string | undefined;
  readonly context?: string | undefined;
  readonly reload?: string | undefined;
  readonly ignore?: readonly string[] | undefined;
  readonly target: TargetKind;
  readonly owner?: string | undefined;
  readonly local: string;
  readonly remote: string;
  /** Replace a spec of the same name instead of refusing, and allow `/` or a system directory as REMOTE. */
  readonly force?: boolean | undefined;
  /** Exact replica: delete what only the container has. */
  readonly mirror?: boolean | undefined;
  readonly keepSetIdBits?: boolean | undefined;
  /** `--on-sync 'CMD'` (repeatable): commands run after every batch, split into argv by splitCommand. */
  readonly onSync?: readonly string[] | undefined;
  /** --port, repeatable: LOCAL[:REMOTE] or ADDRESS:LOCAL:REMOTE. */
  readonly port?: readonly (string | number)[] | undefined;
  /** Persist the remote path in the pods' workload: true, or 'session' (undone when kx watch exits). */
  readonly persist?: PersistMode | undefined;
  readonly persistClaim?: string | undefined;
}

/** Validate a new spec against the file system and the existing specs. Throws KxError INVALID_ARGUMENT naming the flag. */
export async function buildSpec(input: NewSpecInput, existing: readonly SpecConfig[], cwd: string, defaults: SpecDefaults = {}): Promise<SpecConfig> {
  const local = resolve(cwd, input.local);
  const st = await stat(local).catch(() => null);
  if (!st) throw invalid(`LOCAL ${local}: no such directory`);
  if (!st.isDirectory()) throw invalid(`LOCAL ${local}: not a directory`);
  if (!isAbsolute(input.remote) || !input.remote.startsWith('/')) throw invalid(`REMOTE ${input.remote}: must be an absolute path inside the container`);
  const remoteProblem = remotePathProblem(input.remote, input.force === true);
  if (remoteProblem !== null) throw invalid(`REMOTE ${input.remote}: ${remoteProblem.replace('force: true / --force', '--force')}`);
  if ((input.selector === undefined) === (input.pod === undefined)) throw invalid('give exactly one of --selector/-l and --pod/-p');
  if (input.selector !== undefined) parseSelector(input.selector);
  const reload = input.reload ?? 'none';
  try {
    parseReloadMode(reload);
  } catch (err) {
    throw invalid(`--reload ${reload}: ${(err as Error).message.replace(/^reload mode "[^"]*": /, '')}`);
  }
  if (input.owner !== undefined && !OWNER_PATTERN.test(input.owner)) throw invalid(`--owner ${input.owner}: must be UID:GID (numbers)`);
  const onSync = (input.onSync ?? []).map((line) => {
    let run: string[];
    try {
      run = splitCommand(line);
    } catch (err) {
      throw invalid(`--on-sync ${line}: ${(err as Error).message}`);
    }
    if (run.length === 0) throw invalid('--on-sync: must name a command');
    return { run };
  });

  const ports = (input.port ?? []).map(String);
  for (const entry of ports) {
    try {
      parsePortForward(entry);
    } catch (err) {
      throw invalid(`--port ${(err as Error).message}`);
    }
  }
  const persist = input.persist === true || input.persist === 'session';
  if (persist && input.target === 'docker') throw invalid('--persist is for Kubernetes workloads; on the docker target give the container a volume at the remote path (docker run -v)');
  if (input.persistClaim !== undefined && !persist) throw invalid(`--persist-claim ${input.persistClaim}: needs --persist`);
  if (input.persistClaim !== undefined && !/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/.test(input.persistClaim)) {
    throw invalid(`--persist-claim ${input.persistClaim}: must be a PersistentVolumeClaim name (lowercase letters, digits, dashes and dots)`);
  }

  const taken = new Set(existing.map((s) => s.name));
  let name: string;
  if (input.name !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(input.name)) throw invalid(`--name ${input.name}: must be lowercase letters, digits and dashes (at most 63)`);
    if (taken.has(input.name) && !input.force) throw invalid(`--name ${input.name}: a spec of that name exists (use --force to replace it)`);
    name = input.name;
  } else {
    name = generateName(local, input.remote, input.selector ?? input.pod!, taken);
  }
  const spec: SpecConfig = {
    name,
    ...(input.selector !== undefined && { selector: input.selector }),
    ...(input.pod !== undefined && { pod: input.pod }),
    ...(input.container !== undefined && { container: input.container }),
    ...(input.namespace !== undefined && { namespace: input.namespace }),
    ...(input.context !== undefined && { context: input.context }),
    ...(input.owner !== undefined && { owner: input.owner }),
    local,
    remote: input.remote,
    reload: reload as ReloadMode,
    ignore: [...(input.ignore ?? [])],
    target: input.target,
    ...(input.mirror === true && { mirror: true }),
    ...(input.keepSetIdBits === true && { keepSetIdBits: true }),
    ...(onSync.length > 0 && { onSync }),
    ...(ports.length > 0 && { ports }),
    ...(persist && { persist: input.persist }),
    ...(input.persistClaim !== undefined && { persistClaim: input.persistClaim }),
    // Recorded only where it matters, so the spec says why a system directory is allowed.
    ...(input.force === true && remotePathProblem(input.remote, false) !== null && { force: true }),
  };
  const clash = portsProblem([...existing.filter((s) => s.name !== name), spec]);
  if (clash !== null) throw invalid(`--port ${clash.message}`);
  const other = existing.find((s) => s.name !== name && specsOverlap(s, spec, defaults));
  if (other !== undefined) {
    throw invalid(`REMOTE ${spec.remote}: overlaps spec '${other.name}' (${other.remote}) in the same containers: give each spec its own remote path`);
  }
  return spec;
}

/** `<what>-<local dir>`, e.g. `api-src` for `-l app=api ./src`; numbered when taken. */
export function generateName(local: string, remote: string, what: string, taken: ReadonlySet<string>): string {
  const whatPart = slug(nameHint(what));
  const dirPart = slug(basename(local)) || slug(basename(remote)) || 'sync';
  const base = ([whatPart, dirPart].filter(Boolean).join('-') || 'sync').slice(0, 55).replace(/-+$/, '');
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** The telling word of a selector's first requirement: its value when it has letters (app=api → api), else its key's
 *  last segment (kx.demo=1 → demo); a pod name as it is. */
function nameHint(what: string): string {
  const [key = '', value = ''] = what.split(',')[0].split(/\s*(?:==|!=|=|\s(?:not)?in\s)\s*/);
  if (/[a-z]/i.test(value) && !value.includes('(')) return value;
  return key.replace(/^!/, '').split(/[./]/).pop() ?? '';
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function invalid(message: string): KxError {
  return new KxError(ErrorCode.InvalidArgument, message);
}
