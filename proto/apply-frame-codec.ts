// ApplyFrame in protobuf's wire format, written directly: the sender's hottest message (a frame of small files holds
// three items per file), for which protobufjs's reflection (fromObject, then encode through a chain of per-field
// writer objects) cost about a fifth of kx's CPU in an initial sync. The bytes are plain kx.proto ApplyFrame: any
// protobuf decoder reads them (radar's is protobufjs), and the contract test decodes what this writes with
// protobufjs and compares it with the frame that went in. load.ts's serializer uses it for ApplyFrame.
//
// One pass sizes the frame, a second writes it into one Buffer: each literal's bytes are copied once.
//
// Radar reads the frame back the same way (decodeApplyFrame): straight into the plain objects protobufjs's
// decode-then-toObject builds (LOADER_OPTIONS: defaults set, oneofs named, 64-bit integers as numbers, bytes as
// Buffer views of the frame), without its message instances in between, which were about a tenth of radar's
// main-thread time in an initial sync. Any valid protobuf encoding of ApplyFrame is read (fields in any order,
// unknown fields skipped); a truncated or malformed frame throws.
import { ProtoWriter, bytesField, int64Size, lenField, strField, varintField } from './proto-writer.ts';
import type { ApplyFrame, ApplyItem, ApplyOpen, ExpectEntryMsg, ExpectMsg, FileEndMsg, LiteralMsg, OpMsg, Target } from './messages.ts';

/** The frame's protobuf encoding. */
export function encodeApplyFrame(frame: ApplyFrame): Buffer {
  let size = 0;
  if (frame.open != null) size += lenField(1, openSize(frame.open));
  for (const item of frame.items) size += lenField(2, itemSize(item));
  if (frame.flush) size += 2;
  const w = new ProtoWriter(Buffer.allocUnsafe(size));
  if (frame.open != null) {
    w.tagLen(1, openSize(frame.open));
    writeOpen(w, frame.open);
  }
  for (const item of frame.items) {
    w.tagLen(2, itemSize(item));
    writeItem(w, item);
  }
  if (frame.flush) w.bool(3, true);
  if (w.pos !== size) throw new Error(`ApplyFrame encoding: wrote ${w.pos} bytes of ${size}`);
  return w.buf;
}

/**
 * A frame written field by field into a buffer the sender owns: the bytes encodeApplyFrame gives for the same open,
 * items and flush, in that order. The sender reads a small file straight into the frame (rawLiteralStart, the file's
 * bytes at `pos`, rawLiteralEnd) instead of into a buffer of its own that encoding would copy again.
 */
export class FrameFields {
  readonly #w: ProtoWriter;

  constructor(buf: Buffer, pos = 0) {
    this.#w = new ProtoWriter(buf);
    this.#w.pos = pos;
  }

  get buf(): Buffer {
    return this.#w.buf;
  }

  get pos(): number {
    return this.#w.pos;
  }

  /** Moves the write position (back to a mark, or past bytes written at it directly). */
  set pos(p: number) {
    this.#w.pos = p;
  }

