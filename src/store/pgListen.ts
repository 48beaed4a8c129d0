/**
 * LISTEN for the PostgreSQL driver, on a connection of its own that this module keeps
 * listening, rather than postgres.js's `sql.listen`. That one listens again by itself after
 * its connection closes but tells nobody, so what was notified while it was down (another
 * instance's commit) waited for the poll; a LISTEN of its that failed was the caller's failure
 * for good. And a connection can die without closing at all (a half-open socket behind a dead
 * NAT or balancer): then nothing would be notified again, and only polls would carry other
 * instances' commits.
 *
 * So: every channel is listened again, in one round trip, each time the connection closed,
 * until that succeeds; then every listener is woken with '' (what was notified meanwhile is
 * lost: readers read). And a probe proves the connection alive (`check`): when it does not
 * come back, the connection is replaced.
 */
import { randomUUID } from 'node:crypto'
import postgres from 'postgres'

export interface ListeningOptions {
  /**
   * Opens the listening connection's pool (one connection) with these options added
   * (`onnotify` is postgres.js's, missing from its types: every notification of the pool).
   */
  open(options: { max: 1; onnotify(channel: string, payload: string): void; onclose(): void }): postgres.Sql
  /** Sends a statement through the query pool: the probe's NOTIFY takes the way commits take. */
  query(text: string, params: unknown[]): Promise<unknown>
  /** How often the connection is proven alive, in ms (0: never). */
  checkMs: number
  /** Told, with why, each time the connection was found dead and replaced. */
  onRenewed(reason: string): void
}

export interface Listening {
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

type OnNotify = (payload: string) => void

export function openListening({ open, query, checkMs, onRenewed }: ListeningOptions): Listening {
  const channels = new Map<string, Set<OnNotify>>()
  let closing = false

  const probeChannel = `mnemo_probe_${randomUUID().replaceAll('-', '')}`
  let probeSent = 0
  let probeSeen = 0

  const openPool = (): postgres.Sql => {
    const pool: postgres.Sql = open({
      max: 1,
      onnotify(channel, payload) {
        if (pool !== current) return
        if (channel === probeChannel) {
          probeSeen = Math.max(probeSeen, Number(payload) || 0)
          return
        }
        for (const onNotify of channels.get(channel) ?? []) onNotify(payload)
      },
      onclose() {
        if (pool === current) relistenAll()
      },
    })
    return pool
  }
  let current = openPool()

  // Every channel again, one round trip, until it is taken; a failure that did not close the
  // connection (which would have called relistenAll again) replaces it.
  let relistening = false
  let again = false
  function relistenAll(): void {
    again = true
    if (relistening) return
    relistening = true
    void (async () => {
      for (let attempt = 0; again && !closing; attempt++) {
        again = false
        const pool = current
        try {
          await pool.unsafe([probeChannel, ...channels.keys()].map((c) => `LISTEN ${ident(c)}`).join('; '))
        } catch {
          again = true
          if (pool === current && !closing) replace()
          await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2_000)))
        }
      }
      relistening = false
      if (closing) return
      probeReady = true
      probeSent = probeSeen // probes sent before are lost with the old connection
      for (const listeners of channels.values()) for (const onNotify of listeners) onNotify('')
    })()
  }

  function replace(): void {
    const old = current
    current = openPool()
    void old.end({ timeout: 0 }).catch(() => {})
  }

  /**
   * Every `checkMs` while anything listens, a NOTIFY on this process's own channel goes out
   * through the query pool; it must have come back by the next check, or the connection is
   * replaced and every channel listened again. A probe that could not be sent (the database is
   * down), or one sent while channels are being listened again, proves nothing. The check
   * looks after pending I/O (setImmediate): a probe waiting in the socket behind a busy event
   * loop counts.
   */
  let checking = false
  async function check(): Promise<void> {
    if (closing || checking || relistening || !probeReady || channels.size === 0) return
    checking = true
    try {
      await new Promise((resolve) => setImmediate(resolve))
      if (relistening) return
      if (probeSeen < probeSent) {
        const lost = probeSent
        probeSent = probeSeen
        onRenewed(`a NOTIFY sent ${checkMs} ms ago (probe ${lost}) did not come back through LISTEN`)
        replace()
        relistenAll()
        return
      }
      const seq = probeSent + 1
      await query('SELECT pg_notify($1, $2)', [probeChannel, String(seq)])
      if (!relistening) probeSent = seq
    } catch {
      // The database is unreachable: nothing to prove; the next check tries again.
    } finally {
      checking = false
    }
  }
  const checker = checkMs > 0 ? setInterval(() => void check(), checkMs) : undefined
  checker?.unref()
  // No probe before its channel is listened (a probe sent earlier would count as lost).
  let probeAsked = false
  let probeReady = false

  return {
    async listen(channel, onNotify) {
      if (closing) throw new Error('the database driver is closing: nothing more is listened to')
      if (!probeAsked) {
        probeAsked = true
        current.unsafe(`LISTEN ${ident(probeChannel)}`).then(() => { probeReady = true }, () => relistenAll())
      }
      let listeners = channels.get(channel)
      const first = !listeners
      if (!listeners) channels.set(channel, (listeners = new Set()))
      listeners.add(onNotify)
      const forget = () => {
        listeners.delete(onNotify)
        if (listeners.size === 0 && channels.get(channel) === listeners) channels.delete(channel)
      }
      // A LISTEN that fails (the database unreachable a moment) is not the caller's failure:
      // the channel stays, and is listened again with the others until that takes (then its
      // listener is woken with '', like every other).
      if (first) await current.unsafe(`LISTEN ${ident(channel)}`).catch(() => relistenAll())
      return async () => {
        forget()
        if (!channels.has(channel)) await current.unsafe(`UNLISTEN ${ident(channel)}`).catch(() => {})
      }
    },
    async close() {
      closing = true
      clearInterval(checker)
      await current.end({ timeout: 5 })
    },
  }
}

/** A channel name as an SQL identifier: any text survives. */
function ident(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}
