/** `mnemo verify [session…]`: checks hash chains; exits 1 when any is broken. */
import type { Command } from 'commander'
import { withStore } from './context.js'

export function registerVerifyCommand(program: Command): Command {
  return program
    .command('verify')
    .argument('[sessions...]', 'sessions to check (default: all)')
    .description('Re-compute each session\'s hash chain and name the first bad version.')
    .option('--json', 'print one JSON object per session')
    .action(async (sessions: string[], options: { json?: boolean }) => {
      const bad = await withStore(async (store) => {
        const ids = sessions.length ? sessions : (await store.listSessions()).map((s) => s.id)
        let failures = 0
        for (const id of ids) {
          const head = await store.head(id)
          const result = head ? await store.verify(id) : { ok: false, checked: 0, reason: 'no such session' }
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
