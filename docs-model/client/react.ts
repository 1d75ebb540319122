// `@homeroom/client/react`: hooks over a Session for React 18 or later. Each hook reads its part of
// a document through the typed client of its surface and re-renders only when that part changes
// (the value it returns is compared structurally after every change of the document).
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react'
import { equalityDeep } from 'lib0/function'
import type { Awareness } from 'y-protocols/awareness'
import { BusClient, ChatClient, ExamClient, InboxClient, LeaderboardClient, PollClient, type ConnectionState, type Handle, type Refusal, type Session } from './index.ts'

const SessionContext = createContext<Session | null>(null)

/** Provides `session` to the hooks below it; renders `fallback` until the session has its first token. */
export function HomeroomProvider({ session, fallback = null, children }: { session: Session; fallback?: ReactNode; children?: ReactNode }): ReactNode {
  const [ready, setReady] = useState(false)
  useEffect(() => {
    let live = true
    void session.ready.then(() => live && setReady(true))
    return () => {
      live = false
    }
  }, [session])
  return createElement(SessionContext.Provider, { value: session }, ready ? children : fallback)
}

/** The session of the nearest HomeroomProvider. */
export function useSession(): Session {
  const session = useContext(SessionContext)
  if (!session) throw new Error('Homeroom hooks need a <HomeroomProvider session={…}> above them')
  return session
}

type Subscribe = (notify: () => void) => () => void

/** `read()`'s value, re-read whenever `subscribe` notifies; a structurally equal value keeps the previous one (no re-render). */
function useSelected<T>(subscribe: Subscribe, read: () => T): T {
  const cache = useRef<{ value: T } | null>(null)
  const reader = useRef(read)
  reader.current = read
  const snapshot = useCallback(() => {
    const next = reader.current()
    if (cache.current && equalityDeep(cache.current.value, next)) return cache.current.value
    cache.current = { value: next }
    return next
  }, [])
  return useSyncExternalStore(subscribe, snapshot, snapshot)
}

/** Notifies on every change of the handle's document, its replacement (recovery, discard) and, when asked, its presence. */
function watch(handle: Handle, options: { presence?: boolean; everyMs?: number } = {}): Subscribe {
  return (notify) => {
    let awareness: Awareness | null = null
    const rewire = () => {
      if (!options.presence) return
      awareness?.off('change', notify)
      awareness = handle.provider?.awareness ?? null
      awareness?.on('change', notify)
    }
    rewire()
    const offs = [
      handle.on('change', notify),
      handle.on('synced', () => (rewire(), notify())),
      handle.on('refused', notify),
      handle.on('recovered', notify),
      handle.session.on('state', notify),
    ]
    const timer = options.everyMs ? setInterval(notify, options.everyMs) : undefined
    return () => {
      for (const off of offs) off()
      awareness?.off('change', notify)
      clearInterval(timer)
    }
  }
}

/** The connection indicator: `online | syncing | offline | refused`. */
export function useConnection(): ConnectionState {
  const session = useSession()
  const subscribe = useCallback<Subscribe>((notify) => session.on('state', notify), [session])
  return useSelected(subscribe, () => session.state())
}

export interface DocumentView {
  handle: Handle
  /** Read it each render: a recovery or `discard()` replaces it. */
  doc: Handle['doc']
  state: ConnectionState
  refusal?: Refusal
  /** Paths of changes the server has not acknowledged. */
  pending: string[]
}

/** A document by its full name, with its state; re-renders when the state changes, not on every edit (bind editors to `doc`). */
export function useDocument(name: string): DocumentView {
  const session = useSession()
  const handle = useMemo(() => session.open(name), [session, name])
  const subscribe = useMemo(() => watch(handle), [handle])
  const view = useSelected(subscribe, () => ({ guid: handle.doc.guid, state: handle.state(), refusal: handle.refusal, pending: handle.state() === 'online' ? [] : handle.pendingPaths() }))
  return { handle, doc: handle.doc, state: view.state, refusal: view.refusal, pending: view.pending }
}

/** Names of the other users present on a handle (presence is stamped with `user` by the server). */
function presentUsers(handle: Handle): Array<{ id: string; name: string; role: string }> {
  const users = new Map<string, { id: string; name: string; role: string }>()
  const me = handle.doc.clientID
  for (const [client, state] of handle.provider?.awareness?.getStates() ?? []) {
    const user = state.user as { id?: string; name?: string; role?: string } | undefined
    if (client !== me && user?.id) users.set(user.id, { id: user.id, name: user.name ?? user.id, role: user.role ?? '' })
  }
  return [...users.values()]
}

