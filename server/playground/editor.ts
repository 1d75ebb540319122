// Rich text: ProseMirror bound to the document's `body` fragment with y-prosemirror, remote cursors
// labelled with the names the server stamped into presence.
import { EditorState } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { schema } from 'prosemirror-schema-basic'
import { keymap } from 'prosemirror-keymap'
import { baseKeymap } from 'prosemirror-commands'
import { ySyncPlugin, yCursorPlugin, yUndoPlugin, undo, redo } from 'y-prosemirror'
import type { Handle } from '@homeroom/client'
import { colorFor, h } from './dom.ts'

export function editorPanel(handle: Handle): HTMLElement {
  const host = h('div', { class: 'editor', 'data-testid': 'editor' })
  let view: EditorView | undefined
  const mount = () => {
    view?.destroy()
    const editable = handle.canWrite('body')
    view = new EditorView(host, {
      state: EditorState.create({
        schema,
        plugins: [
          ySyncPlugin(handle.doc.getXmlFragment('body')),
          yCursorPlugin(handle.awareness, { cursorBuilder }),
          yUndoPlugin(),
          keymap({ 'Mod-z': undo, 'Mod-y': redo, 'Mod-Shift-z': redo }),
          keymap(baseKeymap),
        ],
      }),
      editable: () => editable,
    })
  }
  void handle.ready.then(mount)
  // A recovery replaces the document: bind a fresh editor to it.
  handle.on('recovered', mount)
  return h('section', { class: 'panel wide', 'data-testid': 'panel-doc' }, h('header', {}, h('h2', {}, 'Class notes')), h('div', { class: 'panel-body' }, host))
}

function cursorBuilder(user: { id?: string; name?: string }): HTMLElement {
  const color = colorFor(user.id ?? user.name ?? '?')
  const cursor = h('span', { class: 'ProseMirror-yjs-cursor', style: `border-color: ${color}` })
  cursor.append(h('div', { style: `background-color: ${color}` }, user.name ?? 'someone'))
  return cursor
}
