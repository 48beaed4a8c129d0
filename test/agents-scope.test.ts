/**
 * Scoped tokens without a server: the `can` claim's vocabulary, which Yjs updates a scope
 * refuses (every place an update writes, found against the document before it is applied), and
 * minting and verifying `can`, `budget` and `run` (library and `mnemo token`).
 */
import { Command, type CommanderError } from 'commander'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { capabilityProblem, mayAppend, parseScope } from '../src/auth/capabilities.js'
import { mintToken, verifyToken } from '../src/auth/tokens.js'
import { registerTokenCommand } from '../src/cli/token.js'
import { scopeRefusal } from '../src/collab/scope.js'
import { propose, rejectDecision, vote } from '../src/session/decisions.js'
import { getDecisions } from '../src/session/roots.js'
import { annotate, annotationText, deselect, explore, resolveAnnotation, select } from '../src/session/write.js'

function baseDoc(): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = 1
  select(doc, 'm1', 'alice', 1)
  explore(doc, { memoryId: 'm1', by: 'alice', at: 1 })
  annotate(doc, { id: 'a1', target: 'm1', author: 'alice', text: 'hello', createdAt: 1 })
  propose(doc, { id: 'd1', question: 'which?', options: ['x', 'y'], quorum: 3, createdBy: 'alice' })
  vote(doc, 'd1', 'alice', 'x')
  return doc
}

/** What `scope` says of the update `edit` makes on a replica of `base` (as `voter`). */
function refusalOf(base: Y.Doc, can: string[], edit: (doc: Y.Doc) => void, voter = 'bot'): string | undefined {
  const replica = new Y.Doc()
  replica.clientID = 2
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(base))
  edit(replica)
  const update = Y.encodeStateAsUpdate(replica, Y.encodeStateVector(base))
  const before = Y.encodeStateAsUpdate(base)
  const refusal = scopeRefusal(base, Y.decodeUpdate(update), parseScope(can), voter)
  expect(Y.encodeStateAsUpdate(base)).toEqual(before) // only read
  return refusal
}

describe('the can claim', () => {
  it('knows collections, votes and event patterns, and names what it does not know', () => {
    for (const ok of ['annotations:write', 'explorationPath:write', 'selections:write', 'decisions:write', 'decisions:vote',
      'memory.*:append', 'conversation.turn:append', '*:append', 'note.added:append']) {
      expect(capabilityProblem(ok), ok).toBeUndefined()
    }
    for (const bad of ['annotations:read', 'notes:write', 'memory:append', 'Memory.*:append', 'decisions', 'selections:vote', '']) {
      expect(capabilityProblem(bad), bad).toContain(JSON.stringify(bad))
    }
    expect(() => parseScope(['annotations:write', 'everything'])).toThrow(/"everything" is not a capability/)
  })

  it('covers event types by name and by prefix', () => {
    const scoped = { scope: parseScope(['memory.*:append', 'conversation.turn:append']) }
    expect(mayAppend(scoped, 'memory.formed')).toBe(true)
    expect(mayAppend(scoped, 'conversation.turn')).toBe(true)
    expect(mayAppend(scoped, 'conversation.turns')).toBe(false)
    expect(mayAppend(scoped, 'note.added')).toBe(false)
    expect(mayAppend({ scope: undefined }, 'note.added')).toBe(true)
    expect(mayAppend({ scope: parseScope(['*:append']) }, 'anything.at_all')).toBe(true)
  })
})

