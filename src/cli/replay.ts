/**
 * `mnemo replay <session> [--at P | --time T] [--format md|json]`: prints the session as it
 * was at a position or time (default: now) — as a markdown briefing, or as JSON.
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { renderBriefing } from '../replay/briefing.js'
import { sessionViewAt } from '../replay/sessionView.js'
import { CliError, withStore } from './context.js'

interface ReplayOptions {
  at?: number
  time?: string
  format: 'md' | 'json'
}

const position = (value: string): number => {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('A position is a whole number ≥ 0.')
  return n
}

const isoTime = (value: string): string => {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('Give an ISO 8601 date-time with its zone, like 2026-11-21T10:00:00Z.')
  }
  return value
}

export function registerReplayCommand(program: Command): Command {
  return program
    .command('replay')
    .argument('<session>', 'the session to show')
    .description('Print a session as it was at a position or a time (default: now).')
    .addOption(new Option('--at <position>', 'after the events up to this position').argParser(position).conflicts('time'))
    .addOption(new Option('--time <iso>', 'after the events recorded up to this time').argParser(isoTime))
    .addOption(new Option('--format <format>', 'md: a briefing; json: the state as data').choices(['md', 'json']).default('md'))
    .addHelpText('after', `
Examples:
  $ npx mnemo replay s1                          # the briefing as of now
  $ npx mnemo replay s1 --at 1200 --format json  # the state after position 1200
  $ npx mnemo replay s1 --time 2026-11-21T10:00:00Z`)
    .action(async (session: string, options: ReplayOptions) => {
      try {
        await withStore(async (store) => {
          const view = await sessionViewAt(store, session, { at: options.at, time: options.time })
          if (!view) throw new CliError(`session "${session}" does not exist`)
          process.stdout.write(options.format === 'json' ? JSON.stringify(view, null, 2) + '\n' : renderBriefing(view))
        })
      } catch (error) {
        if (!(error instanceof CliError)) throw error
        process.stderr.write(`mnemo replay: ${error.message}\n`)
        process.exitCode = 1
      }
    })
}
