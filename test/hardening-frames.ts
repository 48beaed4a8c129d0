/**
 * A seeded generator of hostile sync frames for the fuzz test: random bytes, truncated and
 * mutated messages, huge varint lengths, unknown message types, well-framed garbage, and
 * hand-made Yjs traps (zero-length structs, self-references, deep nesting). Deterministic
 * for a seed: every frame comes from lib0's PRNG.
 */
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import {
  encodeAwareness, encodeQueryAwareness, encodeSyncStep1, encodeSyncStep2, encodeUpdate,
} from '../src/protocol/messages.js'
import { annotate, annotationText, explore, select } from '../src/session/write.js'
import { propose } from '../src/session/decisions.js'

export type Category =
  | 'random' | 'truncated' | 'huge-varint' | 'unknown-type' | 'garbage-payload' | 'mutated-update'
  | 'mutated-frame' | 'awareness-garbage' | 'yjs-trap' | 'text' | 'oversize' | 'harmless'

export interface Frame {
  category: Category
  data: Uint8Array | string
}

const WEIGHTS: [Category, number][] = [
  ['random', 14], ['truncated', 14], ['huge-varint', 10], ['unknown-type', 8], ['garbage-payload', 14],
  ['mutated-update', 18], ['mutated-frame', 8], ['awareness-garbage', 6], ['yjs-trap', 5], ['text', 1],
  ['oversize', 0.05], ['harmless', 2],
]
const TOTAL = WEIGHTS.reduce((sum, [, w]) => sum + w, 0)

const bytes = (...parts: (number | number[] | Uint8Array)[]): Uint8Array => {
  const encoder = encoding.createEncoder()
  for (const part of parts) {
    if (typeof part === 'number') encoding.writeVarUint(encoder, part)
    else encoding.writeUint8Array(encoder, Uint8Array.from(part))
  }
  return encoding.toUint8Array(encoder)
}
const withLength = (payload: Uint8Array): Uint8Array => bytes(payload.length, payload)

/** Hand-made Yjs updates that have crashed, hung or over-allocated decoders somewhere. */
const TRAPS: Uint8Array[] = [
  bytes(1, 1, 5, 0, [0], 0, 0), // a GC struct of length 0
  bytes(1, 1, 5, 0, [10], 0, 0), // a Skip struct of length 0
  bytes(0, 1, 5, 1, 0, 0), // a deleted range of length 0
  bytes(1, 1, 5, 3, [0x84], 5, 3, 1, [0x61]), // an item whose origin is itself
  bytes(1, 1, 5, 0, [0x84], 5, 7, 1, [0x61], 0), // an item whose origin lies ahead of it
  bytes(1, 1, 5, 0, [4], 1, 1, [0x61], 0, 0), // a string item with an empty string
  bytes(0x7fffffff, 0), // 2^31 clients
  bytes(1, 0x7fffffff, 5, 0), // 2^31 structs
  bytes(1, 1, 5, Number.MAX_SAFE_INTEGER, [0], 5, 0), // clocks past 2^53
  bytes(0, 1, 5, 1, Number.MAX_SAFE_INTEGER, 5), // a deleted range past 2^53
  bytes(1, 1, 5, 0, [8], 1, 1, [0x61], 1, [...Array(300).fill(117), 1]), // `any` arrays nested 300 deep
  bytes(1, 1, 5, 0, [7], 1, 1, [0x61], 99, 0), // a shared type that does not exist
  bytes(1, 1, 5, 0, [9], 1, 1, [0x61], 1, [0x61], [125]), // a subdocument whose options are not an object
  bytes(1, 1, 5, 0, [2], 1, 1, [0x61], 1, 3, [0x7b, 0x7b, 0x7d], 0), // content JSON that is not JSON
  bytes(1, 1, 5, 0, [4], 1, 1, [0x61], 2, [0xc3, 0x28], 0), // a string that is not UTF-8
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // a varint of 10 bytes
  new Uint8Array(0), // nothing at all
]

export interface FrameGenerator {
  next(): Frame
}