describe('scopeRefusal', () => {
  it('lets a collection be written in full with <collection>:write, and names the path of anything else', () => {
    const base = baseDoc()
    const notes = ['annotations:write']
    expect(refusalOf(base, notes, (d) => annotate(d, { id: 'a2', target: 'm1', author: 'bot', text: 'hi' }))).toBeUndefined()
    expect(refusalOf(base, notes, (d) => annotationText(d, 'a1')!.insert(5, ' world'))).toBeUndefined()
    expect(refusalOf(base, notes, (d) => resolveAnnotation(d, 'a1'))).toBeUndefined()
    expect(refusalOf(base, notes, (d) => getDecisions(d).delete('nothing'))).toBeUndefined()
    expect(refusalOf(base, notes, (d) => select(d, 'm2', 'bot'))).toBe('out of scope (needs selections:write): selections/m2')
    expect(refusalOf(base, notes, (d) => deselect(d, 'm1'))).toBe('out of scope (needs selections:write): selections/m1')
    expect(refusalOf(base, notes, (d) => explore(d, { memoryId: 'm2', by: 'bot' }))).toBe('out of scope (needs explorationPath:write): explorationPath')
    // Refused whole: one place outside is enough.
    expect(refusalOf(base, notes, (d) => d.transact(() => {
      annotate(d, { id: 'a3', target: 'm1', author: 'bot', text: 'ok' })
      select(d, 'm3', 'bot')
    }))).toContain('selections/m3')
    expect(refusalOf(base, ['explorationPath:write'], (d) => explore(d, { memoryId: 'm2', by: 'bot' }))).toBeUndefined()
    expect(refusalOf(base, [], (d) => annotationText(d, 'a1')!.insert(0, '!'))).toBe('out of scope (needs annotations:write): annotations/a1/text')
  })

  it('refuses roots that are not collections of the session document', () => {
    const base = baseDoc()
    expect(refusalOf(base, ['annotations:write', 'selections:write'], (d) => d.getMap('secrets').set('k', 1)))
      .toBe('out of scope (not a collection of the session document): secrets/k')
  })

  it('decisions:vote: its own vote may be cast, changed and withdrawn; nothing else of a decision', () => {
    const base = baseDoc()
    const voter = ['decisions:vote']
    expect(refusalOf(base, voter, (d) => vote(d, 'd1', 'bot', 'y'))).toBeUndefined()
    const voted = baseDoc()
    vote(voted, 'd1', 'bot', 'y')
    expect(refusalOf(voted, voter, (d) => vote(d, 'd1', 'bot', 'x'))).toBeUndefined()
    expect(refusalOf(voted, voter, (d) => ((getDecisions(d).get('d1') as Y.Map<unknown>).get('votes') as Y.Map<string>).delete('bot'))).toBeUndefined()
    expect(refusalOf(base, voter, (d) => vote(d, 'd1', 'alice', 'y'))).toBe('out of scope (needs decisions:write): decisions/d1/votes/alice')
    expect(refusalOf(base, voter, (d) => vote(d, 'd1', 'mallory', 'y'))).toBe('out of scope (needs decisions:write): decisions/d1/votes/mallory')
    expect(refusalOf(base, voter, (d) => rejectDecision(d, 'd1'))).toBe('out of scope (needs decisions:write): decisions/d1/status')
    expect(refusalOf(base, voter, (d) => propose(d, { id: 'd2', question: 'q', options: ['a'], quorum: 1, createdBy: 'bot' })))
      .toBe('out of scope (needs decisions:write): decisions/d2')
    expect(refusalOf(base, voter, (d) => (getDecisions(d).get('d1') as Y.Map<unknown>).set('votes', new Y.Map())))
      .toBe('out of scope (needs decisions:write): decisions/d1/votes')
    expect(refusalOf(base, ['decisions:write'], (d) => rejectDecision(d, 'd1'))).toBeUndefined()
  })

  it('refuses writes it cannot place: items hanging off unknown structs, deletes of what the document lacks', () => {
    const base = baseDoc()
    // A replica that has something `base` never got: its next edit refers to it.
    const ahead = new Y.Doc()
    ahead.clientID = 3
    Y.applyUpdate(ahead, Y.encodeStateAsUpdate(base))
    annotate(ahead, { id: 'a9', target: 'm1', author: 'x', text: 'unseen' })
    const seen = Y.encodeStateVector(ahead)
    annotationText(ahead, 'a9')!.insert(6, '!')
    const dangling = Y.encodeStateAsUpdate(ahead, seen)
    expect(scopeRefusal(base, Y.decodeUpdate(dangling), parseScope(['annotations:write']), 'bot'))
      .toBe('out of scope: an edit the server cannot place in the document (insert)')

    // A delete of clocks nobody has sent yet: it would wait and land on whatever comes.
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 0) // no structs
    for (const n of [1, 99, 1, 0, 1]) encoding.writeVarUint(enc, n) // one client (99), one range: clock 0, length 1
    const preDelete = encoding.toUint8Array(enc)
    expect(scopeRefusal(base, Y.decodeUpdate(preDelete), parseScope(['selections:write']), 'bot'))
      .toBe('out of scope: an edit the server cannot place in the document (delete)')
  })
})

