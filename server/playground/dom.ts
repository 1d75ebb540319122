// A tiny element builder for the playground: no framework, re-render a panel's body on change.
type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | EventListener | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child))
  return el
}

export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: Array<SVGElement | string>): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag)
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value))
  for (const child of children) el.append(child)
  return el
}

/** A card with a title; `body` is replaced by `render()` on every `subscribe` notification. */
export function panel(title: string, testid: string, render: () => Node[], subscribe: (rerender: () => void) => void, extra?: Node): HTMLElement {
  const body = h('div', { class: 'panel-body' })
  const rerender = () => body.replaceChildren(...render())
  rerender()
  subscribe(rerender)
  return h('section', { class: 'panel', 'data-testid': testid }, h('header', {}, h('h2', {}, title), extra), body)
}

/**
 * Author colours: a dark one (white text on it passes 4.5:1, as do they on white) and a light tint
 * of it (dark text on it passes), distinct enough to tell authors apart.
 */
export const PALETTE: ReadonlyArray<{ ink: string; tint: string }> = [
  { ink: '#1d4ed8', tint: '#dbeafe' },
  { ink: '#b91c1c', tint: '#fee2e2' },
  { ink: '#15803d', tint: '#dcfce7' },
  { ink: '#7e22ce', tint: '#f3e8ff' },
  { ink: '#a15c07', tint: '#fef3c7' },
  { ink: '#0f766e', tint: '#ccfbf1' },
  { ink: '#be185d', tint: '#fce7f3' },
  { ink: '#4d5b16', tint: '#ecfccb' },
]

/** A stable colour per user id, for cursors and avatars. */
export function colorFor(id: string): string {
  return paletteFor(id).ink
}

export function paletteFor(id: string): { ink: string; tint: string } {
  let hash = 0
  for (const c of id) hash = (hash * 31 + c.charCodeAt(0)) >>> 0
  return PALETTE[hash % PALETTE.length]
}

export const timeOf = (at: number | string | undefined): string =>
  at === undefined ? '' : new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })

/** Runs a write and shows why it was not allowed instead of throwing into the console. */
export function attempt(write: () => void): void {
  try {
    write()
  } catch (error) {
    toast((error as Error).message)
  }
}

export function toast(text: string): void {
  const el = h('div', { class: 'toast', role: 'status' }, text)
  document.body.append(el)
  setTimeout(() => el.remove(), 4000)
}
