/**
 * Validation of Yjs (v1) updates and state vectors from untrusted peers: a full decode
 * that mirrors yjs' own reader but never applies anything, never hangs and never
 * allocates beyond the input, so garbage is refused before it reaches a document.
 */
import * as encoding from 'lib0/encoding'
import { checkSize } from './ProtocolError.js'
import { createReader, type Reader } from './reader.js'

export interface ValidateOptions {
  /** Refuse (ProtocolError 1009) anything longer; default: no limit. */
  maxBytes?: number
}

/** Deeper nesting of `any` values than this is refused (yjs' reader recurses). */
const MAX_ANY_DEPTH = 64

// Struct info byte (yjs' Item.write): low 5 bits = content ref, then these flags.
const HAS_ORIGIN = 0x80
const HAS_RIGHT_ORIGIN = 0x40
const HAS_PARENT_SUB = 0x20
const CONTENT_REF = 0x1f
const GC_REF = 0
const SKIP_REF = 10
/** Type refs of ContentType: YArray, YMap, YText, YXmlElement, YXmlFragment, YXmlHook, YXmlText. */
const MAX_TYPE_REF = 6
const TYPE_REFS_WITH_NAME = new Set([3, 5])

/**
 * Decodes a whole Yjs v1 update without applying it; throws ProtocolError(1007) when it is
 * not one (truncated, trailing bytes, impossible lengths, unknown content, bad JSON or UTF-8).
 */
export function validateUpdate(update: Uint8Array, opts: ValidateOptions = {}): void {
  checkSize(update, opts.maxBytes ?? Infinity, 'Yjs update')
  const r = createReader(update, 'Yjs update')
  readStructSection(r)
  readDeleteSet(r)
  r.expectEnd()
}

/** Decodes an encoded state vector (`Y.encodeStateVector`): pairs of client and clock. */
export function validateStateVector(stateVector: Uint8Array, opts: ValidateOptions = {}): void {
  checkSize(stateVector, opts.maxBytes ?? Infinity, 'state vector')
  const r = createReader(stateVector, 'state vector')
  const clients = r.count(2)
  for (let i = 0; i < clients; i++) {
    r.varUint()
    r.varUint()
  }
  r.expectEnd()
}

function readStructSection(r: Reader): void {
  // Each client section is at least 3 varints; each struct at least 2 bytes.
  const clients = r.count(3)
  for (let i = 0; i < clients; i++) {
    const structs = r.count(2)
    const client = r.varUint()
    let clock = r.varUint()
    for (let s = 0; s < structs; s++) {
      clock += readStruct(r, client, clock)
      if (clock > Number.MAX_SAFE_INTEGER) r.fail('struct clocks overflow 2^53')
    }
  }
}

/** Reads one struct and returns its length (how far it advances the client's clock). */
function readStruct(r: Reader, client: number, clock: number): number {
  const info = r.uint8()
  const ref = info & CONTENT_REF
  if (ref === GC_REF || ref === SKIP_REF) {
    if (info !== ref) r.fail(`struct info ${info} sets flags on a GC/Skip struct`)
    return positive(r, r.varUint(), 'GC/Skip struct')
  }
  const readRef = (): void => readEarlierID(r, client, clock)
  if ((info & HAS_ORIGIN) !== 0) readRef()
  if ((info & HAS_RIGHT_ORIGIN) !== 0) readRef()
  // Without neighbours, the parent is written out: a root type's name or a type item's ID.
  if ((info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN)) === 0) {
    const parentIsRoot = r.varUint()
    if (parentIsRoot === 1) r.varString()
    else if (parentIsRoot === 0) readRef()
    else r.fail(`parent info ${parentIsRoot} is neither 0 nor 1`)
    if ((info & HAS_PARENT_SUB) !== 0) r.varString()
  }
  return positive(r, readContent(r, ref), `item content ${ref}`)
}

