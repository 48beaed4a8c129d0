/**
 * The memory graph: memories as nodes (radius by importance), connections as edges (width by
 * strength), laid out by d3-force. The simulation and its node objects live as long as the
 * view, so a node keeps its place when others arrive; a new node starts beside a neighbour.
 * The SVG is updated in place on each tick rather than re-rendered.
 */
import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type Simulation, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force'
import { useEffect, useRef } from 'preact/hooks'
import type { GraphJson, MemoryJson } from './api.js'

export interface Lit {
  /** Changes for every cascade, so the same memories light again. */
  serial: number
  activation: Map<string, { activation: number; depth: number }>
}

interface Props {
  graph: GraphJson
  lit: Lit | null
  highlighted: ReadonlySet<string>
}

interface Node extends SimulationNodeDatum {
  id: string
  memory: MemoryJson
  el: SVGGElement
  /** The transform last drawn. */
  transform?: string
}

interface Link extends SimulationLinkDatum<Node> {
  key: string
  strength: number
  el: SVGLineElement
  /** Its ends' transforms when last drawn. */
  ends?: string
}

/** From this many memories on, the layout settles faster and is drawn less often. */
const LARGE = 400
/** d3-force's own decay (300 ticks from 1 to 0.001), and a large graph's (about 100 ticks from 0.4). */
const DECAY = 1 - Math.pow(0.001, 1 / 300)
const LARGE_DECAY = 0.06
const SVG = 'http://www.w3.org/2000/svg'
const radius = (importance: number) => 5 + 11 * Math.max(0, Math.min(1, importance))

function svgElement<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, name)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  return el
}

