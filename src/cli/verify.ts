/**
 * `mnemo verify [session…]`: checks hash chains (and that each ends at its session's recorded
 * head); `--file` checks an export offline, no database needed. Exits 1 when any is broken.
 */
import { createReadStream } from 'node:fs'
import type { Command } from 'commander'
import { checkImportFile } from '../replay/importEvents.js'
import { ImportError } from '../replay/importFormat.js'
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
    .option('--file <export>', 'check a file written by `mnemo export` instead, offline')
    .action(async (sessions: string[], options: { json?: boolean; progress?: boolean; file?: string }) => {
      if (options.file !== undefined) {
        if (!(await verifyFile(options.file, options.json))) process.exitCode = 1
        return
      }
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

/** Checks an export: format, one session from version 1, the hash chain, and its final head record. */
async function verifyFile(path: string, json = false): Promise<boolean> {
  try {
    const checked = await checkImportFile(() => createReadStream(path))
    const warning = checked.headRecord ? undefined : 'no head record (an older export): a cut tail cannot be noticed'
    process.stdout.write(json
      ? JSON.stringify({ file: path, session: checked.session, ok: true, checked: checked.count, version: checked.version, ...(warning ? { warning } : {}) }) + '\n'
      : `ok  ${checked.session}: ${checked.count} events checked${warning ? ` — ${warning}` : ''}\n`)
    return true
  } catch (error) {
    if (!(error instanceof ImportError) && (error as NodeJS.ErrnoException).code === undefined) throw error
    const reason = error instanceof ImportError ? error.message : `cannot read ${path}: ${(error as Error).message}`
    process.stdout.write(json ? JSON.stringify({ file: path, ok: false, reason }) + '\n' : `BAD ${path}: ${reason}\n`)
    return false
  }
}
