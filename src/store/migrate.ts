/**
 * Applies `migrations/NNNN_name.sql` in order, each once and each in its own transaction,
 * recorded in `schema_migrations`. Safe when several instances start together: every
 * migration step holds a transaction-scoped advisory lock and re-checks what is applied.
 */
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { SqlDriver } from './types.js'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/

export interface Migration {
  version: number
  name: string
  sql: string
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f)).sort()
  return Promise.all(
    files.map(async (name) => ({
      version: Number(name.slice(0, 4)),
      name,
      sql: await readFile(new URL(name, `file://${dir.endsWith('/') ? dir : dir + '/'}`), 'utf8'),
    })),
  )
}

/** Returns the names of the migrations this call applied. */
export async function migrate(driver: SqlDriver, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations())
  await driver.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`).catch(async (error: unknown) => {
    // Two instances racing on CREATE TABLE IF NOT EXISTS can collide on the catalog.
    if (!(await tableExists(driver))) throw error
  })
  const applied: string[] = []
  for (const migration of all) {
    const done = await driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':mnemo:migrate'))`)
      const rows = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version])
      if (rows.length > 0) return false
      await runStatements(tx, migration.sql)
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      return true
    })
    if (done) applied.push(migration.name)
  }
  return applied
}

async function tableExists(driver: SqlDriver): Promise<boolean> {
  const rows = await driver.query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`)
  return Boolean((rows[0] as { present: boolean }).present)
}

/**
 * Runs a migration file inside the caller's transaction. The extended protocol takes one
 * statement at a time, so the file is split on semicolons at the end of a line, keeping
 * `$$ … $$` bodies whole.
 */
async function runStatements(tx: { query(text: string): Promise<unknown> }, sql: string): Promise<void> {
  for (const statement of splitStatements(sql)) await tx.query(statement)
}

export function splitStatements(sql: string): string[] {
  const statements: string[] = []
  let current = ''
  let inDollar = false
  for (const line of sql.split('\n')) {
    const trimmed = line.trim()
    if (!inDollar && (trimmed.startsWith('--') || trimmed === '')) continue
    current += line + '\n'
    if ((line.match(/\$\$/g) ?? []).length % 2 === 1) inDollar = !inDollar
    if (!inDollar && trimmed.endsWith(';')) {
      statements.push(current.trim())
      current = ''
    }
  }
  if (current.trim()) statements.push(current.trim())
  return statements
}
