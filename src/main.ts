/**
 * The composition root: config → store → rooms → app → listen. `startServer` is what the CLI's
 * `serve` runs and what tests start on port 0; `close()` shuts it down gracefully.
 */
import type { StoreConfig } from './store/openStore.js'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import { authMode } from './auth/mode.js'
import { checkSecret } from './auth/tokens.js'
import type { Config } from './config.js'
import { createApp } from './http/app.js'
import { createAuthenticator } from './http/authenticate.js'
import { isAuthError } from './auth/errors.js'
import { createRoomManager, type RoomManager } from './collab/createRoomManager.js'
import { awaitingCreation } from './collab/sessionsBeingCreated.js'
import { attachSyncEndpoint } from './collab/upgrade.js'
import { connectRedis, createPostgresBus, createRedisBus, type PresenceBus } from './collab/presenceBus.js'
import { createSharedLimits, type SharedLimits } from './control/sharedLimits.js'
import { createMetrics } from './http/metrics.js'
import { startInstanceRegistry, type InstanceRegistry } from './instances/registry.js'
import { Gauge } from 'prom-client'
import { serverRoutes } from './http/routes/index.js'
import { createMcpSessions, type McpSessions } from './http/mcpSessions.js'
import { createMemoryService } from './memory/memoryService.js'
import { logger as defaultLogger, type Logger } from './log.js'
import { openEventLog } from './openEventLog.js'
import type { EventStore } from './store/types.js'
import { createBudgets } from './control/budgets.js'
import { startSuspensions, SUSPENSION_TYPES, suspendedReason } from './control/suspensions.js'

export interface RunningServer {
  /** This instance's id in the registry. */
  instanceId: string
  url: string
  port: number
  store: EventStore
  rooms: RoomManager
  /** The MCP sessions served at `/mcp`. */
  mcp: Pick<McpSessions, 'count'>
  server: Server
  close(): Promise<void>
}

export interface StartOptions {
  log?: Logger
  /** An already open PGlite to serve from instead of MNEMO_DATA_DIR (tests lend one; it stays open). */
  pglite?: StoreConfig['pglite']
}

