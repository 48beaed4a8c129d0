/**
 * Presence across instances: each loaded room sends the changes to its own connections' states
 * over the bus (presenceBus.ts), batched per session per tick and split to fit the transport,
 * and applies what the other instances send for theirs. Each instance owns its clients'
 * states: it refreshes them every third of the timeout, and a state nobody refreshed for a
 * whole timeout (its instance died) is removed. A room that joins asks the others for their
 * states at once. Only instances with the session loaded hear its traffic.
 *
 * An instance that is alone (`othersLive`: its registry sees no other live instance, and no
 * other process announced itself on the log's channel) sends nothing: no query, no states; a
 * lone server's presence costs the database nothing. The room still listens, and the first
 * message it hears from another instance (its query, or its states answering ours) makes it
 * send its states at once and its changes for a whole timeout after, renewed by each message
 * heard; by then the registry sees the newcomer too. (A newcomer of an older version, which
 * does not announce itself, whose room loaded before ours asked nobody: our states reach it
 * with the first refresh after our registry sees it.)
 *
 * Messages are JSON: `{ v: 1, from, update }` (an awareness update, base64), `{ v: 1, from, query: true }`,
 * or `{ v: 1, from, here: true }`: the answer to a query of a room that holds no states yet,
 * so that the asker knows someone is there.
 */
import { encodeAwarenessUpdate, type Awareness } from 'y-protocols/awareness'
import type { PresenceBus } from './presenceBus.js'
import type { Log, Room } from './types.js'

export interface PresenceRelay {
  readonly instanceId: string
  /** Starts relaying a loaded room's presence; the result stops it (sending what is pending first). */
  attach(room: Room): Promise<() => Promise<void>>
  /** The states of these client ids (held here) changed: send them with this tick's batch. */
  changed(room: Room, clientIds: number[]): void
  close(): Promise<void>
}

export interface PresenceRelayOptions {
  bus: PresenceBus
  instanceId: string
  /** A state from another instance not refreshed for this long is removed. */
  timeoutMs: number
  /** Whether other instances may be live (the registry, or another process's announcement on the log's channel); while not, only rooms another instance spoke in send. Default: always. */
  othersLive?: () => boolean
  /** Told of the messages sent and received (mnemo_presence_messages_total). */
  observe?: (direction: 'sent' | 'received', messages: number) => void
  log: Log
}

interface Message {
  v: 1
  from: string
  update?: string
  query?: true
  here?: true
}

export function createPresenceRelay({
  bus, instanceId, timeoutMs, othersLive = () => true, observe = () => {}, log,
}: PresenceRelayOptions): PresenceRelay {
  const attached = new Set<Room>()
  // When another instance last spoke in each room (Date.now()).
  const heard = new Map<Room, number>()
  const shared = (room: Room) => othersLive() || (heard.get(room) ?? -Infinity) > Date.now() - timeoutMs

  const pending = new Map<Room, Set<number>>()
  let scheduled = false

  const refresh = setInterval(() => {
    const now = Date.now()
    for (const room of attached) {
      room.presence.expireRemote(now - timeoutMs)
      const own = room.presence.ownStates()
      if (own.length > 0) changed(room, own)
    }
  }, Math.max(10, Math.floor(timeoutMs / 3)))
  refresh.unref()

  function changed(room: Room, clientIds: number[]): void {
    if (!attached.has(room)) return
    let set = pending.get(room)
    if (!set) pending.set(room, (set = new Set()))
    for (const id of clientIds) set.add(id)
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }

  function flush(): void {
    scheduled = false
    for (const [room, ids] of pending) send(room, ids)
    pending.clear()
  }

  function send(room: Room, ids: Set<number>): void {
    if (!shared(room)) return // nobody to tell: a newcomer asks (its query)
    const { awareness } = room.presence
    const known = [...ids].filter((id) => awareness.meta.has(id))
    for (const message of messages(awareness, known, bus.maxMessageBytes)) publish(room, message)
  }

  function publish(room: Room, message: string): void {
    bus.publish(room.session, message)
    observe('sent', 1)
  }

  function messages(awareness: Awareness, ids: number[], max: number): string[] {
    if (ids.length === 0) return []
    const update = Buffer.from(encodeAwarenessUpdate(awareness, ids)).toString('base64')
    const message = JSON.stringify({ v: 1, from: instanceId, update } satisfies Message)
    // Halves until each part fits; a single state longer than that goes as it is (the bus spills it).
    if (message.length <= max || ids.length === 1) return [message]
    const half = Math.ceil(ids.length / 2)
    return [...messages(awareness, ids.slice(0, half), max), ...messages(awareness, ids.slice(half), max)]
  }

  function receive(room: Room, raw: string): void {
    let message: Message
    try {
      message = JSON.parse(raw) as Message
    } catch {
      return log.warn({ session: room.session }, 'presence: a message from another instance is not JSON; ignored')
    }
    if (message?.v !== 1 || typeof message.from !== 'string' || message.from === instanceId || room.state === 'closed') return
    observe('received', 1)
    const spokenTo = shared(room)
    heard.set(room, Date.now())
    if (message.query || !spokenTo) {
      const own = room.presence.ownStates()
      if (own.length > 0) changed(room, own)
      else if (message.query) publish(room, JSON.stringify({ v: 1, from: instanceId, here: true } satisfies Message))
    }
    if (message.query || message.here) return
    if (typeof message.update !== 'string') return
    try {
      room.presence.receiveRemote(message.from, Buffer.from(message.update, 'base64'))
    } catch (error) {
      log.warn({ err: error, session: room.session, from: message.from }, 'presence: a malformed update from another instance; ignored')
    }
  }

  return {
    instanceId,
    async attach(room) {
      let unlisten: () => Promise<void>
      try {
        unlisten = await bus.join(room.session, (raw) => receive(room, raw))
      } catch (error) {
        log.warn({ err: error, session: room.session }, 'presence: could not listen for the other instances; this room\'s presence stays on this instance')
        return async () => {}
      }
      attached.add(room)
      if (othersLive()) publish(room, JSON.stringify({ v: 1, from: instanceId, query: true } satisfies Message))
      return async () => {
        const ids = pending.get(room)
        if (ids) send(room, ids)
        pending.delete(room)
        attached.delete(room)
        heard.delete(room)
        await unlisten().catch(() => {})
      }
    },
    changed,
    async close() {
      clearInterval(refresh)
      flush()
      await bus.close()
    },
  }
}
