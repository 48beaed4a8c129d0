/**
 * Every route of the HTTP API, in the order they are mounted: one list for `mnemo serve`
 * (main.ts mounts `serverRoutes`: these, then `/mcp` and the inspector's page) and for the tests
 * that drive the app without a server (test/fixtures/app.ts, which mounts `serverRoutes` too when
 * asked to), so a route added here is served, described in /openapi.json and tested alike.
 */
import type { Hono } from 'hono'
import * as Y from 'yjs'
import type { RoomManager } from '../../collab/createRoomManager.js'
import type { Suspensions } from '../../control/suspensions.js'
import type { InstanceRegistry } from '../../instances/registry.js'
import type { MemoryService } from '../../memory/memoryService.js'
import { loadDocument } from '../../replay/loadDocument.js'
import { readState } from '../../session/readState.js'
import { readRichText } from '../../session/richText.js'
import type { EventStore } from '../../store/types.js'
import type { McpSessions } from '../mcpSessions.js'
import type { Metrics } from '../metrics.js'
import { agentRoutes } from './agents.js'
import { documentRoutes } from './document.js'
import { eventRoutes } from './events.js'
import { healthRoutes } from './health.js'
import { inspectorRoutes } from './inspector.js'
import { instanceRoutes } from './instances.js'
import { mcpRoutes } from './mcp.js'
import { memoryRoutes } from './memory.js'
import { proposalRoutes } from './proposals.js'
import { replayRoutes } from './replay.js'
import { runRoutes } from './runs.js'
import { sessionRoutes } from './sessions.js'

export interface ApiRoutesDeps {
  store: EventStore
  memory: MemoryService
  rooms: Pick<RoomManager, 'docOf' | 'writeDocument' | 'storeComputedUpdate'>
  metrics: Metrics
  suspensions: Suspensions
  maxBatchEvents: number
  maxStreamsPerIdentity?: number
  /** Shutting down: /health answers 503. */
  draining?: () => boolean
  /** This instance's registry entry, once it runs (PostgreSQL only). */
  registry?: () => InstanceRegistry | undefined
}

export function apiRoutes(deps: ApiRoutesDeps): Hono[] {
  const { store, memory, rooms } = deps
  // Read off the live room's document when the session is loaded here, else the log's.
  const readDocument = async <T>(session: string, read: (doc: Y.Doc) => T): Promise<T> => {
    const live = rooms.docOf(session)
    if (live) return read(live)
    const loaded = await loadDocument(store, session)
    const value = read(loaded.doc)
    loaded.doc.destroy()
    return value
  }
  const stateOf = (session: string) => readDocument(session, readState)
  // A copy of the document to read at leisure: the live room's (taken now), else the log's.
  const copyDocument = async (session: string) => {
    const live = rooms.docOf(session)
    if (!live) return (await loadDocument(store, session)).doc
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(live))
    return copy
  }
  return [
    healthRoutes({ store, metrics: deps.metrics, draining: deps.draining }),
    eventRoutes({ store, memory, maxBatchEvents: deps.maxBatchEvents, maxStreamsPerIdentity: deps.maxStreamsPerIdentity }),
    sessionRoutes({ store, stateOf }),
    documentRoutes({ store, writeDocument: rooms.writeDocument, copyDocument }),
    runRoutes({ store, storeComputedUpdate: rooms.storeComputedUpdate }),
    proposalRoutes({ store, writeDocument: rooms.writeDocument, copyDocument }),
    memoryRoutes({ store, memory, documentOf: (session) => readDocument(session, (doc) => ({ state: readState(doc), richText: readRichText(doc) })) }),
    replayRoutes({ store }),
    instanceRoutes({ store, registry: deps.registry ?? (() => undefined) }),
    agentRoutes({ store, suspensions: deps.suspensions }),
  ]
}

export interface ServerRoutesDeps extends ApiRoutesDeps {
  /** The MCP sessions served at `/mcp`. */
  mcp: McpSessions
  /** The inspector's build; default dist/web/. */
  inspectorDir?: string
}

/**
 * Every route `mnemo serve` mounts, in order: the API's, `/mcp`, then the inspector's page and
 * assets. test/http-openapi.test.ts mounts this very list, so a route added here undescribed fails it.
 */
export function serverRoutes(deps: ServerRoutesDeps): Hono[] {
  return [...apiRoutes(deps), mcpRoutes(deps.mcp), inspectorRoutes({ dir: deps.inspectorDir })]
}
