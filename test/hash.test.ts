import canonicalizeModule from 'canonicalize'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, chainBody, chainHash } from '../src/store/hash.js'

// The package every hash in existing logs was made with: the reference for canonicalJson.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined

describe('canonicalJson', () => {
  it('writes exactly what the canonicalize package writes, for any JSON value', () => {
    const value = fc.jsonValue({ maxDepth: 5 })
    fc.assert(fc.property(value, (v) => {
      expect(canonicalJson(v)).toBe(canonicalize(v))
    }), { numRuns: 2000 })
  })

  it('agrees on any UTF-16 string, lone surrogates and control characters included, and any finite double', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 })
    const leaf = fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.constant(null))
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(text, tie('node'), { maxKeys: 5 })),
    })).node
    fc.assert(fc.property(value, (v) => {
      expect(canonicalJson(v)).toBe(canonicalize(v))
    }), { numRuns: 3000 })
  })

  it('agrees on keys that sort by UTF-16 code units, escapes, numbers and dropped values', () => {
    const samples: unknown[] = [
      { '\u{1F600}': 1, '\uFFFF': 2, é: 3, Z: 4, a: 5, '': 6 },
      { s: 'quote " backslash \\ newline \n tab \t \u0001 \u2028 lone \uD800' },
      [1e21, 1e-7, -0, 0.1 + 0.2, 2 ** 53, -1.5e300, 5e-324],
      { a: undefined, b: [undefined, null], c: { toJSON: () => 'x' }, d: new Date(0) },
      [], {}, 'text', 0, true, null,
    ]
    for (const sample of samples) expect(canonicalJson(sample)).toBe(canonicalize(sample))
  })

  it('refuses what has no canonical form', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/NaN/)
    expect(() => canonicalJson({ n: Infinity })).toThrow(/Infinity/)
    expect(() => canonicalJson(undefined)).toThrow(/no JSON form/)
  })

  it('seals a chain body that completes to the hash of the whole envelope', () => {
    const fields = {
      id: '00000000-0000-4000-8000-000000000001', session: 's', type: 'doc.update',
      data: { bytes: 3, changes: [{ path: 'selections', op: 'add', key: 'k' }], update: 'AAEC' },
      actor: { id: 'a', name: 'A', kind: 'human' }, meta: { causationId: null, correlationId: null }, recordedAt: '2026-12-03T00:00:00.000Z',
    }
    const body = chainBody(fields as never)
    expect(body + '7}').toBe(canonicalize({ ...fields, version: 7 }))
    expect(chainHash('0'.repeat(64), { ...fields, version: 7 } as never)).toMatch(/^[0-9a-f]{64}$/)
  })
})