  open(o: ApplyOpen): void {
    this.#w.tagLen(1, openSize(o));
    writeOpen(this.#w, o);
  }

  item(item: ApplyItem): void {
    this.#w.tagLen(2, itemSize(item));
    writeItem(this.#w, item);
  }

  /**
   * An op item whose op's size (opMsgSize) the caller has: the bytes item() writes for { item: 'op', op }, without
   * sizing the op again (the sender sizes each file's op once, to make room for it, and writes it with that size).
   */
  opItem(op: OpMsg, opBytes: number): void {
    this.#w.tagLen(2, lenField(1, opBytes));
    writeOp(this.#w, op, opBytes);
  }

  /** A file's end item, not aborted, with the digest ('' for none): the bytes item() writes for that end. */
  fileEnd(digest: string): void {
    const end = strField(4, digest);
    this.#w.tagLen(2, lenField(4, end));
    this.#w.tagLen(4, end);
    this.#w.str(4, digest);
  }

  flush(): void {
    this.#w.bool(3, true);
  }

  /** The fields of a raw literal of n > 0 bytes before its bytes; the bytes go at `pos`, then rawLiteralEnd(n). */
  rawLiteralStart(n: number): void {
    const lit = bytesField(1, n) + varintField(3, n);
    this.#w.tagLen(2, lenField(3, lit));
    this.#w.tagLen(3, lit);
    this.#w.tagLen(1, n);
  }

  /** Steps over the n bytes written at `pos` and ends the literal. */
  rawLiteralEnd(n: number): void {
    this.#w.pos += n;
    this.#w.varint(3, n);
  }
}

/** Bytes of a frame's open field. */
export function openFieldSize(o: ApplyOpen): number {
  return lenField(1, openSize(o));
}

/** Bytes of one item as a frame field. */
export function itemFieldSize(item: ApplyItem): number {
  return lenField(2, itemSize(item));
}

/** Bytes of an op's message (what FrameFields.opItem takes). */
export function opMsgSize(op: OpMsg): number {
  return opSize(op);
}

/** Bytes of an op item as a frame field, from its op's size (opMsgSize). */
export function opItemFieldSize(opBytes: number): number {
  return lenField(2, lenField(1, opBytes));
}

/** Bytes of a file's end item as a frame field, not aborted, with the digest (see FrameFields.fileEnd). */
export function fileEndFieldSize(digest: string): number {
  return lenField(2, lenField(4, strField(4, digest)));
}

/** Bytes of a raw literal item of n > 0 bytes, its bytes included. */
export function rawLiteralFieldSize(n: number): number {
  return lenField(2, lenField(3, bytesField(1, n) + varintField(3, n)));
}

/** Bytes of the flush field. */
export const FLUSH_FIELD_BYTES = 2;

// ---- sizes (fields at their default value are left out, as proto3 allows; optional fields when set) ----

function openSize(o: ApplyOpen): number {
  return o.target === null ? 0 : lenField(1, targetSize(o.target));
}

function targetSize(t: Target): number {
  let n = strField(1, t.containerId) + strField(2, t.runtime) + strField(3, t.remotePath);
  if (t.owner != null) n += lenField(4, varintField(1, t.owner.uid) + varintField(2, t.owner.gid));
  if (t.keepSetIdBits != null) n += 2;
  return n;
}

function itemSize(item: ApplyItem): number {
  switch (item.item) {
    case 'op':
      return lenField(1, opSize(item.op));
    case 'copy':
      return lenField(2, varintField(1, item.copy.index) + varintField(2, item.copy.count));
    case 'literal':
      return lenField(3, bytesField(1, item.literal.data.byteLength) + (item.literal.deflated ? 2 : 0) + varintField(3, item.literal.rawSize));
    case 'end':
      return lenField(4, endSize(item.end));
  }
}

function opSize(m: OpMsg): number {
  let n = strField(1, m.op) + strField(2, m.path) + strField(3, m.from) + varintField(4, m.mode);
  if (m.mtimeMs != null) n += 1 + int64Size(m.mtimeMs);
  n += varintField(6, m.size) + strField(7, m.digest) + strField(8, m.basis) + varintField(9, m.blockSize) + strField(10, m.linkTarget);
  if (m.expect != null) n += lenField(11, expectSize(m.expect));
  return n;
}

function expectSize(e: ExpectMsg): number {
  let n = (e.absent ? 2 : 0) + strField(2, e.kind) + varintField(3, e.size) + (e.mtimeMs === 0 ? 0 : 1 + int64Size(e.mtimeMs));
  if (e.checkContents === true) n += 2;
  for (const c of e.contents ?? []) n += lenField(6, expectEntrySize(c));
  return n;
}

function expectEntrySize(c: ExpectEntryMsg): number {
  return strField(1, c.path) + strField(2, c.kind) + varintField(3, c.size) + (c.mtimeMs === 0 ? 0 : 1 + int64Size(c.mtimeMs)) + strField(5, c.linkTarget);
}

function endSize(e: FileEndMsg): number {
  return (e.abort ? 2 : 0) + strField(2, e.reason) + strField(3, e.code) + strField(4, e.digest);
}

// ---- writing ----

function writeOpen(w: ProtoWriter, o: ApplyOpen): void {
  if (o.target === null) return;
  const t = o.target;
  w.tagLen(1, targetSize(t));
  w.str(1, t.containerId);
  w.str(2, t.runtime);
  w.str(3, t.remotePath);
  if (t.owner != null) {
    w.tagLen(4, varintField(1, t.owner.uid) + varintField(2, t.owner.gid));
    w.varint(1, t.owner.uid);
    w.varint(2, t.owner.gid);
  }
  if (t.keepSetIdBits != null) w.bool(5, t.keepSetIdBits, true);
}

function writeItem(w: ProtoWriter, item: ApplyItem): void {
  switch (item.item) {
    case 'op':
      writeOp(w, item.op, opSize(item.op));
      return;
    case 'copy':
      w.tagLen(2, varintField(1, item.copy.index) + varintField(2, item.copy.count));
      w.varint(1, item.copy.index);
      w.varint(2, item.copy.count);
      return;
    case 'literal': {
      const l = item.literal;
      w.tagLen(3, bytesField(1, l.data.byteLength) + (l.deflated ? 2 : 0) + varintField(3, l.rawSize));
      w.bytes(1, l.data);
      w.bool(2, l.deflated);
      w.varint(3, l.rawSize);
      return;
    }
    case 'end': {
      const e = item.end;
      w.tagLen(4, endSize(e));
      w.bool(1, e.abort);
      w.str(2, e.reason);
      w.str(3, e.code);
      w.str(4, e.digest);
      return;
    }
  }
}

/** An op item's op field: its tag and length (opBytes: opSize(m)), then its fields. */
function writeOp(w: ProtoWriter, m: OpMsg, opBytes: number): void {
  w.tagLen(1, opBytes);
  w.str(1, m.op);
  w.str(2, m.path);
  w.str(3, m.from);
  w.varint(4, m.mode);
  if (m.mtimeMs != null) w.int64(5, m.mtimeMs, true);
  w.varint(6, m.size);
  w.str(7, m.digest);
  w.str(8, m.basis);
  w.varint(9, m.blockSize);
  w.str(10, m.linkTarget);
  if (m.expect != null) {
    const e = m.expect;
    w.tagLen(11, expectSize(e));
    w.bool(1, e.absent);
    w.str(2, e.kind);
    w.varint(3, e.size);
    w.int64(4, e.mtimeMs);
    if (e.checkContents === true) w.bool(5, true);
    for (const c of e.contents ?? []) {
      w.tagLen(6, expectEntrySize(c));
      w.str(1, c.path);
      w.str(2, c.kind);
      w.varint(3, c.size);
      w.int64(4, c.mtimeMs);
      w.str(5, c.linkTarget);
    }
  }
}

const VARINT = 0;
const LEN = 2;

// ---- reading ----

/** The frame decoded from its protobuf encoding, as protobufjs's toObject with LOADER_OPTIONS gives it. */
export function decodeApplyFrame(buf: Buffer): ApplyFrame {
  const r = new FrameReader(buf);
  const end = buf.length;
  const frame: ApplyFrame = { open: null, items: [], flush: false };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | LEN:
        frame.open = readOpen(r, r.end());
        break;
      case (2 << 3) | LEN:
        frame.items.push(readItem(r, r.end()));
        break;
      case (3 << 3) | VARINT:
        frame.flush = r.bool();
        break;
      default:
        r.skip(tag);
    }
  }
  return frame;
}

function readOpen(r: FrameReader, end: number): ApplyOpen {
  const o: ApplyOpen = { target: null };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | LEN)) o.target = readTarget(r, r.end());
    else r.skip(tag);
  }
  return r.at(end, o);
}

