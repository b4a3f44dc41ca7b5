// radar's reader of an Apply stream: a write whose whole content is in the frame at hand is handed over at once
// (buffered), anything else is streamed as before, and either way the next op is read where the content ends.
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ApplyFrameReader } from '../../radar/grpc/apply-stream.ts';
import type { ApplyFrame, ApplyItem, OpMsg } from '../../proto/messages.ts';
import type { BatchOp, DeltaOp } from '../../pkg/sync/types.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = (path: string, size: number, digest = ''): ApplyItem => ({
  item: 'op',
  op: { op: 'write', path, from: '', mode: 0o644, mtimeMs: 1, size, digest, basis: 'whole', blockSize: 0, linkTarget: '', expect: null } satisfies OpMsg,
});
const literal = (data: Uint8Array, deflated = false, rawSize = data.byteLength): ApplyItem => ({ item: 'literal', literal: { data, deflated, rawSize } });
const end = (digest = '', abort = false): ApplyItem => ({ item: 'end', end: { abort, reason: abort ? 'gone' : '', code: abort ? 'NOT_FOUND' : '', digest } });

async function* frames(...list: ApplyFrame[]): AsyncGenerator<ApplyFrame> {
  yield* list;
}
async function reader(...items: ApplyItem[][]): Promise<ApplyFrameReader> {
  const list = items.map((its, i): ApplyFrame => ({ open: i === 0 ? { target: null } : null, items: its, flush: i === items.length - 1 }));
  const r = new ApplyFrameReader(frames(...list));
  await r.open();
  return r;
}
const buffered = (op: BatchOp): readonly DeltaOp[] | undefined =>
  op.op === 'write' ? (op.body as unknown as { buffered(): readonly DeltaOp[] | undefined }).buffered() : undefined;
async function drain(body: AsyncIterable<DeltaOp>): Promise<string> {
  let s = '';
  for await (const d of body) if (d.kind === 'literal') s += new TextDecoder().decode(d.data);
  return s;
}

describe('ApplyFrameReader', () => {
  it('hands over a write whose content is all in the frame at once, with its digest and wire bytes, and reads on after it', async () => {
    const r = await reader([write('a', 5), literal(enc('hel')), literal(enc('lo')), end('0123456789abcdef'), { item: 'op', op: { ...((write('b', 0) as { op: OpMsg }).op), op: 'remove' } }]);
    const seen: string[] = [];
    for await (const op of r.batch()) {
      if (op.op === 'write') {
        const got = buffered(op);
        expect(got?.map((d) => (d.kind === 'literal' ? new TextDecoder().decode(d.data) : d.kind))).toEqual(['hel', 'lo']);
        expect(op.digestAtEnd?.()).toBe('0123456789abcdef');
        expect(r.takeWireBytes()).toBe(5);
      }
      seen.push(`${op.op} ${op.path}`);
    }
    expect(seen).toEqual(['write a', 'remove b']);
  });

  it('streams a write whose content goes on in the next frame, and one with a deflated literal', async () => {
    const packed = deflateRawSync(enc('zipped!'));
    const r = await reader([write('a', 6), literal(enc('abc'))], [literal(enc('def')), end(), write('z', 7), literal(packed, true, 7), end()]);
    const got: string[] = [];
    for await (const op of r.batch()) {
      if (op.op !== 'write') continue;
      expect(buffered(op)).toBeUndefined();
      got.push(`${op.path}=${await drain(op.body)}`);
    }
    expect(got).toEqual(['a=abcdef', 'z=zipped!']);
  });

  it('leaves an abandoned file to the stream, which reports why', async () => {
    const r = await reader([write('a', 3), literal(enc('abc')), end('', true), write('b', 1), literal(enc('b')), end()]);
    const got: string[] = [];
    for await (const op of r.batch()) {
      if (op.op !== 'write') continue;
      const b = buffered(op);
      if (b === undefined) await expect(drain(op.body)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      got.push(`${op.path}:${b === undefined ? 'streamed' : 'buffered'}`);
    }
    expect(got).toEqual(['a:streamed', 'b:buffered']);
  });

  it('skips the content of a write the tree did not read', async () => {
    const r = await reader([write('a', 3), literal(enc('abc')), end(), write('b', 1), literal(enc('b')), end()]);
    const paths: string[] = [];
    for await (const op of r.batch()) paths.push(op.path);
    expect(paths).toEqual(['a', 'b']);
    expect(r.takeWireBytes()).toBe(4);
  });
});
