import { describe, expect, it } from 'vitest'
import {
  MAX_DATA_BYTES,
  SERVER_SCHEMAS,
  cascadeRequestSchema,
  validateClientEvent,
} from '../src/memory/schemas.js'
import { findUnstorable } from '../src/memory/issues.js'
import { formatPath } from '../src/zodIssues.js'

function refused(type: string, data: unknown) {
  const result = validateClientEvent(type, data)
  if (result.ok) throw new Error(`expected ${type} to be refused`)
  return result
}

function accepted(type: string, data: unknown) {
  const result = validateClientEvent(type, data)
  if (!result.ok) throw new Error(`expected ${type} to be accepted: ${result.message}`)
  return result.data
}

describe('memory.formed', () => {
  it('accepts a full event and keeps it as sent', () => {
    const data = {
      memoryId: 'm-1',
      content: 'The launch slipped a week',
      kind: 'fact',
      importance: 0.9,
      tags: ['launch'],
      connections: [{ to: 'm-0', strength: 0.4 }],
    }
    expect(accepted('memory.formed', data)).toEqual(data)
  })

  it('defaults importance to 0.5', () => {
    expect(accepted('memory.formed', { memoryId: 'm-1', content: 'x' })).toEqual({ memoryId: 'm-1', content: 'x', importance: 0.5 })
  })

  it.each([
    [{ memoryId: 'm', content: 'x', importance: 1.5 }, 'data.importance: must be at most 1'],
    [{ memoryId: 'm', content: 'x', importance: -0.1 }, 'data.importance: must be at least 0'],
    [{ memoryId: 'm', content: 'x', importance: '0.5' }, 'data.importance: must be a number'],
    [{ content: 'x' }, 'data.memoryId: is required'],
    [{ memoryId: 'm' }, 'data.content: is required'],
    [{ memoryId: '', content: 'x' }, 'data.memoryId: must not be empty'],
    [{ memoryId: 'm'.repeat(257), content: 'x' }, 'data.memoryId: must be at most 256 characters'],
    [{ memoryId: 'm', content: 'x'.repeat(32 * 1024 + 1) }, 'data.content: must be at most 32768 characters'],
    [{ memoryId: 'm', content: 'x', tags: 'a' }, 'data.tags: must be an array'],
    [{ memoryId: 'm', content: 'x', tags: ['a', 7] }, 'data.tags[1]: must be a string'],
    [{ memoryId: 'm', content: 'x', mood: 'calm' }, 'data.mood: unknown field'],
    [{ memoryId: 'm', content: 'x', connections: [{ to: 'n', strength: 2 }] }, 'data.connections[0].strength: must be at most 1'],
    [{ memoryId: 'm', content: 'x', connections: [{ to: 'n' }] }, 'data.connections[0].strength: is required'],
    [{ memoryId: 'm', content: 'x', connections: [{ to: 'n', strength: 1, w: 1 }] }, 'data.connections[0].w: unknown field'],
    [{ memoryId: 'm', content: 'x', connections: [{ to: 'm', strength: 1 }] }, 'data.connections[0].to: must differ from memoryId'],
    [
      { memoryId: 'm', content: 'x', connections: [{ to: 'n', strength: 1 }, { to: 'n', strength: 0.2 }] },
      'data.connections[1].to: duplicate connection to "n"',
    ],
  ])('refuses %j naming the field', (data, message) => {
    const result = refused('memory.formed', data)
    expect(result).toMatchObject({ status: 400, code: 'invalid_event_data' })
    expect(result.message).toContain(message)
  })

  it('reports several problems at once', () => {
    const { message } = refused('memory.formed', { importance: 3, extra: true })
    expect(message).toContain('data.memoryId: is required')
    expect(message).toContain('data.importance: must be at most 1')
    expect(message).toContain('data.extra: unknown field')
  })
})