describe('tokens with can, budget and run', () => {
  const secret = 'scope-secret-scope-secret-scope-secret'
  const base = { sub: 'bot', name: 'Bot', kind: 'agent', role: 'editor' } as const

  it('round-trip through mintToken and verifyToken, each token with its own jti', async () => {
    const token = await mintToken(secret, { ...base, can: ['annotations:write', 'memory.*:append', 'annotations:write'], budget: { eventsPerRun: 5 }, run: 'r-1' })
    const identity = await verifyToken(secret, token)
    expect(identity.scope?.can).toEqual(['annotations:write', 'memory.*:append'])
    expect(identity).toMatchObject({ budget: { eventsPerRun: 5 }, run: 'r-1', tokenId: expect.any(String) })
    const again = await verifyToken(secret, await mintToken(secret, base))
    expect(again.tokenId).not.toBe(identity.tokenId)
    expect(again.scope).toBeUndefined()
    expect(again.budget).toBeUndefined()
  })

  it('refuses to mint or to verify an unknown capability or limit, naming it', async () => {
    await expect(mintToken(secret, { ...base, can: ['annotations:write', 'everything'] })).rejects.toThrow(/`can`: "everything" is not a capability/)
    await expect(mintToken(secret, { ...base, budget: { eventsPerRun: 0 } })).rejects.toThrow(/`budget.eventsPerRun` must be at least 1/)
    const handMade = (claims: Record<string, unknown>) => new SignJWT({ name: 'Bot', kind: 'agent', role: 'editor', ...claims })
      .setProtectedHeader({ alg: 'HS256' }).setSubject('bot').setExpirationTime('1h').sign(new TextEncoder().encode(secret))
    await expect(verifyToken(secret, await handMade({ can: ['selections:write', 'root:write'] })))
      .rejects.toMatchObject({ code: 'token_invalid', message: expect.stringContaining('"root:write" is not a capability') })
    await expect(verifyToken(secret, await handMade({ budget: { eventsPerRun: 3, tokensPerDay: 9 } })))
      .rejects.toMatchObject({ code: 'token_invalid', message: expect.stringContaining('`budget` has no limit "tokensPerDay"') })
    await expect(verifyToken(secret, await handMade({ can: 'annotations:write' })))
      .rejects.toMatchObject({ code: 'token_invalid', message: expect.stringContaining('`can` must be a list') })
  })

  it('mnemo token --can, --budget and --run mint them', async () => {
    const out: string[] = []
    const err: string[] = []
    const cli = async (args: string[]) => {
      out.length = 0
      err.length = 0
      const program = new Command('mnemo').exitOverride()
        .configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void err.push(s) })
      registerTokenCommand(program, { MNEMO_AUTH_SECRET: secret })
      return program.parseAsync(['token', ...args], { from: 'user' }).then(() => undefined, (e: unknown) => e as CommanderError)
    }
    const agent = ['--sub', 'bot', '--name', 'Bot', '--kind', 'agent', '--role', 'editor']
    expect(await cli([...agent, '--can', 'annotations:write,decisions:vote', '--can', 'memory.*:append',
      '--budget', 'updatesPerMinute=60,eventsPerRun=500', '--budget', 'bytesPerRun=100000', '--run', 'r-9'])).toBeUndefined()
    const identity = await verifyToken(secret, out.join('').trim())
    expect(identity.scope?.can).toEqual(['annotations:write', 'decisions:vote', 'memory.*:append'])
    expect(identity).toMatchObject({ budget: { updatesPerMinute: 60, eventsPerRun: 500, bytesPerRun: 100000 }, run: 'r-9' })
    expect((await cli([...agent, '--can', 'annotations:erase']))?.exitCode).toBe(1)
    expect(err.join('')).toMatch(/"annotations:erase" is not a capability/)
    expect((await cli([...agent, '--budget', 'tokens=5']))?.exitCode).toBe(1)
    expect(err.join('')).toMatch(/"tokens=5" is not a limit: use updatesPerMinute=N, eventsPerRun=N, bytesPerRun=N/)
  })
})
