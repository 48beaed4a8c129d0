/**
 * The wire protocol: encoders and decoder round-trip, real Yjs updates validate, and a
 * seeded fuzz of random, mutated and truncated frames only ever yields ProtocolError.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as decoding from 'lib0/decoding'
import {
  decodeMessage, encodeAwareness, encodeQueryAwareness, encodeSyncStep1, encodeSyncStep2, encodeUpdate,
} from '../src/protocol/messages.js'
import { ProtocolError } from '../src/protocol/ProtocolError.js'
import { validateStateVector, validateUpdate } from '../src/protocol/updates.js'
import { MAX_USER_EXTRA_CHARS, stampAwarenessUser, validateAwarenessUpdate } from '../src/protocol/awareness.js'

/** Updates covering every content type yjs writes, both full states and single changes. */
function realUpdates(): Uint8Array[] {
  const updates: Uint8Array[] = []
  const doc = new Y.Doc({ gc: true })
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const map = doc.getMap('m')
  map.set('n', 1); map.set('n', -70_000); map.set('f', 1.5); map.set('big', 2 ** 40); map.set('b', 10n)
  map.set('s', 'str'); map.set('o', { a: [1, { b: null }], u: undefined, t: true, f: false })
  map.set('bin', new Uint8Array([1, 2, 3]))
  map.delete('s')
  const text = new Y.Text(); map.set('text', text)
  text.insert(0, 'héllo 👋 world', { bold: true }); text.format(1, 3, { italic: true }); text.insertEmbed(2, { image: 'x' })
  text.delete(3, 4)
  const arr = doc.getArray<unknown>('a')
  arr.insert(0, [1, 'two', { three: 3 }]); arr.delete(1, 1); arr.push([new Y.Map(), new Y.Array()])
  const xml = doc.getXmlFragment('x')
  const el = new Y.XmlElement('p'); xml.insert(0, [el]); el.setAttribute('class', 'c'); el.insert(0, [new Y.XmlText('t')])
  xml.insert(0, [new Y.XmlHook('hook') as unknown as Y.XmlElement]) // typed too narrowly in yjs
  map.set('sub', new Y.Doc({ guid: 'sub-1' }))
  updates.push(Y.encodeStateAsUpdate(doc), Y.mergeUpdates(updates), Y.encodeStateAsUpdate(new Y.Doc()))
  const noGc = new Y.Doc({ gc: false })
  Y.applyUpdate(noGc, Y.encodeStateAsUpdate(doc))
  noGc.getText('t2').insert(0, 'abc'); noGc.getText('t2').delete(0, 2)
  updates.push(Y.encodeStateAsUpdate(noGc))
  return updates
}

function awarenessUpdate(states: Record<number, Record<string, unknown> | null>): Uint8Array {
  const doc = new Y.Doc()
  const awareness = new awarenessProtocol.Awareness(doc)
  awareness.setLocalState(null)
  for (const [id, state] of Object.entries(states)) {
    awareness.states.set(Number(id), state ?? {})
    awareness.meta.set(Number(id), { clock: 3, lastUpdated: 0 })
    if (state === null) awareness.states.delete(Number(id))
  }
  const update = awarenessProtocol.encodeAwarenessUpdate(awareness, Object.keys(states).map(Number))
  awareness.destroy()
  return update
}

function expectProtocolError(fn: () => unknown, code: 1007 | 1009 = 1007): ProtocolError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).code).toBe(code)
    return err as ProtocolError
  }
  throw new Error('expected a ProtocolError')
}

