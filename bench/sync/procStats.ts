/**
 * Linux /proc sampling for the sync benchmark: a process's CPU time (utime + stime) and
 * resident memory (VmRSS), the CPU time of a changing group of processes (the PostgreSQL
 * backends serving mnemo's database), and the whole machine's busy time.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime + stime of a process, in clock ticks, or null once it is gone. */
export function cpuTicks (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // comm may contain spaces and parentheses: the fields we want come after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return null
  }
}

export function rssKiB (pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? null : Number(match[1])
  } catch {
    return null
  }
}

/**
 * CPU ticks of a group of processes whose members come and go (database backends): a
 * member present at `begin` counts from its ticks then, one first seen later from zero
 * (it was forked since). A member that exits between two observations takes its last
 * ticks with it, so sample often enough.
 */
export function createGroupMeter (): { begin: (pids: number[]) => void, observe: (pids: number[]) => void, ticks: () => number } {
  const first = new Map<number, number>()
  const last = new Map<number, number>()
  const read = (pids: number[], fresh: number | null): void => {
    for (const pid of pids) {
      const ticks = cpuTicks(pid)
      if (ticks === null) continue
      if (!first.has(pid)) first.set(pid, fresh ?? ticks)
      last.set(pid, ticks)
    }
  }
  return {
    begin: (pids) => read(pids, null),
    observe: (pids) => read(pids, 0),
    ticks: () => {
      let total = 0
      for (const [pid, ticks] of last) total += ticks - (first.get(pid) ?? ticks)
      return total
    }
  }
}

/** Busy ticks of the whole machine, all cores (user, nice, system, irq, softirq, steal). */
export function machineBusyTicks (): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, , , irq, softirq, steal] = fields
  return user + nice + system + irq + softirq + (steal ?? 0)
}

/** One moment's reading of the processes the benchmark watches. */
export interface Snapshot {
  atMs: number
  serverTicks: number
  serverRssKiB: number
  loadgenTicks: number
  /** Ticks of mnemo's database backends since the measure window began; NaN for peers. */
  postgresTicks: number
  /** This process's own CPU, in ticks, so it can be told apart from strangers' load. */
  orchestratorTicks: number
  machineTicks: number
}

export function snapshot (serverPid: number, loadgenPid: number, postgresTicks = NaN): Snapshot {
  const own = process.cpuUsage()
  return {
    atMs: performance.now(),
    serverTicks: cpuTicks(serverPid) ?? NaN,
    serverRssKiB: rssKiB(serverPid) ?? NaN,
    loadgenTicks: cpuTicks(loadgenPid) ?? NaN,
    postgresTicks,
    orchestratorTicks: (own.user + own.system) / 1e6 * CLOCK_TICKS,
    machineTicks: machineBusyTicks()
  }
}

/**
 * CPU used between two snapshots by processes that are not part of this run (another
 * test suite, say, or PostgreSQL work for other databases), as % of one core.
 */
export function othersCpuPercent (a: Snapshot, b: Snapshot): number {
  const ours = (b.serverTicks - a.serverTicks) + (b.loadgenTicks - a.loadgenTicks) +
    (b.orchestratorTicks - a.orchestratorTicks) + (Number.isNaN(a.postgresTicks) ? 0 : b.postgresTicks - a.postgresTicks)
  return Math.max(0, cpuPercent(0, (b.machineTicks - a.machineTicks) - ours, a.atMs, b.atMs))
}

/** CPU use between two snapshots as % of one core. */
export function cpuPercent (ticksBefore: number, ticksAfter: number, msBefore: number, msAfter: number): number {
  const seconds = (msAfter - msBefore) / 1000
  return seconds > 0 ? ((ticksAfter - ticksBefore) / CLOCK_TICKS) / seconds * 100 : NaN
}

/** Machine-wide busy time over the next `ms`, minus this process's, as % of one core. */
export async function idleMachineLoad (ms: number): Promise<number> {
  const ownBefore = process.cpuUsage()
  const busyBefore = machineBusyTicks()
  const startedMs = performance.now()
  await new Promise(resolve => setTimeout(resolve, ms))
  const own = process.cpuUsage(ownBefore)
  const busy = machineBusyTicks() - busyBefore - (own.user + own.system) / 1e6 * CLOCK_TICKS
  return Math.max(0, cpuPercent(0, busy, startedMs, performance.now()))
}
