/**
 * A small, runnable mnemo agent: it joins a session, reads the context, explores and
 * annotates the most important memories, records what it concluded as a memory connected to
 * them, and votes on an open decision — every step with a rationale, all visible live to the
 * humans in the session. Its "thinking" is a few plain rules; `decide()` is where a model
 * call would go.
 *
 *   node --import tsx examples/agent.ts --url http://127.0.0.1:3001 --session demo [--token …] [--seed]
 */
import { parseArgs } from 'node:util'
import { joinSession, MnemoError, type AgentSession, type Decision, type MemoryGraph } from '../src/agent/index.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3001' },
    session: { type: 'string', default: 'demo' },
    token: { type: 'string', default: process.env.MNEMO_TOKEN },
    name: { type: 'string', default: 'Example agent' },
    run: { type: 'string' },
    seed: { type: 'boolean', default: false },
    explore: { type: 'string', default: '3' },
  },
})

const exploreCount = Number(args.explore)
if (!Number.isSafeInteger(exploreCount) || exploreCount < 1) {
  process.stderr.write(`agent: --explore must be a whole number of 1 or more, got ${JSON.stringify(args.explore)}\n`)
  process.exit(2)
}

const say = (line: string) => process.stdout.write(`${line}\n`)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function main(): Promise<void> {
  const s = await joinSession({ url: args.url!, session: args.session!, token: args.token, name: args.name, run: args.run })
  say(`joined "${s.session}" as ${s.me.name} (${s.me.id}), run ${s.me.run}`)
  try {
    await work(s)
  } finally {
    s.presence({ status: 'idle', focus: null })
    await s.close()
  }
}

async function work(s: AgentSession): Promise<void> {
  s.presence({ status: 'reading' })
  if (args.seed) await seed(s)
  const context = await s.context({ format: 'md' })
  say(`\n${context.trim()}\n`)

  const graph = await s.memories()
  if (graph.memories.length === 0) {
    say('no memories in this session yet: nothing to explore (run with --seed to add some)')
    return
  }
  s.presence({ status: 'exploring' })
  const explored = mostImportant(graph, exploreCount)
  for (const memory of explored) {
    s.presence({ status: 'exploring', focus: memory.id })
    const links = neighbours(graph, memory.id)
    await s.explore(memory.id, `importance ${memory.importance}, ${links.length} connection(s)`, {
      rationale: 'the most important memories first',
    })
    const note = links.length === 0
      ? 'Not connected to anything yet: is it related to the rest?'
      : `Connected to ${links.length} memor${links.length === 1 ? 'y' : 'ies'}; strongest: ${links[0]!.id} (${links[0]!.strength}).`
    await s.annotate(memory.id, note, { rationale: 'record what the graph says about it for the others' })
    say(`explored ${memory.id}: ${note}`)
    await pause(200) // so a human watching sees the path grow
  }

  s.presence({ status: 'thinking', focus: null })
  const related = await s.search(explored.map((m) => firstWord(m.content)).join(' or '), 5)
  const { memoryId } = await s.formMemory({
    content: `Reviewed ${explored.map((m) => m.id).join(', ')}: ${explored.map((m) => clip(m.content, 40)).join('; ')}`,
    kind: 'summary',
    importance: 0.6,
    tags: ['agent-summary'],
    connections: explored.map((m) => ({ to: m.id, strength: Math.round(Math.max(0.1, m.importance) * 100) / 100 })),
  }, { rationale: `a summary ties together what was explored (search found ${related.results.length} related)` })
  say(`formed ${memoryId}, connected to ${explored.map((m) => m.id).join(', ')}`)

  const open = Object.values(s.state().decisions).filter((d) => d.status === 'open')
  if (open.length === 0) {
    say('no open decision to vote on')
    return
  }
  const decision = open[0]!
  const { option, why } = decide(decision)
  await s.vote(decision.id, option, { rationale: why })
  say(`voted "${option}" on "${decision.question}": ${why}`)
  await s.turn('agent', `Explored ${explored.length} memories, formed ${memoryId}, voted "${option}" on "${decision.question}".`)
}

/** Where a model call would go: here, join the option most others chose, else the first. */
function decide(decision: Decision): { option: string; why: string } {
  const tally = new Map(decision.options.map((o) => [o, 0]))
  for (const choice of Object.values(decision.votes)) tally.set(choice, (tally.get(choice) ?? 0) + 1)
  const [best, votes] = [...tally].sort((a, b) => b[1] - a[1])[0]!
  return votes > 0
    ? { option: best, why: `${votes} participant(s) chose it already and nothing I explored contradicts it` }
    : { option: best, why: 'nobody has voted yet; taking the first option to get the decision moving' }
}

/** The `count` most important memories (at least one). */
function mostImportant(graph: MemoryGraph, count: number): MemoryGraph['memories'] {
  return [...graph.memories].sort((a, b) => b.importance - a.importance || a.id.localeCompare(b.id)).slice(0, Math.max(1, count))
}

function neighbours(graph: MemoryGraph, id: string): Array<{ id: string; strength: number }> {
  return graph.connections
    .filter((c) => c.from === id || c.to === id)
    .map((c) => ({ id: c.from === id ? c.to : c.from, strength: c.strength }))
    .sort((a, b) => b.strength - a.strength)
}

/** A few memories and an open decision, so the example has something to work on. */
async function seed(s: AgentSession): Promise<void> {
  if ((await s.memories()).memories.length > 0) return
  await s.formMemory({ memoryId: 'incident', content: 'Checkout latency doubled at 10:02', importance: 0.9, kind: 'observation' })
  await s.formMemory({ memoryId: 'deploy', content: 'Release 4.2 rolled out at 10:00', importance: 0.7, connections: [{ to: 'incident', strength: 0.8 }] })
  await s.formMemory({ memoryId: 'cache', content: 'Cache hit rate fell from 95% to 60% after 10:00', importance: 0.8, connections: [{ to: 'incident', strength: 0.7 }] })
  await s.propose({ question: 'Roll back release 4.2?', options: ['yes', 'no'], quorum: 2 }, { rationale: 'seeded for the example' })
  say('seeded 3 memories and an open decision')
}

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)
const firstWord = (text: string) => text.split(/\W+/).find((w) => w.length > 3) ?? text.split(' ')[0] ?? ''

main().catch((error: unknown) => {
  const message = error instanceof MnemoError ? `${error.message}` : error instanceof Error ? error.stack ?? error.message : String(error)
  process.stderr.write(`agent: ${message}\n`)
  process.exit(1)
})
