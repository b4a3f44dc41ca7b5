// Reads and edits kx.yaml. Edits go through the yaml Document so the user's comments, order and formatting of
// everything untouched survive; writes are atomic (temp file in the same directory, then rename).

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Document, isSeq, type YAMLSeq } from 'yaml';
import { ErrorCode, KxError } from '../sync/errors.ts';
import { parseConfig, type ParsedConfig } from './parse.ts';
import type { SpecConfig } from './types.ts';

export class ConfigStore {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** The validated config; a missing file is an empty config. Throws KxError INVALID_CONFIG with file and line. */
  async load(): Promise<ParsedConfig> {
    return parseConfig(await this.readText(), this.file);
  }

  /** Append a spec; with replace, a spec of the same name is replaced in place (keeping its position). */
  async addSpec(spec: SpecConfig, opts: { replace?: boolean } = {}): Promise<void> {
    const { config, document } = await this.load();
    const index = config.specs.findIndex((s) => s.name === spec.name);
    if (index >= 0 && !opts.replace) {
      throw new KxError(ErrorCode.InvalidArgument, `a spec named '${spec.name}' already exists in ${this.file} (use --force to replace it)`);
    }
    const node = document.createNode(specToPlain(spec));
    const specs = specsSeq(document);
    if (index >= 0) specs.items[index] = node;
    else specs.items.push(node);
    await this.write(document);
  }

  /** Remove the named specs (all of them when names is 'all'); returns the names removed. */
  async removeSpecs(names: readonly string[] | 'all'): Promise<string[]> {
    const { config, document } = await this.load();
    const gone = config.specs.filter((s) => names === 'all' || names.includes(s.name)).map((s) => s.name);
    if (names !== 'all') {
      const missing = names.filter((n) => !gone.includes(n));
      if (missing.length > 0) throw new KxError(ErrorCode.NotFound, `no spec named ${missing.map((n) => `'${n}'`).join(', ')} in ${this.file}`);
    }
    if (gone.length === 0) return [];
    const specs = specsSeq(document);
    // config.specs and the seq's items are index-aligned: the config was parsed from this very document.
    specs.items = specs.items.filter((_, i) => !gone.includes(config.specs[i].name));
    await this.write(document);
    return gone;
  }

  private async readText(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new KxError(ErrorCode.Io, `${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes only a document that parses and validates: an edit never leaves a config kx would refuse. */
  private async write(document: Document): Promise<void> {
    const text = document.toString();
    parseConfig(text, this.file);
    const dir = dirname(this.file);
    await mkdir(dir, { recursive: true });
    const mode = await stat(this.file).then((s) => s.mode & 0o777, () => 0o600);
    const temp = join(dir, `.${basename(this.file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, text, { mode });
      await rename(temp, this.file);
    } catch (err) {
      await rm(temp, { force: true });
      throw new KxError(ErrorCode.Io, `${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function specsSeq(document: Document): YAMLSeq {
  if (document.contents === null) document.contents = document.createNode({});
  let specs = document.get('specs', true);
  if (!isSeq(specs)) {
    specs = document.createNode([]);
    document.set('specs', specs);
  }
  return specs as YAMLSeq;
}

/** Only what the user chose, in a fixed readable order; defaults are left out so the file stays short. */
function specToPlain(spec: SpecConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { name: spec.name };
  if (spec.target !== 'kubernetes') out.target = spec.target;
  for (const key of ['selector', 'pod', 'container', 'namespace', 'context'] as const) {
    if (spec[key] !== undefined) out[key] = spec[key];
  }
  out.local = spec.local;
  out.remote = spec.remote;
  if (spec.reload !== 'none') out.reload = spec.reload;
  if (spec.ignore.length > 0) out.ignore = [...spec.ignore];
  if (spec.owner !== undefined) out.owner = spec.owner;
  if (spec.mirror === true) out.mirror = true;
  if (spec.keepSetIdBits === true) out.keepSetIdBits = true;
  if (spec.force === true) out.force = true;
  if (spec.onSync !== undefined && spec.onSync.length > 0) out.onSync = spec.onSync.map((c) => ({ ...c }));
  if (spec.ports !== undefined && spec.ports.length > 0) out.ports = [...spec.ports];
  if (spec.persist === true || spec.persist === 'session') out.persist = spec.persist;
  if (spec.persistClaim !== undefined) out.persistClaim = spec.persistClaim;
  return out;
}