describe('messages', () => {
  it('round-trips every message kind', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'hi')
    const sv = Y.encodeStateVector(doc)
    const update = Y.encodeStateAsUpdate(doc)
    const aw = awarenessUpdate({ 7: { cursor: 1 } })
    expect(decodeMessage(encodeSyncStep1(sv))).toEqual({ kind: 'sync-step1', stateVector: sv })
    expect(decodeMessage(encodeSyncStep2(update))).toEqual({ kind: 'sync-step2', update })
    expect(decodeMessage(encodeUpdate(update))).toEqual({ kind: 'update', update })
    expect(decodeMessage(encodeAwareness(aw))).toEqual({ kind: 'awareness', update: aw })
    expect(decodeMessage(encodeQueryAwareness())).toEqual({ kind: 'query-awareness' })
    const auth = encoding.encode(e => { encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'nope') })
    expect(decodeMessage(auth)).toEqual({ kind: 'auth', type: 'permission-denied', reason: 'nope' })
  })

  it('speaks the same wire format as y-protocols, both ways', () => {
    const doc = realDoc()
    const theirs = encoding.encode(e => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, doc) })
    expect(decodeMessage(theirs)).toEqual({ kind: 'sync-step1', stateVector: Y.encodeStateVector(doc) })
    const replica = new Y.Doc()
    for (const frame of [encodeSyncStep2(Y.encodeStateAsUpdate(doc)), encodeUpdate(Y.encodeStateAsUpdate(doc))]) {
      const decoder = decoding.createDecoder(frame)
      expect(decoding.readVarUint(decoder)).toBe(0)
      syncProtocol.readSyncMessage(decoder, encoding.createEncoder(), replica, 'test')
    }
    expect(replica.getMap('m').toJSON()).toEqual({ k: { v: [1, 2] } })
    expect(replica.getText('t').toString()).toBe('text')
  })

  it('returns payloads detached from the frame', () => {
    const frame = encodeUpdate(Y.encodeStateAsUpdate(new Y.Doc()))
    const message = decodeMessage(frame)
    frame.fill(0xff)
    expect(message).toEqual({ kind: 'update', update: Uint8Array.of(0, 0) })
  })

  it('refuses frames over the size limit with 1009, before decoding them', () => {
    const frame = encodeUpdate(new Uint8Array(100).fill(0xff))
    const err = expectProtocolError(() => decodeMessage(frame, { maxBytes: 50 }), 1009)
    expect(err.message).toMatch(/103 bytes; the limit is 50/)
  })

  it('says what is wrong with a malformed frame', () => {
    expect(expectProtocolError(() => decodeMessage(new Uint8Array(0))).message).toMatch(/needs 1 bytes/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(9))).message).toMatch(/unknown message type 9/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(0, 3, 0))).message).toMatch(/unknown sync message type 3/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(3, 0))).message).toMatch(/1 trailing bytes/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(0, 2, 5, 0, 0))).message).toMatch(/needs 5 bytes but only 2 remain/)
    // A varint length of 2^49 must be refused without allocating anything.
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(0, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01))).message)
      .toMatch(/needs 562949953421312 bytes/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(0, 2, 9, ...new Array(9).fill(0x80)))).message).toMatch(/longer than 8 bytes/)
    expect(expectProtocolError(() => decodeMessage(Uint8Array.of(2, 1))).message).toMatch(/unknown auth message type 1/)
  })
})