export async function startServer(config: Config, { log = defaultLogger, pglite }: StartOptions = {}): Promise<RunningServer> {
  const mode = authMode({ secret: config.authSecret, host: config.host, allowOpen: config.allowOpen })
  if (mode.mode === 'token') checkSecret(mode.secret)
  else log.warn(mode.warning)

  const metrics = createMetrics()
  // The registry starts once the port is known (its advertised URL has it).
  let registry: InstanceRegistry | undefined
  const store = await openEventLog({
    observeBatch: metrics.observeBatch,
    // While other instances are live, commits carry their events to them (no read-back).
    carryCommits: () => (registry?.lastSeen().length ?? 0) > 1,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    pglite,
    schema: config.dbSchema,
    poolSize: config.dbPool,
    pollMs: config.pollMs,
    onError: (error) => log.warn({ err: error }, 'event store: read failed, retrying'),
    onListenRenewed: (reason) => log.warn({ reason }, 'event store: LISTEN was dead and is renewed; readers read what it missed'),
  })
  const instanceId = config.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  // Presence between instances: Redis when configured, else the PostgreSQL they share; PGlite is one process.
  let bus: PresenceBus | undefined
  try {
    if (config.redisUrl) bus = await createRedisBus({ url: config.redisUrl, prefix: config.redisPrefix, log: log.child({ module: 'presence' }) })
    else if (store.driver.kind === 'postgres') bus = createPostgresBus(store.driver, { schema: config.dbSchema, log: log.child({ module: 'presence' }) })
  } catch (error) {
    await store.close()
    throw error
  }
  // The connection cap and HTTP rate, shared through Redis when it is configured (control/sharedLimits.ts).
  let sharedLimits: SharedLimits | undefined
  if (config.redisUrl) {
    try {
      const redis = await connectRedis(config.redisUrl, log.child({ module: 'limits' }))
      sharedLimits = createSharedLimits({ redis, prefix: config.redisPrefix, instanceId, log: log.child({ module: 'limits' }) })
    } catch (error) {
      await bus?.close()
      await store.close()
      throw error
    }
  }
  // What budgeted tokens wrote, counted by this instance over both doors (control/budgets.ts).
  const budgets = createBudgets()
  const rooms = createRoomManager({
    // Before its first heartbeat the registry is not there: others are assumed live. An instance
    // started a moment ago is not in our registry read yet, but its store has announced itself.
    presence: bus && {
      bus, instanceId, timeoutMs: config.presenceTimeoutMs,
      othersLive: () => (registry?.lastSeen().length ?? 2) > 1 || store.othersListening(),
    },
    budgets,
    sharedLimits,
    // The room manager's feed reads the log anyway: it carries the kill switch to this instance too.
    follow: SUSPENSION_TYPES,
    store,
    observe: metrics.observeUpdate,
    log: log.child({ module: 'collab' }),
    config: {
      snapshotEvery: config.snapshotEvery,
      snapshotOffThreadBytes: config.snapshotOffThreadBytes,
      graceMs: config.roomGraceMs,
      maxBufferedBytes: config.maxBufferedBytes,
      maxMessageBytes: config.maxMessageBytes,
      updatesPerSec: config.rateUpdatesPerSec,
      updateBurst: config.rateBurst,
      maxConnectionsPerSession: config.maxConnectionsPerSession,
      maxDocBytes: config.maxDocBytes,
    },
  })
  // What HTTP callers read through: a session whose first client is being synced here is waited
  // for rather than answered 404 (collab/sessionsBeingCreated.ts).
  const reads = awaitingCreation(store, rooms)
  const memory = createMemoryService({
    store: reads,
    cascade: config.cascade,
    onCascadeError: (err, session) => log.error({ err, session }, 'automatic cascades not recorded'),
  })
  const suspensions = await startSuspensions({
    store,
    tap: rooms.tap,
    onSuspended(suspension) {
      const closed = rooms.disconnect(suspension.agent, 4403, suspendedReason(suspension))
      log.info({ agent: suspension.agent, by: suspension.by.id, connections: closed }, 'agent suspended: its connections here are closed')
    },
    onError: (error) => log.error({ err: error }, 'applying a suspension failed'),
  }).catch(async (error: unknown) => {
    await rooms.close()
    await sharedLimits?.close()
    await store.close()
    throw error
  })
  metrics.gauge('mnemo_rooms_loaded', 'Sessions loaded in this instance', () => rooms.stats().rooms)
  metrics.gauge('mnemo_ws_connections', 'Open sync connections', () => rooms.stats().connections)
  metrics.gauge('mnemo_pending_appends', 'Document updates waiting for the store', () => rooms.stats().pendingAppends)
  let draining = false
  const authenticate = createAuthenticator(mode)
  // MCP sessions join this server as their callers, at its own URL once it listens.
  let selfUrl: string | undefined
  const mcp = createMcpSessions({
    auth: mode.mode,
    selfUrl: () => selfUrl,
    idleMs: config.mcpIdleMs,
    maxPerIdentity: config.mcpSessionsPerIdentity,
    suspensions,
    log: log.child({ module: 'mcp' }),
  })
  const app = createApp({
    log,
    metrics,
    authenticate,
    maxBodyBytes: config.maxBodyBytes,
    corsOrigins: config.corsOrigins,
    rateLimit: { perSec: config.rateHttpPerSec, burst: config.rateHttpBurst, shared: sharedLimits },
    budgets,
    suspensions,
    routes: serverRoutes({
      store: reads, memory, rooms, metrics, suspensions, mcp,
      maxBatchEvents: config.maxBatchEvents, maxStreamsPerIdentity: config.maxStreamsPerIdentity,
      draining: () => draining, registry: () => registry,
    }),
  })

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s as Server))
    s.once('error', reject)
  }).catch(async (error: unknown) => {
    // A port in use must not leave the store's connections (or PGlite's lock) behind.
    suspensions.close()
    await rooms.close()
    await sharedLimits?.close()
    await store.close()
    throw error
  })
  const sync = attachSyncEndpoint(server, {
    rooms,
    maxPayload: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    statelessRate: { perSec: config.rateUpdatesPerSec, burst: config.rateBurst },
    observe: metrics.observeUpdate,
    log: log.child({ module: 'sync' }),
    admit(identity) {
      const suspension = suspensions.get(identity.id)
      return suspension && { code: 4403, reason: suspendedReason(suspension) }
    },
    async authenticate(req, token) {
      const url = new URL(req.url ?? '/', 'http://localhost')
      try {
        return await authenticate({
          // A Hocuspocus document's token, else the request's own.
          authorization: token ? `Bearer ${token}` : req.headers.authorization,
          query: url.searchParams,
          headers: { get: (name) => headerValue(req.headers[name.toLowerCase()]) },
          transport: 'ws',
        })
      } catch (error) {
        if (!isAuthError(error)) throw error
        return { close: { code: error.status === 403 ? 4403 : error.status === 400 ? 4400 : 4401, reason: error.message } }
      }
    },
  })
  const port = (server.address() as AddressInfo).port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `http://${host}:${port}`
  const wildcard = config.host === '0.0.0.0' || config.host === '::'
  selfUrl = wildcard ? `http://${config.host === '::' ? '[::1]' : '127.0.0.1'}:${port}` : url
  try {
    registry = await startInstanceRegistry({
      driver: store.driver,
      id: instanceId,
      url: config.publicUrl ?? (wildcard ? `http://${hostname()}:${port}` : url),
      heartbeatMs: config.heartbeatMs,
      // Before the feed started (no room loaded yet) it has nothing to read: it is at the head.
      stats: async () => ({ ...sessionsAndConnections(rooms), position: rooms.feedPosition() ?? (await store.lastPosition()) }),
      head: () => store.lastPosition(),
      log: log.child({ module: 'instances' }),
    })
  } catch (error) {
    await sync.close()
    suspensions.close()
    await rooms.close()
    await sharedLimits?.close()
    server.close()
    server.closeAllConnections()
    await store.close()
    throw error
  }
  const started = registry
  new Gauge({
    name: 'mnemo_instance_lag',
    help: 'How far each live instance\'s feed is behind the log\'s head (events), as of this instance\'s last heartbeat',
    labelNames: ['instance'],
    registers: [metrics.registry],
    collect() {
      this.reset()
      for (const instance of started.lastSeen()) this.set({ instance: instance.id }, instance.lag)
    },
  })
  metrics.gauge('mnemo_instances_live', 'Live instances in the registry, as of this instance\'s last heartbeat', () => started.lastSeen().length)
  log.info({ port, host: config.host, store: config.databaseUrl ? 'postgres' : 'pglite', auth: mode.mode }, 'listening')

  let closing: Promise<void> | undefined
  return {
    instanceId,
    url,
    port,
    store,
    rooms,
    mcp,
    server,
    close() {
      closing ??= (async () => {
        // Fail /health (the load balancer stops sending anyone here) and wait MNEMO_SHUTDOWN_DELAY_MS;
        // leave the registry; flush and snapshot rooms, closing sockets with 1012 (clients reconnect
        // elsewhere; one that upgrades meanwhile gets the same), then stop upgrades and HTTP.
        draining = true
        if (config.shutdownDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs))
        await started.close()
        // Before the rooms: the MCP sessions' agents leave while their writes can still land.
        await mcp.close()
        suspensions.close()
        await rooms.close()
    await sharedLimits?.close()
        await sync.close()
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await store.close()
      })()
      return closing
    },
  }
}

function sessionsAndConnections(rooms: RoomManager): { sessions: number; connections: number } {
  const { rooms: sessions, connections } = rooms.stats()
  return { sessions, connections }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
