import { describe, expect, it } from 'vitest'
import { authMode, isLoopbackHost } from '../src/auth/mode.js'

const secret = 'a'.repeat(32)

describe('isLoopbackHost', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.255', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true)
    }
  })

  it('treats everything else as reachable from outside', () => {
    for (const host of ['0.0.0.0', '::', '', '10.0.0.1', '192.168.1.10', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'example.com', 'localhost.example.com', '127.0.0.1.nip.io']) {
      expect(isLoopbackHost(host), host).toBe(false)
    }
  })
})

describe('authMode', () => {
  it('uses tokens whenever a secret is set, on any host', () => {
    expect(authMode({ secret, host: '0.0.0.0' })).toEqual({ mode: 'token', secret })
    expect(authMode({ secret, host: '127.0.0.1' })).toEqual({ mode: 'token', secret })
  })

  it('refuses a short secret with a fix', () => {
    expect(() => authMode({ secret: 'short', host: '127.0.0.1' })).toThrow(/MNEMO_AUTH_SECRET must be at least 32 bytes, got 5; generate one with `openssl rand -hex 32`/)
  })

  it('runs open on loopback without a secret, with a warning', () => {
    for (const secretValue of [undefined, '']) {
      const mode = authMode({ secret: secretValue, host: '127.0.0.1' })
      expect(mode.mode).toBe('open')
      if (mode.mode === 'open') expect(mode.warning).toMatch(/MNEMO_AUTH_SECRET/)
    }
    expect(authMode({ host: 'localhost' }).mode).toBe('open')
    expect(authMode({ host: '::1' }).mode).toBe('open')
  })

  it('refuses to run open on a public address, saying how to fix it', () => {
    for (const allowOpen of [undefined, false, '', '0', 'no']) {
      expect(() => authMode({ host: '0.0.0.0', allowOpen })).toThrow(
        /Refusing to start without auth on HOST=0\.0\.0\.0.*Set MNEMO_AUTH_SECRET.*or set MNEMO_ALLOW_OPEN=1/,
      )
    }
  })

  it('runs open anywhere when MNEMO_ALLOW_OPEN is set', () => {
    for (const allowOpen of [true, '1', 'true', 'YES']) {
      const mode = authMode({ host: '0.0.0.0', allowOpen })
      expect(mode.mode).toBe('open')
      if (mode.mode === 'open') expect(mode.warning).toMatch(/non-loopback/)
    }
  })
})
