// The hand-written message types (proto/messages.ts) against kx.proto: every message built to its TypeScript
// shape must survive the real protobuf codec unchanged, so a field renamed or retyped on one side fails here.
import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { LOADER_OPTIONS, PROTO_FILE, loadRadarProto } from '../../proto/load.ts';
import { decodeApplyFrame, encodeApplyFrame } from '../../proto/apply-frame-codec.ts';
import type * as M from '../../proto/messages.ts';
import { opFromMsg, opToMsg, signatureFromMsg, signatureToMsg, entryFromMsg, entryToMsg, knownFromMsgs, knownToMsgs } from '../../pkg/wire/convert.ts';
import { deflateIfSmaller, deflatedLiteral, literalBytes } from '../../proto/literal.ts';
import { PROTOCOL_VERSION } from '../../proto/version.ts';
import type { Op } from '../../pkg/sync/types.ts';

const proto = loadRadarProto();

function roundTrip<T>(rpc: string, side: 'request' | 'response', message: T): T {
  const def = proto.service[rpc] as grpc.MethodDefinition<unknown, unknown>;
  const bytes = side === 'request' ? def.requestSerialize(message) : def.responseSerialize(message);
  const back = side === 'request' ? def.requestDeserialize(bytes) : def.responseDeserialize(bytes);
  return plain(back as T);
}

/** Bytes as plain arrays, without the `_field` markers proto-loader adds for proto3 optionals. */
function plain<T>(v: T): T {
  const walk = (x: unknown): unknown => {
    if (x instanceof Uint8Array) return [...x];
    if (Array.isArray(x)) return x.map(walk);
    if (x !== null && typeof x === 'object') {
      return Object.fromEntries(Object.entries(x).filter(([k]) => !k.startsWith('_')).map(([k, val]) => [k, walk(val)]));
    }
    return x;
  };
  return walk(v) as T;
}

/** Every key of an object tree (bytes as one value), to compare which fields a decoder sets. */
function shape(v: unknown): unknown {
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return typeof v;
  if (Array.isArray(v)) return v.map(shape);
  return Object.fromEntries(Object.entries(v).filter(([k, x]) => !k.startsWith('_') && x !== undefined).map(([k, x]) => [k, shape(x)]));
}

const target: M.Target = { containerId: 'containerd://abc', runtime: 'containerd', remotePath: '/app', owner: { uid: 1000, gid: 1000 } };

