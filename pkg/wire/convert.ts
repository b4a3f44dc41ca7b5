// Engine values ↔ wire messages. Decoders validate what the peer sent (radar treats the client as untrusted)
// and throw KxError PROTOCOL for a malformed message; path checks are the receiver's job, not the codec's.
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { Entry, EntryKind, IgnoreRuleSet, Manifest, Op, PathError, Prior, PriorEntry, Signature } from '../sync/types.ts';
import type { EntryMsg, ExpectMsg, IgnoreRuleSetMsg, OpMsg, PathErrorMsg, SignatureReply } from '../../proto/messages.ts';

export function entryToMsg(e: Entry): EntryMsg {
  return {
    path: e.path,
    kind: e.kind,
    mode: e.mode,
    size: e.size,
    mtimeMs: e.mtimeMs,
    digest: e.digest ?? '',
    linkTarget: e.target ?? '',
  };
}

const KINDS: ReadonlySet<string> = new Set<EntryKind>(['file', 'dir', 'symlink']);

export function entryFromMsg(m: EntryMsg): Entry {
  if (!KINDS.has(m.kind)) throw protocol(`entry ${m.path}: unknown kind '${m.kind}'`);
  const kind = m.kind as EntryKind;
  const base = { path: m.path, kind, mode: m.mode, size: m.size, mtimeMs: m.mtimeMs };
  if (kind === 'file') return m.digest === '' ? base : { ...base, digest: m.digest };
  if (kind === 'symlink') return { ...base, target: m.linkTarget };
  return base;
}

export function manifestFromMsgs(entries: Iterable<EntryMsg>, into = new Map<string, Entry>()): Map<string, Entry> {
  for (const m of entries) into.set(m.path, entryFromMsg(m));
  return into;
}

export function manifestToMsgs(manifest: Manifest): EntryMsg[] {
  return [...manifest.values()].map(entryToMsg);
}

/** The files of a manifest as ManifestRequest.known: only what the quick check needs (all files, digest if known). */
export function knownToMsgs(manifest: Manifest): EntryMsg[] {
  const out: EntryMsg[] = [];
  for (const e of manifest.values()) {
    if (e.kind !== 'file') continue;
    out.push({ path: e.path, kind: 'file', mode: 0, size: e.size, mtimeMs: e.mtimeMs, digest: e.digest ?? '', linkTarget: '' });
  }
  return out;
}

/**
 * ManifestRequest.known as a Manifest for the receiver's scan. A malformed digest is dropped (the entry still
 * counts as the sender's file); other kinds are ignored.
 */
export function knownFromMsgs(msgs: readonly EntryMsg[]): Manifest {
  const out = new Map<string, Entry>();
  for (const m of msgs) {
    if (m.kind !== 'file') continue;
    const base = { path: m.path, kind: 'file', mode: 0, size: m.size, mtimeMs: m.mtimeMs } as const;
    out.set(m.path, /^[0-9a-f]{16}$/.test(m.digest) ? { ...base, digest: m.digest } : base);
  }
  return out;
}

export function rulesToMsg(rules: readonly IgnoreRuleSet[]): IgnoreRuleSetMsg[] {
  return rules.map((r) => ({ base: r.base, patterns: [...r.patterns] }));
}

export function rulesFromMsg(rules: readonly IgnoreRuleSetMsg[]): IgnoreRuleSet[] {
  return rules.map((r) => ({ base: r.base, patterns: [...r.patterns] }));
}

export function opToMsg(op: Op): OpMsg {
  const expect = 'expect' in op && op.expect !== undefined ? expectToMsg(op.expect) : null;
  // A write (one per file sent) is made in one object, not a default one spread into another.
  if (op.op === 'write') {
    return { op: op.op, path: op.path, from: '', mode: op.mode, mtimeMs: op.mtimeMs, size: op.size, digest: op.digest, basis: op.basis, blockSize: op.blockSize ?? 0, linkTarget: '', expect };
  }
  const m: OpMsg = { op: op.op, path: op.path, from: '', mode: 0, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '', expect };
  switch (op.op) {
    case 'mkdir':
      return { ...m, mode: op.mode };
    case 'move':
    case 'copy':
      return { ...m, from: op.from, mode: op.mode, mtimeMs: op.mtimeMs, digest: op.digest };
    case 'symlink':
      return { ...m, linkTarget: op.target };
    case 'meta':
      return op.mtimeMs === undefined ? { ...m, mode: op.mode } : { ...m, mode: op.mode, mtimeMs: op.mtimeMs };
    case 'remove':
      return m;
  }
}

function expectToMsg(prior: Prior | null): ExpectMsg {
  if (prior === null) return { absent: true, kind: '', size: 0, mtimeMs: 0, checkContents: false, contents: [] };
  return {
    absent: false,
    kind: prior.kind,
    size: prior.size,
    mtimeMs: prior.mtimeMs,
    checkContents: prior.contents !== undefined,
    contents: (prior.contents ?? []).map((c) => ({ path: c.path, kind: c.kind, size: c.size, mtimeMs: c.mtimeMs, linkTarget: c.target ?? '' })),
  };
}

