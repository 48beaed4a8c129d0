/**
 * The Hocuspocus framing: the decoder reads what `@hocuspocus/provider` 3.x and 4.x write (frames built
 * here as its OutgoingMessages build them) and refuses anything else with ProtocolError; the
 * encoders write what the provider reads.
 */
import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import {
  decodeFrame, encodeAuthenticated, encodeClose, encodeDocumentName, encodePermissionDenied, encodeStateless,
  encodeSyncStatus, prefixFrame, sessionOfKey,
} from '../src/protocol/hocuspocus.js'
import { encodeSyncStep1 } from '../src/protocol/messages.js'
import { ProtocolError } from '../src/protocol/ProtocolError.js'

/** A frame as the provider writes it: the name, the type, then `body`. */
const providerFrame = (document: string, type: number, body: (e: encoding.Encoder) => void = () => {}) => {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, document)
  encoding.writeVarUint(e, type)
  body(e)
  return encoding.toUint8Array(e)
}

const refusal = (frame: Uint8Array): ProtocolError => {
  try {
    decodeFrame(frame)
  } catch (error) {
    if (error instanceof ProtocolError) return error
    throw error
  }
  throw new Error('accepted')
}

describe('Hocuspocus frames', () => {
  it('decodes the provider\'s messages', () => {
    const token = providerFrame('s-1', 2, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'jwt.x.y') })
    expect(decodeFrame(token)).toEqual({ kind: 'auth', document: 's-1', token: 'jwt.x.y' })
    const token4 = providerFrame('s-1', 2, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'jwt.x.y'); encoding.writeVarString(e, '4.8.0') })
    expect(decodeFrame(token4)).toEqual({ kind: 'auth', document: 's-1', token: 'jwt.x.y', providerVersion: '4.8.0' })
    const step1 = encodeSyncStep1(Y.encodeStateVector(new Y.Doc()))
    const sync = decodeFrame(prefixFrame(encodeDocumentName('s-1'), step1))
    expect(sync).toMatchObject({ kind: 'room', document: 's-1' })
    expect(sync.kind === 'room' && [...sync.message]).toEqual([...step1])
    expect(decodeFrame(providerFrame('s-1', 3))).toMatchObject({ kind: 'room', message: Uint8Array.of(3) })
    expect(decodeFrame(providerFrame('s-1', 5, (e) => encoding.writeVarString(e, '{"a":1}')))).toEqual({ kind: 'stateless', document: 's-1', payload: '{"a":1}' })
    expect(decodeFrame(providerFrame('s-1', 7))).toEqual({ kind: 'close', document: 's-1' })
  })

  it('reads the session out of a 4.x routing key', () => {
    expect(sessionOfKey('s-1')).toBe('s-1')
    expect(sessionOfKey('s-1\0k3j9x')).toBe('s-1')
    expect(sessionOfKey('\0x')).toBe('')
  })

  it('refuses unknown types, server-only auth types, trailing bytes, truncation and oversize', () => {
    for (const type of [4, 6, 8, 9, 1000]) expect(refusal(providerFrame('s', type)).code).toBe(1007)
    expect(refusal(providerFrame('s', 2, (e) => { encoding.writeVarUint(e, 2); encoding.writeVarString(e, 'read-write') })).message).toMatch(/auth type/)
    expect(refusal(providerFrame('s', 7, (e) => encoding.writeVarUint(e, 1))).message).toMatch(/trailing/)
    expect(refusal(providerFrame('s', 2, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, 't'); encoding.writeVarString(e, '4'); encoding.writeVarUint(e, 1) })).message).toMatch(/trailing/)
    expect(refusal(Uint8Array.of(5, 0x61)).code).toBe(1007)
    expect(refusal(new Uint8Array(0)).code).toBe(1007)
    expect(() => decodeFrame(new Uint8Array(2048), 1024)).toThrow(expect.objectContaining({ code: 1009 }))
  })

  it('only ever throws ProtocolError on random bytes', () => {
    const gen = prng.create(16)
    for (let i = 0; i < 5000; i++) {
      const bytes = prng.uint8Array(gen, prng.uint32(gen, 0, 40))
      try {
        decodeFrame(bytes)
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError)
      }
    }
  })

  it('encodes what the provider reads', () => {
    const read = (frame: Uint8Array) => {
      const d = decoding.createDecoder(frame)
      return { document: decoding.readVarString(d), type: decoding.readVarUint(d), d }
    }
    const authenticated = read(encodeAuthenticated('s-1', 'readonly'))
    expect([authenticated.document, authenticated.type, decoding.readVarUint(authenticated.d), decoding.readVarString(authenticated.d)]).toEqual(['s-1', 2, 2, 'readonly'])
    const denied = read(encodePermissionDenied('s-1', 'no'))
    expect([denied.type, decoding.readVarUint(denied.d), decoding.readVarString(denied.d)]).toEqual([2, 1, 'no'])
    const status = read(encodeSyncStatus('s-1'))
    expect([status.type, decoding.readVarInt(status.d)]).toEqual([8, 1]) // the provider reads a varInt
    const stateless = read(encodeStateless('s-1', 'hi'))
    expect([stateless.type, decoding.readVarString(stateless.d)]).toEqual([5, 'hi'])
    const close = read(encodeClose('s-1', '4403: no'))
    expect([close.type, decoding.readVarString(close.d)]).toEqual([7, '4403: no'])
  })
})