describe('memory.connected and memory.strength_changed', () => {
  for (const type of ['memory.connected', 'memory.strength_changed']) {
    it(`${type}: accepts a pair`, () => {
      expect(accepted(type, { from: 'a', to: 'b', strength: 0 })).toEqual({ from: 'a', to: 'b', strength: 0 })
    })
    it(`${type}: refuses a self-connection, bad strength, missing ends`, () => {
      expect(refused(type, { from: 'a', to: 'a', strength: 0.5 }).message).toContain('data.to: must differ from "from"')
      expect(refused(type, { from: 'a', to: 'b', strength: 1.01 }).message).toBe('data.strength: must be at most 1')
      // Not JSON at all (only a direct caller can pass it): refused before the schema, as Infinity is.
      expect(refused(type, { from: 'a', to: 'b', strength: Number.NaN }).message).toMatch(/^data.strength: must be a finite number/)
      expect(refused(type, { to: 'b', strength: 0.5 }).message).toBe('data.from: is required')
    })
  }

  it('strength_changed: `previous` is the server\'s to add', () => {
    expect(refused('memory.strength_changed', { from: 'a', to: 'b', strength: 0.5, previous: 0.1 }).message).toBe(
      'data.previous: unknown field',
    )
    const stored = SERVER_SCHEMAS['memory.strength_changed']
    expect(stored.safeParse({ from: 'a', to: 'b', strength: 0.5, previous: null }).success).toBe(true)
    expect(stored.safeParse({ from: 'a', to: 'b', strength: 0.5, previous: 0.2 }).success).toBe(true)
  })
})

describe('conversation.turn', () => {
  it('accepts each role, with and without turnIndex', () => {
    for (const role of ['user', 'assistant', 'system', 'agent']) {
      expect(accepted('conversation.turn', { role, content: 'hi' })).toEqual({ role, content: 'hi' })
    }
    expect(accepted('conversation.turn', { role: 'user', content: '', turnIndex: 0 })).toEqual({ role: 'user', content: '', turnIndex: 0 })
  })

  it('refuses bad roles and indexes', () => {
    expect(refused('conversation.turn', { role: 'bot', content: 'x' }).message).toBe(
      'data.role: must be one of "user", "assistant", "system", "agent"',
    )
    expect(refused('conversation.turn', { role: 'user', content: 'x', turnIndex: 1.5 }).message).toBe('data.turnIndex: must be an integer')
    expect(refused('conversation.turn', { role: 'user', content: 'x', turnIndex: -1 }).message).toBe('data.turnIndex: must be at least 0')
    expect(refused('conversation.turn', { role: 'user' }).message).toBe('data.content: is required')
  })
})

describe('other client types', () => {
  it('accepts any object under a well-formed name', () => {
    const data = { anything: [1, { nested: true }], n: null }
    expect(accepted('note.added', data)).toBe(data)
    expect(accepted('ui.panel_2.opened', {})).toEqual({})
  })

  it.each(['note', 'Note.added', 'note.', '.note', 'note..added', '1note.added', 'note.Added', 'note-added.x', 'note.added '])(
    'refuses the type name %j',
    (type) => {
      expect(refused(type, {})).toMatchObject({ status: 400, code: 'invalid_event_type' })
      expect(refused(type, {}).message).toMatch(/^type: /)
    },
  )

  it('refuses a missing or overlong type', () => {
    expect(refused('', {}).message).toBe('type: is required (a name like "note.added")')
    expect(refused(`a.${'b'.repeat(200)}`, {}).message).toBe('type: must be at most 128 characters')
  })

  it.each([[[1]], [null], ['text'], [42], [undefined]])('refuses data %j that is not an object', (data) => {
    expect(refused('note.added', data)).toMatchObject({ status: 400, code: 'invalid_event_data', message: 'data: must be a JSON object' })
  })
})

describe('reserved types', () => {
  it.each(['memory.cascade', 'memory.retrieved'])('%s is the server\'s', (type) => {
    expect(refused(type, {})).toEqual({
      ok: false,
      status: 400,
      code: 'reserved_event_type',
      message: `type: "${type}" is recorded by the server; clients cannot append it`,
    })
  })

  it.each(['doc.update', 'session.created', 'participant.joined', 'decision.reached', 'decision.anything', 'memory.forgotten'])(
    '%s is reserved',
    (type) => {
      const result = refused(type, {})
      expect(result).toMatchObject({ status: 400, code: 'reserved_event_type' })
      expect(result.message).toContain(`type: "${type}" is reserved`)
    },
  )

  it('does not reserve look-alike prefixes', () => {
    expect(validateClientEvent('docs.update', {}).ok).toBe(true)
    expect(validateClientEvent('memoryx.formed', {}).ok).toBe(true)
    expect(validateClientEvent('sessions.x', {}).ok).toBe(true)
  })
})

