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
  return s === '' ? 0 : lenField(field, Buffer.byteLength(s));
}

/** An unsigned varint field, left out when 0 (proto3). */
export function varintField(_field: number, v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

export function varintSize(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`protobuf encoding: ${v} is not an unsigned integer`);
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
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
    const len = Buffer.byteLength(s);
    this.tagLen(field, len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
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
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
}