/** The op's precondition, when it has one (unset: undefined; "nothing there": null). */
function expectFromMsg(m: OpMsg): { expect?: Prior | null } {
  const e = m.expect;
  if (e === undefined || e === null) return {};
  if (e.absent) return { expect: null };
  if (!isKind(e.kind)) throw protocol(`${m.op} ${m.path}: unknown expected kind '${e.kind}'`);
  if (e.checkContents !== true) return { expect: { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs } };
  if (m.op !== 'remove' || e.kind !== 'dir') throw protocol(`${m.op} ${m.path}: expected contents are for a directory's remove only`);
  const contents: PriorEntry[] = (e.contents ?? []).map((c) => {
    if (!isKind(c.kind)) throw protocol(`remove ${m.path}: unknown expected kind '${c.kind}' of ${JSON.stringify(c.path)}`);
    return c.kind === 'symlink' ? { path: c.path, kind: c.kind, size: c.size, mtimeMs: c.mtimeMs, target: c.linkTarget } : { path: c.path, kind: c.kind, size: c.size, mtimeMs: c.mtimeMs };
  });
  return { expect: { kind: e.kind, size: e.size, mtimeMs: e.mtimeMs, contents } };
}

function isKind(k: string): k is EntryKind {
  return k === 'file' || k === 'dir' || k === 'symlink';
}

export function opFromMsg(m: OpMsg): Op {
  const mtime = (): number => {
    if (m.mtimeMs === undefined || m.mtimeMs === null) throw protocol(`${m.op} ${m.path}: missing mtime_ms`);
    return m.mtimeMs;
  };
  switch (m.op) {
    case 'mkdir':
      return { op: 'mkdir', path: m.path, mode: m.mode };
    case 'write': {
      if (m.basis !== 'whole' && m.basis !== 'delta') throw protocol(`write ${m.path}: unknown basis '${m.basis}'`);
      const base = { op: 'write', path: m.path, mode: m.mode, mtimeMs: mtime(), size: m.size, digest: m.digest, ...expectFromMsg(m) } as const;
      return m.basis === 'delta' ? { ...base, basis: 'delta', blockSize: m.blockSize } : { ...base, basis: 'whole' };
    }
    case 'move':
    case 'copy':
      return { op: m.op, from: m.from, path: m.path, mode: m.mode, mtimeMs: mtime(), digest: m.digest, ...expectFromMsg(m) };
    case 'symlink':
      return { op: 'symlink', path: m.path, target: m.linkTarget, ...expectFromMsg(m) };
    case 'meta':
      return m.mtimeMs === undefined || m.mtimeMs === null
        ? { op: 'meta', path: m.path, mode: m.mode }
        : { op: 'meta', path: m.path, mode: m.mode, mtimeMs: m.mtimeMs };
    case 'remove':
      return { op: 'remove', path: m.path, ...expectFromMsg(m) };
    default:
      throw protocol(`op on ${m.path}: unknown op '${m.op}'`);
  }
}

export function signatureToMsg(path: string, sig: Signature | null): SignatureReply {
  if (sig === null) return { path, present: false, blockSize: 0, fileSize: 0, weak: new Uint8Array(0), strong: new Uint8Array(0) };
  const weak = new Uint8Array(sig.weak.length * 4);
  const strong = new Uint8Array(sig.strong.length * 8);
  const wv = new DataView(weak.buffer);
  const sv = new DataView(strong.buffer);
  sig.weak.forEach((w, i) => wv.setUint32(i * 4, w, true));
  sig.strong.forEach((s, i) => sv.setBigUint64(i * 8, s, true));
  return { path, present: true, blockSize: sig.blockSize, fileSize: sig.fileSize, weak, strong };
}

export function signatureFromMsg(m: SignatureReply): Signature | null {
  if (!m.present) return null;
  const blocks = m.fileSize === 0 ? 0 : m.blockSize > 0 ? Math.ceil(m.fileSize / m.blockSize) : -1;
  if (blocks < 0 || m.weak.byteLength !== blocks * 4 || m.strong.byteLength !== blocks * 8) {
    throw protocol(`signature of ${m.path}: ${m.weak.byteLength / 4} checksums for ${m.fileSize} bytes in blocks of ${m.blockSize}`);
  }
  const wv = new DataView(m.weak.buffer, m.weak.byteOffset, m.weak.byteLength);
  const sv = new DataView(m.strong.buffer, m.strong.byteOffset, m.strong.byteLength);
  const weak = new Uint32Array(blocks);
  const strong = new BigUint64Array(blocks);
  for (let i = 0; i < blocks; i++) {
    weak[i] = wv.getUint32(i * 4, true);
    strong[i] = sv.getBigUint64(i * 8, true);
  }
  return { blockSize: m.blockSize, fileSize: m.fileSize, weak, strong };
}

export function pathErrorToMsg(e: PathError): PathErrorMsg {
  return { path: e.path, code: e.code, message: e.message };
}

function protocol(message: string): KxError {
  return new KxError(ErrorCode.Protocol, message);
}
