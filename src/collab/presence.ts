/**
 * A room's presence (y-protocols awareness): each connection speaks only for the awareness
 * client ids it claimed, with its `user` stamped by the server; its states go when it closes,
 * and that removal is broadcast, so no cursor outlives its connection.
 */
import type * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { encodeAwarenessEntries, stampAwarenessEntries, validateAwarenessUpdate, type AwarenessEntry } from '../protocol/awareness.js'
import { encodeAwareness } from '../protocol/messages.js'
import type { Connection, Presence, RoomConfig } from './types.js'

interface Claim {
  conn: Connection
  /**
   * Added to the client's clocks. After a removal, peers hold the client's last clock with
   * no state and would ignore the same clock again when it reconnects, so a reclaimed id
   * continues above the clock the room last sent.
   */
  offset: number
}

export type Broadcast = (frame: Uint8Array, except: Connection | undefined) => void

export function createPresence(doc: Y.Doc, config: RoomConfig, broadcast: Broadcast): Presence {
  const awareness = new Awareness(doc)
  awareness.setLocalState(null) // the server is not a participant
  const claims = new Map<number, Claim>()
  /**
   * y-protocols keeps a clock (meta) for every client id it ever saw; release() forgets the
   * oldest of those without a state once there are more than the room's cap, so invented ids
   * cost no memory for long. Peers may still hold such an id's last clock, so a forgotten id
   * that comes back starts above the highest clock forgotten.
   */
  let forgottenClock = -1

  const onUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown,
  ): void => {
    const changed = [...added, ...updated, ...removed]
    // Origins are a connection (its own update: it has it already) or a string (closed, timeout).
    const except = typeof origin === 'object' && origin !== null ? (origin as Connection) : undefined
    broadcast(encodeAwareness(encodeAwarenessUpdate(awareness, changed)), except)
  }
  awareness.on('update', onUpdate)

  function claim(conn: Connection, entry: AwarenessEntry): Claim | undefined | 'too-many' {
    const held = claims.get(entry.clientID)
    if (held?.conn === conn) return held
    if (held) {
      // The same participant reconnected before its old socket closed: hand the id over.
      if (held.conn.identity.id !== conn.identity.id) return undefined
      held.conn.awarenessClients.delete(entry.clientID)
      held.conn = conn
      conn.awarenessClients.add(entry.clientID)
      return held
    }
    if (entry.state === null) return undefined // removing a state nobody holds
    if (conn.awarenessClients.size >= config.maxAwarenessPerConnection) return 'too-many'
    if (claims.size >= config.maxAwarenessPerRoom) return undefined
    const sent = awareness.meta.get(entry.clientID)?.clock ?? (forgottenClock >= 0 ? forgottenClock : undefined)
    const fresh: Claim = { conn, offset: sent === undefined ? 0 : Math.max(0, sent + 1 - entry.clock) }
    claims.set(entry.clientID, fresh)
    conn.awarenessClients.add(entry.clientID)
    return fresh
  }

  /**
   * Forgets the least recently updated clocks of client ids with neither state nor claim, down
   * to half the room's cap: the recent ones are kept, being the ones likely to reconnect.
   */
  function forgetStateless(): void {
    const stateless = [...awareness.meta]
      .filter(([id]) => id !== doc.clientID && !awareness.states.has(id) && !claims.has(id))
      .sort(([, a], [, b]) => a.lastUpdated - b.lastUpdated)
    for (const [id, meta] of stateless) {
      if (awareness.meta.size <= config.maxAwarenessPerRoom / 2) return
      forgottenClock = Math.max(forgottenClock, meta.clock)
      awareness.meta.delete(id)
    }
  }

  return {
    awareness,
    receive(conn, update) {
      // Stamped as decoded: re-encoding and decoding the stamped update again would only repeat the JSON work.
      const entries = stampAwarenessEntries(validateAwarenessUpdate(update), conn.participant)
      const accepted: AwarenessEntry[] = []
      for (const entry of entries) {
        const held = claim(conn, entry)
        if (held === 'too-many') return false
        if (held) accepted.push({ ...entry, clock: entry.clock + held.offset })
      }
      if (accepted.length > 0) applyAwarenessUpdate(awareness, encodeAwarenessEntries(accepted), conn)
      return true
    },
    release(conn) {
      const ids = [...conn.awarenessClients]
      conn.awarenessClients.clear()
      for (const id of ids) if (claims.get(id)?.conn === conn) claims.delete(id)
      removeAwarenessStates(awareness, ids, 'closed')
      if (awareness.meta.size > config.maxAwarenessPerRoom) forgetStateless()
    },
    states() {
      const ids = [...awareness.getStates().keys()]
      return ids.length > 0 ? encodeAwareness(encodeAwarenessUpdate(awareness, ids)) : undefined
    },
    size: () => awareness.getStates().size,
    destroy() {
      awareness.off('update', onUpdate)
      awareness.destroy()
    },
  }
}
