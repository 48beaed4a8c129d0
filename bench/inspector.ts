/**
 * `npm run bench:inspector`: the web page (issue 15's "smooth at 100,000 events") in Debian's
 * Chromium, against `mnemo serve` on a fresh PostgreSQL database. For a session of 10,000 and
 * one of 100,000 events (conversation turns, one memory formed in fifty, a rationale on one in
 * ten) it measures:
 *
 * - load: navigation → the page has caught up with the log (`mnemo:session-loaded`), 3 loads;
 * - scrolling: the timeline flung through by one viewport per frame for 300 frames, and the
 *   frame intervals the page saw (at 60 Hz a smooth frame is 16.7 ms);
 * - filtering: a text filter typed, and the type filter set, each until the next painted frame;
 * - live: 10 events/s appended over HTTP for 5 s while the page is open: acknowledged → on the
 *   page (the top row), and the frame intervals meanwhile.
 *
 * There is no peer to run beside it (the DevTools of Liveblocks or Yorkie have no comparable
 * headless mode), so each figure is printed as a ratio to the frame budget or to its goal.
 * Writes bench/inspector/last-run.md.
 *
 *   node --import tsx bench/inspector.ts [--sizes 10000,100000] [--wait-quiet] [--attribute]
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createDatabase, dropDatabase, startServer, type ServerChild } from './agents/processes.js'
import { startCpuSampler, waitForQuiet } from './lib/cpu.js'
import { formatInt, formatMs, formatRatio, markdownTable } from './lib/format.js'
import { summarize } from './lib/stats.js'
import { until } from '../test/fixtures/until.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const FRAME = 1000 / 60

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    // Print where the scrolling frames' time went (the Long Animation Frames API: script by
    // function, style and layout, the rest of rendering), to profile before changing the page.
    attribute: { type: 'boolean', default: false },
    'wait-quiet': { type: 'boolean', default: false },
  },
})
const sizes = args.sizes.split(',').map(Number)
const log = (line: string) => process.stderr.write(`bench:inspector: ${line}\n`)

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: response.status, body: await response.json() }
}

/** Appends `count` events to a new session `id`, 1,000 per request. */
async function seed(base: string, id: string, count: number): Promise<void> {
  const created = await post(`${base}/api/sessions`, { id })
  if (created.status !== 201) throw new Error(`creating ${id}: ${created.status} ${JSON.stringify(created.body)}`)
  for (let from = 0; from < count; from += 1000) {
    const events = Array.from({ length: Math.min(1000, count - from) }, (_, j) => {
      const i = from + j
      if (i % 50 === 49) return { type: 'memory.formed', data: { memoryId: `m-${i}`, content: `memory ${i} about the design`, importance: (i % 10) / 10 } }
      return {
        type: 'conversation.turn',
        data: { role: i % 2 ? 'assistant' : 'user', content: `turn ${i}: what about option ${i % 7}?` },
        ...(i % 10 === 0 ? { meta: { rationale: `checking option ${i % 7}` } } : {}),
      }
    })
    const appended = await post(`${base}/api/sessions/${id}/events`, { events })
    if (appended.status !== 201) throw new Error(`seeding ${id}: ${appended.status} ${JSON.stringify(appended.body)}`)
  }
}

