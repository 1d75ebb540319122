// Workaround for Hocuspocus 4.7: `unloadDocument(document)` removes whatever document is
// registered under `document.name`. Server writes (serverWrite's direct connection, above all an
// observer's write on a last disconnect) leave late unload attempts for a document that already
// unloaded: DirectConnection.disconnect unloads it itself and its store's setTimeout tries again.
// If a client reopened the document meanwhile, that late attempt unregisters the new, live
// document without destroying it: an orphan whose awareness timer never stops.
// Hocuspocus abandons an unload whose beforeUnloadDocument hook throws, so this refuses every
// unload of a document that is not the registered one. test/unload-race.test.ts reproduces it.
import type { beforeUnloadDocumentPayload, Extension } from '@hocuspocus/server'
import { EXTENSION_PRIORITY } from './priorities.ts'

/** Thrown without a message, so Hocuspocus logs nothing for an abandoned stale unload. */
class StaleUnload extends Error {
  constructor() {
    super('')
    this.name = 'StaleUnload'
  }
}

export class StaleUnloadGuard implements Extension {
  readonly extensionName = 'stale-unload-guard'
  /** Before every other unload hook, so none of their side effects run for a stale unload. */
  readonly priority = EXTENSION_PRIORITY.staleUnload

  async beforeUnloadDocument({ instance, documentName, document }: beforeUnloadDocumentPayload): Promise<void> {
    if (instance.documents.get(documentName) !== document) throw new StaleUnload()
  }
}
