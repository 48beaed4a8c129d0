/**
 * A room's presence (y-protocols awareness): each connection speaks only for the awareness
 * client ids it claimed, with its `user` stamped by the server; its states go when it closes,
 * and that removal is broadcast, so no cursor outlives its connection.
 *
 * Bounds against one hostile participant: a client id belongs to the identity that first
 * claimed it, and stays its own for `awarenessOwnerMs` after its connection closed (so nobody
 * takes over a reconnecting client's presence); one identity claims at most
 * `maxAwarenessPerIdentity` ids over all its connections (so it cannot fill the room's cap);
 * and states are bounded in bytes per connection and per room (a state that would go over
 * is dropped, as awareness always is under pressure).
 *
 * Several instances (presenceRelay.ts): `onLocalChange` hears every change to the states of this
 * instance's own connections, for the other instances; their states come in through
 * `receiveRemote`, are sent on to this instance's connections, never sent back out, and go when
 * their instance stops refreshing them (`expireRemote`). A client id held here wins over the
 * same id from elsewhere (a client that moved here has the newer state).
 */
import type * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import {
  awarenessClientIds, encodeAwarenessEntries, stampAwarenessEntries, validateAwarenessUpdate, type AwarenessEntry,
} from '../protocol/awareness.js'
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
  /** The state's size as JSON, counted against the connection's and the room's budget. */
  bytes: number
}

/** Who a client id belongs to, and until when after its last connection closed. */
interface Owner {
  identity: string
  until: number
}

export type Broadcast = (frame: Uint8Array, except: Connection | undefined) => void

/** Origin of states that came from another instance, and of their expiry: neither goes back out. */
const REMOTE = Symbol('remote presence')
const EXPIRED = Symbol('remote presence expired')

/** A state another instance holds, and when it last said so. */
interface RemoteHold {
  instance: string
  seen: number
  /** The identity the state is stamped with (its `user.id`). */
  identity: unknown
}

