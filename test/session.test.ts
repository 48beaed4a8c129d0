/**
 * The session document: write helpers, readState and the decision rule, then a seeded
 * fuzz of random edits by several replicas over a faulty fake network that must converge.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { readState } from '../src/session/readState.js'
import { annotate, annotationText, deselect, explore, resolveAnnotation, select } from '../src/session/write.js'
import { acceptDecision, findReachedDecisions, propose, rejectDecision, vote } from '../src/session/decisions.js'
import { getAnnotations, getDecisions, getExplorationPath, getSelections } from '../src/session/roots.js'
import { assertConverged, createDocPeer, createFakeNetwork, type NetworkStats, type Peer } from './fixtures/fakeNetwork.js'

function newDoc(clientID = 1): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return doc
}

describe('write helpers and readState', () => {
  it('reads every collection as plain JSON', () => {
    const doc = newDoc()
    select(doc, 'm1', 'alice', 10)
    explore(doc, { memoryId: 'm1', by: 'alice', at: 11 })
    explore(doc, { memoryId: 'm2', by: 'bob', at: 12, note: 'follow-up' })
    annotate(doc, { id: 'a1', target: 'm1', author: 'alice', text: 'hello', createdAt: 13 })
    annotationText(doc, 'a1')!.insert(5, ' world')
    resolveAnnotation(doc, 'a1')
    propose(doc, { id: 'd1', question: 'Keep m1?', options: ['yes', 'no'], quorum: 2, createdBy: 'alice' })
    vote(doc, 'd1', 'bob', 'no')
    expect(readState(doc)).toEqual({
      selections: { m1: { by: 'alice', at: 10 } },
      explorationPath: [{ memoryId: 'm1', by: 'alice', at: 11 }, { memoryId: 'm2', by: 'bob', at: 12, note: 'follow-up' }],
      annotations: { a1: { id: 'a1', target: 'm1', author: 'alice', createdAt: 13, text: 'hello world', resolved: true } },
      decisions: {
        d1: { id: 'd1', question: 'Keep m1?', options: ['yes', 'no'], votes: { bob: 'no' }, quorum: 2, status: 'open', createdBy: 'alice' },
      },
    })
    deselect(doc, 'm1')
    expect(readState(doc).selections).toEqual({})
  })

  it('runs each helper as one transaction with the given origin', () => {
    const doc = newDoc()
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    const origin = { peer: 'x' }
    annotate(doc, { target: 'm', author: 'a', text: 't' }, origin)
    propose(doc, { question: 'q', options: ['a'], quorum: 1, createdBy: 'a' }, origin)
    select(doc, 'm', 'a', 1, origin)
    expect(origins).toEqual([origin, origin, origin])
  })

  it('generates ids and times when they are not given', () => {
    const doc = newDoc()
    const id = annotate(doc, { target: 'm', author: 'a', text: '' })
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(readState(doc).annotations[id]!.createdAt).toBeGreaterThan(0)
    expect(() => annotate(doc, { id, target: 'm', author: 'a', text: '' })).toThrow(/already exists/)
  })

  it('leaves out entries that do not fit the schema and reads plain-JSON ones', () => {
    const doc = newDoc()
    getSelections(doc).set('bad', 'x' as never)
    getExplorationPath(doc).push([{ nope: 1 } as never])
    getAnnotations(doc).set('plain', { target: 'm', author: 'a', text: 'json' })
    getAnnotations(doc).set('broken', 7)
    getDecisions(doc).set('half', new Y.Map([['question', 'q']]))
    expect(readState(doc)).toEqual({
      selections: {},
      explorationPath: [],
      annotations: { plain: { id: 'plain', target: 'm', author: 'a', createdAt: 0, text: 'json', resolved: false } },
      decisions: {},
    })
  })
})

describe('decisions', () => {
  it('refuses bad proposals and votes with errors that say why', () => {
    const doc = newDoc()
    expect(() => propose(doc, { question: 'q', options: [], quorum: 1, createdBy: 'a' })).toThrow(/non-empty list/)
    expect(() => propose(doc, { question: 'q', options: ['a', 'a'], quorum: 1, createdBy: 'a' })).toThrow(/distinct/)
    expect(() => propose(doc, { question: 'q', options: ['a'], quorum: 0, createdBy: 'a' })).toThrow(/positive integer/)
    propose(doc, { id: 'd', question: 'q', options: ['a', 'b'], quorum: 1, createdBy: 'a' })
    expect(() => vote(doc, 'nope', 'p', 'a')).toThrow('Unknown decision "nope"')
    expect(() => vote(doc, 'd', 'p', 'c')).toThrow('"c" is not an option of decision "d" (options: a, b)')
    rejectDecision(doc, 'd')
    rejectDecision(doc, 'd')
    expect(() => vote(doc, 'd', 'p', 'a')).toThrow('Decision "d" is rejected: votes are only taken while it is open')
    expect(() => acceptDecision(doc, 'd', 'a')).toThrow(/is rejected/)
  })

  it('finds decisions whose votes for one option reach the quorum, and accepts them', () => {
    const doc = newDoc()
    propose(doc, { id: 'd1', question: 'q', options: ['a', 'b'], quorum: 2, createdBy: 'x' })
    propose(doc, { id: 'd2', question: 'q', options: ['a', 'b'], quorum: 1, createdBy: 'x' })
    vote(doc, 'd1', 'p1', 'a')
    vote(doc, 'd1', 'p2', 'b')
    expect(findReachedDecisions(doc)).toEqual([])
    vote(doc, 'd1', 'p2', 'a')
    vote(doc, 'd2', 'p1', 'b')
    vote(doc, 'd2', 'p2', 'a')
    vote(doc, 'd2', 'p3', 'b')
    expect(findReachedDecisions(doc)).toEqual([
      { decisionId: 'd1', outcome: 'a', votes: { p1: 'a', p2: 'a' } },
      { decisionId: 'd2', outcome: 'b', votes: { p1: 'b', p2: 'a', p3: 'b' } },
    ])
    acceptDecision(doc, 'd1', 'a')
    expect(readState(doc).decisions.d1).toMatchObject({ status: 'accepted', outcome: 'a' })
    expect(findReachedDecisions(doc).map(r => r.decisionId)).toEqual(['d2'])
    expect(() => rejectDecision(doc, 'd1')).toThrow(/accepted already/)
  })

  it('ignores decisions a client wrote as plain JSON, which cannot be accepted', () => {
    const doc = newDoc()
    getDecisions(doc).set('plain', { question: 'q', options: ['a'], votes: { p: 'a' }, quorum: 1, status: 'open' })
    expect(readState(doc).decisions.plain).toMatchObject({ status: 'open', votes: { p: 'a' } })
    expect(findReachedDecisions(doc)).toEqual([])
    expect(() => vote(doc, 'plain', 'p', 'a')).toThrow('Unknown decision "plain"')
  })
})

/** A peer that, like the server, accepts decisions as soon as they reach their quorum. */
function withDecisionRule(peer: Peer & { doc: Y.Doc }): Peer & { doc: Y.Doc } {
  return {
    ...peer,
    receive(remote, frame) {
      peer.receive(remote, frame)
      for (const { decisionId, outcome } of findReachedDecisions(peer.doc)) acceptDecision(peer.doc, decisionId, outcome, 'rule')
    },
  }
}

