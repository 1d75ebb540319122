// Rich text: ProseMirror bound to the document's `body` fragment with y-prosemirror, remote cursors
// labelled with the names the server stamped into presence.
import { EditorState, Plugin } from 'prosemirror-state'
import { Decoration, DecorationSet, EditorView } from 'prosemirror-view'
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
          placeholder(editable ? 'Type the class notes here: everyone in the class sees them as you type.' : 'No notes yet.'),
        ],
      }),
      editable: () => editable,
      attributes: { role: 'textbox', 'aria-multiline': 'true', 'aria-label': 'Class notes', ...(editable ? {} : { 'aria-readonly': 'true' }) },
    })
  }
  void handle.ready.then(mount)
  // A recovery replaces the document: bind a fresh editor to it.
  handle.on('recovered', mount)
  return h('section', { class: 'panel wide', 'data-testid': 'panel-doc', id: 'notes' }, h('header', {}, h('h2', {}, 'Class notes')), h('div', { class: 'panel-body' }, host))
}

/** Grey text in an empty editor saying what it is for (removed as soon as there is text). */
function placeholder(text: string): Plugin {
  return new Plugin({
    props: {
      decorations: (state) => {
        const doc = state.doc
        if (doc.childCount > 1 || doc.textContent !== '' || !doc.firstChild) return null
        return DecorationSet.create(doc, [Decoration.node(0, doc.firstChild.nodeSize, { class: 'placeholder', 'data-placeholder': text })])
      },
    },
  })
}

function cursorBuilder(user: { id?: string; name?: string }): HTMLElement {
  const color = colorFor(user.id ?? user.name ?? '?')
  const cursor = h('span', { class: 'ProseMirror-yjs-cursor', style: `border-color: ${color}` })
  cursor.append(h('div', { style: `background-color: ${color}` }, user.name ?? 'someone'))
  return cursor
}
