import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { buildContext, clip, renderContextMarkdown, type ContextEvent, type ContextFacts } from '../src/memory/context.js'
import { readRichText } from '../src/session/richText.js'

const alice = { id: 'alice', name: 'Alice', kind: 'human' as const }
const nav = { id: 'agent-7', name: 'Navigator', kind: 'agent' as const }
const server = { id: 'mnemo', name: 'mnemo', kind: 'server' as const }

const event = (position: number, type: string, data: Record<string, unknown>, actor: ContextEvent['actor'] = nav): ContextEvent => ({
  position,
  type,
  data,
  actor,
})

function facts(overrides: Partial<ContextFacts> = {}): ContextFacts {
  return {
    session: 's1',
    participants: [
      { ...nav, online: false },
      { ...alice, online: true },
    ],
    state: {
      selections: { 'm-3': { by: 'alice', at: 20 }, 'm-1': { by: 'agent-7', at: 10 } },
      explorationPath: [
        { memoryId: 'm-1', by: 'alice', at: 1 },
        { memoryId: 'm-3', by: 'agent-7', at: 2, note: 'looks related' },
      ],
      annotations: {
        a2: { id: 'a2', target: 'm-3', author: 'alice', createdAt: 5, text: 'check the date', resolved: false },
        a1: { id: 'a1', target: 'm-1', author: 'alice', createdAt: 3, text: 'done already', resolved: true },
      },
      decisions: {
        d1: { id: 'd1', question: 'Ship it?', options: ['yes', 'no'], votes: { alice: 'yes' }, quorum: 2, status: 'accepted', outcome: 'yes', createdBy: 'alice' },
        d2: { id: 'd2', question: 'Which first?', options: ['A', 'B'], votes: { alice: 'A', 'agent-7': 'A', bob: 'B' }, quorum: 3, status: 'open', createdBy: 'alice' },
      },
    },
    recentEvents: [
      event(12, 'memory.connected', { from: 'm-12', to: 'm-3', strength: 0.7 }, alice),
      event(11, 'memory.formed', { memoryId: 'm-12', content: 'The launch\nslipped a week', importance: 0.8 }),
      event(13, 'doc.update', { update: 'AA==' }, alice),
      event(14, 'memory.strength_changed', { from: 'm-12', to: 'm-3', strength: 0.9, previous: 0.7 }, alice),
      event(15, 'memory.cascade', { source: 'm-12', trigger: 'e1', cascadeStrength: 0.8, affected: [{ memoryId: 'm-3', activation: 0.36, depth: 1 }] }, server),
      event(16, 'memory.retrieved', { query: 'launch', results: [{ memoryId: 'm-12', score: 0.5 }] }, alice),
      event(17, 'conversation.turn', { role: 'user', content: 'hi' }, alice),
    ],
    memories: new Map([
      ['m-1', { content: 'Kickoff was in March' }],
      ['m-3', { content: 'Launch date: 1 May' }],
    ]),
    ...overrides,
  }
}

describe('buildContext', () => {
  it('orders everything deterministically and keeps ids', () => {
    const context = buildContext(facts())
    expect(context.participants.map((p) => p.id)).toEqual(['alice', 'agent-7'])
    expect(context.selections).toEqual([
      { memoryId: 'm-1', by: 'agent-7', byName: 'Navigator', content: 'Kickoff was in March' },
      { memoryId: 'm-3', by: 'alice', byName: 'Alice', content: 'Launch date: 1 May' },
    ])
    expect(context.explorationPath.map((s) => [s.step, s.memoryId, s.note])).toEqual([
      [1, 'm-1', undefined],
      [2, 'm-3', 'looks related'],
    ])
    expect(context.openAnnotations).toEqual([{ id: 'a2', target: 'm-3', author: 'alice', authorName: 'Alice', text: 'check the date' }])
    expect(context.decisions.map((d) => d.id)).toEqual(['d2', 'd1'])
    expect(context.decisions[0].tally).toEqual([
      { option: 'A', votes: 2 },
      { option: 'B', votes: 1 },
    ])
    expect(context.recentMemoryEvents.map((e) => e.position)).toEqual([11, 12, 14, 15, 16])
  })

  it('summarises each memory event in one line', () => {
    expect(buildContext(facts()).recentMemoryEvents.map((e) => e.line)).toEqual([
      'm-12 formed by Navigator (agent), importance 0.8: The launch slipped a week',
      'm-12 – m-3 connected (strength 0.7) by Alice (human)',
      'm-12 – m-3 strength 0.7 → 0.9 by Alice (human)',
      'cascade from m-12 (strength 0.8) reached 1: m-3 0.36',
      'search "launch" by Alice (human) → m-12',
    ])
  })

  it('caps lists and text, keeping the newest path steps and events', () => {
    const many = Array.from({ length: 30 }, (_, i) => event(100 + i, 'memory.formed', { memoryId: `m${i}`, content: 'x'.repeat(500) }))
    const path = Array.from({ length: 25 }, (_, i) => ({ memoryId: `m${i}`, by: 'alice', at: i }))
    const context = buildContext(facts({ recentEvents: many, state: { ...facts().state, explorationPath: path } }), {
      events: 5,
      pathSteps: 3,
      text: 40,
    })
    expect(context.recentMemoryEvents.map((e) => e.position)).toEqual([125, 126, 127, 128, 129])
    expect(context.omitted.recentMemoryEvents).toBe(25)
    expect(context.explorationPath.map((s) => s.step)).toEqual([23, 24, 25])
    expect(context.omitted.explorationPath).toBe(22)
    expect(context.recentMemoryEvents[0].line).toMatch(/: x{39}…$/)
  })
})