describe('validateUpdate', () => {
  it('accepts every update yjs produces', () => {
    for (const update of realUpdates()) validateUpdate(update)
  })

  it('refuses the known traps: empty, huge lengths, truncation, trailing bytes', () => {
    expectProtocolError(() => validateUpdate(new Uint8Array(0)))
    expectProtocolError(() => validateUpdate(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)))
    expectProtocolError(() => validateUpdate(Uint8Array.of(0, 0, 0)))
    const full = Y.encodeStateAsUpdate(realDoc())
    for (let cut = 0; cut < full.length; cut++) expectProtocolError(() => validateUpdate(full.subarray(0, cut)))
    expect(expectProtocolError(() => validateUpdate(new Uint8Array(10))).message).toMatch(/8 trailing bytes/)
    expectProtocolError(() => validateUpdate(full, { maxBytes: full.length - 1 }), 1009)
  })

  it('refuses references to the item itself or later, which crash yjs', () => {
    const selfOrigin = encoding.encode(e => {
      encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 3)
      encoding.writeUint8(e, 0x80 | 8); encoding.writeVarUint(e, 5); encoding.writeVarUint(e, 3)
      encoding.writeVarUint(e, 1); encoding.writeUint8(e, 126)
      encoding.writeVarUint(e, 0)
    })
    expect(expectProtocolError(() => validateUpdate(selfOrigin)).message).toMatch(/5:3 refers to 5:3/)
    const emptyDeleteRange = encoding.encode(e => {
      encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 9); encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 4); encoding.writeVarUint(e, 0)
    })
    expect(expectProtocolError(() => validateUpdate(emptyDeleteRange)).message).toMatch(/zero-length deleted range/)
  })

  it('refuses unknown content, zero-length structs and bad JSON', () => {
    const item = (content: (e: encoding.Encoder) => void) => encoding.encode(e => {
      encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0)
      content(e)
      encoding.writeVarUint(e, 0)
    })
    const rootParent = (e: encoding.Encoder, ref: number) => { encoding.writeUint8(e, ref); encoding.writeVarUint(e, 1); encoding.writeVarString(e, 'm') }
    validateUpdate(item(e => { rootParent(e, 4); encoding.writeVarString(e, 'ok') }))
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 4); encoding.writeVarString(e, '') }))).message).toMatch(/zero-length/)
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 11) }))).message).toMatch(/unknown content type 11/)
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 7); encoding.writeVarUint(e, 7) }))).message).toMatch(/unknown shared type 7/)
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 5); encoding.writeVarString(e, '{x') }))).message).toMatch(/not valid JSON/)
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 8); encoding.writeVarUint(e, 1); encoding.writeUint8(e, 100) }))).message).toMatch(/unknown value tag 100/)
    const deep = item(e => { rootParent(e, 8); encoding.writeVarUint(e, 1); for (let i = 0; i < 1000; i++) { encoding.writeUint8(e, 117); encoding.writeVarUint(e, 1) } encoding.writeUint8(e, 126) })
    expect(expectProtocolError(() => validateUpdate(deep)).message).toMatch(/nested deeper/)
    expect(expectProtocolError(() => validateUpdate(item(e => { rootParent(e, 4); encoding.writeVarUint(e, 2); encoding.writeUint8(e, 0xc3); encoding.writeUint8(e, 0x28) }))).message).toMatch(/UTF-8/)
  })

  it('validates state vectors', () => {
    validateStateVector(Y.encodeStateVector(realDoc()))
    expectProtocolError(() => validateStateVector(Uint8Array.of(2, 1, 1)))
  })
})

describe('awareness', () => {
  it('decodes entries and refuses too many of them', () => {
    const update = awarenessUpdate({ 1: { user: { id: 'x' }, cursor: 3 }, 2: null })
    expect(validateAwarenessUpdate(update)).toEqual([
      { clientID: 1, clock: 3, state: { user: { id: 'x' }, cursor: 3 } },
      { clientID: 2, clock: 3, state: null },
    ])
    expect(expectProtocolError(() => validateAwarenessUpdate(update, { maxStates: 1 })).message).toMatch(/2 states; at most 1/)
    const notObject = encoding.encode(e => { encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0); encoding.writeVarString(e, '[1]') })
    expectProtocolError(() => validateAwarenessUpdate(notObject))
  })

  it('stamps the user on every state and leaves removals alone', () => {
    const update = awarenessUpdate({ 1: { user: { id: 'mallory', name: 'Alice' }, cursor: 3 }, 2: null, 3: {} })
    const user = { id: 'alice', name: 'Alice', kind: 'human' }
    const stamped = stampAwarenessUser(update, user)
    expect(validateAwarenessUpdate(stamped)).toEqual([
      { clientID: 1, clock: 3, state: { user, cursor: 3 } },
      { clientID: 2, clock: 3, state: null },
      { clientID: 3, clock: 3, state: { user } },
    ])
    // y-protocols itself reads the result.
    const awareness = new awarenessProtocol.Awareness(new Y.Doc())
    awarenessProtocol.applyAwarenessUpdate(awareness, stamped, 'test')
    expect(awareness.getStates().get(1)).toEqual({ user, cursor: 3 })
    awareness.destroy()
  })

  it('keeps the client\'s other user fields (a caret colour), bounded, under the stamped identity', () => {
    const user = { id: 'alice', name: 'Alice', kind: 'human' }
    const update = awarenessUpdate({
      1: { user: { id: 'mallory', name: 'Bob', kind: 'agent', color: '#f783ac' } },
      2: { user: { color: '#958df1', note: 'x'.repeat(MAX_USER_EXTRA_CHARS) } },
      3: { user: 'not an object' },
    })
    expect(validateAwarenessUpdate(stampAwarenessUser(update, user)).map((e) => e.state)).toEqual([
      { user: { ...user, color: '#f783ac' } },
      { user },
      { user },
    ])
  })
})