function randomEdit(gen: prng.PRNG, doc: Y.Doc, counter: number): void {
  const memory = `m${prng.int32(gen, 1, 6)}`
  const participant = `p${prng.int32(gen, 1, 4)}`
  const state = readState(doc)
  const annotations = Object.keys(state.annotations)
  const open = Object.values(state.decisions).filter(d => d.status === 'open')
  switch (prng.int32(gen, 0, 10)) {
    case 0: select(doc, memory, participant, counter); break
    case 1: deselect(doc, memory); break
    case 2: explore(doc, { memoryId: memory, by: participant, at: counter, note: prng.bool(gen) ? 'n' : undefined }); break
    case 3: {
      const path = getExplorationPath(doc)
      if (path.length > 0) path.delete(prng.int32(gen, 0, path.length - 1), 1)
      break
    }
    case 4: annotate(doc, { id: `a${doc.clientID}-${counter}`, target: memory, author: participant, text: prng.word(gen, 0, 5), createdAt: counter }); break
    case 5: {
      const text = annotations.length > 0 ? annotationText(doc, prng.oneOf(gen, annotations)) : undefined
      if (text && text.length > 0 && prng.bool(gen)) text.delete(prng.int32(gen, 0, text.length - 1), 1)
      else text?.insert(prng.int32(gen, 0, text.length), prng.word(gen, 1, 3))
      break
    }
    case 6: if (annotations.length > 0) resolveAnnotation(doc, prng.oneOf(gen, annotations)); break
    case 7: if (annotations.length > 0) getAnnotations(doc).delete(prng.oneOf(gen, annotations)); break
    case 8: propose(doc, { id: `d${doc.clientID}-${counter}`, question: 'q', options: ['x', 'y', 'z'], quorum: prng.int32(gen, 1, 3), createdBy: participant }); break
    case 9: if (open.length > 0 && prng.int32(gen, 0, 9) === 0) rejectDecision(doc, prng.oneOf(gen, open).id); break
    default: if (open.length > 0) { const d = prng.oneOf(gen, open); vote(doc, d.id, participant, prng.oneOf(gen, d.options)) }
  }
}

