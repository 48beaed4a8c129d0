/** `mnemo serve`: runs the server until SIGTERM/SIGINT, then shuts down gracefully. */
import type { Command } from 'commander'
import { logger } from '../log.js'
import { cliConfig } from './context.js'

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve', { isDefault: true })
    .description('Run the HTTP API and the y-websocket endpoint (configured by environment variables; see the README).')
    .option('--port <port>', 'overrides PORT')
    .option('--host <host>', 'overrides HOST')
    .action(async (options: { port?: string; host?: string }) => {
      const env = { ...process.env }
      if (options.port !== undefined) env.PORT = options.port
      if (options.host !== undefined) env.HOST = options.host
      // Loaded here, not at the top: the server's module graph is most of the CLI's start-up
      // time (0.6 s), and no other command needs it.
      const { startServer } = await import('../main.js')
      const running = await startServer(cliConfig(env))
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) return
        stopping = true
        logger.info({ signal }, 'shutting down')
        running.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed')
            process.exit(1)
          },
        )
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
    })
}
