// The receiver's half of the block delta: rebuild a file from copy-block ops against the basis and literal bytes,
// writing sequentially and hashing what was written so the caller can check it against the promised digest.
import type { FileHandle } from 'node:fs/promises';
import { ErrorCode, KxError } from './errors.ts';
import type { Hasher } from './hash.ts';
import type { DeltaOp } from './types.ts';

/**
 * Rebuild a file: copy ops read blocks (offset index*blockSize, length count*blockSize clipped to EOF) from basis.
 * With `maxSize`, content past it fails with DIGEST_MISMATCH before it is written: a delta of a million copies of
 * one block is refused at its first byte too many, not after filling the disk.
 */
export async function applyDelta(
  basis: FileHandle | null,
  blockSize: number,
  ops: AsyncIterable<DeltaOp>,
  out: FileHandle,
  hasher: Hasher,
  maxSize: number = Number.MAX_SAFE_INTEGER,
): Promise<{ size: number; digest: string }> {
  const tooLong = (): KxError => new KxError(ErrorCode.DigestMismatch, `content longer than the announced ${maxSize} bytes`);
  const hash = hasher.stream();
  let size = 0;
  let copyBuf: Uint8Array | null = null;
  for await (const op of ops) {
    if (op.kind === 'literal') {
      if (size + op.data.length > maxSize) throw tooLong();
      await writeAll(out, op.data, op.data.length, size);
      hash.update(op.data);
      size += op.data.length;
      continue;
    }
    if (basis === null) throw new KxError(ErrorCode.Protocol, `copy op for block ${op.index} without a basis file`);
    if (!(Number.isSafeInteger(op.index) && op.index >= 0 && Number.isSafeInteger(op.count) && op.count > 0)) {
      throw new KxError(ErrorCode.Protocol, `copy op with invalid block range ${op.index}+${op.count}`);
    }
    // Sized to the copy (up to COPY_CHUNK): a fresh 1 MiB per small file was most of the receiver's GC.
    const span = Math.min(COPY_CHUNK, op.count * blockSize);
    if (copyBuf === null || copyBuf.length < span) copyBuf = new Uint8Array(span);
    let from = op.index * blockSize;
    let left = op.count * blockSize;
    let copied = 0;
    while (left > 0) {
      const want = Math.min(left, copyBuf.length);
      const { bytesRead } = await basis.read(copyBuf, 0, want, from);
      if (bytesRead === 0) break; // EOF: the last block is short
      if (size + bytesRead > maxSize) throw tooLong();
      const chunk = copyBuf.subarray(0, bytesRead);
      await writeAll(out, chunk, bytesRead, size);
      hash.update(chunk);
      size += bytesRead;
      copied += bytesRead;
      from += bytesRead;
      left -= bytesRead;
    }
    if (copied === 0) {
      throw new KxError(ErrorCode.Protocol, `copy op for block ${op.index} lies past the end of the basis file`);
    }
  }
  return { size, digest: hash.digest() };
}

const COPY_CHUNK = 1024 * 1024;

async function writeAll(out: FileHandle, data: Uint8Array, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await out.write(data, done, length - done, position + done);
    done += bytesWritten;
  }
}
