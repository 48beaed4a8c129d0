/**
 * The words server and SDK share: who acts (`Actor`), who takes part (`Participant`,
 * `SessionParticipant`), the server's own actor, and what a session id may be. It imports
 * nothing, so the SDK (agent/) can use it without depending on a server folder.
 */

export type ActorKind = 'human' | 'agent' | 'server'

/** Who produced an event. Stored with every event; part of its hash. */
export interface Actor {
  id: string
  name: string
  kind: ActorKind
  model?: string
  onBehalfOf?: string
  run?: string
}

/** A participant as `participant.joined`/`participant.left` and presence name it. */
export interface Participant {
  id: string
  name: string
  kind: ActorKind
}

/**
 * A participant of a session as its log tells it: participants who left stay listed with
 * `online: false`. `kind` is what the log holds (any string an event carried).
 */
export interface SessionParticipant {
  id: string
  name: string
  kind: string
  online: boolean
}

/** The server, as the peer that creates sessions, accepts decisions and records cascades. */
export const SERVER_ACTOR: Actor = Object.freeze({ id: 'mnemo', name: 'mnemo', kind: 'server' })

/** Session ids of the SPEC; `*` in a token's session list means "all". */
export const sessionIdPattern = /^[A-Za-z0-9_-]{1,128}$/
