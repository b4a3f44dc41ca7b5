// rsync's rolling weak checksum: two 16-bit sums, a = Σx and b = Σ(n-k)·x_k over a window of n bytes, which can
// slide one byte in O(1). Weak on purpose (cheap to roll); every weak hit is confirmed by a strong hash.

/** The weak checksum of data[start, end): (b << 16 | a) as an unsigned 32-bit integer. */
export function weakChecksum(data: Uint8Array, start: number, end: number): number {
  if (!LITTLE_ENDIAN) return bytewise(data, start, end, 0, 0);
  // Bytes up to a 4-byte boundary one by one, then whole words (see wordSums), then the tail.
  const head = Math.min(end, start + ((4 - ((data.byteOffset + start) & 3)) & 3));
  let sums = bytewise(data, start, head, 0, 0);
  const words = (end - head) >>> 2;
  if (words > 0) {
    sums = wordSums(new Uint32Array(data.buffer, data.byteOffset + head, words), sums & 0xffff, sums >>> 16);
  }
  return bytewise(data, head + words * 4, end, sums & 0xffff, sums >>> 16);
}

export function packWeak(a: number, b: number): number {
  return (a | (b << 16)) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function bytewise(data: Uint8Array, start: number, end: number, a: number, b: number): number {
  for (let i = start; i < end; i++) {
    a = (a + data[i]) & 0xffff;
    b = (b + a) & 0xffff;
  }
  return packWeak(a, b);
}

/** Words per chunk: 16-bit lane sums of 256 words cannot carry (256·255 < 2^16), nor any sum pass 2^31. */
const CHUNK_WORDS = 256;

/**
 * The sums continued over little-endian words, 2.5× the bytewise loop: per chunk of m bytes, the chunk's own
 * ca = Σx and cb = Σ(m-k)·x_k join as a += ca, b += m·a + cb. With S_j a word's byte sum and L_l the sum of
 * lane l over the chunk's words, cb = 4·Σ_j(n-j)·S_j − (L1 + 2·L2 + 3·L3): the first term is a running sum of a
 * running sum, the lanes are summed two at a time in 16-bit halves.
 */
function wordSums(words: Uint32Array, a: number, b: number): number {
  for (let w0 = 0; w0 < words.length; ) {
    const w1 = Math.min(words.length, w0 + CHUNK_WORDS);
    let t = 0;
    let u = 0;
    let even = 0;
    let odd = 0;
    for (let j = w0; j < w1; j++) {
      const w = words[j];
      const lo = w & 0x00ff00ff;
      const hi = (w >>> 8) & 0x00ff00ff;
      even = (even + lo) | 0;
      odd = (odd + hi) | 0;
      const v = lo + hi;
      t = (t + (v & 0xffff) + (v >>> 16)) | 0;
      u = (u + t) | 0;
    }
    const cb = 4 * u - ((odd & 0xffff) + 2 * (even >>> 16) + 3 * (odd >>> 16));
    b = (b + (w1 - w0) * 4 * a + cb) & 0xffff;
    a = (a + t) & 0xffff;
    w0 = w1;
  }
  return packWeak(a, b);
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
      a = (a + data[i]) & 0xffff;
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
