// Which Docker engine kx talks to, found the way the docker CLI finds it: DOCKER_HOST (with DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH), else the context DOCKER_CONTEXT names, else the current context of ~/.docker/config.json
// (its endpoint and TLS material under ~/.docker/contexts), else the default socket. Unix sockets and tcp (plain or
// TLS) are supported; ssh:// and npipe:// are refused with one line naming where they came from.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DockerOptions } from 'dockerode';
import { ErrorCode, KxError } from '../sync/errors.ts';

export const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock';

export interface EngineAddress {
  /** unix:///path or tcp://host:port, as the user would write DOCKER_HOST. */
  readonly url: string;
  /** Where kx found it, for messages: "DOCKER_HOST", "context colima", "the default socket". */
  readonly source: string;
  /** The socket path of a unix engine. */
  readonly socketPath?: string;
  /** TLS material of a tcp engine, PEM text; the directory it came from when there is one. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly dir?: string };
  /** dockerode's connection options. */
  readonly options: DockerOptions;
}

/** Resolves the engine from `env` and the docker CLI's config under `home`. KxError INVALID_CONFIG naming the source. */
export async function resolveEngineAddress(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): Promise<EngineAddress> {
  const configDir = env.DOCKER_CONFIG || join(home, '.docker');
  if (env.DOCKER_HOST) {
    const tls = env.DOCKER_TLS_VERIFY ? await tlsFromDir(env.DOCKER_CERT_PATH || configDir, 'DOCKER_CERT_PATH') : undefined;
    return engineAt(env.DOCKER_HOST, 'DOCKER_HOST', tls);
  }
  const context = env.DOCKER_CONTEXT || (await currentContext(configDir));
  if (context === undefined || context === 'default') return engineAt(`unix://${DEFAULT_ENGINE_SOCKET}`, 'the default socket', undefined);
  return contextEngine(configDir, context, env.DOCKER_CONTEXT ? 'DOCKER_CONTEXT' : join(configDir, 'config.json'));
}

function engineAt(url: string, source: string, tls: EngineAddress['tls']): EngineAddress {
  if (url.startsWith('unix://')) {
    const socketPath = url.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new KxError(ErrorCode.InvalidConfig, `${source} ${url}: expected unix:///absolute/path`);
    return { url, source, socketPath, options: { socketPath } };
  }
  if (url.startsWith('tcp://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new KxError(ErrorCode.InvalidConfig, `${source} ${url}: expected tcp://HOST:PORT`);
    }
    const port = parsed.port ? Number(parsed.port) : tls ? 2376 : 2375;
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const base = { host, port };
    const options: DockerOptions = tls
      ? { ...base, protocol: 'https', ...(tls.ca && { ca: tls.ca }), ...(tls.cert && { cert: tls.cert }), ...(tls.key && { key: tls.key }) }
      : { ...base, protocol: 'http' };
    return { url: `tcp://${parsed.host.includes(':') ? parsed.host : `${parsed.host}:${port}`}`, source, ...(tls && { tls }), options };
  }
  const scheme = url.split('://')[0] ?? url;
  throw new KxError(ErrorCode.InvalidConfig, `${source} ${url}: kx reaches Docker engines over unix:// or tcp://, not ${scheme}:// (point it at the engine's socket or tcp port)`);
}

async function currentContext(configDir: string): Promise<string | undefined> {
  const file = join(configDir, 'config.json');
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  try {
    const ctx = (JSON.parse(text) as { currentContext?: unknown }).currentContext;
    return typeof ctx === 'string' && ctx !== '' ? ctx : undefined;
  } catch (err) {
    throw new KxError(ErrorCode.InvalidConfig, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** A named context's docker endpoint: contexts/meta/<sha256 of name>/meta.json, TLS in contexts/tls/<sha256>/docker. */
async function contextEngine(configDir: string, name: string, namedIn: string): Promise<EngineAddress> {
  const id = createHash('sha256').update(name).digest('hex');
  const file = join(configDir, 'contexts', 'meta', id, 'meta.json');
  const text = await readOptional(file);
  if (text === undefined) throw new KxError(ErrorCode.InvalidConfig, `docker context "${name}" (from ${namedIn}) not found: no ${file}`);
  let endpoint: { Host?: unknown } | undefined;
  try {
    endpoint = (JSON.parse(text) as { Endpoints?: { docker?: { Host?: unknown } } }).Endpoints?.docker;
  } catch (err) {
    throw new KxError(ErrorCode.InvalidConfig, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof endpoint?.Host !== 'string' || endpoint.Host === '') throw new KxError(ErrorCode.InvalidConfig, `${file}: Endpoints.docker.Host is missing`);
  const tlsDir = join(configDir, 'contexts', 'tls', id, 'docker');
  const tls = endpoint.Host.startsWith('tcp://') ? await tlsFromDir(tlsDir, `context ${name}'s TLS material`, true) : undefined;
  return engineAt(endpoint.Host, `docker context "${name}"`, tls);
}

/**
 * ca.pem, cert.pem and key.pem of `dir`. With `optional`, a directory holding none of them means plain tcp
 * (a context without TLS material); otherwise each must be there.
 */
async function tlsFromDir(dir: string, what: string, optional = false): Promise<EngineAddress['tls']> {
  const [ca, cert, key] = await Promise.all(['ca.pem', 'cert.pem', 'key.pem'].map((f) => readOptional(join(dir, f), null)));
  if (optional && !ca && !cert && !key) return undefined;
  const missing = (['ca.pem', 'cert.pem', 'key.pem'] as const).filter((_, i) => ![ca, cert, key][i]);
  if (missing.length > 0 && !optional) throw new KxError(ErrorCode.InvalidConfig, `${what} ${dir}: missing ${missing.join(', ')}`);
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }), dir };
}

async function readOptional(file: string): Promise<string | undefined>;
async function readOptional(file: string, encoding: null): Promise<Buffer | undefined>;
async function readOptional(file: string, encoding: 'utf8' | null = 'utf8'): Promise<string | Buffer | undefined> {
  try {
    return encoding === null ? await readFile(file) : await readFile(file, encoding);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KxError(ErrorCode.InvalidConfig, `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
}
