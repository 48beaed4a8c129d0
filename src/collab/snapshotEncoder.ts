/**
 * Snapshots of large documents, encoded on a worker thread (hostile defect 10).
 *
 * `Y.encodeStateAsUpdate` of a 20 MB document holds the event loop for 80–140 ms, and a
 * growing document is snapshotted again each time it grows by a quarter. A room whose last
 * snapshot was large keeps that snapshot's bytes and the updates it applied since
 * (upkeep.ts); the worker rebuilds the document from them in its own Y.Doc and encodes it
 * there, so the server's thread only copies bytes. What the worker returns is checked against
 * the live document's state vector before it is stored.
 *
 * One worker per room manager, started on first use and unreferenced: it never keeps the
 * process alive, and `close()` stops it.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** A document rebuilt and encoded by the worker. */
export interface EncodedSnapshot {
  /** `Y.encodeStateAsUpdate` of the rebuilt document. */
  state: Uint8Array
  /** `Y.encodeStateVector` of it, to compare with the live document's. */
  vector: Uint8Array
}

export interface SnapshotEncoder {
  /** Applies `base` (an encoded state), then each of `updates` in order, to an empty doc and encodes it. */
  encode(base: Uint8Array, updates: readonly Uint8Array[]): Promise<EncodedSnapshot>
  close(): Promise<void>
}

// CommonJS for an `eval` worker: it loads the same yjs package the server uses, by path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Y = require(workerData.yjs)
parentPort.on('message', ({ id, base, updates }) => {
  let doc
  try {
    doc = new Y.Doc()
    Y.applyUpdate(doc, base)
    for (const update of updates) Y.applyUpdate(doc, update)
    const state = Y.encodeStateAsUpdate(doc)
    const vector = Y.encodeStateVector(doc)
    parentPort.postMessage({ id, state, vector }, [state.buffer, vector.buffer])
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.stack) || error) })
  } finally {
    if (doc) doc.destroy()
  }
})
`

interface Pending {
  resolve(snapshot: EncodedSnapshot): void
  reject(error: Error): void
}

/** @example const encoder = createSnapshotEncoder(); const { state } = await encoder.encode(base, updates) */
export function createSnapshotEncoder(): SnapshotEncoder {
  const yjs = createRequire(import.meta.url).resolve('yjs')
  const pending = new Map<number, Pending>()
  let worker: Worker | undefined
  let nextId = 1
  let closed = false

  function failAll(error: Error): void {
    for (const job of pending.values()) job.reject(error)
    pending.clear()
  }

  function start(): Worker {
    const started = new Worker(WORKER_SOURCE, { eval: true, workerData: { yjs } })
    started.unref()
    started.on('message', (message: { id: number; state?: Uint8Array; vector?: Uint8Array; error?: string }) => {
      const job = pending.get(message.id)
      if (!job) return
      pending.delete(message.id)
      if (message.error !== undefined || !message.state || !message.vector) {
        job.reject(new Error(`encoding a snapshot on the worker failed: ${message.error ?? 'no state returned'}`))
      } else job.resolve({ state: message.state, vector: message.vector })
      if (pending.size === 0) started.unref()
    })
    // A worker that dies takes its jobs with it; the next encode starts a new one.
    started.on('error', (error) => failAll(new Error(`the snapshot worker failed: ${error.message}`)))
    started.on('exit', (code) => {
      if (worker === started) worker = undefined
      failAll(new Error(`the snapshot worker exited (code ${code})`))
    })
    return started
  }

  return {
    encode(base, updates) {
      if (closed) return Promise.reject(new Error('the snapshot encoder is closed'))
      worker ??= start()
      const id = nextId++
      const running = worker
      return new Promise<EncodedSnapshot>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        // Held referenced while it works: a shutdown's last snapshot is not cut off.
        running.ref()
        running.postMessage({ id, base, updates })
      })
    },
    async close() {
      closed = true
      const stopping = worker
      worker = undefined
      failAll(new Error('the snapshot encoder is closed'))
      if (stopping) await stopping.terminate()
    },
  }
}
