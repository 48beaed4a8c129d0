/** The `mnemo` command line: one sub-command per file, errors printed plainly with exit code 1. */
import { Command, CommanderError } from 'commander'
import { CliError } from './context.js'
import { registerExportCommand } from './export.js'
import { registerImportCommand } from './import.js'
import { registerMcpCommand } from './mcp.js'
import { registerMigrateCommand } from './migrate.js'
import { registerRebuildCommand } from './rebuild.js'
import { registerReplayCommand } from './replay.js'
import { registerServeCommand } from './serve.js'
import { registerTokenCommand } from './token.js'
import { registerVerifyCommand } from './verify.js'

export function createProgram(): Command {
  const program = new Command('mnemo')
    .description('mnemo — event-sourced CRDT collaboration for humans and AI agents')
    .showHelpAfterError()
  registerServeCommand(program)
  registerMigrateCommand(program)
  registerTokenCommand(program)
  registerVerifyCommand(program)
  registerReplayCommand(program)
  registerExportCommand(program)
  registerImportCommand(program)
  registerRebuildCommand(program)
  registerMcpCommand(program)
  return program
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode)
    const message = error instanceof CliError || error instanceof Error ? error.message : String(error)
    process.stderr.write(`mnemo: ${message}\n`)
    process.exit(error instanceof CliError ? error.exitCode : 1)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(process.argv)
