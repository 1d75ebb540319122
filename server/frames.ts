// Reading the head of a Hocuspocus frame: document address, message type, and for sync
// messages the Yjs payload. Parsed once per frame and shared by every hook that needs it.
import * as decoding from 'lib0/decoding'
import { MessageType } from '@hocuspocus/server'
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync'

export interface Frame {
  type: MessageType
  /** For sync messages: step 1, step 2 or update. */
  syncType?: number
  /** For sync step 2 and update messages: the Yjs update. For awareness: the awareness update. */
  payload?: Uint8Array
  /** Set by the write guard: the update holds nothing the document lacks (a resend), so it is not journaled again. */
  redundant?: boolean
}

const cache = new WeakMap<Uint8Array, Frame>()

/** Throws on a malformed frame. */
export function parseFrame(data: Uint8Array): Frame {
  const cached = cache.get(data)
  if (cached) return cached
  const decoder = decoding.createDecoder(data)
  // The document's name (Hocuspocus reads it): passed over as bytes, not decoded into a string.
  decoding.readVarUint8Array(decoder)
  const type = decoding.readVarUint(decoder) as MessageType
  const frame: Frame = { type }
  if (type === MessageType.Sync || type === MessageType.SyncReply) {
    frame.syncType = decoding.readVarUint(decoder)
    if (frame.syncType === messageYjsSyncStep2 || frame.syncType === messageYjsUpdate) frame.payload = decoding.readVarUint8Array(decoder)
    else if (frame.syncType !== messageYjsSyncStep1) throw new Error(`unknown sync message ${frame.syncType}`)
  } else if (type === MessageType.Awareness) {
    frame.payload = decoding.readVarUint8Array(decoder)
  }
  cache.set(data, frame)
  return frame
}

/** True for a frame that carries document changes from the client. */
export const carriesUpdate = (frame: Frame): frame is Frame & { payload: Uint8Array } =>
  (frame.syncType === messageYjsSyncStep2 || frame.syncType === messageYjsUpdate) && frame.payload !== undefined

/** An update with no structs and no deletions (a client's "nothing new" sync step 2). */
export const isEmptyUpdate = (update: Uint8Array): boolean => update.length <= 2 && update.every((b) => b === 0)
