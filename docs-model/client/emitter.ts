// A minimal typed event emitter for the client helpers (browsers and Node alike).
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(value: never) => void>>()

  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set()
    set.add(listener as (value: never) => void)
    this.listeners.set(event, set)
    return () => set.delete(listener as (value: never) => void)
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (value: Events[K]) => void)(value)
  }

  protected clearListeners(): void {
    this.listeners.clear()
  }
}
