/**
 * The inspector's root: auth (open mode, or a pasted token kept in this tab's sessionStorage),
 * the live sessions list (polled every second) and the selected session (kept in the URL's
 * fragment, which is never sent to the server).
 */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, readClaims, tokenStore, type Claims, type SessionSummary } from './api.js'
import { rightsOf, type Rights } from './rights.js'
import { SessionView } from './SessionView.js'
import './style.css'

type Mode = { kind: 'checking' } | { kind: 'open' } | { kind: 'token'; claims: Claims | null } | { kind: 'needs-token'; message?: string }

const selectedFromHash = () => decodeURIComponent(location.hash.replace(/^#\/?s\//, '').replace(/^#.*/, ''))

function App() {
  const [mode, setMode] = useState<Mode>({ kind: 'checking' })
  const [sessions, setSessions] = useState<SessionSummary[]>([])
  const [selected, setSelected] = useState<string>(selectedFromHash())
  const [problem, setProblem] = useState<string | null>(null)

  const probe = async () => {
    const token = tokenStore.get()
    try {
      const { sessions } = await api<{ sessions: SessionSummary[] }>('GET', '/api/sessions')
      setSessions(sessions)
      setMode(token ? { kind: 'token', claims: readClaims(token) } : { kind: 'open' })
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        setMode({ kind: 'needs-token', message: token ? e.message : undefined })
      } else setProblem(e instanceof Error ? e.message : String(e))
    }
  }
  useEffect(() => {
    void probe()
  }, [])

  const ready = mode.kind === 'open' || mode.kind === 'token'
  useEffect(() => {
    if (!ready) return
    let busy = false
    const timer = setInterval(async () => {
      if (busy || document.hidden) return
      busy = true
      try {
        setSessions((await api<{ sessions: SessionSummary[] }>('GET', '/api/sessions')).sessions)
        setProblem(null)
      } catch (e) {
        setProblem(e instanceof Error ? e.message : String(e))
      } finally {
        busy = false
      }
    }, 1000)
    return () => clearInterval(timer)
  }, [ready])

  useEffect(() => {
    const onHash = () => setSelected(selectedFromHash())
    addEventListener('hashchange', onHash)
    return () => removeEventListener('hashchange', onHash)
  }, [])
  const open = (id: string) => {
    location.hash = `#/s/${encodeURIComponent(id)}`
    setSelected(id)
  }

  const rights: Rights = rightsOf(mode.kind === 'token' ? 'token' : 'open', mode.kind === 'token' ? mode.claims : null)
  return (
    <div class="app">
      <header>
        <span class="brand">mnemo <span class="muted">inspector</span></span>
        <AuthStatus mode={mode} onChange={() => { setSessions([]); void probe() }} />
      </header>
      {problem ? <div class="error" role="alert">{problem}</div> : null}
      {mode.kind === 'needs-token' ? <TokenForm message={mode.message} onSaved={() => void probe()} /> : null}
      {ready ? (
        <div class="layout">
          <aside>
            {rights.create ? <CreateSession onCreated={(id) => { open(id) }} /> : null}
            <ul class="sessions" data-testid="sessions">
              {sessions.length === 0 ? <li class="empty">no sessions yet</li> : null}
              {sessions.map((s) => (
                <li key={s.id}>
                  <a href={`#/s/${encodeURIComponent(s.id)}`} class={s.id === selected ? 'current' : ''} data-session-id={s.id}>
                    <span class="title">{s.title ?? s.id}</span>
                    {s.title ? <span class="muted id">{s.id}</span> : null}
                    <span class="meta">
                      <span class={s.online > 0 ? 'live' : 'muted'}>{s.online} online</span>
                      <span class="muted"> · {s.participants} people · {s.version} events · {new Date(s.lastActivity).toLocaleTimeString()}</span>
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          </aside>
          <main>
            {selected ? <SessionView key={selected} id={selected} rights={rights} onOpen={open} /> : <p class="empty hint">Pick a session on the left{rights.create ? ', or create one' : ''}.</p>}
          </main>
        </div>
      ) : null}
    </div>
  )
}

function AuthStatus({ mode, onChange }: { mode: Mode; onChange: () => void }) {
  if (mode.kind === 'open') return <span class="auth muted" data-testid="auth">open mode (no token needed)</span>
  if (mode.kind !== 'token') return null
  const c = mode.claims
  return (
    <span class="auth" data-testid="auth">
      {c?.name ?? c?.sub ?? 'token'} <span class="tag" data-testid="role">{c?.role ?? '?'}</span>
      <button type="button" onClick={() => { tokenStore.clear(); onChange() }}>Forget token</button>
    </span>
  )
}

function TokenForm({ message, onSaved }: { message?: string; onSaved: () => void }) {
  return (
    <form class="token-form" onSubmit={(e) => {
      e.preventDefault()
      const token = (new FormData(e.currentTarget).get('token') as string).trim()
      if (!token) return
      tokenStore.set(token)
      onSaved()
    }}>
      <h2>This server needs a token</h2>
      <p class="muted">Mint one with <code>npx mnemo token --sub you --name You --kind human --role viewer</code> and paste it here.
        It stays in this tab only (sessionStorage) and is sent as an Authorization header, never in a URL.</p>
      {message ? <p class="error">{message}</p> : null}
      <input name="token" type="password" autocomplete="off" placeholder="eyJ…" aria-label="token" data-testid="token" />
      <button type="submit">Use token</button>
    </form>
  )
}

function CreateSession({ onCreated }: { onCreated: (id: string) => void }) {
  const [error, setError] = useState<string | null>(null)
  return (
    <form class="create" data-testid="create-session" onSubmit={async (e) => {
      e.preventDefault()
      const form = new FormData(e.currentTarget)
      const id = (form.get('id') as string).trim()
      const title = (form.get('title') as string).trim()
      try {
        const created = await api<{ id: string }>('POST', '/api/sessions', { ...(id ? { id } : {}), ...(title ? { title } : {}) })
        setError(null)
        ;(e.target as HTMLFormElement).reset()
        onCreated(created.id)
      } catch (err) {
        setError(err instanceof Error ? err.message : String(err))
      }
    }}>
      <input name="id" placeholder="session id (optional)" aria-label="new session id" />
      <input name="title" placeholder="title (optional)" aria-label="new session title" />
      <button type="submit">New session</button>
      {error ? <div class="error">{error}</div> : null}
    </form>
  )
}

render(<App />, document.getElementById('app')!)
