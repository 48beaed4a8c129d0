/**
 * Linux /proc sampling for the sync benchmark: a process's CPU time (utime + stime) and
 * resident memory (VmRSS), and the CPU time of all PostgreSQL processes, which mnemo's
 * work partly happens in.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** `[comm, utime + stime]` of a process, or null once it is gone. */
function readStat (pid: number | string): [string, number] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // comm may contain spaces and parentheses: the fields we want come after the last ')'.
    const close = stat.lastIndexOf(')')
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    const fields = stat.slice(close + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return [comm, Number(fields[11]) + Number(fields[12])]
  } catch {
    return null
  }
}

export function cpuTicks (pid: number): number | null {
  return readStat(pid)?.[1] ?? null
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
 * Total CPU ticks of every process named `postgres` on the machine. Backends that exit
 * between two samples take their ticks with them, so this can undercount slightly.
 */
export function postgresTicks (): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(entry)
    if (stat !== null && stat[0] === 'postgres') total += stat[1]
  }
  return total
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
  postgresTicks: number
  /** This process's own CPU, in ticks, so it can be told apart from strangers' load. */
  orchestratorTicks: number
  machineTicks: number
}

export function snapshot (serverPid: number, loadgenPid: number, withPostgres: boolean): Snapshot {
  const own = process.cpuUsage()
  return {
    atMs: performance.now(),
    serverTicks: cpuTicks(serverPid) ?? NaN,
    serverRssKiB: rssKiB(serverPid) ?? NaN,
    loadgenTicks: cpuTicks(loadgenPid) ?? NaN,
    postgresTicks: withPostgres ? postgresTicks() : NaN,
    orchestratorTicks: (own.user + own.system) / 1e6 * CLOCK_TICKS,
    machineTicks: machineBusyTicks()
  }
}

/**
 * CPU used between two snapshots by processes that are not part of this run (another
 * test suite, say), as % of one core; for a server without PostgreSQL, busy PostgreSQL
 * processes count as strangers too.
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