function readTarget(r: FrameReader, end: number): Target {
  const t: Target = { containerId: '', runtime: '', remotePath: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | LEN: t.containerId = r.string(); break;
      case (2 << 3) | LEN: t.runtime = r.string(); break;
      case (3 << 3) | LEN: t.remotePath = r.string(); break;
      case (4 << 3) | LEN: {
        const oEnd = r.end();
        const owner = { uid: 0, gid: 0 };
        while (r.pos < oEnd) {
          const t2 = r.uint32();
          if (t2 === ((1 << 3) | VARINT)) owner.uid = r.uint32();
          else if (t2 === ((2 << 3) | VARINT)) owner.gid = r.uint32();
          else r.skip(t2);
        }
        t.owner = r.at(oEnd, owner);
        break;
      }
      case (5 << 3) | VARINT: t.keepSetIdBits = r.bool(); break;
      default: r.skip(tag);
    }
  }
  return r.at(end, t);
}

function readItem(r: FrameReader, end: number): ApplyItem {
  let item = {} as ApplyItem;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | LEN:
        item = { item: 'op', op: readOp(r, r.end()) };
        break;
      case (2 << 3) | LEN: {
        const cEnd = r.end();
        const copy = { index: 0, count: 0 };
        while (r.pos < cEnd) {
          const t2 = r.uint32();
          if (t2 === ((1 << 3) | VARINT)) copy.index = r.uint32();
          else if (t2 === ((2 << 3) | VARINT)) copy.count = r.uint32();
          else r.skip(t2);
        }
        item = { item: 'copy', copy: r.at(cEnd, copy) };
        break;
      }
      case (3 << 3) | LEN: {
        const lEnd = r.end();
        const literal: LiteralMsg = { data: EMPTY, deflated: false, rawSize: 0 };
        while (r.pos < lEnd) {
          const t2 = r.uint32();
          if (t2 === ((1 << 3) | LEN)) literal.data = r.bytes();
          else if (t2 === ((2 << 3) | VARINT)) literal.deflated = r.bool();
          else if (t2 === ((3 << 3) | VARINT)) literal.rawSize = r.uint32();
          else r.skip(t2);
        }
        item = { item: 'literal', literal: r.at(lEnd, literal) };
        break;
      }
      case (4 << 3) | LEN: {
        const eEnd = r.end();
        const fileEnd: FileEndMsg = { abort: false, reason: '', code: '', digest: '' };
        while (r.pos < eEnd) {
          const t2 = r.uint32();
          switch (t2) {
            case (1 << 3) | VARINT: fileEnd.abort = r.bool(); break;
            case (2 << 3) | LEN: fileEnd.reason = r.string(); break;
            case (3 << 3) | LEN: fileEnd.code = r.string(); break;
            case (4 << 3) | LEN: fileEnd.digest = r.string(); break;
            default: r.skip(t2);
          }
        }
        item = { item: 'end', end: r.at(eEnd, fileEnd) };
        break;
      }
      default:
        r.skip(tag);
    }
  }
  return r.at(end, item);
}

