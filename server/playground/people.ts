// Names instead of ids: documents hold `u1`, people read "Ada". Asks the server
// (GET /api/v1/schools/<s>/people?ids=) for ids it has not seen, a batch at a time, and tells the
// panels to re-render once the names came back. Until then (or offline) an id shows as itself.
import type { Session } from '@homeroom/client'

type Listener = () => void

export class People {
  private readonly names = new Map<string, string>()
  private readonly asked = new Set<string>()
  private readonly listeners = new Set<Listener>()
  private wanted = new Set<string>()
  private timer?: ReturnType<typeof setTimeout>
  readonly session: Session
  readonly school: string

  constructor(session: Session, school: string) {
    this.session = session
    this.school = school
    this.names.set(session.user.sub, session.user.name ?? session.user.sub)
  }

  /** The name of `id`, or the id itself while it is being looked up. */
  name(id: string): string {
    const known = this.names.get(id)
    if (known !== undefined) return known
    if (!this.asked.has(id)) this.request([id])
    return id
  }

  /** Names for several ids, joined for a sentence ("Ada, Ben"). */
  list(ids: readonly string[]): string {
    return ids.map((id) => this.name(id)).join(', ')
  }

  onChange(listener: Listener): void {
    this.listeners.add(listener)
  }

  /** Everyone of some roles (admins and directors only): a drill's list of who is targeted. */
  async ofRoles(roles: readonly string[]): Promise<Array<{ id: string; name: string; role: string }>> {
    const people = await this.fetch(`roles=${roles.map(encodeURIComponent).join(',')}`)
    this.learn(people)
    return people
  }

  private request(ids: string[]): void {
    for (const id of ids) {
      this.asked.add(id)
      this.wanted.add(id)
    }
    // One request for every id a render asks about.
    this.timer ??= setTimeout(() => void this.flush(), 0)
  }

  private async flush(): Promise<void> {
    this.timer = undefined
    const ids = [...this.wanted].slice(0, 200)
    for (const id of ids) this.wanted.delete(id)
    if (this.wanted.size > 0) this.timer = setTimeout(() => void this.flush(), 0)
    try {
      this.learn(await this.fetch(`ids=${ids.map(encodeURIComponent).join(',')}`))
    } catch {
      // Offline or refused: ask again on a later render.
      for (const id of ids) if (!this.names.has(id)) this.asked.delete(id)
    }
  }

  private learn(people: Array<{ id: string; name: string }>): void {
    let changed = false
    for (const person of people) {
      if (this.names.get(person.id) === person.name) continue
      this.names.set(person.id, person.name)
      changed = true
    }
    if (changed) for (const listener of this.listeners) listener()
  }

  private async fetch(query: string): Promise<Array<{ id: string; name: string; role: string }>> {
    const response = await fetch(`/api/v1/schools/${encodeURIComponent(this.school)}/people?${query}`, { headers: { Authorization: `Bearer ${this.session.token}` } })
    if (!response.ok) throw new Error(`people: ${response.status}`)
    return ((await response.json()) as { people: Array<{ id: string; name: string; role: string }> }).people
  }
}
