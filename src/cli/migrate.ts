/** `mnemo migrate`: applies pending migrations to the configured database and lists them. */
import type { Command } from 'commander'
import { grantAppRole, migrate } from '../store/migrate.js'
import { openDriver } from '../store/openStore.js'
import { cliConfig, CliError } from './context.js'

export function registerMigrateCommand(program: Command): Command {
  return program
    .command('migrate')
    .description('Apply pending SQL migrations (the server also does this at start).')
    .option('--app-role <role>', 'then grant this role what running the service needs and no more (PostgreSQL): reading, appending to the log, never changing it')
    .action(async (options: { appRole?: string }) => {
      const config = cliConfig()
      const driver = await openDriver({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.dbSchema, poolSize: 1 })
        .catch((error: Error) => {
          throw new CliError(`cannot open the database: ${error.message}`)
        })
      try {
        const applied = await migrate(driver)
        process.stdout.write(applied.length ? applied.map((name) => `applied ${name}\n`).join('') : 'up to date\n')
        if (options.appRole !== undefined) {
          if (driver.kind !== 'postgres') throw new CliError('--app-role needs PostgreSQL (DATABASE_URL): the embedded database has no roles')
          await grantAppRole(driver, options.appRole).catch((error: Error) => {
            throw new CliError(error.message)
          })
          process.stdout.write(`granted role ${options.appRole} reading and appending (no UPDATE, DELETE or TRUNCATE of the log)\n`)
        }
      } finally {
        await driver.close()
      }
    })
}
