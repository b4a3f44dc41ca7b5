// rsync's rolling weak checksum: two 16-bit sums, a = Σx and b = Σ(n-k)·x_k over a window of n bytes, which can
// slide one byte in O(1). Weak on purpose (cheap to roll); every weak hit is confirmed by a strong hash.

/** The weak checksum of data[start, end): (b << 16 | a) as an unsigned 32-bit integer. */
export function weakChecksum(data: Uint8Array, start: number, end: number): number {
  let a = 0;
  let b = 0;
  for (let i = start; i < end; i++) {
    a = (a + data[i]!) & 0xffff;
    b = (b + a) & 0xffff;
  }
  return packWeak(a, b);
}

export function packWeak(a: number, b: number): number {
  return (a | (b << 16)) >>> 0;
}

/** A window of fixed length sliding over bytes. delta.ts inlines the same arithmetic in its hot loop. */
export class RollingChecksum {
  readonly length: number;
  a = 0;
  b = 0;

  constructor(length: number) {
    this.length = length;
  }

  /** Start over on data[start, start + length). */
  reset(data: Uint8Array, start: number): void {
    let a = 0;
    let b = 0;
    for (let i = start, end = start + this.length; i < end; i++) {
      a = (a + data[i]!) & 0xffff;
      b = (b + a) & 0xffff;
    }
    this.a = a;
    this.b = b;
  }

  /** Slide by one byte: `out` leaves the window at its start, `inByte` enters at its end. */
  roll(out: number, inByte: number): void {
    this.a = (this.a - out + inByte) & 0xffff;
    this.b = (this.b - this.length * out + this.a) & 0xffff;
  }

  value(): number {
    return packWeak(this.a, this.b);
  }
}
