/**
 * A bounds-checked reader for untrusted bytes. Every length and count is checked against
 * the bytes that remain before anything is read or allocated, so decoding always
 * terminates and never allocates more than the input; every failure is a ProtocolError(1007).
 */
import { ProtocolError } from './ProtocolError.js'

/** lib0 writes safe integers in at most 8 varint bytes (8 × 7 bits ≥ 53). */
const MAX_VARINT_BYTES = 8

// The same decoder lib0 (and so yjs) uses: invalid UTF-8 is an error there, so it is here.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export interface Reader {
  /** Bytes not read yet. */
  remaining(): number
  uint8(): number
  varUint(): number
  /** lib0's signed varint: first byte has a continuation bit, a sign bit and 6 value bits. */
  varInt(): number
  /** A view of the next `length` bytes (not a copy). */
  bytes(length: number): Uint8Array
  /** A varUint length, then that many bytes. */
  varBytes(): Uint8Array
  varString(): string
  /** A varUint count of items that each take at least `minItemBytes` bytes. */
  count(minItemBytes: number): number
  /** Throws unless every byte was read. */
  expectEnd(): void
  /** Throws ProtocolError(1007) naming what was read and where. */
  fail(problem: string): never
}

/** `what` names the input in error messages ("Yjs update", "awareness update", …). */
export function createReader(input: Uint8Array, what: string): Reader {
  let pos = 0

  const fail = (problem: string): never => {
    throw new ProtocolError(1007, `malformed ${what}: ${problem} (at byte ${pos} of ${input.length})`)
  }
  const remaining = (): number => input.length - pos
  const need = (length: number, of: string): void => {
    if (length > remaining()) fail(`${of} needs ${length} bytes but only ${remaining()} remain`)
  }

  const uint8 = (): number => {
    need(1, 'a byte')
    return input[pos++]!
  }

  const varUint = (): number => {
    let value = 0
    let mult = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = uint8()
      value += (byte & 0x7f) * mult
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) fail('varint larger than 2^53')
        return value
      }
      mult *= 128
    }
    return fail(`varint longer than ${MAX_VARINT_BYTES} bytes`)
  }

  const varInt = (): number => {
    let byte = uint8()
    const sign = (byte & 0x40) === 0 ? 1 : -1
    let value = byte & 0x3f
    let mult = 64
    for (let i = 1; (byte & 0x80) !== 0; i++) {
      if (i >= MAX_VARINT_BYTES) fail(`varint longer than ${MAX_VARINT_BYTES} bytes`)
      byte = uint8()
      value += (byte & 0x7f) * mult
      mult *= 128
    }
    if (value > Number.MAX_SAFE_INTEGER) fail('varint larger than 2^53')
    return sign * value
  }

  const bytes = (length: number): Uint8Array => {
    need(length, 'a byte string')
    const view = input.subarray(pos, pos + length)
    pos += length
    return view
  }

  const varString = (): string => {
    const raw = bytes(varUint())
    try {
      return utf8.decode(raw)
    } catch {
      return fail('a string is not valid UTF-8')
    }
  }

  const count = (minItemBytes: number): number => {
    const n = varUint()
    if (n * minItemBytes > remaining()) {
      fail(`a count of ${n} items cannot fit in the ${remaining()} bytes that remain`)
    }
    return n
  }

  const expectEnd = (): void => {
    if (remaining() > 0) fail(`${remaining()} trailing bytes`)
  }

  return { remaining, uint8, varUint, varInt, bytes, varBytes: () => bytes(varUint()), varString, count, expectEnd, fail }
}