/** A conversation by its full name (`s1/chat/7a`, `s1/dm/u1~u2`, `s1/group/g1`). */
export function useChat(room: string) {
  const session = useSession()
  const chat = useMemo(() => new ChatClient(session, room), [session, room])
  const subscribe = useMemo(() => watch(chat.handle, { presence: true, everyMs: 2000 }), [chat])
  const view = useSelected(subscribe, () => ({ messages: chat.messages(), typing: chat.typers(), online: presentUsers(chat.handle) }))
  return {
    ...view,
    send: useCallback((text: string) => chat.send(text), [chat]),
    markRead: useCallback((messageId: string) => chat.markRead(messageId), [chat]),
    setTyping: useCallback((on: boolean) => chat.typing(on), [chat]),
    readBy: useCallback((messageId: string) => chat.readBy(messageId), [chat]),
  }
}

/** A student's exam: the remaining time is the server's and updates every second. */
export function useExam(school: string, exam: string) {
  const session = useSession()
  const client = useMemo(() => new ExamClient(session, school, exam), [session, school, exam])
  const subscribe = useMemo<Subscribe>(() => {
    const onExam = watch(client.exam, { presence: true, everyMs: 1000 })
    const onSheet = watch(client.sheet)
    return (notify) => {
      const offs = [onExam(notify), onSheet(notify)]
      return () => offs.forEach((off) => off())
    }
  }, [client])
  const view = useSelected(subscribe, () => {
    const remainingMs = client.remainingMs()
    return {
      title: client.title(),
      status: client.status(),
      questions: client.questions(),
      answers: client.answers(),
      submitted: client.submitted(),
      // Whole seconds: a re-render a second, not one per read.
      remainingMs: remainingMs === undefined ? undefined : Math.ceil(remainingMs / 1000) * 1000,
      participants: client.participants(),
    }
  })
  return {
    ...view,
    answer: useCallback((question: number, choice: number) => client.answer(question, choice), [client]),
    submit: useCallback(() => client.submit(), [client]),
  }
}

export function usePoll(school: string, poll: string) {
  const session = useSession()
  const client = useMemo(() => new PollClient(session, school, poll), [session, school, poll])
  const subscribe = useMemo<Subscribe>(() => {
    const onPoll = watch(client.poll)
    const onBallot = watch(client.ballot)
    return (notify) => {
      const offs = [onPoll(notify), onBallot(notify)]
      return () => offs.forEach((off) => off())
    }
  }, [client])
  const view = useSelected(subscribe, () => ({ meta: client.meta(), tallies: client.tallies(), closed: client.closed(), myChoice: client.myChoice() }))
  return { ...view, vote: useCallback((choice: number) => client.vote(choice), [client]) }
}

/** The session user's notifications (in their first school unless told). */
export function useInbox(school?: string) {
  const session = useSession()
  const where = school ?? session.user.schools[0]
  const client = useMemo(() => new InboxClient(session, where), [session, where])
  const subscribe = useMemo(() => watch(client.handle), [client])
  const view = useSelected(subscribe, () => ({ items: client.items(), unread: client.unread() }))
  return {
    ...view,
    markRead: useCallback((id: string) => client.markRead(id), [client]),
    markAllRead: useCallback(() => client.markAllRead(), [client]),
  }
}

export function useLeaderboard(school: string, board: string) {
  const session = useSession()
  const client = useMemo(() => new LeaderboardClient(session, school, board), [session, school, board])
  const subscribe = useMemo(() => watch(client.handle), [client])
  return useSelected(subscribe, () => ({ entries: client.entries(), mine: client.mine() }))
}

export function useBus(school: string, bus: string) {
  const session = useSession()
  const client = useMemo(() => new BusClient(session, school, bus), [session, school, bus])
  const subscribe = useMemo(() => watch(client.handle), [client])
  const view = useSelected(subscribe, () => ({ position: client.position(), stops: client.stops(), alerts: client.alerts() }))
  return { ...view, report: useCallback((fix: Parameters<BusClient['report']>[0]) => client.report(fix), [client]) }
}

/** Who else is on a document, and a setter for the user's own presence fields (cursor, selection, status). */
export function usePresence(name: string) {
  const session = useSession()
  const handle = useMemo(() => session.open(name), [session, name])
  const subscribe = useMemo(() => watch(handle, { presence: true }), [handle])
  const view = useSelected(subscribe, () => {
    const me = handle.doc.clientID
    const others = [...(handle.provider?.awareness?.getStates() ?? [])].filter(([client]) => client !== me).map(([client, state]) => ({ client, ...state }))
    return { others, users: presentUsers(handle) }
  })
  const set = useCallback((field: string, value: unknown) => handle.awareness.setLocalStateField(field, value), [handle])
  return { ...view, set }
}
