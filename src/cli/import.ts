/**
 * `mnemo import FILE|-`: reads an export back as a new, identical session (same ids,
 * versions, times and hashes). A file that does not check out is refused with the line of
 * its first problem, and nothing is written.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { importEvents, type ImportProgress } from '../replay/importEvents.js'
import { ImportError } from '../replay/importFormat.js'
import { ensureSnapshots } from '../replay/snapshots.js'
import { CliError, withStore } from './context.js'
import { createProgress } from './progress.js'

interface ImportOptions {
  progress?: boolean
  snapshots: boolean
}

export function registerImportCommand(program: Command): Command {
  return program
    .command('import')
    .argument('<file>', 'a file written by `mnemo export`, or - for stdin')
    .description('Import an exported session into this store, as a new session with the same events and hashes.')
    .option('--progress', 'show a progress bar on stderr (when it is a terminal)')
    .option('--no-snapshots', 'do not write document snapshots afterwards')
    .addHelpText('after', `
The file is checked whole before anything is written: one session, versions 1, 2, 3 … and a
hash chain that verifies. Positions are this store's own; ids, versions, times and hashes
are kept, so \`mnemo verify\` agrees with the source.

Examples:
  $ npx mnemo export s1 -o s1.ndjson        # on the source
  $ npx mnemo import s1.ndjson --progress   # on the target`)
    .action(async (file: string, options: ImportOptions) => {
      try {
        await runImport(file, options)
      } catch (error) {
        // "mnemo import: line 7: hash does not match its content", exit code 1.
        if (!(error instanceof ImportError || error instanceof CliError)) throw error
        process.stderr.write(`mnemo import: ${error.message}\n`)
        process.exitCode = 1
      }
    })
}

async function runImport(file: string, options: ImportOptions): Promise<void> {
  const spooled = file === '-' ? await spoolStdin() : undefined
  const path = spooled?.path ?? file
  try {
    const size = await stat(path).then((s) => s.size, (error: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
    })
    await withStore(async (store, config) => {
      const progress = createProgress(options.progress, 'check', size, 'bytes')
      const onProgress = (p: ImportProgress) => {
        if (p.phase === 'check') progress.update(p.bytes)
        else progress.update(p.lines, p.total, { label: 'write', unit: 'events' })
      }
      // The store's memory projection folds the imported memory events in the same transaction.
      const result = await importEvents(store, () => createReadStream(path), { onProgress })
        .finally(() => progress.stop())
      const snapshots = options.snapshots ? await ensureSnapshots(store, result.session, config.snapshotEvery) : undefined
      process.stdout.write(
        `imported ${result.count} events as session "${result.session}" (versions 1–${result.version}, ` +
        `positions ${result.firstPosition}–${result.lastPosition}); hash chain verified` +
        (snapshots ? `; ${snapshots.written} snapshots written` : '') + '\n',
      )
    })
  } finally {
    if (spooled) await spooled.remove()
  }
}

/** The import reads its input twice (check, then write): stdin is kept in a temporary file. */
async function spoolStdin(): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mnemo-import-'))
  const path = join(dir, 'stdin.ndjson')
  const remove = () => rm(dir, { recursive: true, force: true })
  try {
    await pipeline(process.stdin, createWriteStream(path))
  } catch (error) {
    await remove()
    throw new CliError(`cannot read stdin: ${(error as Error).message}`)
  }
  return { path, remove }
}
