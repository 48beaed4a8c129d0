/**
 * `mnemo export <session> [-o FILE]`: the session's events as JSON Lines, the format
 * `mnemo import` reads back. Streams in pages; a file is written under a temporary name
 * and renamed at the end, so an interrupted export never looks complete.
 */
import { once } from 'node:events'
import { open, rename, rm } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import type { Command } from 'commander'
import { exportSession } from '../replay/exportEvents.js'
import { CliError, withStore } from './context.js'
import { createProgress } from './progress.js'

export function registerExportCommand(program: Command): Command {
  return program
    .command('export')
    .argument('<session>', 'the session to export')
    .description('Write a session\'s events as JSON Lines (one event envelope per line, in version order).')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--progress', 'show a progress bar on stderr (when it is a terminal)')
    .action(async (session: string, options: ExportOptions) => {
      try {
        await runExport(session, options)
      } catch (error) {
        if (!(error instanceof CliError)) throw error
        process.stderr.write(`mnemo export: ${error.message}\n`)
        process.exitCode = 1
      }
    })
}

interface ExportOptions {
  output?: string
  progress?: boolean
}

async function runExport(session: string, options: ExportOptions): Promise<void> {
  await withStore(async (store) => {
    const head = await store.head(session)
    if (!head) throw new CliError(`session "${session}" does not exist`)
    const temporary = options.output ? `${options.output}.partial` : undefined
    const out: Writable = temporary ? await openFile(temporary, options.output!) : process.stdout
    const progress = createProgress(options.progress, `export ${session}`, head.version, 'events')
    let lines = 0
    try {
      for await (const chunk of exportSession(store, session, { until: head.position })) {
        lines += countLines(chunk)
        progress.update(lines)
        if (!out.write(chunk)) await once(out, 'drain')
      }
      if (temporary) {
        out.end()
        await once(out, 'finish')
        await rename(temporary, options.output!)
      }
    } catch (error) {
      if (temporary) {
        out.destroy()
        await rm(temporary, { force: true })
      }
      throw error
    } finally {
      progress.stop()
    }
    if (options.output) process.stderr.write(`exported ${lines} events of session "${session}" to ${options.output}\n`)
  })
}

async function openFile(path: string, shownAs: string): Promise<Writable> {
  try {
    return (await open(path, 'w')).createWriteStream()
  } catch (error) {
    throw new CliError(`cannot write ${shownAs}: ${(error as Error).message}`)
  }
}

function countLines(chunk: string): number {
  let n = 0
  for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) n += 1
  return n
}
