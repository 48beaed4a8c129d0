/** `mnemo migrate`: applies pending migrations to the configured database and lists them. */
import type { Command } from 'commander'
import { migrate } from '../store/migrate.js'
import { openDriver } from '../store/openStore.js'
import { cliConfig, CliError } from './context.js'

export function registerMigrateCommand(program: Command): Command {
  return program
    .command('migrate')
    .description('Apply pending SQL migrations (the server also does this at start).')
    .action(async () => {
      const config = cliConfig()
      const driver = await openDriver({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.dbSchema, poolSize: 1 })
        .catch((error: Error) => {
          throw new CliError(`cannot open the database: ${error.message}`)
        })
      try {
        const applied = await migrate(driver)
        process.stdout.write(applied.length ? applied.map((name) => `applied ${name}\n`).join('') : 'up to date\n')
      } finally {
        await driver.close()
      }
    })
}