describe('size and storability', () => {
  const padded = (bytes: number) => {
    const base = JSON.stringify({ s: '' }).length
    return { s: 'x'.repeat(bytes - base) }
  }

  it('takes exactly 64 KiB and refuses one byte more with 413', () => {
    expect(validateClientEvent('note.added', padded(MAX_DATA_BYTES)).ok).toBe(true)
    expect(refused('note.added', padded(MAX_DATA_BYTES + 1))).toMatchObject({
      status: 413,
      code: 'event_data_too_large',
      message: `data: is ${MAX_DATA_BYTES + 1} bytes as UTF-8 JSON; the limit is ${MAX_DATA_BYTES}`,
    })
  })

  it('counts UTF-8 bytes, not characters', () => {
    // 'é' is two bytes: 40,000 of them are 80,000 bytes though only 40,000 characters.
    expect(refused('note.added', { s: 'é'.repeat(40_000) }).status).toBe(413)
    expect(refused('memory.formed', { memoryId: 'm', content: 'é'.repeat(40_000) }).status).toBe(413)
  })

  it('refuses U+0000 anywhere, naming where', () => {
    expect(refused('note.added', { a: { list: ['ok', 'bad\u0000'] } }).message).toBe(
      'data.a.list[1]: must not contain U+0000 (PostgreSQL jsonb cannot store it)',
    )
    expect(refused('memory.formed', { memoryId: 'm', content: '\u0000' }).message).toBe(
      'data.content: must not contain U+0000 (PostgreSQL jsonb cannot store it)',
    )
    expect(refused('note.added', { 'odd key': { 'k\u0000': 1 } }).message).toBe(
      'data["odd key"]["k\\u0000"]: field name must not contain U+0000 (PostgreSQL jsonb cannot store it)',
    )
  })

  it('refuses unpaired surrogates but keeps real astral characters', () => {
    expect(refused('note.added', { s: 'a\ud800b' }).message).toContain('data.s: must not contain unpaired UTF-16 surrogates')
    expect(refused('note.added', { s: '\udc00' }).message).toContain('data.s: must not contain unpaired')
    expect(validateClientEvent('note.added', { s: '🧠 memory' }).ok).toBe(true)
  })

  it('refuses data nested too deeply, without overflowing the stack', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`)
    expect(refused('note.added', deep).message).toMatch(/^data\.a(\[0\])+: must not nest objects and arrays more than 64 levels deep$/)
    const deeper = JSON.parse(`{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`)
    expect(refused('note.added', deeper).status).toBe(400)
    expect(findUnstorable(JSON.parse('['.repeat(20_000) + '"\\u0000"' + ']'.repeat(20_000)), Infinity)?.problem).toContain('U+0000')
  })
})

describe('server schemas and helpers', () => {
  it('describes memory.cascade, memory.retrieved and decision.reached', () => {
    expect(
      SERVER_SCHEMAS['memory.cascade'].safeParse({
        source: 'm1',
        trigger: 'e-1',
        cascadeStrength: 0.8,
        affected: [{ memoryId: 'm2', activation: 0.4, depth: 1 }],
      }).success,
    ).toBe(true)
    expect(SERVER_SCHEMAS['memory.cascade'].safeParse({ source: 'm1', trigger: null, cascadeStrength: 0.8, affected: [] }).success).toBe(true)
    expect(
      SERVER_SCHEMAS['memory.cascade'].safeParse({ source: 'm1', trigger: null, cascadeStrength: 0.8, affected: [{ memoryId: 'm2', activation: 0, depth: 1 }] }).success,
    ).toBe(false)
    expect(SERVER_SCHEMAS['memory.retrieved'].safeParse({ query: 'launch', results: [{ memoryId: 'm1', score: 0.3 }] }).success).toBe(true)
    expect(SERVER_SCHEMAS['decision.reached'].safeParse({ decisionId: 'd1', outcome: 'A', votes: { alice: 'A' } }).success).toBe(true)
    expect(SERVER_SCHEMAS['decision.reached'].safeParse({ decisionId: 'd1', outcome: 'A' }).success).toBe(false)
  })

  it('checks a cascade request', () => {
    expect(cascadeRequestSchema.safeParse({ memoryId: 'm1' }).success).toBe(true)
    expect(cascadeRequestSchema.safeParse({ memoryId: 'm1', strength: 1.2 }).success).toBe(false)
  })

  it('formats paths', () => {
    expect(formatPath(['data', 'connections', 0, 'to'])).toBe('data.connections[0].to')
    expect(formatPath(['data', 'a-b', 2])).toBe('data["a-b"][2]')
  })
})