export function MemoryGraph({ graph, lit, highlighted }: Props) {
  const svgRef = useRef<SVGSVGElement>(null)
  const world = useRef<{ sim: Simulation<Node, Link>; nodes: Map<string, Node>; links: Map<string, Link>; edges: SVGGElement; dots: SVGGElement } | null>(null)

  useEffect(() => {
    const svg = svgRef.current!
    const edges = svgElement('g', { class: 'edges' })
    const dots = svgElement('g', { class: 'nodes' })
    svg.append(edges, dots)
    const sim = forceSimulation<Node, Link>([])
      .force('charge', forceManyBody<Node>().strength(-120))
      .force('link', forceLink<Node, Link>([]).id((n) => n.id).distance(60).strength((l) => 0.2 + 0.6 * l.strength))
      .force('collide', forceCollide<Node>((n) => radius(n.memory.importance) + 3))
      .force('x', forceX<Node>(0).strength(0.04))
      .force('y', forceY<Node>(0).strength(0.04))
      .velocityDecay(0.45)
    // Drawing moves every node's element, and the browser repaints the whole SVG: at 2,000
    // memories that repaint took the frames the timeline needed to scroll (bench:inspector
    // --attribute: main thread idle, frames 33-50 ms). So a large graph settles in fewer ticks
    // and is drawn at most every 200 ms while it does (and once when it comes to rest).
    let drawn = 0
    const draw = () => {
      const w = world.current!
      drawn = performance.now()
      let minX = -100, minY = -80, maxX = 100, maxY = 80
      for (const n of w.nodes.values()) {
        // Only what moved: an attribute set to the value it has still costs a repaint.
        const transform = `translate(${n.x!.toFixed(1)},${n.y!.toFixed(1)})`
        if (n.transform !== transform) n.el.setAttribute('transform', (n.transform = transform))
        minX = Math.min(minX, n.x! - 30); maxX = Math.max(maxX, n.x! + 30)
        minY = Math.min(minY, n.y! - 30); maxY = Math.max(maxY, n.y! + 30)
      }
      for (const l of w.links.values()) {
        const s = l.source as Node, t = l.target as Node
        const ends = `${s.transform}${t.transform}`
        if (l.ends === ends) continue
        l.ends = ends
        l.el.setAttribute('x1', s.x!.toFixed(1)); l.el.setAttribute('y1', s.y!.toFixed(1))
        l.el.setAttribute('x2', t.x!.toFixed(1)); l.el.setAttribute('y2', t.y!.toFixed(1))
      }
      const viewBox = `${minX} ${minY} ${maxX - minX} ${maxY - minY}`
      if (svg.getAttribute('viewBox') !== viewBox) svg.setAttribute('viewBox', viewBox)
    }
    sim.on('tick', () => {
      if (world.current!.nodes.size > LARGE && performance.now() - drawn < 200) return
      draw()
    }).on('end', draw)
    world.current = { sim, nodes: new Map(), links: new Map(), edges, dots }
    return () => {
      sim.stop()
      edges.remove()
      dots.remove()
    }
  }, [])

  useEffect(() => {
    const w = world.current!
    const wanted = new Map(graph.memories.map((m) => [m.id, m]))
    // Ends of a connection that were never formed still show, as small unknown memories.
    for (const c of graph.connections) {
      for (const id of [c.from, c.to]) if (!wanted.has(id)) wanted.set(id, { id, content: '(not formed)', importance: 0, tags: [] })
    }
    let changed = false
    for (const [id, node] of w.nodes) {
      if (!wanted.has(id)) {
        node.el.remove()
        w.nodes.delete(id)
        changed = true
      }
    }
    const neighbour = new Map<string, string>()
    for (const c of graph.connections) {
      neighbour.set(c.from, c.to)
      neighbour.set(c.to, c.from)
    }
    for (const [id, memory] of wanted) {
      const existing = w.nodes.get(id)
      if (existing) {
        if (existing.memory.importance !== memory.importance) {
          existing.el.querySelector('.dot')!.setAttribute('r', String(radius(memory.importance)))
          existing.el.querySelector('.halo')!.setAttribute('r', String(radius(memory.importance) + 8))
          changed = true
        }
        existing.memory = memory
        existing.el.querySelector('title')!.textContent = `${id} (importance ${memory.importance})\n${memory.content}`
        continue
      }
      const near = w.nodes.get(neighbour.get(id) ?? '')
      const el = svgElement('g', { class: 'node', 'data-memory': id })
      const r = radius(memory.importance)
      const title = svgElement('title')
      title.textContent = `${id} (importance ${memory.importance})\n${memory.content}`
      const label = svgElement('text', { x: r + 3, y: 4 })
      label.textContent = id
      el.append(svgElement('circle', { class: 'halo', r: r + 8 }), svgElement('circle', { class: 'dot', r }), label, title)
      w.dots.append(el)
      const jitter = () => (Math.random() - 0.5) * 30
      w.nodes.set(id, { id, memory, el, x: (near?.x ?? 0) + jitter(), y: (near?.y ?? 0) + jitter() })
      changed = true
    }
    const wantedLinks = new Map(graph.connections.map((c) => [c.from < c.to ? `${c.from}\u0000${c.to}` : `${c.to}\u0000${c.from}`, c]))
    for (const [key, link] of w.links) {
      if (!wantedLinks.has(key)) {
        link.el.remove()
        w.links.delete(key)
        changed = true
      }
    }
    for (const [key, c] of wantedLinks) {
      const existing = w.links.get(key)
      const width = (0.5 + 4 * Math.max(0, Math.min(1, c.strength))).toFixed(2)
      if (existing) {
        if (existing.strength !== c.strength) {
          existing.strength = c.strength
          existing.el.setAttribute('stroke-width', width)
          changed = true
        }
        continue
      }
      const el = svgElement('line', { class: 'edge', 'stroke-width': width, 'data-edge': `${c.from}–${c.to}` })
      w.edges.append(el)
      w.links.set(key, { key, source: c.from, target: c.to, strength: c.strength, el })
      changed = true
    }
    svgRef.current!.dataset.nodes = String(w.nodes.size)
    svgRef.current!.dataset.edges = String(w.links.size)
    svgRef.current!.classList.toggle('labelled', w.nodes.size <= 80)
    if (!changed) return
    w.sim.nodes([...w.nodes.values()])
    ;(w.sim.force('link') as ReturnType<typeof forceLink<Node, Link>>).links([...w.links.values()])
    w.sim.alphaDecay(w.nodes.size > LARGE ? LARGE_DECAY : DECAY)
    w.sim.alpha(Math.max(w.sim.alpha(), 0.4)).restart()
  }, [graph])

  const litSerial = useRef(-1)
  useEffect(() => {
    const w = world.current!
    const fresh = lit !== null && lit.serial !== litSerial.current
    litSerial.current = lit?.serial ?? -1
    for (const node of w.nodes.values()) {
      const hit = lit?.activation.get(node.id)
      if (fresh || !hit) node.el.classList.remove('lit')
      if (!hit) {
        delete node.el.dataset.activation
        continue
      }
      node.el.dataset.activation = hit.activation.toFixed(3)
      node.el.style.setProperty('--activation', String(Math.max(0.15, hit.activation)))
      node.el.style.setProperty('--depth', String(hit.depth))
      // Restart the fade: remove, reflow, add.
      if (fresh) void node.el.getBoundingClientRect()
      node.el.classList.add('lit')
    }
  }, [lit, graph])

  useEffect(() => {
    for (const node of world.current!.nodes.values()) node.el.classList.toggle('found', highlighted.has(node.id))
  }, [highlighted, graph])

  return <svg ref={svgRef} class="graph" data-testid="memory-graph" role="img" aria-label="memory graph" />
}
