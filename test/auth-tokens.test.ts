import { createHmac } from 'node:crypto'
import { SignJWT, generateKeyPair } from 'jose'
import { describe, expect, it } from 'vitest'
import { AuthError } from '../src/auth/errors.js'
import { checkSecret, mintToken, parseTtl, verifyToken } from '../src/auth/tokens.js'

const secret = 'test-secret-test-secret-test-secret-0123'
const key = new TextEncoder().encode(secret)
const t0 = new Date('2026-11-21T10:00:00.000Z')
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000)
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const nowSec = Math.floor(t0.getTime() / 1000)

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AuthError)
  return error as AuthError
}

describe('mintToken / verifyToken', () => {
  it('round-trips a human editor with every session by default', async () => {
    const token = await mintToken(secret, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor', now: t0 })
    const identity = await verifyToken(secret, token, { now: at(10) })
    expect(identity).toEqual({ id: 'ada', name: 'Ada', kind: 'human', role: 'editor', sessions: ['*'], exp: nowSec + 3600, tokenId: expect.any(String) })
  })

  it('round-trips an agent with model, onBehalfOf, sessions and ttl', async () => {
    const token = await mintToken(secret, {
      sub: 'agent-7', name: 'Navigator', kind: 'agent', role: 'viewer',
      sessions: ['s1', 's2', 's1'], ttl: '7d', model: 'claude', onBehalfOf: 'ada', now: t0,
    })
    const identity = await verifyToken(secret, token, { now: at(6 * 86400) })
    expect(identity).toEqual({
      id: 'agent-7', name: 'Navigator', kind: 'agent', role: 'viewer',
      sessions: ['s1', 's2'], model: 'claude', onBehalfOf: 'ada', exp: nowSec + 7 * 86400, tokenId: expect.any(String),
    })
  })

  it('refuses to mint bad claims, naming the field', async () => {
    const base = { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' } as const
    await expect(mintToken(secret, { ...base, kind: 'robot' as 'human' })).rejects.toThrow(/`kind` must be one of "human", "agent", got "robot"/)
    await expect(mintToken(secret, { ...base, role: 'root' as 'admin' })).rejects.toThrow(/`role` must be one of "viewer", "editor", "admin"/)
    await expect(mintToken(secret, { ...base, sub: '' })).rejects.toThrow(/`sub` must not be empty/)
    await expect(mintToken(secret, { ...base, name: 'x'.repeat(129) })).rejects.toThrow(/`name` must be at most 128/)
    await expect(mintToken(secret, { ...base, sessions: ['bad id'] })).rejects.toThrow(/`sessions` entries must be "\*"/)
    await expect(mintToken(secret, { ...base, sessions: [] })).rejects.toThrow(/`sessions` must not be empty/)
    await expect(mintToken(secret, { ...base, model: 'm' })).rejects.toThrow(/`model` is only for kind "agent"/)
    await expect(mintToken(secret, { ...base, ttl: 'forever' })).rejects.toThrow(/Invalid TTL "forever"/)
    await expect(mintToken('short', base)).rejects.toThrow(/at least 32 bytes/)
  })

  it('reports a missing token', async () => {
    for (const token of [undefined, null, '', '  ']) {
      const error = await rejection(verifyToken(secret, token))
      expect(error.code).toBe('token_missing')
      expect(error.status).toBe(401)
      expect(error.message).toMatch(/Authorization: Bearer/)
    }
  })

  it('refuses garbage', async () => {
    const error = await rejection(verifyToken(secret, 'not-a-jwt'))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/not a JWT/)
  })
})

describe('expiry and not-before', () => {
  const mint = () => mintToken(secret, { sub: 'ada', name: 'Ada', kind: 'human', role: 'viewer', ttl: '60s', now: t0 })

  it('accepts an expired token within the clock tolerance', async () => {
    const token = await mint()
    await expect(verifyToken(secret, token, { now: at(60 + 29) })).resolves.toMatchObject({ id: 'ada' })
  })

  it('refuses a token expired beyond the tolerance', async () => {
    const token = await mint()
    const error = await rejection(verifyToken(secret, token, { now: at(60 + 31) }))
    expect(error.code).toBe('token_expired')
    expect(error.status).toBe(401)
    expect(error.message).toMatch(/expired at 2026-11-21T10:01:00.000Z; mint a new one/)
  })

  it('honours a custom tolerance', async () => {
    const token = await mint()
    const error = await rejection(verifyToken(secret, token, { now: at(61), clockToleranceSec: 0 }))
    expect(error.code).toBe('token_expired')
  })

  it('checks nbf with the same tolerance', async () => {
    const sign = (nbf: number) =>
      new SignJWT({ name: 'Ada', kind: 'human', role: 'viewer', sessions: ['*'] })
        .setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setExpirationTime(nowSec + 3600).setNotBefore(nowSec + nbf).sign(key)
    await expect(verifyToken(secret, await sign(20), { now: t0 })).resolves.toMatchObject({ id: 'ada' })
    const error = await rejection(verifyToken(secret, await sign(120), { now: t0 }))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/not valid until 2026-11-21T10:02:00.000Z/)
  })

  it('requires exp', async () => {
    const token = await new SignJWT({ name: 'Ada', kind: 'human', role: 'viewer' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').sign(key)
    const error = await rejection(verifyToken(secret, token))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/no `exp` claim/)
  })
})

describe('signatures and algorithms', () => {
  const claims = { sub: 'ada', name: 'Ada', kind: 'human', role: 'admin', sessions: ['*'], exp: nowSec + 3600 }

  it('refuses a token signed with another secret', async () => {
    const token = await mintToken('another-secret-another-secret-another', { sub: 'ada', name: 'Ada', kind: 'human', role: 'admin', now: t0 })
    const error = await rejection(verifyToken(secret, token, { now: t0 }))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/signature does not match/)
  })

  it('refuses a tampered payload', async () => {
    const token = await mintToken(secret, { sub: 'ada', name: 'Ada', kind: 'human', role: 'viewer', now: t0 })
    const [header, , signature] = token.split('.')
    const forged = `${header}.${b64url({ ...claims, role: 'admin' })}.${signature}`
    const error = await rejection(verifyToken(secret, forged, { now: t0 }))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/signature does not match/)
  })

  it('refuses alg none', async () => {
    for (const signature of ['', 'AAAA']) {
      const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.${signature}`
      const error = await rejection(verifyToken(secret, token, { now: t0 }))
      expect(error.code).toBe('token_invalid')
      expect(error.message).toMatch(/signed with "none"; mnemo accepts only HS256/)
    }
  })

  it('refuses an RS256 token', async () => {
    const { privateKey } = await generateKeyPair('RS256')
    const token = await new SignJWT({ name: 'Ada', kind: 'human', role: 'admin' })
      .setProtectedHeader({ alg: 'RS256' }).setSubject('ada').setExpirationTime(nowSec + 3600).sign(privateKey)
    const error = await rejection(verifyToken(secret, token, { now: t0 }))
    expect(error.code).toBe('token_invalid')
    expect(error.message).toMatch(/signed with "RS256"/)
  })

  it('refuses an HMAC-signed token whose header claims another algorithm', async () => {
    for (const alg of ['RS256', 'HS512', 'ES256']) {
      const input = `${b64url({ alg, typ: 'JWT' })}.${b64url(claims)}`
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
      const error = await rejection(verifyToken(secret, token, { now: t0 }))
      expect(error.code).toBe('token_invalid')
      expect(error.message).toMatch(new RegExp(`signed with "${alg}"`))
    }
  })

  it('refuses a header without alg', async () => {
    const input = `${b64url({ typ: 'JWT' })}.${b64url(claims)}`
    const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
    const error = await rejection(verifyToken(secret, token, { now: t0 }))
    expect(error.message).toMatch(/no algorithm/)
  })
})

describe('claims', () => {
  const sign = (payload: Record<string, unknown>) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(nowSec + 3600).sign(key)

  it('explains every bad claim at once', async () => {
    const token = await sign({ name: 'Ada', kind: 'robot', role: 'root' })
    const error = await rejection(verifyToken(secret, token, { now: t0 }))
    expect(error.code).toBe('token_invalid')
    expect(error.status).toBe(401)
    expect(error.message).toMatch(/claims are invalid/)
    expect(error.message).toMatch(/`sub` is missing/)
    expect(error.message).toMatch(/`kind` must be one of "human", "agent", got "robot"/)
    expect(error.message).toMatch(/`role` must be one of "viewer", "editor", "admin", got "root"/)
  })

  it('refuses a missing name, bad sessions and agent-only claims on humans', async () => {
    const base = { sub: 'ada', name: 'Ada', kind: 'human', role: 'viewer' }
    const messageFor = async (payload: Record<string, unknown>) => (await rejection(verifyToken(secret, await sign(payload), { now: t0 }))).message
    expect(await messageFor({ ...base, name: undefined })).toMatch(/`name` is missing/)
    expect(await messageFor({ ...base, name: 42 })).toMatch(/`name` must be a string/)
    expect(await messageFor({ ...base, sessions: 's1' })).toMatch(/`sessions` must be a list/)
    expect(await messageFor({ ...base, sessions: ['../etc'] })).toMatch(/`sessions` entries must be/)
    expect(await messageFor({ ...base, onBehalfOf: 'bob' })).toMatch(/`onBehalfOf` is only for kind "agent"/)
    expect(await messageFor({ ...base, name: 'a\u0000b' })).toMatch(/`name` must contain only printable characters/)
  })

  it('gives a token without sessions every session, and ignores unknown claims', async () => {
    const token = await sign({ sub: 'ada', name: 'Ada', kind: 'human', role: 'viewer', extra: true })
    await expect(verifyToken(secret, token, { now: t0 })).resolves.toEqual({
      id: 'ada', name: 'Ada', kind: 'human', role: 'viewer', sessions: ['*'], exp: nowSec + 3600,
    })
  })
})

describe('parseTtl', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseTtl('90s')).toBe(90)
    expect(parseTtl('30m')).toBe(1800)
    expect(parseTtl('1h')).toBe(3600)
    expect(parseTtl('7d')).toBe(604800)
    expect(parseTtl(' 2h ')).toBe(7200)
  })

  it('explains what it wants', () => {
    for (const bad of ['', '1', 'h', '1.5h', '-1h', '1w', '1 h', '1H']) {
      expect(() => parseTtl(bad)).toThrow(/Invalid TTL .*: use a whole number followed by s, m, h or d, like 90s, 30m, 1h or 7d/)
    }
    expect(() => parseTtl('0m')).toThrow(/longer than zero/)
    expect(() => parseTtl('99999999999999999d')).toThrow(/too long/)
  })
})

describe('checkSecret', () => {
  it('wants at least 32 bytes', () => {
    expect(() => checkSecret('x'.repeat(32))).not.toThrow()
    expect(() => checkSecret('é'.repeat(16))).not.toThrow() // 32 bytes in UTF-8
    expect(() => checkSecret('x'.repeat(31))).toThrow('MNEMO_AUTH_SECRET must be at least 32 bytes, got 31; generate one with `openssl rand -hex 32`')
    expect(() => checkSecret(undefined)).toThrow(/got 0/)
  })
})