export function createPresence(
  doc: Y.Doc, config: RoomConfig, broadcast: Broadcast, onLocalChange?: (clientIds: number[]) => void,
): Presence {
  const awareness = new Awareness(doc)
  awareness.setLocalState(null) // the server is not a participant
  const claims = new Map<number, Claim>()
  const owners = new Map<number, Owner>()
  /** Client ids claimed per identity, over all its connections. */
  const perIdentity = new Map<string, number>()
  const bytesOf = new Map<Connection, number>()
  let roomBytes = 0
  /**
   * y-protocols keeps a clock (meta) for every client id it ever saw; release() forgets the
   * oldest of those without a state once there are more than the room's cap, so invented ids
   * cost no memory for long. Peers may still hold such an id's last clock, so a forgotten id
   * that comes back starts above the highest clock forgotten.
   */
  let forgottenClock = -1
  const remote = new Map<number, RemoteHold>()

  const onUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown,
  ): void => {
    const changed = [...added, ...updated, ...removed]
    // Origins are a connection (its own update: it has it already) or a string (closed, timeout).
    const except = typeof origin === 'object' && origin !== null ? (origin as Connection) : undefined
    broadcast(encodeAwareness(encodeAwarenessUpdate(awareness, changed)), except)
    if (onLocalChange && origin !== REMOTE && origin !== EXPIRED) {
      const own = changed.filter((id) => !remote.has(id))
      if (own.length > 0) onLocalChange(own)
    }
    for (const id of removed) remote.delete(id)
  }
  awareness.on('update', onUpdate)

  const countIdentity = (identity: string, delta: number) => {
    const n = (perIdentity.get(identity) ?? 0) + delta
    if (n > 0) perIdentity.set(identity, n)
    else perIdentity.delete(identity)
  }

  function claim(conn: Connection, entry: AwarenessEntry): Claim | undefined | 'too-many' {
    const held = claims.get(entry.clientID)
    if (held?.conn === conn) return held
    if (held) {
      // The same participant reconnected before its old socket closed: hand the id over.
      if (held.conn.identity.id !== conn.identity.id) return undefined
      held.conn.awarenessClients.delete(entry.clientID)
      moveBytes(held, held.conn, conn)
      held.conn = conn
      conn.awarenessClients.add(entry.clientID)
      return held
    }
    if (entry.state === null) return undefined // removing a state nobody holds
    // Owned still by another identity, or held by another instance (only its own participant
    // takes it over: it moved here; stock providers echo the states they receive).
    if (foreign(conn, entry.clientID)) return undefined
    if (conn.awarenessClients.size >= config.maxAwarenessPerConnection) return 'too-many'
    if (claims.size >= config.maxAwarenessPerRoom) return undefined
    if ((perIdentity.get(conn.identity.id) ?? 0) >= config.maxAwarenessPerIdentity) return undefined
    const sent = awareness.meta.get(entry.clientID)?.clock ?? (forgottenClock >= 0 ? forgottenClock : undefined)
    // Taken over from another instance, whose removal of it (its clock + 1) may still be on the
    // way to the others: this instance's clocks for it start above that.
    const margin = remote.delete(entry.clientID) ? 2 : 1
    const fresh: Claim = { conn, offset: sent === undefined ? 0 : Math.max(0, sent + margin - entry.clock), bytes: 0 }
    claims.set(entry.clientID, fresh)
    owners.set(entry.clientID, { identity: conn.identity.id, until: Infinity })
    countIdentity(conn.identity.id, 1)
    conn.awarenessClients.add(entry.clientID)
    return fresh
  }

  function moveBytes(held: Claim, from: Connection, to: Connection): void {
    bytesOf.set(from, (bytesOf.get(from) ?? 0) - held.bytes)
    bytesOf.set(to, (bytesOf.get(to) ?? 0) + held.bytes)
  }

  /** Whether the claim's state may become `bytes` long; if so, counts it. */
  function fitsBudget(held: Claim, bytes: number): boolean {
    const connBytes = (bytesOf.get(held.conn) ?? 0) - held.bytes + bytes
    const nextRoom = roomBytes - held.bytes + bytes
    if (bytes > held.bytes && (connBytes > config.maxAwarenessBytesPerConnection || nextRoom > config.maxAwarenessBytesPerRoom)) return false
    bytesOf.set(held.conn, connBytes)
    roomBytes = nextRoom
    held.bytes = bytes
    return true
  }

  /** Owners whose hold ran out are forgotten once there are more than the room's cap. */
  function forgetOwners(): void {
    if (owners.size <= config.maxAwarenessPerRoom) return
    const now = Date.now()
    for (const [id, owner] of owners) if (owner.until <= now) owners.delete(id)
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

  /**
   * Whether `conn` may not speak for `clientID`, whatever the state it sends: another identity
   * holds it, owns it still, or holds it on another instance. claim() refuses those.
   */
  function foreign(conn: Connection, clientID: number): boolean {
    const held = claims.get(clientID)
    if (held) return held.conn.identity.id !== conn.identity.id
    const owner = owners.get(clientID)
    if (owner && owner.identity !== conn.identity.id && owner.until > Date.now()) return true
    const hold = remote.get(clientID)
    return hold !== undefined && hold.identity !== conn.identity.id
  }

  return {
    awareness,
    receive(conn, update) {
      // A stock provider sends back every state it receives, so each change in a room of n
      // comes back n − 1 times: an update of only others' states is dropped unread.
      if (awarenessClientIds(update).every((id) => foreign(conn, id))) return true
      // Stamped as decoded: re-encoding and decoding the stamped update again would only repeat the JSON work.
      const entries = stampAwarenessEntries(validateAwarenessUpdate(update), conn.participant)
      const accepted: AwarenessEntry[] = []
      for (const entry of entries) {
        const held = claim(conn, entry)
        if (held === 'too-many') return false
        if (!held) continue
        const bytes = entry.state === null ? 0 : Buffer.byteLength(JSON.stringify(entry.state))
        if (fitsBudget(held, bytes)) accepted.push({ ...entry, clock: entry.clock + held.offset })
      }
      if (accepted.length > 0) applyAwarenessUpdate(awareness, encodeAwarenessEntries(accepted), conn)
      return true
    },
    release(conn) {
      const ids = [...conn.awarenessClients]
      conn.awarenessClients.clear()
      const until = Date.now() + config.awarenessOwnerMs
      for (const id of ids) {
        const held = claims.get(id)
        if (held?.conn !== conn) continue
        claims.delete(id)
        roomBytes -= held.bytes
        countIdentity(conn.identity.id, -1)
        const owner = owners.get(id)
        if (owner) owner.until = until
      }
      bytesOf.delete(conn)
      forgetOwners()
      removeAwarenessStates(awareness, ids, 'closed')
      if (awareness.meta.size > config.maxAwarenessPerRoom) forgetStateless()
    },
    receiveRemote(instance, update) {
      const now = Date.now()
      const accepted: AwarenessEntry[] = []
      for (const entry of validateAwarenessUpdate(update)) {
        if (claims.has(entry.clientID)) continue // held here: the newer state is ours
        if (entry.state !== null) {
          if (!remote.has(entry.clientID) && remote.size >= config.maxAwarenessPerRoom) continue
          const user = entry.state.user as { id?: unknown } | undefined
          remote.set(entry.clientID, { instance, seen: now, identity: user?.id })
        } else if (remote.get(entry.clientID)?.instance !== instance) {
          continue // a removal from an instance that no longer holds it
        }
        accepted.push(entry)
      }
      if (accepted.length > 0) applyAwarenessUpdate(awareness, encodeAwarenessEntries(accepted), REMOTE)
    },
    ownStates() {
      const ids = [...claims.keys()].filter((id) => awareness.states.has(id))
      return ids
    },
    expireRemote(before, instance) {
      const gone: number[] = []
      for (const [id, hold] of remote) {
        if (hold.seen < before || hold.instance === instance) gone.push(id)
      }
      for (const id of gone) remote.delete(id)
      if (gone.length > 0) removeAwarenessStates(awareness, gone, EXPIRED)
    },
    remoteSize: () => remote.size,
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
