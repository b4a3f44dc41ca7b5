// A ManifestRequest with many known entries is encoded a slice at a time (the event loop runs in between): the bytes
// must decode to the very request an all-at-once encoding gives, and the client's serializer sends them as they are.
import { describe, expect, it } from 'vitest';
import { loadRadarProto } from '../../proto/load.ts';
import type { ManifestRequest } from '../../proto/messages.ts';

describe('encodeSliced', () => {
  const proto = loadRadarProto();
  const method = proto.service.GetManifest;

  it('gives the same request as encoding it at once, across many slices', async () => {
    const known = Array.from({ length: 3000 }, (_, i) => ({ path: `d${i % 7}/f${i}.txt`, kind: 'file', mode: 0, size: i * 3, mtimeMs: 1_700_000_000_000 + i, digest: i % 2 ? '0123456789abcdef' : '', linkTarget: '' }));
    const head = { target: { containerId: 'docker://abc', runtime: 'docker', remotePath: '/app' }, rules: [{ base: '', patterns: ['*.log'] }], known: [] };
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    // sliceMs 0: the event loop turns after every entry.
    const sliced = await proto.encodeSliced('kx.v1.ManifestRequest', head, 'known', known, 0);
    clearInterval(ticker);
    expect(turns).toBeGreaterThan(0);
    const whole = method.requestSerialize({ ...head, known });
    expect(method.requestDeserialize(sliced)).toEqual(method.requestDeserialize(whole));
    expect((method.requestDeserialize(sliced) as ManifestRequest).known).toHaveLength(3000);
    expect(method.requestSerialize(sliced)).toBe(sliced);
  });
});
