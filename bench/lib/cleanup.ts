/**
 * Cleanup that must also happen when a benchmark is interrupted (Ctrl-C, SIGTERM): temp
 * directories, throw-away databases. Register it; unregister once it has run normally.
 */

const pending = new Set<() => Promise<void>>()
let installed = false

/** Runs `cleanup` if the process is interrupted; call the returned function once it ran normally. */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  pending.add(cleanup)
  if (!installed) {
    installed = true
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: cleaning up…\n`)
        void runAllCleanups().finally(() => process.exit(130))
      })
    }
  }
  return () => pending.delete(cleanup)
}

/** Runs every registered cleanup now (best effort, never throws). */
export async function runAllCleanups(): Promise<void> {
  const all = [...pending]
  pending.clear()
  await Promise.all(all.map((cleanup) => cleanup().catch(() => {})))
}
