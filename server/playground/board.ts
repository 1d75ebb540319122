// Whiteboard: freehand strokes on a canvas, one map entry per stroke.
import type { BoardClient } from '@homeroom/client'
import { attempt, colorFor, h } from './dom.ts'

const WIDTH = 800
const HEIGHT = 450

export function boardPanel(board: BoardClient): HTMLElement {
  const canvas = h('canvas', { width: WIDTH, height: HEIGHT, class: 'board', 'data-testid': 'board', role: 'img', 'aria-label': 'Whiteboard: draw with the mouse, a finger or a pen' })
  const ctx = canvas.getContext('2d')!
  const me = board.handle.session.user
  const color = colorFor(me.sub)
  let stroke: number[] | null = null

  const drawLine = (points: number[], strokeColor: string) => {
    ctx.strokeStyle = strokeColor
    ctx.lineWidth = 4
    ctx.lineCap = 'round'
    ctx.lineJoin = 'round'
    ctx.beginPath()
    for (let i = 0; i + 1 < points.length; i += 2) (i === 0 ? ctx.moveTo : ctx.lineTo).call(ctx, points[i], points[i + 1])
    ctx.stroke()
  }
  const render = () => {
    ctx.clearRect(0, 0, WIDTH, HEIGHT)
    for (const [, el] of board.elements()) if (el.points) drawLine(el.points, el.color)
    if (stroke) drawLine(stroke, color)
    const count = board.elements().length
    status.textContent = `${count} stroke${count === 1 ? '' : 's'}${board.locked() ? ' · locked by the teacher' : ''}`
    lock?.setAttribute('aria-pressed', String(board.locked()))
  }
  const point = (event: PointerEvent): [number, number] => {
    const rect = canvas.getBoundingClientRect()
    return [Math.round(((event.clientX - rect.left) / rect.width) * WIDTH), Math.round(((event.clientY - rect.top) / rect.height) * HEIGHT)]
  }
  canvas.addEventListener('pointerdown', (event) => {
    canvas.setPointerCapture(event.pointerId)
    stroke = point(event)
  })
  canvas.addEventListener('pointermove', (event) => {
    if (!stroke) return
    stroke.push(...point(event))
    render()
  })
  canvas.addEventListener('pointerup', () => {
    const points = stroke
    stroke = null
    if (points && points.length >= 4) attempt(() => board.draw({ kind: 'stroke', points, color }))
    render()
  })

  const status = h('span', { class: 'muted', role: 'status', 'data-testid': 'board-status' })
  // Drawing without a pointer: a wave across the board, for keyboards and screen readers.
  let waves = 0
  const wave = h('button', { class: 'small ghost', 'data-testid': 'draw-wave' }, 'Draw a wave')
  wave.addEventListener('click', () => {
    const y = 60 + ((waves++ * 70) % (HEIGHT - 120))
    const points = Array.from({ length: 12 }, (_, i) => [60 + i * 55, y + (i % 2) * 40]).flat()
    attempt(() => board.draw({ kind: 'stroke', points, color }))
  })
  const lock = me.role === 'teacher'
    ? h('button', { class: 'small', 'data-testid': 'lock-board', onclick: () => attempt(() => board.handle.write('meta', (doc) => doc.getMap('meta').set('locked', !board.locked()))) }, 'Lock / unlock')
    : null
  board.handle.on('change', render)
  void board.handle.ready.then(render)
  return h('section', { class: 'panel', 'data-testid': 'panel-board', id: 'board' }, h('header', {}, h('h2', {}, 'Whiteboard'), h('div', { class: 'tools' }, wave, lock)), h('div', { class: 'panel-body' }, canvas, status))
}
