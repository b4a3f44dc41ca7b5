// Protobuf's wire format, written by hand for the messages kx encodes on a hot path (apply-frame-codec.ts's frames,
// known-entries.ts's manifest): the size of each field first (so a message's length prefix is known before its
// fields), then the fields into a buffer of that size. Field numbers below 16 only: every tag is one byte.

const VARINT = 0;
const LEN = 2;

/** A length-delimited field holding `len` bytes. */
export function lenField(_field: number, len: number): number {
  return 1 + varintSize(len) + len;
}

/** A bytes field, left out when empty (proto3). */
export function bytesField(field: number, len: number): number {
  return len === 0 ? 0 : lenField(field, len);
}

/** A string field, left out when empty (proto3). */
export function strField(field: number, s: string): number {
  return s === '' ? 0 : lenField(field, utf8Length(s));
}

/**
 * The string's UTF-8 length: counted here for a short ASCII string (a path, an op's name: several per file), where
 * Buffer.byteLength's native call costs more than the count.
 */
export function utf8Length(s: string): number {
  if (s.length > SHORT_STRING) return Buffer.byteLength(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/** Strings up to this length are measured by hand (see utf8Length). */
const SHORT_STRING = 128;

/** An unsigned varint field, left out when 0 (proto3). */
export function varintField(_field: number, v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

export function varintSize(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`protobuf encoding: ${v} is not an unsigned integer`);
  // By comparison, not division: a file's mtime in ms is a 6-byte varint, sized for each file sent.
  if (v < 2 ** 7) return 1;
  if (v < 2 ** 14) return 2;
  if (v < 2 ** 21) return 3;
  if (v < 2 ** 28) return 4;
  if (v < 2 ** 35) return 5;
  if (v < 2 ** 42) return 6;
  if (v < 2 ** 49) return 7;
  return 8;
}

/** int64: a negative value is its 64-bit two's complement, ten bytes. */
export function int64Size(v: number): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf encoding: ${v} is not an integer`);
  return v < 0 ? 10 : varintSize(v);
}

/** Writes fields into `buf` from `pos` on; fields at their default are left out unless asked for. */
export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  tagLen(field: number, len: number): void {
    this.buf[this.pos++] = (field << 3) | LEN;
    this.#raw(len);
  }

  str(field: number, s: string): void {
    if (s === '') return;
    const len = utf8Length(s);
    this.tagLen(field, len);
    // A string whose UTF-8 length is its length is ASCII: its bytes are its Latin-1 bytes, which Buffer writes at
    // half the cost of encoding UTF-8 (measured on paths, length included: ~100 against ~200 ns).
    this.pos += this.buf.write(s, this.pos, len, len === s.length ? 'latin1' : 'utf8');
  }

  bytes(field: number, data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.tagLen(field, data.byteLength);
    this.buf.set(data, this.pos);
    this.pos += data.byteLength;
  }

  varint(field: number, v: number): void {
    if (v === 0) return;
    this.buf[this.pos++] = (field << 3) | VARINT;
    this.#raw(v);
  }

  /** An int64 field; `always`: written even when 0 (a proto3 optional field that is set). */
  int64(field: number, v: number, always = false): void {
    if (v === 0 && !always) return;
    this.buf[this.pos++] = (field << 3) | VARINT;
    if (v >= 0) {
      this.#raw(v);
      return;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  bool(field: number, v: boolean, always = false): void {
    if (!v && !always) return;
    this.buf[this.pos++] = (field << 3) | VARINT;
    this.buf[this.pos++] = v ? 1 : 0;
  }

  #raw(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    if (v >= 2 ** 28) {
      // The low 28 bits as four groups, then the rest (below 2 ** 25 for a safe integer) with 32-bit operations.
      const low = v % 2 ** 28;
      buf[pos++] = (low & 0x7f) | 0x80;
      buf[pos++] = ((low >>> 7) & 0x7f) | 0x80;
      buf[pos++] = ((low >>> 14) & 0x7f) | 0x80;
      buf[pos++] = ((low >>> 21) & 0x7f) | 0x80;
      v = Math.floor(v / 2 ** 28);
    }
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }
}
