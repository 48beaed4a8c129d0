/** `mnemo verify [session…]`: checks hash chains; exits 1 when any is broken. */
import type { Command } from 'commander'
import { verifyChain } from '../replay/verifyChain.js'
import { withStore } from './context.js'
import { createProgress } from './progress.js'

export function registerVerifyCommand(program: Command): Command {
  return program
    .command('verify')
    .argument('[sessions...]', 'sessions to check (default: all)')
    .description('Re-compute each session\'s hash chain and name the first bad version.')
    .option('--json', 'print one JSON object per session')
    .option('--progress', 'show a progress bar on stderr (when it is a terminal)')
    .action(async (sessions: string[], options: { json?: boolean; progress?: boolean }) => {
      const bad = await withStore(async (store) => {
        const ids = sessions.length ? sessions : (await store.listSessions()).map((s) => s.id)
        let failures = 0
        for (const id of ids) {
          const head = await store.head(id)
          let result: { ok: boolean; checked: number; reason?: string } = { ok: false, checked: 0, reason: 'no such session' }
          if (head) {
            const bar = createProgress(options.progress, `verify ${id}`, head.version, 'events')
            result = await verifyChain(store, id, { onProgress: (n) => bar.update(n) }).finally(() => bar.stop())
          }
          if (!result.ok) failures += 1
          process.stdout.write(options.json
            ? JSON.stringify({ session: id, ...result }) + '\n'
            : `${result.ok ? 'ok ' : 'BAD'} ${id}: ${result.checked} events checked${result.ok ? '' : ` — ${result.reason}`}\n`)
        }
        if (ids.length === 0) process.stdout.write('no sessions\n')
        return failures
      })
      if (bad > 0) process.exitCode = 1
    })
}
