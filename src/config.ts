/**
 * Configuration from the environment, validated once at start. Every variable is listed in
 * the README's configuration table; an invalid value stops the server with a message that
 * names the variable.
 */
import { z } from 'zod'
import { readCascadeConfig, type CascadeConfig } from './memory/config.js'

const int = (name: string, min: number, max: number, fallback: number) =>
  z.string().optional().transform((value, ctx) => {
    if (value === undefined || value === '') return fallback
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max} (got "${value}")` })
      return z.NEVER
    }
    return n
  })

const flag = z.string().optional().transform((v) => v === '1' || v === 'true' || v === 'yes')

const EnvSchema = z.object({
  PORT: int('PORT', 0, 65535, 3001),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().optional().refine((v) => !v || /^postgres(ql)?:\/\//.test(v), {
    message: 'DATABASE_URL must start with postgres:// or postgresql://',
  }),
  MNEMO_DATA_DIR: z.string().default('./data'),
  MNEMO_DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'MNEMO_DB_SCHEMA must be a lowercase SQL identifier').optional(),
  MNEMO_DB_POOL: int('MNEMO_DB_POOL', 1, 200, 10),
  MNEMO_AUTH_SECRET: z.string().optional(),
  MNEMO_ALLOW_OPEN: flag,
  MNEMO_MAX_MESSAGE_BYTES: int('MNEMO_MAX_MESSAGE_BYTES', 1024, 64 * 1024 * 1024, 1024 * 1024),
  MNEMO_MAX_BODY_BYTES: int('MNEMO_MAX_BODY_BYTES', 1024, 64 * 1024 * 1024, 1024 * 1024),
  MNEMO_MAX_BATCH_EVENTS: int('MNEMO_MAX_BATCH_EVENTS', 1, 10_000, 1000),
  MNEMO_MAX_STREAMS_PER_IDENTITY: int('MNEMO_MAX_STREAMS_PER_IDENTITY', 1, 100_000, 16),
  MNEMO_SNAPSHOT_EVERY: int('MNEMO_SNAPSHOT_EVERY', 1, 1_000_000, 500),
  MNEMO_SNAPSHOT_OFF_THREAD_BYTES: int('MNEMO_SNAPSHOT_OFF_THREAD_BYTES', 0, Number.MAX_SAFE_INTEGER, 1024 * 1024),
  MNEMO_ROOM_GRACE_MS: int('MNEMO_ROOM_GRACE_MS', 0, 3_600_000, 10_000),
  MNEMO_MAX_BUFFERED_BYTES: int('MNEMO_MAX_BUFFERED_BYTES', 64 * 1024, 1024 * 1024 * 1024, 4 * 1024 * 1024),
  MNEMO_CORS_ORIGINS: z.string().optional(),
  MNEMO_POLL_MS: int('MNEMO_POLL_MS', 10, 60_000, 1000),
  MNEMO_RATE_UPDATES_PER_SEC: int('MNEMO_RATE_UPDATES_PER_SEC', 0, 1_000_000, 200),
  MNEMO_RATE_BURST: int('MNEMO_RATE_BURST', 1, 1_000_000, 400),
  MNEMO_MAX_CONNECTIONS_PER_SESSION: int('MNEMO_MAX_CONNECTIONS_PER_SESSION', 1, 1_000_000, 500),
  MNEMO_MAX_DOC_BYTES: int('MNEMO_MAX_DOC_BYTES', 1024, 2 ** 32, 64 * 1024 * 1024),
  MNEMO_RATE_HTTP_PER_SEC: int('MNEMO_RATE_HTTP_PER_SEC', 0, 1_000_000, 100),
  MNEMO_RATE_HTTP_BURST: int('MNEMO_RATE_HTTP_BURST', 1, 1_000_000, 200),
  MNEMO_REDIS_URL: z.string().optional().refine((v) => !v || /^rediss?:\/\//.test(v), {
    message: 'MNEMO_REDIS_URL must start with redis:// or rediss://',
  }),
  MNEMO_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:.-]{0,64}$/, 'MNEMO_REDIS_PREFIX must be up to 64 letters, digits or _ : . -').default('mnemo:'),
  MNEMO_PRESENCE_TIMEOUT_MS: int('MNEMO_PRESENCE_TIMEOUT_MS', 300, 600_000, 30_000),
  MNEMO_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'MNEMO_INSTANCE_ID must be 1 to 100 letters, digits or _ . : -').optional(),
  MNEMO_PUBLIC_URL: z.string().optional().refine((v) => !v || /^https?:\/\/[^\s]+$/.test(v), {
    message: 'MNEMO_PUBLIC_URL must be an http:// or https:// URL',
  }),
  MNEMO_HEARTBEAT_MS: int('MNEMO_HEARTBEAT_MS', 100, 600_000, 5000),
  MNEMO_SHUTDOWN_DELAY_MS: int('MNEMO_SHUTDOWN_DELAY_MS', 0, 600_000, 0),
  MNEMO_MCP_IDLE_MS: int('MNEMO_MCP_IDLE_MS', 1000, 86_400_000, 1_800_000),
  MNEMO_MCP_SESSIONS_PER_IDENTITY: int('MNEMO_MCP_SESSIONS_PER_IDENTITY', 1, 10_000, 8),
})

export interface Config {
  port: number
  host: string
  databaseUrl?: string
  dataDir: string
  dbSchema?: string
  dbPool: number
  authSecret?: string
  allowOpen: boolean
  maxMessageBytes: number
  maxBodyBytes: number
  maxBatchEvents: number
  /** Live SSE streams one identity may hold open on this instance (429 beyond). */
  maxStreamsPerIdentity: number
  snapshotEvery: number
  /** A document whose snapshot reached this size is snapshotted on a worker thread from then on. */
  snapshotOffThreadBytes: number
  roomGraceMs: number
  maxBufferedBytes: number
  corsOrigins: string[]
  pollMs: number
  /** Sync messages a second per connection (token bucket; 0 = no limit), and the burst above it. */
  rateUpdatesPerSec: number
  rateBurst: number
  maxConnectionsPerSession: number
  maxDocBytes: number
  /** HTTP requests a second per identity (token bucket; 0 = no limit), and the burst above it. */
  rateHttpPerSec: number
  rateHttpBurst: number
  /** Presence and shared limits over Redis pub/sub instead of PostgreSQL; and the prefix of its channels and keys. */
  redisUrl?: string
  redisPrefix: string
  /** A state from another instance not refreshed for this long is removed. */
  presenceTimeoutMs: number
  /** This instance's id in the registry (default: host name, process id and a random part). */
  instanceId?: string
  /** The URL this instance advertises in the registry (default: derived from HOST and the port). */
  publicUrl?: string
  /** How often this instance writes its heartbeat; three missed ones and it drops out. */
  heartbeatMs: number
  /** On shutdown, /health answers 503 for this long before the sync sockets are closed (1012). */
  shutdownDelayMs: number
  /** An MCP session (`/mcp`) without a request for this long is closed. */
  mcpIdleMs: number
  /** MCP sessions one identity may hold open on this instance (429 beyond). */
  mcpSessionsPerIdentity: number
  cascade: CascadeConfig
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env)
  if (!parsed.success) {
    // Our own messages already start with the variable's name; zod's do not.
    throw new ConfigError(parsed.error.issues.map((i) => /^[A-Z_]+ /.test(i.message)
      ? i.message : `${i.path.join('.')}: ${i.message}`).join('; '))
  }
  const e = parsed.data
  let cascade: CascadeConfig
  try {
    cascade = readCascadeConfig(env)
  } catch (error) {
    throw new ConfigError((error as Error).message)
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL || undefined,
    dataDir: e.MNEMO_DATA_DIR,
    dbSchema: e.MNEMO_DB_SCHEMA,
    dbPool: e.MNEMO_DB_POOL,
    authSecret: e.MNEMO_AUTH_SECRET || undefined,
    allowOpen: e.MNEMO_ALLOW_OPEN,
    maxMessageBytes: e.MNEMO_MAX_MESSAGE_BYTES,
    maxBodyBytes: e.MNEMO_MAX_BODY_BYTES,
    maxBatchEvents: e.MNEMO_MAX_BATCH_EVENTS,
    maxStreamsPerIdentity: e.MNEMO_MAX_STREAMS_PER_IDENTITY,
    snapshotEvery: e.MNEMO_SNAPSHOT_EVERY,
    snapshotOffThreadBytes: e.MNEMO_SNAPSHOT_OFF_THREAD_BYTES,
    roomGraceMs: e.MNEMO_ROOM_GRACE_MS,
    maxBufferedBytes: e.MNEMO_MAX_BUFFERED_BYTES,
    corsOrigins: (e.MNEMO_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    pollMs: e.MNEMO_POLL_MS,
    rateUpdatesPerSec: e.MNEMO_RATE_UPDATES_PER_SEC,
    rateBurst: e.MNEMO_RATE_BURST,
    maxConnectionsPerSession: e.MNEMO_MAX_CONNECTIONS_PER_SESSION,
    maxDocBytes: e.MNEMO_MAX_DOC_BYTES,
    rateHttpPerSec: e.MNEMO_RATE_HTTP_PER_SEC,
    rateHttpBurst: e.MNEMO_RATE_HTTP_BURST,
    redisUrl: e.MNEMO_REDIS_URL || undefined,
    redisPrefix: e.MNEMO_REDIS_PREFIX,
    presenceTimeoutMs: e.MNEMO_PRESENCE_TIMEOUT_MS,
    instanceId: e.MNEMO_INSTANCE_ID || undefined,
    publicUrl: e.MNEMO_PUBLIC_URL || undefined,
    heartbeatMs: e.MNEMO_HEARTBEAT_MS,
    shutdownDelayMs: e.MNEMO_SHUTDOWN_DELAY_MS,
    mcpIdleMs: e.MNEMO_MCP_IDLE_MS,
    mcpSessionsPerIdentity: e.MNEMO_MCP_SESSIONS_PER_IDENTITY,
    cascade,
  }
}
