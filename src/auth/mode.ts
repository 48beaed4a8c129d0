/**
 * The startup rule for auth: with `MNEMO_AUTH_SECRET` every caller needs a token;
 * without it mnemo runs open, which it allows only on a loopback address unless
 * `MNEMO_ALLOW_OPEN=1` says the operator means it.
 */
import { BlockList, isIP } from 'node:net'
import { checkSecret } from './tokens.js'

export type AuthMode = { mode: 'token'; secret: string } | { mode: 'open'; warning: string }

export interface AuthModeOptions {
  /** `MNEMO_AUTH_SECRET`; unset or empty means open mode. */
  secret?: string
  /** `HOST`, the address the server binds. */
  host: string
  /** `MNEMO_ALLOW_OPEN`: `true`, `'1'` or `'true'` allow open mode on any address. */
  allowOpen?: boolean | string
}

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
// IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is loopback too.
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Whether binding `host` keeps the server reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (bare === 'localhost' || bare === 'localhost.') return true
  const version = isIP(bare)
  if (version === 0) return false // another name: it may resolve anywhere
  return loopback.check(bare, version === 4 ? 'ipv4' : 'ipv6')
}

const flagOn = (value: boolean | string | undefined): boolean =>
  value === true || (typeof value === 'string' && ['1', 'true', 'yes'].includes(value.trim().toLowerCase()))

/**
 * Decides the auth mode, or throws an `Error` saying how to fix the configuration
 * (a short secret, or open mode on a public address).
 *
 * @example
 * const auth = authMode({ secret: env.MNEMO_AUTH_SECRET, host: env.HOST ?? '127.0.0.1', allowOpen: env.MNEMO_ALLOW_OPEN })
 * if (auth.mode === 'open') log.warn(auth.warning)
 */
export function authMode({ secret, host, allowOpen }: AuthModeOptions): AuthMode {
  if (secret !== undefined && secret !== '') {
    checkSecret(secret)
    return { mode: 'token', secret }
  }
  if (isLoopbackHost(host)) {
    return {
      mode: 'open',
      warning: `Auth is off (MNEMO_AUTH_SECRET is unset): anyone on this machine can read and edit every session on ${host}. Set MNEMO_AUTH_SECRET to require tokens.`,
    }
  }
  if (flagOn(allowOpen)) {
    return {
      mode: 'open',
      warning: `Auth is off on ${host}, a non-loopback address (MNEMO_ALLOW_OPEN is set): anyone who can reach it can read and edit every session. Set MNEMO_AUTH_SECRET to require tokens.`,
    }
  }
  throw new Error(
    `Refusing to start without auth on HOST=${host}, which is not a loopback address. ` +
      'Set MNEMO_AUTH_SECRET (at least 32 bytes, e.g. `openssl rand -hex 32`) to require tokens, ' +
      'or set MNEMO_ALLOW_OPEN=1 to run open anyway, or bind HOST=127.0.0.1.',
  )
}
