/**
 * The page's only way to the server: the public HTTP API, with the tab's token (if any) in an
 * Authorization header, and Server-Sent Events read through fetch() so that the token never
 * goes into a URL (EventSource cannot send headers).
 */
import type { SessionState } from '../../src/session/schema.js'
import type { EventEnvelope } from '../../src/store/types.js'
import type { Actor, SessionParticipant } from '../../src/vocabulary.js'

export type { Actor }

const TOKEN_KEY = 'mnemo.inspector.token'

/** An event as the HTTP API returns it: the store's envelope. */
export type Envelope = EventEnvelope

export interface SessionSummary {
  id: string
  title: string | null
  version: number
  position: number
  createdAt: string
  lastActivity: string
  participants: number
  online: number
}

export interface SessionDetail {
  id: string
  version: number
  position: number
  participants: SessionParticipant[]
  state: SessionState
}

export interface StateAt {
  position: number
  version: number
  state: SessionState
}

export interface MemoryJson {
  id: string
  content: string
  kind?: string
  importance: number
  tags: string[]
}

export interface GraphJson {
  memories: MemoryJson[]
  connections: { from: string; to: string; strength: number }[]
}

export interface Verification {
  ok: boolean
  checked: number
  firstBad?: number
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export const tokenStore = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = tokenStore.get()
  // In open mode the server takes the caller's name from these; with a token they are ignored.
  return { 'X-Mnemo-Name': 'inspector', 'X-Mnemo-Kind': 'human', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra }
}

async function failure(response: Response): Promise<ApiError> {
  const body = await response.json().catch(() => undefined) as { error?: { code?: string; message?: string } } | undefined
  return new ApiError(response.status, body?.error?.code ?? 'http_error', body?.error?.message ?? `${response.status} ${response.statusText}`)
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  })
  if (!response.ok) throw await failure(response)
  return await response.json() as T
}

export async function download(path: string): Promise<Blob> {
  const response = await fetch(path, { headers: headers() })
  if (!response.ok) throw await failure(response)
  return await response.blob()
}

export interface SseMessage {
  event: string
  data: string
  id?: string
}

/**
 * Reads an SSE response until it ends or `signal` aborts, calling `onMessage` per message.
 * Resolves when the stream ends; rejects with ApiError when the server refuses it.
 */
export async function readSse(path: string, onMessage: (message: SseMessage) => void, signal: AbortSignal, lastEventId?: string): Promise<void> {
  const response = await fetch(path, {
    headers: headers({ Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) }),
    signal,
  })
  if (!response.ok || !response.body) throw await failure(response)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let message: SseMessage = { event: 'message', data: '' }
  let hasData = false
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let newline: number
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1))
      if (line === '') {
        if (hasData) onMessage(message)
        message = { event: 'message', data: '' }
        hasData = false
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'data') {
        message.data = hasData ? `${message.data}\n${text}` : text
        hasData = true
      } else if (field === 'event') message.event = text
      else if (field === 'id') message.id = text
    }
  }
}

/** What the token says about its holder (read, not verified: the server verifies it). */
export interface Claims {
  sub?: string
  name?: string
  kind?: string
  role?: 'viewer' | 'editor' | 'admin'
  sessions?: string[]
  exp?: number
}

export function readClaims(token: string): Claims | null {
  try {
    const payload = token.split('.')[1]
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (ch) => ch.charCodeAt(0)))) as Claims
  } catch {
    return null
  }
}
