// Stored rows compressed where it pays. Single keystrokes (about 30 bytes) do not shrink, so
// appends are stored as they come; merged entries and snapshots are deflated when that saves a
// tenth or more (B4's final state: 311 KB -> 106 KB with deflate-raw in 19 ms; brotli saves 8 %
// more at several times the time). A packed row is inflated back and compared before it is
// stored: nothing is stored that does not read back.
import { deflateRawSync, inflateRawSync } from 'node:zlib'

/** How a stored row's bytes are encoded: as they are, or deflate-raw. */
export type Packing = 0 | 1
const DEFLATE: Packing = 1

/** Rows smaller than this are not worth compressing. */
const MIN_BYTES = 256

export function pack(bytes: Uint8Array): { bytes: Uint8Array; packed: Packing } {
  if (bytes.byteLength < MIN_BYTES) return { bytes, packed: 0 }
  const deflated = deflateRawSync(bytes)
  if (deflated.byteLength > bytes.byteLength * 0.9) return { bytes, packed: 0 }
  if (!Buffer.from(inflateRawSync(deflated)).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) return { bytes, packed: 0 }
  return { bytes: deflated, packed: DEFLATE }
}

export function unpack(bytes: Uint8Array, packed: Packing): Uint8Array {
  if (packed === 0) return bytes
  if (packed === DEFLATE) return new Uint8Array(inflateRawSync(bytes))
  throw new Error(`unknown packing ${packed as number} of a stored row`)
}
