/**
 * Who is here now, and what they look at: the page joins the session as a peer through
 * `/hocuspocus` (the token travels inside the protocol, never in a URL) and shows every
 * awareness state of the session, on every instance. A state's `user` is stamped by the server
 * from the identity; `focus: { path, key }` is the entry its client looks at (the page sets its
 * own as the pointer rests on an entry; agents and other clients may set theirs) and `at` the
 * position it is travelling at.
 */
import { HocuspocusProvider } from '@hocuspocus/provider'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import * as Y from 'yjs'
import { readClaims, tokenStore } from './api.js'

export interface Focus {
  path: string
  key: string
}

export interface Present {
  clientId: number
  self: boolean
  name: string
  id?: string
  kind?: string
  color?: string
  /** An entry, or (as the SDK's `presence({ focus })` sends) free text such as a memory id. */
  focus?: Focus | string
  status?: string
  at?: number
}

const TAB_ID_KEY = 'mnemo.inspector.id'

/** This tab's open-mode identity (with a token, the token's identity is used instead). */
function tabId(): string {
  let id = sessionStorage.getItem(TAB_ID_KEY)
  if (!id) {
    id = `inspector-${Math.random().toString(36).slice(2, 8)}`
    sessionStorage.setItem(TAB_ID_KEY, id)
  }
  return id
}

const isFocus = (value: unknown): value is Focus =>
  typeof value === 'object' && value !== null && typeof (value as Focus).path === 'string' && typeof (value as Focus).key === 'string'

function toPresent(clientId: number, self: boolean, state: Record<string, unknown>): Present {
  const user = (typeof state.user === 'object' && state.user !== null ? state.user : {}) as Record<string, unknown>
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined)
  return {
    clientId,
    self,
    name: text(user.name) ?? text(user.id) ?? `client ${clientId}`,
    id: text(user.id),
    kind: text(user.kind),
    color: text(user.color),
    focus: isFocus(state.focus) ? { path: state.focus.path, key: state.focus.key } : text(state.focus),
    status: text(state.status),
    at: typeof state.at === 'number' ? state.at : undefined,
  }
}

/** The session's awareness states, live, and setters for this tab's own. */
export function usePresence(session: string): { present: Present[]; setFocus(focus: Focus | null): void; setAt(at: number | null): void } {
  const [present, setPresent] = useState<Present[]>([])
  const provider = useRef<HocuspocusProvider | null>(null)
  useEffect(() => {
    const url = new URL('/hocuspocus', location.href)
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
    // Open mode names the peer from these; in token mode the token decides, and carries no URL.
    url.search = new URLSearchParams({ id: tabId(), name: 'Inspector', kind: 'human' }).toString()
    const token = tokenStore.get()
    const claims = token ? readClaims(token) : null
    const doc = new Y.Doc()
    const p = new HocuspocusProvider({ url: url.toString(), name: session, document: doc, token: token ?? '' })
    provider.current = p
    const awareness = p.awareness!
    // Others see the server's stamp of this identity; this is how the page shows itself.
    awareness.setLocalStateField('user', claims ? { id: claims.sub, name: claims.name ?? claims.sub } : { id: tabId(), name: 'Inspector' })
    const update = () => {
      setPresent([...awareness.getStates()].map(([id, state]) => toPresent(id, id === doc.clientID, state)).sort((a, b) =>
        Number(b.self) - Number(a.self) || a.name.localeCompare(b.name) || a.clientId - b.clientId))
    }
    awareness.on('change', update)
    update()
    return () => {
      awareness.off('change', update)
      provider.current = null
      p.destroy()
      doc.destroy()
    }
  }, [session])
  return useMemo(() => ({
    present,
    setFocus: (focus) => provider.current?.setAwarenessField('focus', focus),
    setAt: (at) => provider.current?.setAwarenessField('at', at),
  }), [present])
}

/** `path\0key` → the names of the others focused on it. */
export function focusedBy(present: readonly Present[]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const p of present) {
    if (p.self || !p.focus || typeof p.focus === 'string') continue
    const key = `${p.focus.path}\u0000${p.focus.key}`
    map.set(key, [...(map.get(key) ?? []), p.name])
  }
  return map
}

/** The entry under the pointer, from the document view's data attributes. */
export function focusOf(target: EventTarget | null): Focus | null {
  const element = target instanceof Element ? target.closest('[data-selection],[data-step],[data-annotation],[data-decision]') : null
  if (!(element instanceof HTMLElement)) return null
  const { selection, step, annotation, decision } = element.dataset
  if (selection) return { path: 'selections', key: selection }
  if (step) return { path: 'explorationPath', key: step }
  if (annotation) return { path: 'annotations', key: annotation }
  if (decision) return { path: 'decisions', key: decision }
  return null
}

export function HereNow({ present }: { present: readonly Present[] }) {
  return (
    <div class="here-now" data-testid="here-now">
      <h4>Here now <span class="count">{present.length}</span></h4>
      <ul class="plain">
        {present.map((p) => (
          <li key={p.clientId} data-presence={p.id ?? String(p.clientId)} data-self={String(p.self)}
            data-focus={typeof p.focus === 'string' ? p.focus : p.focus ? `${p.focus.path}:${p.focus.key}` : ''}>
            <span class="dot" style={p.color ? { background: p.color } : undefined} /> {p.name}
            {p.self ? <span class="muted"> (you)</span> : null}
            {p.kind === 'agent' ? <span class="tag">agent</span> : null}
            {p.status ? <span class="muted"> · {p.status}</span> : null}
            {typeof p.focus === 'string' ? <span class="muted"> · on {p.focus}</span>
              : p.focus ? <span class="muted"> · on {p.focus.path} {p.focus.key}</span> : null}
            {p.at !== undefined ? <span class="muted"> · at #{p.at}</span> : null}
          </li>
        ))}
      </ul>
    </div>
  )
}
