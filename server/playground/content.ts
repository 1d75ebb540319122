// Shows a decoded document (GET /api/v1/docs/<name>) as a person reads it: the notes as
// paragraphs of text, the whiteboard as its strokes.
import { h } from './dom.ts'

/** The paragraphs of a rich-text `body` as the server decodes it (the XML of the Yjs fragment). */
export function paragraphsOf(body: unknown): string[] {
  if (typeof body !== 'string' || body === '') return []
  const xml = new DOMParser().parseFromString(`<root>${body}</root>`, 'text/xml')
  if (xml.querySelector('parsererror')) return [body.replace(/<[^>]*>/g, ' ')]
  return [...xml.documentElement.children].map((el) => el.textContent ?? '')
}

export function notesView(decoded: { body?: unknown } | undefined): HTMLElement {
  const paragraphs = paragraphsOf(decoded?.body)
  return h('div', { class: 'past-notes', 'data-testid': 'past-content' }, ...(paragraphs.length ? paragraphs.map((p) => h('p', {}, p)) : [h('p', { class: 'muted' }, 'Empty at that time.')]))
}

interface Stroke {
  points?: number[]
  color?: string
}

export function boardView(decoded: { elements?: Record<string, Stroke> | null } | undefined, width = 800, height = 450): HTMLElement {
  const strokes = Object.values(decoded?.elements ?? {})
  const canvas = h('canvas', { width, height, class: 'board', role: 'img', 'aria-label': `The whiteboard then: ${strokes.length} stroke${strokes.length === 1 ? '' : 's'}`, 'data-testid': 'past-content', 'data-strokes': strokes.length })
  const ctx = canvas.getContext('2d')
  if (ctx) {
    ctx.lineWidth = 4
    ctx.lineCap = 'round'
    for (const stroke of strokes) {
      const points = stroke.points ?? []
      ctx.strokeStyle = stroke.color ?? '#1d2433'
      ctx.beginPath()
      for (let i = 0; i + 1 < points.length; i += 2) (i === 0 ? ctx.moveTo : ctx.lineTo).call(ctx, points[i], points[i + 1])
      ctx.stroke()
    }
  }
  return canvas
}