function readOp(r: FrameReader, end: number): OpMsg {
  const m: OpMsg = { op: '', path: '', from: '', mode: 0, size: 0, digest: '', basis: '', blockSize: 0, linkTarget: '', expect: null };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | LEN: m.op = r.string(); break;
      case (2 << 3) | LEN: m.path = r.string(); break;
      case (3 << 3) | LEN: m.from = r.string(); break;
      case (4 << 3) | VARINT: m.mode = r.uint32(); break;
      case (5 << 3) | VARINT: m.mtimeMs = r.int64(); break;
      case (6 << 3) | VARINT: m.size = r.uint64(); break;
      case (7 << 3) | LEN: m.digest = r.string(); break;
      case (8 << 3) | LEN: m.basis = r.string(); break;
      case (9 << 3) | VARINT: m.blockSize = r.uint32(); break;
      case (10 << 3) | LEN: m.linkTarget = r.string(); break;
      case (11 << 3) | LEN: m.expect = readExpect(r, r.end()); break;
      default: r.skip(tag);
    }
  }
  return r.at(end, m);
}

function readExpect(r: FrameReader, end: number): ExpectMsg {
  const e: ExpectMsg = { absent: false, kind: '', size: 0, mtimeMs: 0, checkContents: false, contents: [] };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | VARINT: e.absent = r.bool(); break;
      case (2 << 3) | LEN: e.kind = r.string(); break;
      case (3 << 3) | VARINT: e.size = r.uint64(); break;
      case (4 << 3) | VARINT: e.mtimeMs = r.int64(); break;
      case (5 << 3) | VARINT: e.checkContents = r.bool(); break;
      case (6 << 3) | LEN: e.contents?.push(readExpectEntry(r, r.end())); break;
      default: r.skip(tag);
    }
  }
  return r.at(end, e);
}

