/**
 * Seeded data for the memory benchmark: the event mix the 32 load-generator clients send,
 * the 10,000-memory / 50,000-connection cascade graph, and 100,000 searchable memories
 * whose words follow a Zipf law, with the queries run against them.
 */

export type Random = () => number

/** mulberry32: small, fast and seeded, so every run sends the same events. */
export function seeded(seed: number): Random {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface BenchEvent {
  type: string
  data: Record<string, unknown>
}

const round = (x: number) => Math.round(x * 1000) / 1000

/**
 * One client's stream of events: 40 % formations, 30 % connections, 15 % strength changes,
 * 15 % conversation turns, over memories this client formed. With `cascading`, importances
 * are uniform in 0..1, so about half the formations, connections and changes cascade
 * automatically; with `plain`, they stay below the 0.5 threshold and none does. `turns`
 * sends conversation turns only: the event route without any memory work, as a baseline.
 */
export type Mix = 'plain' | 'cascading' | 'turns'

export function clientEvents(client: number, random: Random, mix: Mix): () => BenchEvent {
  const cascading = mix === 'cascading'
  const ids: string[] = []
  const pairs: [string, string][] = []
  const pickId = () => ids[Math.floor(random() * ids.length)]
  let turn = 0
  return () => {
    const pick = mix === 'turns' ? 1 : random()
    if (pick < 0.4 || (ids.length < 2 && mix !== 'turns')) {
      const memoryId = `c${client}-m${ids.length}`
      ids.push(memoryId)
      const importance = round(cascading ? random() : random() * 0.49)
      return { type: 'memory.formed', data: { memoryId, content: `observation ${ids.length} of client ${client}: ${words(random, 8)}`, importance } }
    }
    // (The turns mix has no memories to connect: its every event is a turn.)
    if (mix !== 'turns' && (pick < 0.7 || pairs.length === 0)) {
      const from = pickId()
      let to = pickId()
      if (to === from) to = ids[(ids.indexOf(from) + 1) % ids.length]
      pairs.push([from, to])
      return { type: 'memory.connected', data: { from, to, strength: round(0.05 + random() * 0.95) } }
    }
    if (pick < 0.85) {
      const [from, to] = pairs[Math.floor(random() * pairs.length)]
      return { type: 'memory.strength_changed', data: { from, to, strength: round(random()) } }
    }
    return { type: 'conversation.turn', data: { role: random() < 0.5 ? 'user' : 'assistant', content: words(random, 12), turnIndex: turn++ } }
  }
}

// Synthetic words (consonant-vowel syllables): no stop words, stemmed like any English word.
const SYLLABLES = ['ka', 'lo', 'mi', 're', 'tu', 'sa', 'ne', 'vo', 'di', 'pa', 'gu', 'fe', 'zo', 'bi', 'ha', 'ju', 'qe', 'wy']

export function vocabulary(size: number, random: Random): string[] {
  const seen = new Set<string>()
  while (seen.size < size) {
    const n = 2 + Math.floor(random() * 3)
    let word = ''
    for (let i = 0; i < n; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)]
    seen.add(word)
  }
  return [...seen]
}

/** Samples ranks 0..n-1 with probability ∝ 1/(rank+1)^s (inverse-CDF over a table). */
export function zipf(n: number, s: number, random: Random): () => number {
  const cdf = new Float64Array(n)
  let total = 0
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / Math.pow(i + 1, s)
  return () => {
    const x = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid] < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function words(random: Random, count: number): string {
  return Array.from({ length: count }, () => SYLLABLES[Math.floor(random() * SYLLABLES.length)] + SYLLABLES[Math.floor(random() * SYLLABLES.length)]).join(' ')
}

/** The cascade graph: `memories` formations (importance 0.3: no automatic cascades), then distinct random pairs. */
export function cascadeGraph(memories: number, connections: number, random: Random): { formed: BenchEvent[]; connected: BenchEvent[] } {
  const id = (i: number) => `g${i}`
  const formed = Array.from({ length: memories }, (_, i) => ({
    type: 'memory.formed', data: { memoryId: id(i), content: `graph memory ${i}`, importance: 0.3 },
  }))
  const seen = new Set<number>()
  const connected: BenchEvent[] = []
  while (connected.length < connections) {
    const a = Math.floor(random() * memories)
    const b = Math.floor(random() * memories)
    const key = Math.min(a, b) * memories + Math.max(a, b)
    if (a === b || seen.has(key)) continue
    seen.add(key)
    connected.push({ type: 'memory.connected', data: { from: id(a), to: id(b), strength: round(0.05 + random() * 0.95) } })
  }
  return { formed, connected }
}

export interface SearchCorpus {
  events: BenchEvent[]
  /** Query classes, each a list of queries; `frequent` words occur in a large share of memories. */
  queries: Record<'rare word' | 'medium word' | 'two words' | 'exact content' | 'memory id' | 'frequent word', string[]>
}

/** `count` memories of 8–16 Zipf-distributed words from a 20,000-word vocabulary. */
export function searchCorpus(count: number, random: Random): SearchCorpus {
  const vocab = vocabulary(20_000, random)
  const rank = zipf(vocab.length, 1, random)
  const events: BenchEvent[] = []
  for (let i = 0; i < count; i++) {
    const n = 8 + Math.floor(random() * 9)
    const content = Array.from({ length: n }, () => vocab[rank()]).join(' ')
    events.push({ type: 'memory.formed', data: { memoryId: `s${i}`, content, importance: 0.3, ...(i % 10 === 0 ? { tags: [vocab[rank()]] } : {}) } })
  }
  const wordsIn = (from: number, to: number, k: number) => Array.from({ length: k }, () => vocab[from + Math.floor(random() * (to - from))])
  const contentOf = (i: number) => events[i].data.content as string
  return {
    events,
    queries: {
      'rare word': wordsIn(5000, 20_000, 100),
      'medium word': wordsIn(300, 3000, 100),
      'two words': wordsIn(100, 2000, 100).map((w) => `${w} ${vocab[100 + Math.floor(random() * 1900)]}`),
      'exact content': Array.from({ length: 100 }, () => contentOf(Math.floor(random() * count))),
      'memory id': Array.from({ length: 100 }, () => `s${Math.floor(random() * count)}`),
      'frequent word': wordsIn(5, 30, 40),
    },
  }
}
