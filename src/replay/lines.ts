/**
 * JSON Lines read from a byte stream one line at a time, numbered from 1, with a flag for
 * a last line that has no newline (a file cut short) and a running SHA-256 of the bytes,
 * so that a second pass over a file can tell whether it changed in between.
 */
import { createHash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'

export interface Line {
  /** 1-based. */
  number: number
  text: string
  /** False for a last line with no newline after it. */
  terminated: boolean
}

export interface LineReader extends AsyncIterable<Line> {
  /** Bytes consumed so far. */
  readonly bytes: number
  /** Hex SHA-256 of every byte read; complete once iteration has finished. */
  digest(): string
}

/** Splits `source` into lines; a `\r` before the newline is dropped. */
export function readLines(source: AsyncIterable<Buffer | Uint8Array | string>): LineReader {
  const hash = createHash('sha256')
  let bytes = 0
  let digest: string | undefined
  async function* lines(): AsyncGenerator<Line> {
    const decoder = new StringDecoder('utf8')
    let pending = ''
    let number = 0
    for await (const chunk of source) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      bytes += buffer.byteLength
      hash.update(buffer)
      pending += decoder.write(Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer))
      let start = 0
      let end: number
      while ((end = pending.indexOf('\n', start)) >= 0) {
        number += 1
        yield { number, text: stripCr(pending.slice(start, end)), terminated: true }
        start = end + 1
      }
      pending = pending.slice(start)
    }
    pending += decoder.end()
    if (pending.length > 0) yield { number: number + 1, text: stripCr(pending), terminated: false }
    digest = hash.digest('hex')
  }
  return {
    get bytes() {
      return bytes
    },
    digest() {
      if (digest === undefined) throw new Error('digest() before the whole source was read')
      return digest
    },
    [Symbol.asyncIterator]: lines,
  }
}

const stripCr = (text: string) => (text.endsWith('\r') ? text.slice(0, -1) : text)
