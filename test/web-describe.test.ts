/** The inspector's timeline lines for document changes, rich text included. */
import { describe, expect, it } from 'vitest'
import { describeChange } from '../web/src/describe.js'

describe('the inspector\'s change lines', () => {
  it('names entries, their fields and votes, and rich-text fields', () => {
    expect(describeChange({ path: 'decisions', op: 'update', key: 'd1', fields: ['votes'], votes: [{ key: 'ada', op: 'add' }] })).toBe('updated decision d1 (votes: ada)')
    expect(describeChange({ path: 'annotations', op: 'update', key: 'a1', fields: ['text'] })).toBe('edited annotation a1 (text)')
    expect(describeChange({ path: 'richText', op: 'update', key: 'default' })).toBe('edited the rich text default')
  })
})
