/** `mnemo rebuild [session…]`: deletes the memory graph projection and refolds it from the log. */
import type { Command } from 'commander'
import { sessionIdPattern } from '../vocabulary.js'
import { rebuildProjection } from '../memory/projection.js'
import { CliError, withStore } from './context.js'

export function registerRebuildCommand(program: Command): Command {
  return program
    .command('rebuild')
    .argument('[sessions...]', 'sessions to rebuild (default: all)')
    .description('Rebuild the memory graph projection (memories, connections) from the event log, in one transaction.')
    .option('--json', 'print the result as JSON')
    .action(async (sessions: string[], options: { json?: boolean }) => {
      const bad = sessions.find((s) => !sessionIdPattern.test(s))
      if (bad !== undefined) throw new CliError(`session id "${bad}" must match ${sessionIdPattern.source}`)
      const result = await withStore((store) => rebuildProjection(store.driver, sessions))
      if (options.json) {
        process.stdout.write(JSON.stringify(result) + '\n')
        return
      }
      const scope = sessions.length ? `${result.sessions.length} session(s)` : 'all sessions'
      process.stdout.write(
        `rebuilt ${scope} from ${result.events} memory events up to position ${result.position}: ` +
          `${result.memories} memories, ${result.connections} connections\n`,
      )
    })
}