function realDoc(): Y.Doc {
  const doc = new Y.Doc()
  doc.getMap('m').set('k', { v: [1, 2] })
  doc.getText('t').insert(0, 'text')
  doc.getArray('a').insert(0, [1, 2, 3])
  doc.getArray('a').delete(1, 1)
  return doc
}

describe('fuzz', () => {
  const corpus = (): Uint8Array[] => {
    const updates = realUpdates()
    return [
      ...updates.flatMap(u => [encodeUpdate(u), encodeSyncStep2(u)]),
      encodeSyncStep1(Y.encodeStateVector(realDoc())),
      encodeAwareness(awarenessUpdate({ 1: { user: { id: 'x' } }, 2: null })),
      encodeQueryAwareness(),
    ]
  }

  /** A LEB128 length near 2^49: the classic "Invalid typed array length" input. */
  const hugeVarint = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)

  function mutate(gen: prng.PRNG, input: Uint8Array, maxRounds = 4): Uint8Array {
    let bytes = Array.from(input)
    const rounds = prng.int32(gen, 1, maxRounds)
    for (let i = 0; i < rounds; i++) {
      const at = prng.int32(gen, 0, bytes.length)
      switch (prng.int32(gen, 0, 6)) {
        case 0: if (at < bytes.length) bytes[at] = prng.uint32(gen, 0, 255); break
        case 1: if (at < bytes.length) bytes[at] = prng.oneOf(gen, [0, 0x7f, 0x80, 0xff, 1, 10, 116, 118, 119]); break
        case 2: bytes.splice(at, 0, ...prng.uint8Array(gen, prng.int32(gen, 1, 8))); break
        case 3: bytes.splice(at, prng.int32(gen, 1, 8)); break
        case 4: bytes = bytes.slice(0, at); break
        case 5: bytes.splice(at, prng.int32(gen, 0, 2), ...hugeVarint); break
        case 6: bytes.splice(at, 0, ...bytes.slice(at, at + prng.int32(gen, 1, 16))); break
      }
    }
    return Uint8Array.from(bytes)
  }

  function frameFor(gen: prng.PRNG, frames: Uint8Array[], updates: Uint8Array[]): Uint8Array {
    switch (prng.int32(gen, 0, 3)) {
      case 0: // random bytes that start like a message
        return Uint8Array.of(prng.int32(gen, 0, 4), ...prng.uint8Array(gen, prng.int32(gen, 0, 48)))
      case 1: // a mutated frame
        return mutate(gen, prng.oneOf(gen, frames))
      case 2: // a well-framed but mutated update: exercises the update decoder itself
        return encodeUpdate(mutate(gen, prng.oneOf(gen, updates), 1))
      default: { // a truncated frame
        const frame = prng.oneOf(gen, frames)
        return frame.subarray(0, prng.int32(gen, 0, frame.length - 1))
      }
    }
  }

  it('only ever throws ProtocolError, and what it accepts yjs can decode', () => {
    const gen = prng.create(0x5eed)
    const frames = corpus()
    const updates = realUpdates()
    let accepted = 0
    let refused = 0
    for (let i = 0; i < 12_000; i++) {
      const frame = frameFor(gen, frames, updates)
      let message
      try {
        message = decodeMessage(frame)
        accepted++
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw new Error(`frame ${Buffer.from(frame).toString('hex')} threw ${String(err)}`)
        refused++
        continue
      }
      if (message.kind === 'update' || message.kind === 'sync-step2') {
        // What passes validation, yjs decodes, and applies to an empty or a populated doc.
        Y.decodeUpdate(message.update)
        Y.applyUpdate(new Y.Doc(), message.update)
        const populated = realDoc()
        Y.applyUpdate(populated, message.update)
        Y.encodeStateAsUpdate(populated)
      }
    }
    expect(accepted + refused).toBe(12_000)
    expect(refused).toBeGreaterThan(6_000)
    expect(accepted).toBeGreaterThan(400)
  })
})
