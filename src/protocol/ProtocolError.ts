/**
 * The one error the protocol module throws: a message or update from the wire that
 * cannot be accepted. `code` is the WebSocket close code the server should answer with.
 */

/** 1007: malformed (invalid frame payload data); 1009: too large (message too big). */
export type ProtocolErrorCode = 1007 | 1009

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  readonly code: ProtocolErrorCode

  constructor(code: ProtocolErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** Throws ProtocolError(1009) when `bytes` is longer than `maxBytes`. */
export function checkSize(bytes: Uint8Array, maxBytes: number, what: string): void {
  if (bytes.length > maxBytes) {
    throw new ProtocolError(1009, `${what} is ${bytes.length} bytes; the limit is ${maxBytes}`)
  }
}