async function open(browser: Browser, base: string, id: string): Promise<{ page: Page; loadMs: number }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  // tsx compiles named inner functions with esbuild's keepNames helper (`__name(fn, "step")`);
  // the functions handed to page.evaluate carry those calls into the page, which has no such helper.
  await page.addInitScript({ content: 'globalThis.__name = (fn) => fn' })
  await page.goto(`${base}/#/s/${id}`)
  await until(() => page.evaluate(() => performance.getEntriesByName('mnemo:session-loaded').length === 1), { what: `${id} loaded`, timeout: 120_000, every: 20 })
  const loadMs = await page.evaluate(() => performance.getEntriesByName('mnemo:session-loaded')[0].startTime)
  const timing = await page.evaluate(() => {
    const all = performance.getEntriesByType('resource') as PerformanceResourceTiming[]
    const pages = all.filter((r) => r.name.includes('/events?'))
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming
    // The most event pages in flight at once (the page fetches its history by version ranges, a few at a time).
    const edges = pages.flatMap((r) => [[r.startTime, 1], [r.responseEnd, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
    let inFlight = 0, mostInFlight = 0
    for (const [, d] of edges) mostInFlight = Math.max(mostInFlight, (inFlight += d))
    const head = all.find((r) => /\/api\/sessions\/[^/?]+$/.test(r.name))
    return {
      domContentLoaded: nav.domContentLoadedEventEnd,
      firstApi: Math.min(...all.filter((r) => r.name.includes('/api/')).map((r) => r.startTime)),
      head: head ? head.responseEnd - head.startTime : Number.NaN,
      pages: pages.length,
      mostInFlight,
      pagesServer: pages.reduce((sum, r) => sum + (r.responseEnd - r.requestStart), 0),
      pagesFirst: Math.min(...pages.map((r) => r.startTime)),
      pagesLast: Math.max(...pages.map((r) => r.responseEnd)),
      newest: performance.getEntriesByName('mnemo:session-newest')[0]?.startTime ?? Number.NaN,
    }
  })
  log(`${id}: document ready ${Math.round(timing.domContentLoaded)} ms, first API request ${Math.round(timing.firstApi)} ms, `
    + `head (GET /api/sessions/${id}) ${Math.round(timing.head)} ms, ${timing.pages} event pages, at most ${timing.mostInFlight} in flight, `
    + `${Math.round(timing.pagesFirst)}–${Math.round(timing.pagesLast)} ms (${Math.round(timing.pagesServer)} ms waiting for responses, summed), `
    + `newest range on the page ${Math.round(timing.newest)} ms, loaded ${Math.round(loadMs)} ms`)
  return { page, loadMs }
}

/** Frame intervals (ms) while the timeline is scrolled by one viewport per frame. */
function scroll(page: Page, frames: number): Promise<number[]> {
  return page.evaluate((frames) => new Promise<number[]>((resolve) => {
    const rows = document.querySelector('[data-testid=timeline]') as HTMLElement
    const intervals: number[] = []
    let last = performance.now()
    let n = 0
    const step = (now: number) => {
      intervals.push(now - last)
      last = now
      rows.scrollTop = (rows.scrollTop + rows.clientHeight) % Math.max(1, rows.scrollHeight - rows.clientHeight)
      if (++n < frames) requestAnimationFrame(step)
      else resolve(intervals.slice(1))
    }
    requestAnimationFrame((now) => {
      last = now
      requestAnimationFrame(step)
    })
  }), frames)
}

/**
 * Where the long frames' time went while `during` ran: the Long Animation Frames API's
 * entries (frames over 50 ms of work, or any frame with a script when observed this way)
 * split into script (by function), style and layout, and the rest of rendering (paint).
 */
async function attribute(page: Page, during: () => Promise<unknown>): Promise<string> {
  await page.evaluate(() => {
    const w = globalThis as unknown as { __loaf: PerformanceEntry[] }
    w.__loaf = []
    new PerformanceObserver((list) => w.__loaf.push(...list.getEntries())).observe({ type: 'long-animation-frame' })
  })
  await during()
  return page.evaluate(() => {
    type Script = { duration: number; sourceFunctionName: string; invoker: string; sourceURL: string; sourceCharPosition: number }
    type Loaf = { duration: number; startTime: number; renderStart: number; styleAndLayoutStart: number; scripts: Script[] }
    const entries = (globalThis as unknown as { __loaf: Loaf[] }).__loaf
    let script = 0, style = 0, render = 0, total = 0
    const byFunction = new Map<string, number>()
    for (const e of entries) {
      total += e.duration
      const end = e.startTime + e.duration
      if (e.styleAndLayoutStart) style += end - e.styleAndLayoutStart
      if (e.renderStart) render += (e.styleAndLayoutStart || end) - e.renderStart
      for (const s of e.scripts) {
        script += s.duration
        const key = `${s.invoker} ${s.sourceFunctionName || '?'}@${s.sourceCharPosition}`
        byFunction.set(key, (byFunction.get(key) ?? 0) + s.duration)
      }
    }
    const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${Math.round(v)} ms`).join('; ')
    return `${entries.length} long frames, ${Math.round(total)} ms: script ${Math.round(script)} ms, rendering before style ${Math.round(render)} ms, style+layout+paint ${Math.round(style)} ms; top scripts: ${top}`
  })
}

/** ms from changing a filter until the frame after the list shows its result. */
function filter(page: Page, selector: string, value: string): Promise<{ ms: number; count: string }> {
  return page.evaluate(([selector, value]) => new Promise<{ ms: number; count: string }>((resolve) => {
    const input = document.querySelector(selector) as HTMLInputElement | HTMLSelectElement
    const count = document.querySelector('[data-testid=timeline-count]')!
    const before = count.textContent
    const began = performance.now()
    input.value = value
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
    const check = () => {
      if (count.textContent !== before) requestAnimationFrame(() => resolve({ ms: performance.now() - began, count: count.textContent ?? '' }))
      else requestAnimationFrame(check)
    }
    requestAnimationFrame(check)
  }), [selector, value] as const)
}

interface LiveResult { visibleMs: number[]; frames: number[] }

/** Appends 10 events/s for `seconds` and records when each reaches the top of the timeline. */
async function live(page: Page, base: string, id: string, seconds: number): Promise<LiveResult> {
  await page.evaluate(() => {
    const w = window as unknown as { __seen: Record<number, number>; __frames: number[]; __stop: boolean }
    // The scroll test left the list anywhere; new events arrive at its top.
    document.querySelector('[data-testid=timeline]')!.scrollTop = 0
    w.__seen = {}
    w.__frames = []
    w.__stop = false
    let last = performance.now()
    const tick = (now: number) => {
      w.__frames.push(now - last)
      last = now
      for (const row of document.querySelectorAll<HTMLElement>('[data-testid=timeline] .row')) {
        const position = Number(row.dataset.position)
        if (position && !(position in w.__seen)) w.__seen[position] = performance.timeOrigin + performance.now()
      }
      if (!w.__stop) requestAnimationFrame(tick)
    }
    requestAnimationFrame(tick)
  })
  const acked: Array<{ position: number; at: number }> = []
  const count = seconds * 10
  for (let i = 0; i < count; i++) {
    const next = performance.now() + 100
    const response = await post(`${base}/api/sessions/${id}/events`, { type: 'conversation.turn', data: { role: 'user', content: `live ${i}` } })
    if (response.status !== 201) throw new Error(`live append: ${response.status}`)
    acked.push({ position: response.body.events[0].position, at: performance.timeOrigin + performance.now() })
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())))
  }
  const lastPosition = acked.at(-1)!.position
  const deadline = Date.now() + 10_000
  let seen: Record<number, number> = {}
  while (Date.now() < deadline) {
    seen = await page.evaluate(() => (window as unknown as { __seen: Record<number, number> }).__seen)
    if (seen[lastPosition]) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const frames = await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __stop: boolean }
    w.__stop = true
    return w.__frames.slice(1)
  })
  const visibleMs = acked.map((a) => (seen[a.position] ?? Number.NaN) - a.at)
  const missing = visibleMs.filter((v) => !Number.isFinite(v)).length
  if (missing) log(`${missing} of ${acked.length} live events never reached the page within 10 s`)
  return { visibleMs: visibleMs.filter(Number.isFinite), frames }
}

const frameCells = (intervals: number[]) => {
  const s = summarize(intervals)
  const long = intervals.filter((v) => v > 2 * FRAME).length
  return `${formatMs(s.p50)} / ${formatMs(s.p99)} / ${formatMs(s.max)} ms (p99 ${formatRatio(s.p99 / FRAME)} of a frame; ${formatInt(long)} of ${formatInt(intervals.length)} over 33 ms)`
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  const database = `mnemo_bench_inspector_${randomBytes(4).toString('hex')}`
  const databaseUrl = await createDatabase(database)
  let server: ServerChild | undefined
  let browser: Browser | undefined
  const rows: string[][] = []
  try {
    server = await startServer(databaseUrl, { LOG_LEVEL: 'silent' })
    for (const size of sizes) {
      log(`seeding a session of ${formatInt(size)} events`)
      await seed(server.url, `s${size}`, size)
    }
    if (args['wait-quiet']) log(`waited for a quiet machine: ${JSON.stringify(await waitForQuiet(600_000))}`)
    const idle = startCpuSampler()
    await new Promise((r) => setTimeout(r, 2000))
    const before = await idle.stop()
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
    const sampler = startCpuSampler({ trackedPids: async () => [server!.child.pid!] })
    for (const size of sizes) {
      const id = `s${size}`
      const loads: number[] = []
      let page: Page | undefined
      for (let i = 0; i < 3; i++) {
        const opened = await open(browser, server.url, id)
        loads.push(opened.loadMs)
        if (i < 2) await opened.page.close()
        else page = opened.page
      }
      log(`${id}: loads ${loads.map((l) => Math.round(l)).join(', ')} ms`)
      const load = summarize(loads)
      let scrolled: number[] = []
      if (args.attribute) log(`${id} scrolling: ${await attribute(page!, async () => { scrolled = await scroll(page!, 300) })}`)
      else scrolled = await scroll(page!, 300)
      const typed = await filter(page!, '[data-filter=text]', 'option 3')
      await filter(page!, '[data-filter=text]', '')
      const typeSet = await filter(page!, '[data-filter=type]', 'memory.formed')
      await filter(page!, '[data-filter=type]', '')
      const watched = await live(page!, server.url, id, 5)
      await page!.close()
      const visible = summarize(watched.visibleMs)
      rows.push([
        formatInt(size),
        `${formatInt(load.p50)} (max ${formatInt(load.max)}; ${formatRatio(load.p50 / 1000)} of 1 s)`,
        frameCells(scrolled),
        `${formatMs(typed.ms)} / ${formatMs(typeSet.ms)}`,
        `${formatMs(visible.p50)} / ${formatMs(visible.p99)} (${formatRatio(visible.p99 / 1000)} of 1 s)`,
        frameCells(watched.frames),
      ])
    }
    const cpu = await sampler.stop()
    const headers = ['events', 'load p50 (ms)', 'scroll frames p50 / p99 / max', 'text / type filter (ms)', 'live: acked → on the page p50 / p99 (ms)', 'frames while live']
    const table = markdownTable(headers, rows, ['right', 'left', 'left', 'left', 'left', 'left'])
    process.stdout.write(`\n${table}\n\n`)
    const others = `before the browser started, other processes used ${before.others.toFixed(2)} cores; while the pages ran, the machine was ${cpu.machine.toFixed(2)} of its ${cpus().length} cores busy (the server ${cpu.tracked.toFixed(2)}, the rest Chromium and PostgreSQL)`
    mkdirSync('bench/inspector', { recursive: true })
    writeFileSync('bench/inspector/last-run.md', [
      '# Inspector benchmark: last run',
      '',
      `\`node --import tsx bench/inspector.ts --sizes ${args.sizes}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${others}.`,
      'Goals (issue 15): a 10,000-event session loads in under 1 s; the timeline is smooth at 100,000 events',
      '(a 60 Hz frame is 16.7 ms); an edit is on the page within a second.',
      '',
      table,
      '',
    ].join('\n'))
    log(others)
  } finally {
    await browser?.close()
    await server?.stop()
    await dropDatabase(database)
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
