import { describe, expect, it } from 'vitest'
import { DEFAULT_CASCADE_CONFIG, readCascadeConfig } from '../src/memory/config.js'

describe('readCascadeConfig', () => {
  it('defaults when unset or empty', () => {
    expect(readCascadeConfig({})).toEqual({ decay: 0.5, min: 0.05, maxDepth: 4, threshold: 0.5 })
    expect(readCascadeConfig({ MNEMO_CASCADE_DECAY: '' })).toEqual(DEFAULT_CASCADE_CONFIG)
  })

  it('reads valid values', () => {
    expect(
      readCascadeConfig({ MNEMO_CASCADE_DECAY: '1', MNEMO_CASCADE_MIN: '0', MNEMO_CASCADE_DEPTH: '32', MNEMO_CASCADE_THRESHOLD: '0.75' }),
    ).toEqual({ decay: 1, min: 0, maxDepth: 32, threshold: 0.75 })
    expect(readCascadeConfig({ MNEMO_CASCADE_DECAY: ' .25 ', MNEMO_CASCADE_THRESHOLD: '1e-1' })).toMatchObject({ decay: 0.25, threshold: 0.1 })
  })

  it.each([
    ['MNEMO_CASCADE_DECAY', '0', 'a number greater than 0 and at most 1'],
    ['MNEMO_CASCADE_DECAY', '1.5', 'a number greater than 0 and at most 1'],
    ['MNEMO_CASCADE_DECAY', 'half', 'a number greater than 0 and at most 1'],
    ['MNEMO_CASCADE_MIN', '1', 'a number at least 0 and less than 1'],
    ['MNEMO_CASCADE_MIN', '-0.1', 'a number at least 0 and less than 1'],
    ['MNEMO_CASCADE_DEPTH', '0', 'a whole number from 1 to 32'],
    ['MNEMO_CASCADE_DEPTH', '33', 'a whole number from 1 to 32'],
    ['MNEMO_CASCADE_DEPTH', '2.5', 'a whole number from 1 to 32'],
    ['MNEMO_CASCADE_DEPTH', '0x4', 'a whole number from 1 to 32'],
    ['MNEMO_CASCADE_THRESHOLD', '1.01', 'a number from 0 to 1'],
    ['MNEMO_CASCADE_THRESHOLD', 'Infinity', 'a number from 0 to 1'],
  ])('refuses %s=%s, naming it and what is allowed', (name, value, allowed) => {
    expect(() => readCascadeConfig({ [name]: value })).toThrow(`${name} must be ${allowed} (got "${value}"); unset it for the default`)
  })
})
