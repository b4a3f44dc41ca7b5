import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { LOADER_OPTIONS, PROTO_FILE, loadRadarProto } from '../../proto/load.ts';
import type { ManifestRequest } from '../../proto/messages.ts';
import { compactManifest } from '../../pkg/sync/manifest-table.ts';
import type { Entry } from '../../pkg/sync/types.ts';
import { knownFromMsgs, knownToMsgs } from '../../pkg/wire/convert.ts';
import { encodeKnown } from '../../pkg/transport/known-entries.ts';

const requestType = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: false }).lookupType('kx.v1.ManifestRequest');

/** What radar reads from a request: its own decoder over the bytes kx sends. */
function decode(bytes: Buffer): Required<ManifestRequest> {
  return requestType.toObject(requestType.decode(bytes), LOADER_OPTIONS) as Required<ManifestRequest>;
}

const files: Entry[] = [
  { path: 'a.txt', kind: 'file', mode: 0o644, size: 12, mtimeMs: 1_700_000_000_123 },
  { path: 'src/émoji-😀/ünï.ts', kind: 'file', mode: 0o600, size: 300, mtimeMs: 1_700_000_000_000, digest: '0123456789abcdef' },
  { path: 'empty', kind: 'file', mode: 0o644, size: 0, mtimeMs: 0 },
  { path: 'big.bin', kind: 'file', mode: 0o644, size: 2 ** 40 + 5, mtimeMs: 1_700_000_000_001 },
  { path: 'old', kind: 'file', mode: 0o644, size: 1, mtimeMs: -86_400_123 },
  { path: `deep/${'x'.repeat(300)}`, kind: 'file', mode: 0o644, size: 200, mtimeMs: 5 },
];
const others: Entry[] = [
  { path: 'src', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 1 },
  { path: 'link', kind: 'symlink', mode: 0o777, size: 3, mtimeMs: 2, target: 'a.txt' },
];
const manifest = new Map([...files, ...others].map((e) => [e.path, e]));

describe('known entries encoded directly', () => {
  it('decode to what reflection encoding of the same files gives: every file, no other kind', async () => {
    const { service } = loadRadarProto();
    const head = { target: { containerId: 'c1', runtime: '', remotePath: '/app' }, rules: [{ base: '', patterns: ['*.log'] }], known: [] };
    const direct = decode(Buffer.concat([service.GetManifest.requestSerialize(head), await encodeKnown(manifest)]));
    const reflected = decode(service.GetManifest.requestSerialize({ ...head, known: knownToMsgs(manifest) }));
    expect(direct).toEqual(reflected);
    expect(direct.known.map((k) => k.path)).toEqual(files.map((f) => f.path));
    expect(direct.target?.containerId).toBe('c1');
    expect(direct.rules).toEqual([{ base: '', patterns: ['*.log'] }]);
    // radar's view of them: the files, their size, mtime and digest.
    expect(knownFromMsgs(direct.known)).toEqual(new Map(files.map((f) => [f.path, { path: f.path, kind: 'file', mode: 0, size: f.size, mtimeMs: f.mtimeMs, ...(f.digest && { digest: f.digest }) }])));
  });

  it('encode a compact manifest and a large tree (grown past its first buffer) the same way', async () => {
    const many = new Map<string, Entry>();
    for (let i = 0; i < 5_000; i++) many.set(`dir-${i % 50}/file-${i}.ts`, { path: `dir-${i % 50}/file-${i}.ts`, kind: 'file', mode: 0o644, size: i * 7, mtimeMs: 1_700_000_000_000 + i, ...(i % 3 === 0 && { digest: i.toString(16).padStart(16, '0') }) });
    const plain = await encodeKnown(many);
    expect(plain.length).toBeGreaterThan(64 * 1024);
    expect(await encodeKnown(compactManifest(many))).toEqual(plain);
    expect(knownFromMsgs(decode(plain).known)).toEqual(knownFromMsgs(knownToMsgs(many)));
  });

  it('a fraction of a millisecond is dropped, as reflection encoding dropped it', async () => {
    const m = new Map<string, Entry>([['f', { path: 'f', kind: 'file', mode: 0o644, size: 1, mtimeMs: 1_700_000_000_000.75 }]]);
    expect(decode(await encodeKnown(m)).known[0].mtimeMs).toBe(1_700_000_000_000);
  });

  it('an empty manifest or one without files encodes to nothing', async () => {
    expect((await encodeKnown(new Map())).length).toBe(0);
    expect((await encodeKnown(new Map(others.map((e) => [e.path, e])))).length).toBe(0);
  });
});