/**
 * Reads a reference (origin, right origin, parent) of the item at `client:clock`. yjs only
 * waits for missing structs of *other* clients, so a reference to the item itself or to a
 * later clock of its own client crashes its integration: refuse those here.
 */
function readEarlierID(r: Reader, client: number, clock: number): void {
  const refClient = r.varUint()
  const refClock = r.varUint()
  if (refClient === client && refClock >= clock) {
    r.fail(`item ${client}:${clock} refers to ${refClient}:${refClock}, which does not precede it`)
  }
}

/** Zero-length structs never come out of yjs, and would stall its clock arithmetic. */
function positive(r: Reader, length: number, what: string): number {
  return length > 0 ? length : r.fail(`zero-length ${what}`)
}

/** Reads item content by ref (yjs' contentRefs) and returns its length. */
function readContent(r: Reader, ref: number): number {
  switch (ref) {
    case 1: // ContentDeleted
      return r.varUint()
    case 2: { // ContentJSON: strings of JSON, or 'undefined'
      const n = r.count(1)
      for (let i = 0; i < n; i++) {
        const json = r.varString()
        if (json !== 'undefined') parseJSON(r, json)
      }
      return n
    }
    case 3: // ContentBinary
      r.varBytes()
      return 1
    case 4: // ContentString: yjs counts UTF-16 code units
      return r.varString().length
    case 5: // ContentEmbed
      parseJSON(r, r.varString())
      return 1
    case 6: // ContentFormat: key, JSON value
      r.varString()
      parseJSON(r, r.varString())
      return 1
    case 7: // ContentType
      readTypeRef(r)
      return 1
    case 8: { // ContentAny
      const n = r.count(1)
      for (let i = 0; i < n; i++) skipAny(r, 0)
      return n
    }
    case 9: // ContentDoc: guid, options object (yjs reads fields off it)
      r.varString()
      if (r.uint8() !== ANY_OBJECT) r.fail('subdocument options are not an object')
      skipObjectBody(r, 1)
      return 1
    default:
      return r.fail(`unknown content type ${ref}`)
  }
}

function readTypeRef(r: Reader): void {
  const typeRef = r.varUint()
  if (typeRef > MAX_TYPE_REF) r.fail(`unknown shared type ${typeRef}`)
  if (TYPE_REFS_WITH_NAME.has(typeRef)) r.varString()
}

function parseJSON(r: Reader, json: string): void {
  try {
    JSON.parse(json)
  } catch {
    r.fail('content is not valid JSON')
  }
}

// lib0 `writeAny` tags.
const ANY_OBJECT = 118

/** Skips one lib0 `any` value, checking its structure. */
function skipAny(r: Reader, depth: number): void {
  if (depth > MAX_ANY_DEPTH) r.fail(`values nested deeper than ${MAX_ANY_DEPTH}`)
  const tag = r.uint8()
  switch (tag) {
    case 127: case 126: case 121: case 120: // undefined, null, false, true
      return
    case 125: r.varInt(); return
    case 124: r.bytes(4); return // float32
    case 123: case 122: r.bytes(8); return // float64, bigint64
    case 119: r.varString(); return
    case ANY_OBJECT: skipObjectBody(r, depth + 1); return
    case 117: { // array
      const n = r.count(1)
      for (let i = 0; i < n; i++) skipAny(r, depth + 1)
      return
    }
    case 116: r.varBytes(); return // Uint8Array
    default:
      r.fail(`unknown value tag ${tag}`)
  }
}

function skipObjectBody(r: Reader, depth: number): void {
  const n = r.count(2) // each entry: a key (≥ 1 byte) and a value (≥ 1 byte)
  for (let i = 0; i < n; i++) {
    r.varString()
    skipAny(r, depth)
  }
}