describe('kx.proto and proto/messages.ts', () => {
  it('declares the Radar service with its six calls', () => {
    expect(Object.keys(proto.service).sort()).toEqual(['Apply', 'Describe', 'Exec', 'GetDigests', 'GetManifest', 'GetSignatures', 'Handshake', 'Reload']);
  });

  it('carries Handshake request and response unchanged', () => {
    const req: M.HandshakeRequest = { protocolVersion: PROTOCOL_VERSION, capabilities: ['zlib'], client: 'kx/test', target };
    const res: M.HandshakeResponse = { protocolVersion: 1, capabilities: ['zlib', 'delta'], server: 'radar' };
    expect(roundTrip('Handshake', 'request', req)).toEqual(plain(req));
    expect(roundTrip('Handshake', 'response', res)).toEqual(plain(res));
  });

  it('carries manifests and rules unchanged', () => {
    const req: M.ManifestRequest = {
      target,
      rules: [{ base: 'src', patterns: ['*.o', '!keep.o'] }],
      known: [{ path: 'a/b', kind: 'file', mode: 0, size: 5, mtimeMs: 1_700_000_000_123, digest: '0123456789abcdef', linkTarget: '' }],
    };
    const chunk: M.ManifestChunk = {
      entries: [
        { path: 'a/b', kind: 'file', mode: 0o644, size: 5_000_000_000, mtimeMs: 1_700_000_000_123, digest: '0123456789abcdef', linkTarget: '' },
        { path: 'l', kind: 'symlink', mode: 0o777, size: 0, mtimeMs: 1, digest: '', linkTarget: '../x' },
      ],
    };
    expect(roundTrip('GetManifest', 'request', req)).toEqual(plain(req));
    expect(roundTrip('GetManifest', 'response', chunk)).toEqual(plain(chunk));
  });

  it('carries digest requests and replies unchanged', () => {
    const req: M.DigestsRequest = { target, paths: ['a/b', 'c'] };
    const reply: M.DigestsReply = { entries: [{ path: 'a/b', kind: 'file', mode: 0o644, size: 5, mtimeMs: 7, digest: '0123456789abcdef', linkTarget: '' }] };
    expect(roundTrip('GetDigests', 'request', req)).toEqual(plain(req));
    expect(roundTrip('GetDigests', 'response', reply)).toEqual(plain(reply));
  });

  it('carries signatures bit-exactly, including 64-bit strong hashes', () => {
    const sig = { blockSize: 512, fileSize: 1100, weak: new Uint32Array([1, 0xffffffff, 7]), strong: new BigUint64Array([0n, 2n ** 64n - 1n, 42n]) };
    const def = proto.service.GetSignatures as grpc.MethodDefinition<unknown, M.SignatureReply>;
    const back = def.responseDeserialize(def.responseSerialize(signatureToMsg('f', sig)));
    expect(signatureFromMsg(back)).toEqual(sig);
    expect(signatureFromMsg(def.responseDeserialize(def.responseSerialize(signatureToMsg('g', null))))).toBeNull();
  });

  it('carries every op kind and its content frames unchanged', () => {
    const ops: Op[] = [
      { op: 'mkdir', path: 'd', mode: 0o755 },
      { op: 'write', path: 'd/f', mode: 0o600, mtimeMs: 5, size: 9, digest: 'ffffffffffffffff', basis: 'delta', blockSize: 1024 },
      { op: 'write', path: 'd/g', mode: 0o644, mtimeMs: 0, size: 0, digest: 'ef46db3751d8e999', basis: 'whole' },
      { op: 'write', path: 'd/h', mode: 0o644, mtimeMs: 3, size: 4, digest: '', basis: 'whole' },
      { op: 'move', from: 'a', path: 'b', mode: 0o644, mtimeMs: 7, digest: '1111111111111111' },
      { op: 'copy', from: 'a', path: 'c', mode: 0o644, mtimeMs: 7, digest: '1111111111111111' },
      { op: 'symlink', path: 'l', target: '/abs/target' },
      { op: 'meta', path: 'm', mode: 0o700 },
      { op: 'meta', path: 'm', mode: 0o700, mtimeMs: 0 },
      { op: 'remove', path: 'r' },
      { op: 'write', path: 'e/f', mode: 0o644, mtimeMs: 3, size: 4, digest: '', basis: 'whole', expect: { kind: 'file', size: 9, mtimeMs: 1_700_000_000_123 } },
      { op: 'write', path: 'e/g', mode: 0o644, mtimeMs: 3, size: 4, digest: '', basis: 'whole', expect: null },
      { op: 'move', from: 'a', path: 'e/h', mode: 0o644, mtimeMs: 7, digest: '1111111111111111', expect: null },
      { op: 'symlink', path: 'e/l', target: 't', expect: { kind: 'symlink', size: 0, mtimeMs: 0 } },
      { op: 'remove', path: 'e/d', expect: { kind: 'dir', size: 0, mtimeMs: 0 } },
      { op: 'remove', path: 'e/c', expect: { kind: 'dir', size: 0, mtimeMs: 5, contents: [] } },
      {
        op: 'remove',
        path: 'e/e',
        expect: {
          kind: 'dir',
          size: 0,
          mtimeMs: 0,
          contents: [
            { path: 'f', kind: 'file', size: 2 ** 40, mtimeMs: -1 },
            { path: 'sub', kind: 'dir', size: 0, mtimeMs: 1_700_000_000_123 },
            { path: 'sub/l', kind: 'symlink', size: 0, mtimeMs: 0, target: '../f' },
            { path: 'sub/empty-link', kind: 'symlink', size: 0, mtimeMs: 0, target: '' },
          ],
        },
      },
    ];
    const frame: M.ApplyFrame = {
      open: { target },
      items: [
        ...ops.map((op): M.ApplyItem => ({ item: 'op', op: opToMsg(op) })),
        { item: 'copy', copy: { index: 3, count: 2 } },
        { item: 'literal', literal: { data: new Uint8Array([1, 2, 3]), deflated: false, rawSize: 3 } },
        { item: 'end', end: { abort: true, reason: 'gone', code: 'NOT_FOUND', digest: '' } },
        { item: 'end', end: { abort: false, reason: '', code: '', digest: '0123456789abcdef' } },
      ],
      flush: true,
    };
    const back = roundTrip('Apply', 'request', frame);
    expect(back).toEqual(plain(frame));
    const def = proto.service.Apply as grpc.MethodDefinition<M.ApplyFrame, unknown>;
    const decoded = def.requestDeserialize(def.requestSerialize(frame));
    expect(decoded.items.slice(0, ops.length).map((i) => (i.item === 'op' ? opFromMsg(i.op) : null))).toEqual(ops);
  });

  it('carries acks, describe and reload messages unchanged', () => {
    const ack: M.ApplyAck = { applied: 3, bytesReceived: 123456, errors: [{ path: '../x', code: 'INVALID_PATH', message: 'bad' }] };
    const desc: M.DescribeResponse = { path: '/proc/1/root/app', onVolume: 'yes', owner: { uid: 1, gid: 2 }, runtime: 'docker', containerName: 'web', namespace: 'dev' };
    const rel: M.ReloadRequest = { target, mode: 'signal:HUP' };
    const relRes: M.ReloadResponse = { action: 'restarted', newContainerId: 'containerd://def', message: '', filesKept: false };
    expect(roundTrip('Apply', 'response', ack)).toEqual(plain(ack));
    expect(roundTrip('Describe', 'request', { target })).toEqual(plain({ target }));
    expect(roundTrip('Describe', 'response', desc)).toEqual(plain(desc));
    expect(roundTrip('Reload', 'request', rel)).toEqual(plain(rel));
    expect(roundTrip('Reload', 'response', relRes)).toEqual(plain(relRes));
  });

  it('carries exec messages unchanged', () => {
    const req: M.ExecRequest = { target, argv: ['npm', 'ci', ''], workdir: '/app', timeoutMs: 60_000 };
    const out: M.ExecOutput = { stdout: Buffer.from('added 3 packages\n'), stderr: Buffer.from([0xff, 0]), exited: false, exitCode: 0, timedOut: false, truncated: false };
    const last: M.ExecOutput = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exited: true, exitCode: -1, timedOut: true, truncated: true };
    expect(roundTrip('Exec', 'request', req)).toEqual(plain(req));
    expect(roundTrip('Exec', 'response', out)).toEqual(plain(out));
    expect(roundTrip('Exec', 'response', last)).toEqual(plain(last));
  });

  it('converts entries both ways', () => {
    const file = { path: 'f', kind: 'file' as const, mode: 0o644, size: 3, mtimeMs: 9, digest: 'aaaaaaaaaaaaaaaa' };
    const link = { path: 'l', kind: 'symlink' as const, mode: 0o777, size: 0, mtimeMs: 9, target: 'f' };
    expect(entryFromMsg(entryToMsg(file))).toEqual(file);
    expect(entryFromMsg(entryToMsg(link))).toEqual(link);
  });

  it('carries a file entry without a digest as one without a digest', () => {
    const file = { path: 'f', kind: 'file' as const, mode: 0o644, size: 3, mtimeMs: 9 };
    expect(entryFromMsg(entryToMsg(file))).toEqual(file);
  });

  it('sends every file as known, with its digest when it has one', () => {
    const local = new Map([
      ['a', { path: 'a', kind: 'file' as const, mode: 0o644, size: 3, mtimeMs: 9, digest: 'aaaaaaaaaaaaaaaa' }],
      ['b', { path: 'b', kind: 'file' as const, mode: 0o644, size: 4, mtimeMs: 8 }],
      ['d', { path: 'd', kind: 'dir' as const, mode: 0o755, size: 0, mtimeMs: 8 }],
    ]);
    expect(knownFromMsgs(knownToMsgs(local))).toEqual(new Map([
      ['a', { path: 'a', kind: 'file', mode: 0, size: 3, mtimeMs: 9, digest: 'aaaaaaaaaaaaaaaa' }],
      ['b', { path: 'b', kind: 'file', mode: 0, size: 4, mtimeMs: 8 }],
    ]));
  });

  it('refuses an op whose precondition names an unknown kind', () => {
    expect(() => opFromMsg({ ...opToMsg({ op: 'remove', path: 'x' }), expect: { absent: false, kind: 'fifo', size: 0, mtimeMs: 0 } })).toThrow(/remove x: unknown expected kind 'fifo'/);
  });

  it('refuses expected contents anywhere but on a directory\'s remove, and contents of an unknown kind', () => {
    const contents = [{ path: 'f', kind: 'file' as const, size: 1, mtimeMs: 1 }];
    const onWrite = opToMsg({ op: 'write', path: 'w', mode: 0o644, mtimeMs: 3, size: 4, digest: '', basis: 'whole', expect: { kind: 'file', size: 1, mtimeMs: 1, contents } });
    expect(() => opFromMsg(onWrite)).toThrow(/write w: expected contents are for a directory's remove only/);
    expect(() => opFromMsg(opToMsg({ op: 'remove', path: 'x', expect: { kind: 'file', size: 1, mtimeMs: 1, contents } }))).toThrow(/remove x: expected contents are for a directory's remove only/);
    const fifo = opToMsg({ op: 'remove', path: 'x', expect: { kind: 'dir', size: 0, mtimeMs: 0, contents } });
    fifo.expect!.contents![0].kind = 'fifo';
    expect(() => opFromMsg(fifo)).toThrow(/remove x: unknown expected kind 'fifo' of "f"/);
  });

  it('refuses an unknown op name as a protocol error', () => {
    expect(() => opFromMsg({ ...opToMsg({ op: 'remove', path: 'x' }), op: 'chown' })).toThrow(/unknown op 'chown'/);
  });

  it('compresses literals only when it pays and inflates them back exactly', async () => {
    const text = new TextEncoder().encode('hello world\n'.repeat(1000));
    const packed = await deflateIfSmaller(text);
    expect(packed).not.toBeNull();
    expect(packed!.byteLength).toBeLessThan(text.byteLength / 4);
    expect(Buffer.from(await literalBytes(deflatedLiteral(packed!, text.byteLength), 'f'))).toEqual(Buffer.from(text));
    expect(await deflateIfSmaller(crypto.getRandomValues(new Uint8Array(4096)))).toBeNull();
  });

  it('refuses a compressed literal that inflates beyond its announced size', async () => {
    const text = new TextEncoder().encode('a'.repeat(10_000));
    const packed = (await deflateIfSmaller(text))!;
    await expect(literalBytes(deflatedLiteral(packed, 100), 'bomb')).rejects.toThrow(/bomb/);
  });
});

describe('ApplyFrame written directly (proto/apply-frame-codec.ts)', () => {
  const root = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: false });
  const type = root.lookupType('kx.v1.ApplyFrame');
  const decode = (bytes: Uint8Array): unknown => plain(type.toObject(type.decode(bytes), LOADER_OPTIONS));
  const reflected = (f: M.ApplyFrame): Uint8Array => type.encode(type.fromObject(f)).finish();

  const op = (over: Partial<M.OpMsg>): M.ApplyItem => ({
    item: 'op',
    op: { op: 'write', path: 'src/f.ts', from: '', mode: 0o644, size: 0, digest: '', basis: 'whole', blockSize: 0, linkTarget: '', expect: null, ...over },
  });
  const frames: [string, M.ApplyFrame][] = [
    ['an open frame with owner and set-id bits kept', { open: { target: { ...target, keepSetIdBits: true } }, items: [], flush: false }],
    ['an open frame of uid 0 with set-id bits unset explicitly', { open: { target: { containerId: '', runtime: '', remotePath: '/', owner: { uid: 0, gid: 0 }, keepSetIdBits: false } }, items: [], flush: true }],
    ['an open frame without a target', { open: { target: null }, items: [], flush: false }],
    ['every field of an op at its extremes', {
      open: null,
      flush: true,
      items: [
        op({ path: 'ünï/côdé/文件.txt', mode: 0o7777, mtimeMs: 0, size: 2 ** 40 + 3, digest: '0123456789abcdef', basis: 'delta', blockSize: 65_536 }),
        op({ mtimeMs: -1_234_567, expect: { absent: false, kind: 'file', size: 2 ** 33, mtimeMs: -5 } }),
        op({ mtimeMs: 1_700_000_000_123, expect: { absent: true, kind: '', size: 0, mtimeMs: 0 } }),
        op({ op: 'symlink', linkTarget: '../x', expect: { absent: false, kind: 'symlink', size: 0, mtimeMs: 0 } }),
        op({ op: 'move', from: 'a/b', digest: 'ffffffffffffffff', mtimeMs: 7 }),
        op({ op: 'remove', path: 'r', mode: 0, basis: '' }),
        op({ op: 'remove', path: 'd', basis: '', expect: { absent: false, kind: 'dir', size: 0, mtimeMs: 0, checkContents: true, contents: [] } }),
        op({
          op: 'remove',
          path: 'e',
          basis: '',
          expect: {
            absent: false,
            kind: 'dir',
            size: 0,
            mtimeMs: -3,
            checkContents: true,
            contents: [
              { path: 'ünï/文件', kind: 'file', size: 2 ** 40 + 1, mtimeMs: -1, linkTarget: '' },
              { path: 'l', kind: 'symlink', size: 0, mtimeMs: 1_700_000_000_123, linkTarget: '../x' },
              { path: '', kind: '', size: 0, mtimeMs: 0, linkTarget: '' },
            ],
          },
        }),
      ],
    }],
    ['content items: copies, empty, raw, deflated and large literals, ends', {
      open: null,
      flush: false,
      items: [
        { item: 'copy', copy: { index: 0, count: 1 } },
        { item: 'copy', copy: { index: 2 ** 31, count: 300 } },
        { item: 'literal', literal: { data: new Uint8Array(0), deflated: false, rawSize: 0 } },
        { item: 'literal', literal: { data: new Uint8Array([0, 255, 128]), deflated: true, rawSize: 99 } },
        { item: 'literal', literal: { data: new Uint8Array(300_000).map((_, i) => i % 251), deflated: false, rawSize: 300_000 } },
        { item: 'end', end: { abort: false, reason: '', code: '', digest: '' } },
        { item: 'end', end: { abort: true, reason: 'gone — ✗', code: 'NOT_FOUND', digest: '' } },
        { item: 'end', end: { abort: false, reason: '', code: '', digest: '0123456789abcdef' } },
      ],
    }],
  ];

  it.each(frames)('decodes %s as protobufjs\'s own encoding of it does', (_name, frame) => {
    const direct = encodeApplyFrame(frame);
    expect(decode(direct)).toEqual(decode(reflected(frame)));
    // and as the frame that went in (what radar's deserializer gives)
    const def = proto.service.Apply as grpc.MethodDefinition<M.ApplyFrame, M.ApplyFrame>;
    expect(plain(def.requestDeserialize(direct))).toEqual(plain(def.requestDeserialize(Buffer.from(reflected(frame)))));
  });

  it.each(frames)('reads %s as protobufjs reads it, from either encoding', (_name, frame) => {
    for (const bytes of [encodeApplyFrame(frame), Buffer.from(reflected(frame))]) {
      const ours = decodeApplyFrame(bytes);
      expect(plain(ours)).toEqual(decode(bytes));
      // the same fields, not only equal values: set where protobufjs sets them, absent where it leaves them out
      expect(shape(ours)).toEqual(shape(type.toObject(type.decode(bytes), LOADER_OPTIONS)));
    }
  });

  it('is radar\'s deserializer of the Apply call, its literals views of the frame', () => {
    const def = proto.service.Apply as grpc.MethodDefinition<M.ApplyFrame, M.ApplyFrame>;
    const bytes = encodeApplyFrame(frames[4][1]);
    const frame = def.requestDeserialize(bytes);
    const big = frame.items[4];
    expect(big.item === 'literal' && big.literal.data.buffer).toBe(bytes.buffer);
  });

  it('skips fields it does not know, of every wire type, at any depth, and reads fields in any order', () => {
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 0).bool(true); // flush first
    w.uint32((15 << 3) | 0).uint64(2 ** 40); // unknown varint
    w.uint32((16 << 3) | 1).fixed64(7); // unknown 64-bit
    w.uint32((17 << 3) | 5).fixed32(7); // unknown 32-bit
    w.uint32((18 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // unknown length-delimited
    // an item: an op whose fields come in reverse order with an unknown field among them
    w.uint32((2 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).fork();
    w.uint32((6 << 3) | 0).uint64(5);
    w.uint32((99 << 3) | 2).string('future');
    w.uint32((2 << 3) | 2).string('a/b');
    w.uint32((1 << 3) | 2).string('write');
    w.ldelim().ldelim();
    const bytes = Buffer.from(w.finish());
    const ours = decodeApplyFrame(bytes);
    expect(plain(ours)).toEqual(decode(bytes));
    expect(ours.flush).toBe(true);
    expect(ours.items).toEqual([{ item: 'op', op: { op: 'write', path: 'a/b', from: '', mode: 0, size: 5, digest: '', basis: '', blockSize: 0, linkTarget: '', expect: null } }]);
  });

  it('throws on a frame cut short or a field overrunning its message, as protobufjs does', () => {
    const bytes = encodeApplyFrame(frames[3][1]);
    for (const cut of [1, 2, 10, bytes.length - 1]) {
      expect(() => type.decode(bytes.subarray(0, cut))).toThrow();
      expect(() => decodeApplyFrame(bytes.subarray(0, cut))).toThrow(RangeError);
    }
    // an item announcing more bytes than its op holds: the op's length says 3, the item's says 4
    expect(() => decodeApplyFrame(Buffer.from([(2 << 3) | 2, 4, (1 << 3) | 2, 3, (1 << 3) | 2, 1, 0x61, 0]))).toThrow(RangeError);
    expect(() => decodeApplyFrame(Buffer.from([(3 << 3) | 3]))).toThrow(/wire type 3/);
  });

  it('is what the Apply call sends', () => {
    const frame = frames[3][1];
    const def = proto.service.Apply as grpc.MethodDefinition<M.ApplyFrame, M.ApplyFrame>;
    expect([...def.requestSerialize(frame)]).toEqual([...encodeApplyFrame(frame)]);
  });

  it('refuses a value the wire type cannot carry rather than writing a wrong one', () => {
    expect(() => encodeApplyFrame({ open: null, flush: false, items: [op({ size: -1 })] })).toThrow(RangeError);
    expect(() => encodeApplyFrame({ open: null, flush: false, items: [op({ mtimeMs: 1.5 })] })).toThrow(RangeError);
  });
});
