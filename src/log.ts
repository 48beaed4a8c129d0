/**
 * The process logger: structured JSON lines (pino), level from LOG_LEVEL (default `info`;
 * tests run with `silent`).
 */
import { pino } from 'pino'

export type Logger = pino.Logger

export const logger: Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'mnemo' },
  timestamp: pino.stdTimeFunctions.isoTime,
})
