// The SQLite journal's write-ahead file. Committing one SQLite transaction per update costs
// about 100 µs (the WAL pages of the row, its index and the document's counters); one write(2)
// of a checksummed record costs a few. A record written is in the page cache, as safe from a
// killed process as a WAL commit with synchronous=NORMAL, so an update is acknowledged once its
// record is written, and the store moves records into SQLite a few milliseconds later, many in
// one transaction (sqlite.ts). The file starts with its generation; SQLite keeps, in the same
// transaction as the moved rows, the generation and the offset moved so far, so recovery after a
// crash moves exactly the records not moved yet (never one twice).
//
// Layout: "HRJL" u32 generation, then records: u32 payload length, u32 CRC-32 of the payload,
// payload (document, time, user, origin, update; lib0 encoding). A record that is cut short or
// fails its checksum (a write torn by a power loss) ends the readable log.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { JournalOrigin, NewEntry } from './types.ts'

const MAGIC = 0x4c4a5248 // "HRJL" little-endian
export const LOG_HEADER_BYTES = 8
const RECORD_HEADER_BYTES = 8

export interface LoggedEntry {
  doc: string
  entry: NewEntry
  /** The log offset just after this record. */
  end: number
}

export interface LogContents {
  generation: number
  entries: Array<LoggedEntry & { start: number }>
  /** Where the readable log ends (the file's size, unless its tail is torn). */
  end: number
  size: number
}

export class AppendLog {
  readonly file: string
  private readonly fd: number
  generation = 0
  size = 0

  constructor(file: string) {
    this.file = file
    this.fd = openSync(file, 'a+')
  }

  /** Reads the whole log (at start-up, before any append). An empty or headerless file reads as generation 0. */
  read(): LogContents {
    const size = fstatSync(this.fd).size
    const bytes = Buffer.alloc(size)
    for (let at = 0; at < size; ) at += readSync(this.fd, bytes, at, size - at, at)
    if (size < LOG_HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) return { generation: 0, entries: [], end: 0, size }
    const generation = bytes.readUInt32LE(4)
    const entries: LogContents['entries'] = []
    let at = LOG_HEADER_BYTES
    while (at + RECORD_HEADER_BYTES <= size) {
      const length = bytes.readUInt32LE(at)
      const end = at + RECORD_HEADER_BYTES + length
      if (end > size) break
      const payload = bytes.subarray(at + RECORD_HEADER_BYTES, end)
      if (crc32(payload) !== bytes.readUInt32LE(at + 4)) break
      entries.push({ ...decodeRecord(payload), start: at, end })
      at = end
    }
    return { generation, entries, end: at, size }
  }

  /** Writes one record; returns the offset after it. Throws when the write fails (nothing is acknowledged then). */
  append(doc: string, entry: NewEntry): number {
    const encoded = encodeRecord(doc, entry)
    const record = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    const payload = record.subarray(RECORD_HEADER_BYTES)
    record.writeUInt32LE(payload.byteLength, 0)
    record.writeUInt32LE(crc32(payload), 4)
    this.writeAll(record)
    return this.size
  }

  /** Empties the log and starts `generation` (everything in it was moved). */
  reset(generation: number): void {
    ftruncateSync(this.fd, 0)
    this.size = 0
    const header = Buffer.alloc(LOG_HEADER_BYTES)
    header.writeUInt32LE(MAGIC, 0)
    header.writeUInt32LE(generation, 4)
    this.writeAll(header)
    this.generation = generation
  }

  close(): void {
    closeSync(this.fd)
  }

  private writeAll(bytes: Buffer): void {
    // The file is opened for appending: each write(2) lands at its end, whatever the offset.
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(this.fd, bytes, done)
    this.size += bytes.byteLength
  }
}

/** A record with room for its header (filled in by `append`): the payload is encoded in place, not copied after. */
function encodeRecord(doc: string, entry: NewEntry): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeUint32(encoder, 0)
  encoding.writeUint32(encoder, 0)
  encoding.writeVarString(encoder, doc)
  encoding.writeFloat64(encoder, entry.at)
  encoding.writeUint8(encoder, entry.user === null ? 0 : 1)
  encoding.writeVarString(encoder, entry.user ?? '')
  encoding.writeVarString(encoder, entry.origin)
  encoding.writeVarUint8Array(encoder, entry.update)
  return encoding.toUint8Array(encoder)
}

function decodeRecord(payload: Uint8Array): { doc: string; entry: NewEntry } {
  const decoder = decoding.createDecoder(payload)
  const doc = decoding.readVarString(decoder)
  const at = decoding.readFloat64(decoder)
  const hasUser = decoding.readUint8(decoder) === 1
  const user = decoding.readVarString(decoder)
  const origin = decoding.readVarString(decoder) as JournalOrigin
  const update = decoding.readVarUint8Array(decoder).slice()
  return { doc, entry: { at, user: hasUser ? user : null, origin, update } }
}