function readDeleteSet(r: Reader): void {
  const clients = r.count(2)
  for (let i = 0; i < clients; i++) {
    r.varUint() // client
    const ranges = r.count(2)
    for (let d = 0; d < ranges; d++) {
      const clock = r.varUint()
      // yjs crashes re-encoding an empty range it cannot apply yet; it never writes one.
      const length = positive(r, r.varUint(), 'deleted range')
      if (clock + length > Number.MAX_SAFE_INTEGER) r.fail('deleted range overflows 2^53')
    }
  }
}

/** One client's structs in a row, as one update holds them: what `concatUpdates` joins. */
interface Run {
  client: number
  clock: number
  /** The clock after its last struct. */
  end: number
  structs: number
  /** The structs' bytes, as written: a struct's encoding does not depend on where its section starts. */
  body: Uint8Array
  deletes: Array<[client: number, clock: number, length: number]>
}

/** The run of a (valid) update that holds structs of one client only; undefined otherwise. */
function readRun(update: Uint8Array): Run | undefined {
  const r = createReader(update, 'Yjs update')
  if (r.count(3) !== 1) return undefined
  const structs = r.count(2)
  const client = r.varUint()
  const clock = r.varUint()
  const start = update.length - r.remaining()
  let end = clock
  for (let s = 0; s < structs; s++) end += readStruct(r, client, end)
  const body = update.subarray(start, update.length - r.remaining())
  const deletes: Run['deletes'] = []
  const clients = r.count(2)
  for (let i = 0; i < clients; i++) {
    const deleter = r.varUint()
    const ranges = r.count(2)
    for (let d = 0; d < ranges; d++) deletes.push([deleter, r.varUint(), r.varUint()])
  }
  r.expectEnd()
  return { client, clock, end, structs, body, deletes }
}

/**
 * Joins updates that one client made one after the other (each starts at the clock where
 * the one before it ended, as the updates a provider sends do) into one update, by placing
 * their structs in one section and uniting their delete sets: no struct is decoded into yjs'
 * objects and written again, which `Y.mergeUpdates` does (and it re-sorts its inputs once per
 * struct it writes: quadratic in the number of updates). The result applies as their merge
 * does; it is not byte for byte the same (adjacent structs stay apart). Undefined when the
 * updates are not such a run: merge those with `Y.mergeUpdates`. The updates must be valid.
 */
export function concatUpdates(updates: readonly Uint8Array[]): Uint8Array | undefined {
  const runs: Run[] = []
  for (const update of updates) {
    const run = readRun(update)
    const before = runs.at(-1)
    if (!run || (before && (run.client !== before.client || run.clock !== before.end))) return undefined
    runs.push(run)
  }
  if (runs.length === 0) return undefined
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, runs.reduce((n, run) => n + run.structs, 0))
  encoding.writeVarUint(encoder, runs[0]!.client)
  encoding.writeVarUint(encoder, runs[0]!.clock)
  for (const run of runs) encoding.writeUint8Array(encoder, run.body)
  // The delete set by client (highest first, as yjs writes it), each client's ranges sorted and
  // the overlapping or touching ones joined.
  const byClient = new Map<number, Array<[number, number]>>()
  for (const run of runs) {
    for (const [client, clock, length] of run.deletes) {
      let ranges = byClient.get(client)
      if (!ranges) byClient.set(client, (ranges = []))
      ranges.push([clock, length])
    }
  }
  encoding.writeVarUint(encoder, byClient.size)
  for (const client of [...byClient.keys()].sort((a, b) => b - a)) {
    const ranges = byClient.get(client)!.sort((a, b) => a[0] - b[0])
    const joined: Array<[number, number]> = []
    for (const [clock, length] of ranges) {
      const last = joined.at(-1)
      if (last && clock <= last[0] + last[1]) last[1] = Math.max(last[1], clock + length - last[0])
      else joined.push([clock, length])
    }
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, joined.length)
    for (const [clock, length] of joined) {
      encoding.writeVarUint(encoder, clock)
      encoding.writeVarUint(encoder, length)
    }
  }
  return encoding.toUint8Array(encoder)
}