describe('replicas over a faulty network (seeded fuzz)', () => {
  async function fuzz(seed: number, topology: 'mesh' | 'star', peers = 4, edits = 150) {
    const net = createFakeNetwork(seed)
    const docPeers = Array.from({ length: peers }, (_, i) => createDocPeer(`p${i}`, newDoc(i + 1)))
    // In the star, p0 plays the server: everyone talks through it and it applies the decision rule.
    const nodes = topology === 'star' ? [withDecisionRule(docPeers[0]!), ...docPeers.slice(1)] : docPeers
    for (const node of nodes) net.add(node)
    if (topology === 'mesh') await net.connectAll(nodes.map(n => n.name))
    else for (const node of nodes.slice(1)) await net.connect('p0', node.name)
    for (let i = 0; i < edits; i++) {
      const editor = topology === 'star' ? prng.int32(net.gen, 1, peers - 1) : prng.int32(net.gen, 0, peers - 1)
      randomEdit(net.gen, docPeers[editor]!.doc, i)
      await net.run(prng.int32(net.gen, 0, 6))
    }
    await net.flushAll()
    const docs = docPeers.map(p => p.doc)
    assertConverged(docs, readState)
    return { docs, stats: net.stats }
  }

  const totals = (runs: Array<{ stats: NetworkStats }>): NetworkStats => {
    const sum: NetworkStats = { delivered: 0, reordered: 0, duplicated: 0, dropped: 0, disconnects: 0, reconnects: 0 }
    for (const { stats } of runs) for (const key of Object.keys(sum) as Array<keyof NetworkStats>) sum[key] += stats[key]
    return sum
  }

  /** The fuzz is only worth something if every kind of fault happened. */
  const expectEveryFault = (stats: NetworkStats): void => {
    for (const [fault, count] of Object.entries(stats)) expect(count, fault).toBeGreaterThan(0)
  }

  it('mesh: every replica ends with the same readState', async () => {
    const runs = []
    for (let seed = 1; seed <= 25; seed++) runs.push(await fuzz(seed, 'mesh'))
    expectEveryFault(totals(runs))
  })

  it('star around a server peer: the same state, and no reached decision is left open', async () => {
    const runs = []
    for (let seed = 100; seed <= 125; seed++) {
      const run = await fuzz(seed, 'star', 5)
      for (const doc of run.docs) expect(findReachedDecisions(doc)).toEqual([])
      runs.push(run)
    }
    expectEveryFault(totals(runs))
  })

  it('is deterministic: the same seed gives the same run', async () => {
    const [first, second] = [await fuzz(3, 'mesh'), await fuzz(3, 'mesh')]
    expect(second.stats).toEqual(first.stats)
    expect(readState(second.docs[0]!)).toEqual(readState(first.docs[0]!))
  })

  it('works with a peer that does asynchronous work before applying (as the server persists first)', async () => {
    const net = createFakeNetwork(11)
    const docPeers = Array.from({ length: 4 }, (_, i) => createDocPeer(`p${i}`, newDoc(i + 1)))
    const server = docPeers[0]!
    let inFlight = Promise.resolve()
    const asyncServer: Peer = {
      ...server,
      // Frames are handled in arrival order, each after a pretend write to the event store.
      receive(remote, frame) {
        inFlight = inFlight.then(() => new Promise<void>(resolve => setImmediate(resolve))).then(() => server.receive(remote, frame))
      },
      idle: () => inFlight,
    }
    net.add(asyncServer)
    for (const p of docPeers.slice(1)) {
      net.add(p)
      await net.connect('p0', p.name)
    }
    for (let i = 0; i < 100; i++) {
      randomEdit(net.gen, docPeers[prng.int32(net.gen, 1, 3)]!.doc, i)
      await net.run(4)
    }
    await net.flushAll()
    assertConverged(docPeers.map(p => p.doc), readState)
  })

  it('converges even when every link is unreliable and breaks often', async () => {
    const net = createFakeNetwork(7, { drop: 0.2, duplicate: 0.2, reorder: 0.5, disconnect: 0.1, reconnect: 0.05 })
    const docPeers = Array.from({ length: 3 }, (_, i) => createDocPeer(`p${i}`, newDoc(i + 1)))
    for (const p of docPeers) net.add(p)
    await net.connectAll(docPeers.map(p => p.name))
    for (let i = 0; i < 300; i++) {
      randomEdit(net.gen, prng.oneOf(net.gen, docPeers).doc, i)
      await net.run(3)
    }
    await net.flushAll()
    expect(net.pending()).toBe(0)
    expectEveryFault(net.stats)
    assertConverged(docPeers.map(p => p.doc), readState)
  })
})