function readExpectEntry(r: FrameReader, end: number): ExpectEntryMsg {
  const c: ExpectEntryMsg = { path: '', kind: '', size: 0, mtimeMs: 0, linkTarget: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | LEN: c.path = r.string(); break;
      case (2 << 3) | LEN: c.kind = r.string(); break;
      case (3 << 3) | VARINT: c.size = r.uint64(); break;
      case (4 << 3) | VARINT: c.mtimeMs = r.int64(); break;
      case (5 << 3) | LEN: c.linkTarget = r.string(); break;
      default: r.skip(tag);
    }
  }
  return r.at(end, c);
}

const EMPTY = Buffer.alloc(0);
const I64 = 1;
const I32 = 5;

class FrameReader {
  readonly #buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  /** A varint, its low 32 bits unsigned (protobufjs's uint32: a longer encoding's high bits are dropped). */
  uint32(): number {
    return this.#varint(true);
  }

  uint64(): number {
    return this.#varint(false, true);
  }

  int64(): number {
    return this.#varint(false, false);
  }

  bool(): boolean {
    return this.#varint(true) !== 0;
  }

  /** A length-delimited field's end, checked against the frame's. */
  end(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.#buf.length) throw truncated();
    return end;
  }

  string(): string {
    const end = this.end();
    const s = this.#buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** A view of the frame (as protobufjs's decode of a Buffer gives it). */
  bytes(): Buffer {
    const end = this.end();
    const b = this.#buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  /** `v` once the message read exactly to `end` (a field overrunning its message is a malformed frame). */
  at<T>(end: number, v: T): T {
    if (this.pos !== end) throw new RangeError(`ApplyFrame decoding: a field overruns its message at ${this.pos}`);
    return v;
  }

  /** Past a field of an unknown number (or of an unexpected wire type). */
  skip(tag: number): void {
    switch (tag & 7) {
      case VARINT:
        this.#varint(true);
        return;
      case I64:
        this.#advance(8);
        return;
      case LEN:
        this.pos = this.end();
        return;
      case I32:
        this.#advance(4);
        return;
      default:
        // Groups (3, 4) are not proto3; 6 and 7 are no wire type.
        throw new RangeError(`ApplyFrame decoding: wire type ${tag & 7} at ${this.pos}`);
    }
  }

  #advance(n: number): void {
    if (this.pos + n > this.#buf.length) throw truncated();
    this.pos += n;
  }

  /** protobufjs's LongBits.toNumber over the varint's low and high 32 bits. */
  #varint(low32: boolean, unsigned = true): number {
    const buf = this.#buf;
    let lo = 0;
    let b: number;
    let i = 0;
    for (; i < 4; i++) {
      if (this.pos >= buf.length) throw truncated();
      b = buf[this.pos++];
      lo = (lo | ((b & 127) << (i * 7))) >>> 0;
      if (b < 128) return lo;
    }
    if (this.pos >= buf.length) throw truncated();
    b = buf[this.pos++];
    lo = (lo | ((b & 127) << 28)) >>> 0;
    let hi = (b & 127) >> 4;
    if (b >= 128) {
      for (i = 0; i < 5; i++) {
        if (this.pos >= buf.length) throw truncated();
        b = buf[this.pos++];
        hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
        if (b < 128) break;
      }
      if (b >= 128) throw new RangeError(`ApplyFrame decoding: varint longer than 10 bytes at ${this.pos}`);
    }
    if (low32) return lo;
    if (!unsigned && hi >>> 31) {
      const nlo = (~lo + 1) >>> 0;
      let nhi = ~hi >>> 0;
      if (nlo === 0) nhi = (nhi + 1) >>> 0;
      return -(nlo + nhi * 4294967296);
    }
    return lo + hi * 4294967296;
  }
}

function truncated(): RangeError {
  return new RangeError('ApplyFrame decoding: the frame ends inside a field');
}
