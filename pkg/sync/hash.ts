// xxh64 content hashing for digests and strong block checksums, wrapping xxhash-wasm (which needs an async init).
import xxhash from 'xxhash-wasm';

export interface Hasher {
  /** xxh64 with seed 0. */
  h64(data: Uint8Array): bigint;
  /** Incremental xxh64; digest() gives 16 lowercase hex chars. */
  stream(): { update(data: Uint8Array): void; digest(): string };
}

/** Instantiate the wasm hasher. Callers own the result; nothing is cached here. */
export async function createHasher(): Promise<Hasher> {
  const api = await xxhash();
  return {
    h64: (data) => api.h64Raw(data, 0n),
    stream: () => {
      const state = api.create64(0n);
      return {
        update: (data) => {
          state.update(data);
        },
        digest: () => digestHex(state.digest()),
      };
    },
  };
}

/** 16 lowercase hex chars, zero-padded. */
export function digestHex(value: bigint): string {
  return BigInt.asUintN(64, value).toString(16).padStart(16, '0');
}
