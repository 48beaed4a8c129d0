/**
 * Where the machine's CPU went during a benchmark window (Linux /proc), in shares of one
 * core: this process, a tracked set of other processes (e.g. the database server's backends
 * serving the benchmark), and everything else. On a small shared machine the load generator,
 * the database and strangers compete for the same cores; this makes it visible.
 */
import { readFileSync } from 'node:fs'

// USER_HZ is 100 on every mainstream Linux build; /proc/stat and /proc/<pid>/stat count in it.
const MS_PER_TICK = 10

/** Shares of one core (1 = a whole core) over a window. */
export interface CpuUsage {
  self: number
  /** The tracked processes; NaN when none were tracked. */
  tracked: number
  /** Busy time of the machine not accounted to this process or the tracked ones. */
  others: number
  machine: number
  windowMs: number
}

export interface CpuSampler {
  /** Ends the window now (synchronously read) and returns the shares. */
  stop(): Promise<CpuUsage>
}

export interface SamplerOptions {
  /** Which processes to track; asked at the start and every `intervalMs` (new ones count from 0). */
  trackedPids?: () => Promise<number[]>
  intervalMs?: number
}

/**
 * Starts a window now. Per-process time is sampled every `intervalMs` as well as at the ends,
 * so that processes which exit inside the window (short-lived connections) still count.
 */
export function startCpuSampler({ trackedPids, intervalMs = 250 }: SamplerOptions = {}): CpuSampler {
  const start = { atMs: performance.now(), self: selfMs(), machine: machineBusyMs() }
  // pid → [ticks when first seen, ticks last seen]
  const seen = new Map<number, [number, number]>()
  let first = true
  const refresh = async () => {
    const pids = await trackedPids!().catch(() => [] as number[])
    for (const pid of pids) {
      const ticks = pidTicks(pid)
      if (ticks === undefined) continue
      const known = seen.get(pid)
      if (known) known[1] = ticks
      else seen.set(pid, [first ? ticks : 0, ticks])
    }
    first = false
  }
  const resample = () => {
    for (const [pid, known] of seen) known[1] = pidTicks(pid) ?? known[1]
  }
  let refreshing = trackedPids ? refresh() : Promise.resolve()
  const timer = trackedPids ? setInterval(() => { refreshing = refreshing.then(refresh) }, intervalMs) : undefined

  return {
    async stop() {
      const end = { atMs: performance.now(), self: selfMs(), machine: machineBusyMs() }
      resample()
      clearInterval(timer)
      await refreshing
      const windowMs = end.atMs - start.atMs
      let trackedTicks = 0
      for (const [from, to] of seen.values()) trackedTicks += to - from
      const self = (end.self - start.self) / windowMs
      const tracked = trackedPids ? (trackedTicks * MS_PER_TICK) / windowMs : Number.NaN
      const machine = (end.machine - start.machine) / windowMs
      return { self, tracked, machine, others: Math.max(0, machine - self - (tracked || 0)), windowMs }
    },
  }
}

/** Waits (up to `maxMs`) until the rest of the machine uses less than `cores` of CPU for a second. */
export async function waitForQuiet(maxMs: number, cores = 0.25): Promise<{ waitedMs: number; othersCores: number }> {
  const began = performance.now()
  for (;;) {
    const sampler = startCpuSampler()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const { others } = await sampler.stop()
    const waitedMs = performance.now() - began
    if (others < cores || waitedMs >= maxMs) return { waitedMs, othersCores: others }
  }
}

/** utime + stime of one process in ticks, or undefined once it has gone. */
export function pidTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}

function selfMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** The whole machine's busy time (all cores), in ms; NaN off Linux. */
function machineBusyMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = fields
    return (user + nice + system + irq + softirq + (steal ?? 0)) * MS_PER_TICK
  } catch {
    return Number.NaN
  }
}