/** `maxPayload`: the server's MNEMO_MAX_MESSAGE_BYTES, for the occasional oversized frame. */
export function createFrameGenerator(seed: number, maxPayload: number): FrameGenerator {
  const gen = prng.create(seed)
  // A doc and awareness of the fuzzer's own, for realistic updates to mangle; renewed now
  // and then, so that encoding its whole state stays cheap.
  let doc!: Y.Doc
  let awareness!: Awareness
  let edits = 0
  let lastUpdate: Uint8Array = new Uint8Array(0)
  const renew = (): void => {
    awareness?.destroy()
    doc?.destroy()
    doc = new Y.Doc()
    doc.clientID = prng.uint32(gen, 1, 2 ** 31)
    doc.on('update', (update: Uint8Array) => (lastUpdate = update))
    awareness = new Awareness(doc)
    edits = 0
  }
  renew()

  const int = (min: number, max: number) => prng.int32(gen, min, max)
  const randomBytes = (max: number) => prng.uint8Array(gen, int(0, max))

  function realUpdate(): Uint8Array {
    if (++edits > 64) renew()
    const memory = `m${int(0, 20)}`
    switch (int(0, 4)) {
      case 0: select(doc, memory, 'fuzz'); break
      case 1: explore(doc, { memoryId: memory, by: 'fuzz', note: prng.word(gen, 0, 8) }); break
      case 2: annotate(doc, { target: memory, author: 'fuzz', text: prng.utf16String(gen, 30) }); break
      case 3: propose(doc, { question: prng.word(gen), options: ['a', 'b'], quorum: int(1, 3), createdBy: 'fuzz' }); break
      default: {
        const [id] = [...doc.getMap('annotations').keys()]
        const text = id ? annotationText(doc, id) : undefined
        if (text) text.insert(int(0, text.length), prng.word(gen, 1, 5))
        else select(doc, memory, 'fuzz')
      }
    }
    return prng.bool(gen) ? lastUpdate : Y.encodeStateAsUpdate(doc)
  }

  function realFrame(): Uint8Array {
    switch (int(0, 4)) {
      case 0: return encodeUpdate(realUpdate())
      case 1: return encodeSyncStep2(realUpdate())
      case 2: return encodeSyncStep1(Y.encodeStateVector(doc))
      case 3:
        awareness.setLocalStateField('cursor', int(0, 1000))
        return encodeAwareness(encodeAwarenessUpdate(awareness, [doc.clientID]))
      default: return encodeQueryAwareness()
    }
  }

  function mutate(input: Uint8Array): Uint8Array {
    let out: Uint8Array = Uint8Array.from(input)
    for (let n = int(1, 3); n > 0; n--) {
      const at = int(0, Math.max(0, out.length - 1))
      switch (int(0, 6)) {
        case 0: if (out.length > 0) out[at] ^= 1 << int(0, 7); break
        case 1: if (out.length > 0) out[at] = prng.oneOf(gen, [0x00, 0x7f, 0x80, 0xff, int(0, 255)]); break
        case 2: out = concat(out.subarray(0, at), randomBytes(8), out.subarray(at)); break
        case 3: out = concat(out.subarray(0, at), out.subarray(Math.min(out.length, at + int(1, 8)))); break
        case 4: out = concat(out.subarray(0, at), out.subarray(at, at + int(1, 16)), out.subarray(at)); break
        case 5: out = out.subarray(0, at); break
        default: out = concat(out, randomBytes(16))
      }
    }
    return out
  }

  function frame(category: Category): Uint8Array | string {
    switch (category) {
      case 'random': return randomBytes(96)
      case 'truncated': {
        const whole = realFrame()
        return whole.subarray(0, int(0, Math.max(0, whole.length - 1)))
      }
      case 'huge-varint': {
        const huge = prng.oneOf(gen, [2 ** 31, 2 ** 32 - 1, 2 ** 48, Number.MAX_SAFE_INTEGER, int(1000, 2 ** 30)])
        return prng.oneOf(gen, [
          bytes(0, int(0, 2), huge, randomBytes(16)), // a payload longer than the frame
          bytes(1, huge, randomBytes(16)), // an awareness update longer than the frame
          encodeUpdate(bytes(huge, randomBytes(16))), // a Yjs update claiming that many clients
          encodeSyncStep1(bytes(huge, 1, 1)), // a state vector claiming that many entries
          encodeAwareness(bytes(huge, 1, 1, 2, [0x7b, 0x7d])), // that many awareness states
          bytes(0, 2, withLength(bytes(1, 1, 5, 0, [4], 1, 1, [0x61], huge))), // a string that long
        ])
      }
      case 'unknown-type': return prng.oneOf(gen, [
        bytes(int(4, 2 ** 20), randomBytes(16)), bytes(0, int(3, 255), randomBytes(16)), bytes(2, int(1, 9), randomBytes(8)),
      ])
      case 'garbage-payload': return prng.oneOf(gen, [
        encodeUpdate(randomBytes(64)), encodeSyncStep2(randomBytes(64)), encodeSyncStep1(randomBytes(32)),
        encodeAwareness(randomBytes(48)), encodeUpdate(concat(realUpdate(), randomBytes(4))),
      ])
      case 'mutated-update': {
        const mangled = mutate(realUpdate())
        return prng.bool(gen) ? encodeUpdate(mangled) : encodeSyncStep2(mangled)
      }
      case 'mutated-frame': return mutate(realFrame())
      case 'awareness-garbage': {
        const state = prng.oneOf(gen, ['{"user":', '[1,2]', '42', '"s"', 'null', '{"a":1}', prng.utf16String(gen, 10)])
        const entries = int(1, 3)
        const parts: (number | number[] | Uint8Array)[] = [prng.bool(gen) ? entries : 1025]
        for (let i = 0; i < entries; i++) parts.push(int(0, 2 ** 31), int(0, 5), withLength(new TextEncoder().encode(state)))
        return encodeAwareness(bytes(...parts))
      }
      case 'yjs-trap': {
        const trap = prng.oneOf(gen, TRAPS)
        return prng.oneOf(gen, [encodeUpdate(trap), encodeSyncStep2(trap), encodeSyncStep1(trap), trap])
      }
      case 'text': return prng.word(gen, 0, 40)
      case 'oversize': return prng.uint8Array(gen, maxPayload + int(1, 1024))
      case 'harmless': return realFrame()
    }
  }

  return {
    next() {
      let pick = prng.real53(gen) * TOTAL
      const [category] = WEIGHTS.find(([, weight]) => (pick -= weight) < 0) ?? WEIGHTS[0]!
      return { category, data: frame(category) }
    },
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