describe('renderContextMarkdown', () => {
  it('renders short, ordered Markdown', () => {
    expect(renderContextMarkdown(buildContext(facts()))).toBe(
      [
        '# Session s1',
        '',
        '## Participants',
        '- Alice (alice, human, online)',
        '- Navigator (agent-7, agent, offline)',
        '',
        '## Selected memories',
        '- m-1 (by Navigator): Kickoff was in March',
        '- m-3 (by Alice): Launch date: 1 May',
        '',
        '## Exploration path',
        '1. m-1 (Alice): Kickoff was in March',
        '2. m-3 (Navigator) — looks related: Launch date: 1 May',
        '',
        '## Open annotations',
        '- a2 on m-3 by Alice: check the date',
        '',
        '## Decisions',
        '- d2 [open] Which first? — votes: A 2, B 1 (quorum 3)',
        '- d1 [accepted: yes] Ship it? — votes: yes 1, no 0 (quorum 2)',
        '',
        '## Recent memory events',
        '- m-12 formed by Navigator (agent), importance 0.8: The launch slipped a week',
        '- m-12 – m-3 connected (strength 0.7) by Alice (human)',
        '- m-12 – m-3 strength 0.7 → 0.9 by Alice (human)',
        '- cascade from m-12 (strength 0.8) reached 1: m-3 0.36',
        '- search "launch" by Alice (human) → m-12',
        '',
      ].join('\n'),
    )
  })

  it('says none for empty sections and notes what was left out', () => {
    const empty = buildContext({
      session: 's2',
      participants: [],
      state: { selections: {}, explorationPath: [], annotations: {}, decisions: {} },
      recentEvents: [],
    })
    expect(renderContextMarkdown(empty)).toContain('## Participants\n- none\n')
    const many = buildContext(
      facts({ recentEvents: Array.from({ length: 4 }, (_, i) => event(i + 1, 'memory.connected', { from: 'a', to: 'b', strength: 1 })) }),
      { events: 2 },
    )
    expect(renderContextMarkdown(many)).toContain('## Recent memory events\n- (2 earlier omitted)\n- a – b connected')
  })

  it('keeps user text on one line, so it cannot forge a heading', () => {
    const md = renderContextMarkdown(
      buildContext(facts({ recentEvents: [event(1, 'memory.formed', { memoryId: 'm\n## x', content: 'a\n\n## Injected\n- item' })] })),
    )
    expect(md).not.toMatch(/^## (Injected|x)/m)
    expect(md).toContain('- m ## x formed by Navigator (agent), importance 0.5: a ## Injected - item')
  })
})

describe('clip', () => {
  it('flattens whitespace and cuts by characters, not UTF-16 units', () => {
    expect(clip('  a \n b  ', 10)).toBe('a b')
    expect(clip('abcdef', 4)).toBe('abc…')
    expect(clip('🧠🧠🧠🧠', 3)).toBe('🧠🧠…')
  })
})

describe('rich text in the context', () => {
  /** A Tiptap document as its Collaboration extension writes it, applied to a copy that never defines the fragment (as the server's). */
  function serverCopy(write: (doc: Y.Doc) => void): Y.Doc {
    const client = new Y.Doc()
    write(client)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(client))
    return copy
  }
  const element = (name: string, children: Array<Y.XmlElement | Y.XmlText>, attributes: Record<string, string> = {}) => {
    const e = new Y.XmlElement(name)
    for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v)
    e.insert(0, children)
    return e
  }

  it('reads each fragment as plain text, without markup, leaving the collections and other roots out', () => {
    const copy = serverCopy((doc) => {
      const bold = new Y.XmlText()
      bold.insert(0, 'Incident')
      bold.format(0, 8, { bold: true })
      bold.insert(8, ' review')
      doc.getXmlFragment('richText').insert(0, [
        element('heading', [bold], { level: '1' }),
        element('paragraph', [new Y.XmlText('Disk latency rose at 10:00.')]),
        element('bulletList', [element('listItem', [element('paragraph', [new Y.XmlText('backup job')])]), element('listItem', [element('paragraph', [new Y.XmlText('cron')])])]),
      ])
      doc.getXmlFragment('default').insert(0, [element('paragraph', [new Y.XmlText('second field')])])
      doc.getXmlFragment('empty')
      doc.getArray('other').insert(0, ['not rich text'])
      doc.getMap('selections').set('m-1', { by: 'ada', at: 1 })
    })
    expect(readRichText(copy)).toEqual([
      { name: 'default', text: 'second field' },
      { name: 'richText', text: 'Incident review\nDisk latency rose at 10:00.\nbackup job cron' },
    ])
    // Read without defining anything: the roots stay untyped.
    expect(copy.share.get('richText')).not.toBeInstanceOf(Y.XmlFragment)
  })

  it('shows the start of each field on one line, its length, and a Markdown section only when there is one', () => {
    const long = 'word '.repeat(100).trim()
    const context = buildContext(facts({ richText: [{ name: 'richText', text: `## Forged heading\n${long}` }] }), { text: 40 })
    expect(context.richText).toEqual([{ field: 'richText', excerpt: expect.stringMatching(/^## Forged heading word word .*…$/), characters: 17 + 1 + long.length }])
    expect(Array.from(context.richText[0]!.excerpt)).toHaveLength(40)
    expect(context.omitted.richText).toBe(0)
    const md = renderContextMarkdown(context)
    expect(md).toContain(`## Rich text\n- richText (${17 + 1 + long.length} characters): ## Forged heading word`)
    expect(md).not.toMatch(/^## Forged/m)
    expect(renderContextMarkdown(buildContext(facts()))).not.toContain('## Rich text')
    expect(buildContext(facts()).richText).toEqual([])
  })
})
