// Homeroom's Redis wire format. Homeroom owns it: nothing here depends on the private framing of
// @hocuspocus/extension-redis, whose layout earlier versions used and which this keeps byte for
// byte, so a rolling upgrade does not split a running cluster.
//
// Channels (N = REDIS_KEY_PREFIX without its trailing colon, default `homeroom`):
//
//   N:<document>          every instance holding <document> subscribes and publishes here
//   N#reply:<identifier>  answers addressed to one instance; only that instance subscribes
//
// Document names never hold `:` or `#`, so two namespaces cannot reach the same channel, and a
// document channel never looks like a reply channel.
//
// Frame (every Redis message, on either channel; varUint, varString and varUint8Array as lib0
// encodes them):
//
//   uint8           byte length of the sender's identifier (so at most 255 bytes)
//   uint8[length]   sender identifier, UTF-8 (INSTANCE_ID plus a random suffix)
//   varString       document name
//   varUint         message type (MessageType of @hocuspocus/server), then by type:
//
//   Sync (0) or SyncReply (4), followed by a y-protocols sync message:
//     varUint messageYjsSyncStep1 (0), varUint8Array state vector
//     varUint messageYjsSyncStep2 (1), varUint8Array update (what the requester lacks)
//     varUint messageYjsUpdate (2),    varUint8Array update
//   Awareness (1)           varUint8Array y-protocols awareness update (a null state: departure)
//   QueryAwareness (3)      nothing
//   BroadcastStateless (6)  varString payload
//   Signal (100, Homeroom's) varString addressee's user id, varString message: screen-share
//                           signaling for one user's connections to the document
//                           (extensions/signaling.ts); instances that predate it ignore it
//
// Who sends what, when:
//
//   document loaded          Sync/SyncStep1 and QueryAwareness on N:<document>
//   client update journaled  Sync/Update on N:<document> (before it is applied and acknowledged)
//   server write             Sync/Update on N:<document>
//   Redis back, or a gap     Sync/SyncStep1 on N:<document> (after a reconnect also
//                            QueryAwareness and the local clients' Awareness)
//   presence changed         Awareness on N:<document> (departures at once, the rest per turn)
//   stateless broadcast      BroadcastStateless on N:<document>
//   screen-share signal      Signal on N:<document> (each instance holding it relays the
//                            message to the addressee's connections it has, if any)
//
//   on Sync/SyncStep1        answer on N#reply:<sender>: SyncReply/SyncStep1 (our state vector),
//                            then Sync/SyncStep2 (what the sender lacks)
//   on SyncReply/SyncStep1   answer on N#reply:<sender>: Sync/SyncStep2 only (no further step 1)
//   on QueryAwareness        answer on N#reply:<sender>: Awareness of every state held
//
// Frames from oneself (Redis echoes them to every subscriber) are ignored.
import { MessageType } from '@hocuspocus/server'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as string from 'lib0/string'
import { encodeAwarenessUpdate, type Awareness } from 'y-protocols/awareness'
import { writeSyncStep1, writeUpdate } from 'y-protocols/sync'
import type * as Y from 'yjs'

export const DEFAULT_PREFIX = 'homeroom:'

/** Homeroom's own message type, far from those of @hocuspocus/server. */
export const SIGNAL_MESSAGE = 100

/** The namespace N for a REDIS_KEY_PREFIX: the channel names add the separator themselves. */
export const redisNamespace = (prefix: string): string => (prefix.endsWith(':') ? prefix.slice(0, -1) : prefix)

export const documentChannel = (namespace: string, documentName: string): string => `${namespace}:${documentName}`

export const replyChannel = (namespace: string, identifier: string): string => `${namespace}#reply:${identifier}`

/** A received frame: who sent it, for which document, its type, and a decoder at the type's body. */
export interface Frame {
  sender: string
  documentName: string
  type: MessageType
  decoder: decoding.Decoder
}

/** Frames messages as one sender. */
export class FrameWriter {
  private readonly sender: Uint8Array

  constructor(identifier: string) {
    this.sender = string.encodeUtf8(identifier)
    if (this.sender.length > 255) throw new Error(`Redis identifier longer than 255 bytes: ${identifier}`)
  }

  /** Starts a frame for a document and message type; the caller writes the body. */
  start(documentName: string, type: MessageType): encoding.Encoder {
    const encoder = encoding.createEncoder()
    encoding.writeUint8(encoder, this.sender.length)
    encoding.writeUint8Array(encoder, this.sender)
    encoding.writeVarString(encoder, documentName)
    encoding.writeVarUint(encoder, type)
    return encoder
  }

  syncStep1(documentName: string, doc: Y.Doc, type: MessageType.Sync | MessageType.SyncReply = MessageType.Sync): Uint8Array {
    const encoder = this.start(documentName, type)
    writeSyncStep1(encoder, doc)
    return encoding.toUint8Array(encoder)
  }

  update(documentName: string, update: Uint8Array): Uint8Array {
    const encoder = this.start(documentName, MessageType.Sync)
    writeUpdate(encoder, update)
    return encoding.toUint8Array(encoder)
  }

  /** The given clients' states (all held states when omitted). */
  awareness(documentName: string, awareness: Awareness, clients: number[] = [...awareness.getStates().keys()]): Uint8Array {
    const encoder = this.start(documentName, MessageType.Awareness)
    encoding.writeVarUint8Array(encoder, encodeAwarenessUpdate(awareness, clients))
    return encoding.toUint8Array(encoder)
  }

  queryAwareness(documentName: string): Uint8Array {
    return encoding.toUint8Array(this.start(documentName, MessageType.QueryAwareness))
  }

  /** A signaling message for the connections of user `to` to the document. */
  signal(documentName: string, to: string, message: string): Uint8Array {
    const encoder = this.start(documentName, SIGNAL_MESSAGE as MessageType)
    encoding.writeVarString(encoder, to)
    encoding.writeVarString(encoder, message)
    return encoding.toUint8Array(encoder)
  }

  broadcastStateless(documentName: string, payload: string): Uint8Array {
    const encoder = this.start(documentName, MessageType.BroadcastStateless)
    encoding.writeVarString(encoder, payload)
    return encoding.toUint8Array(encoder)
  }
}

/** Reads a frame's head; undefined for a malformed one. */
export function readFrame(data: Uint8Array): Frame | undefined {
  try {
    const decoder = decoding.createDecoder(data)
    const sender = string.decodeUtf8(decoding.readUint8Array(decoder, decoding.readUint8(decoder)))
    return { sender, documentName: decoding.readVarString(decoder), type: decoding.readVarUint(decoder), decoder }
  } catch {
    return undefined
  }
}
