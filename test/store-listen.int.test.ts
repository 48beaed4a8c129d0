/**
 * The PostgreSQL driver's LISTEN (src/store/pgListen.ts) on a real PostgreSQL: every channel
 * is listened again after its connection closed, and listeners are woken ('') once it is, so
 * that readers read what was notified meanwhile; a connection that died without closing (a
 * frozen TCP proxy: a half-open socket) is found by the probe and replaced.
 */
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openPostgresDriver } from '../src/store/postgresDriver.js'
import type { SqlDriver } from '../src/store/types.js'
import { TEST_DATABASE_URL } from './fixtures/db.js'
import { startTcpProxy, type TcpProxy } from './fixtures/tcpProxy.js'
import { until } from './fixtures/until.js'

describe.skipIf(!TEST_DATABASE_URL)('LISTEN of the PostgreSQL driver', () => {
  let admin: postgres.Sql
  let proxy: TcpProxy
  const drivers: SqlDriver[] = []
  beforeAll(async () => {
    admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
    proxy = await startTcpProxy(TEST_DATABASE_URL!)
  })
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close()))
  })
  afterAll(async () => {
    await proxy.close()
    await admin.end()
  })

  /** A driver through the proxy, its connections named so that the test finds them. */
  function open(options: { listenCheckMs?: number } = {}) {
    const name = `listen-test-${randomBytes(4).toString('hex')}`
    const renewals: string[] = []
    const url = new URL(proxy.url)
    url.searchParams.set('application_name', name)
    const driver = openPostgresDriver({ url: url.toString(), max: 2, ...options, onListenRenewed: (reason) => renewals.push(reason) })
    drivers.push(driver)
    const listening = async () => (await admin<{ pid: number; client_port: number }[]>`
      SELECT pid, client_port FROM pg_stat_activity WHERE application_name = ${name} AND query ILIKE 'listen %' AND state = 'idle'`)
    return { driver, renewals, listening }
  }

  function channel(): string {
    return `t_${randomBytes(6).toString('hex')}`
  }

  /** Notifies `on` until `heard` holds: a notification sent before LISTEN took is not heard. */
  async function untilHeard(on: string, heard: string[], what: string): Promise<void> {
    let n = 0
    await until(async () => {
      if (heard.some((p) => p.startsWith('n'))) return true
      await admin`SELECT pg_notify(${on}, ${'n' + n++})`
      return false
    }, { what, every: 50 })
  }

  it('delivers each channel to its listeners, two on one channel, until each unlistens', async () => {
    const { driver } = open()
    const [a, b] = [channel(), channel()]
    const heard: string[] = []
    const offA1 = await driver.listen(a, (p) => heard.push(`a1:${p}`))
    const offA2 = await driver.listen(a, (p) => heard.push(`a2:${p}`))
    await driver.listen(b, (p) => heard.push(`b:${p}`))
    await admin`SELECT pg_notify(${a}, 'x')`
    await admin`SELECT pg_notify(${b}, 'y')`
    await until(() => heard.length === 3, { what: 'three deliveries', explain: () => heard })
    expect(heard.sort()).toEqual(['a1:x', 'a2:x', 'b:y'])
    await offA1()
    await admin`SELECT pg_notify(${a}, 'z')`
    await until(() => heard.includes('a2:z'), { what: 'the remaining listener to hear z' })
    expect(heard).not.toContain('a1:z')
    await offA2()
    // Unlistened on the database: a notification on `a` now is heard by nobody, `b` still is.
    await admin`SELECT pg_notify(${a}, 'gone')`
    await admin`SELECT pg_notify(${b}, 'after')`
    await until(() => heard.includes('b:after'), { what: 'b to hear after' })
    expect(heard.filter((h) => h.endsWith(':gone'))).toEqual([])
  })

  it('listens to every channel again after its connection was terminated, and wakes each listener', async () => {
    const { driver, listening } = open()
    const channels = [channel(), channel(), channel()]
    const heard = channels.map(() => [] as string[])
    for (const [i, c] of channels.entries()) await driver.listen(c, (p) => heard[i]!.push(p))
    await until(async () => (await listening()).length === 1, { what: 'the LISTEN connection' })
    const [before] = await listening()
    await admin`SELECT pg_terminate_backend(${before!.pid})`
    // Woken with '' once listening again: whatever was notified while it was down, readers read.
    await until(() => heard.every((h) => h.includes('')), { what: 'every listener woken', explain: () => heard })
    for (const [i, c] of channels.entries()) await untilHeard(c, heard[i]!, `channel ${i} heard after the renewal`)
    const [after] = await listening()
    expect(after!.pid).not.toBe(before!.pid)
  })

  it('keeps a channel whose LISTEN failed, and listens to it on the connection that replaced the dead one', async () => {
    const { driver, listening } = open({ listenCheckMs: 200 })
    const [first, second] = [channel(), channel()]
    const heard: string[] = []
    await driver.listen(first, () => {})
    await until(async () => (await listening()).length === 1, { what: 'the LISTEN connection' })
    const [dead] = await listening()
    expect(proxy.freeze(dead!.client_port)).toBe(true)
    // Its LISTEN goes to the frozen connection, and fails when the probe's loss replaces it:
    // listen() does not fail for that; the channel is listened again with the others.
    const listened = await driver.listen(second, (p) => heard.push(p)).then(() => 'listened', (error: Error) => error.message)
    expect(listened).toBe('listened')
    await untilHeard(second, heard, 'the second channel heard')
  })

  it('replaces a LISTEN connection that died without closing, found by the probe', async () => {
    const { driver, renewals, listening } = open({ listenCheckMs: 200 })
    const c = channel()
    const heard: string[] = []
    await driver.listen(c, (p) => heard.push(p))
    await untilHeard(c, heard, 'the channel heard')
    const [before] = await listening()
    expect(proxy.freeze(before!.client_port)).toBe(true)
    heard.length = 0
    // Nothing reaches the frozen connection; within a few checks the probe's loss replaces it.
    await untilHeard(c, heard, 'the channel heard again through a new connection')
    expect(renewals.length).toBeGreaterThan(0)
    expect(renewals[0]).toMatch(/did not come back through LISTEN/)
    expect(heard).toContain('') // woken: what was notified to the frozen connection is lost
    // Through another connection (the frozen one is ended by the driver, but as on a dead
    // network, neither its end nor its socket's reaches PostgreSQL: the proxy closes it after).
    expect((await listening()).map((r) => r.pid).filter((pid) => pid !== before!.pid)).toHaveLength(1)
  })
})
