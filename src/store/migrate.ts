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

/**
 * Returns the names of the migrations this call applied. A database that has every migration
 * already is only read, so the service may run as a role that can change no table's shape
 * (`grantAppRole`); with migrations pending, such a role is told to have the owner run them.
 */
export async function migrate(driver: SqlDriver, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations())
  const pending = await pendingMigrations(driver, all)
  if (pending.length === 0) return []
  try {
    return await applyMigrations(driver, all)
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw error // insufficient_privilege
    const role = (await driver.query<{ role: string }>('SELECT current_user AS role'))[0]?.role
    throw new Error(
      `the database needs migrations (${pending.map((m) => m.name).join(', ')}) that role "${role}" may not apply ` +
      `(${(error as Error).message}): run \`mnemo migrate\` with DATABASE_URL naming the role that owns mnemo's tables, ` +
      'then start the service again',
      { cause: error },
    )
  }
}

/** The migrations not recorded in `schema_migrations` (all of them when it does not exist). */
async function pendingMigrations(driver: SqlDriver, all: Migration[]): Promise<Migration[]> {
  if (!(await tableExists(driver))) return all
  const rows = await driver.query<{ version: number }>('SELECT version FROM schema_migrations')
  const applied = new Set(rows.map((r) => Number(r.version)))
  return all.filter((m) => !applied.has(m.version))
}

async function applyMigrations(driver: SqlDriver, all: Migration[]): Promise<string[]> {
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

const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * Lets `role` run the service and nothing more: read every table, append to `events` (never
 * change or remove a row of it: no UPDATE, DELETE or TRUNCATE, and not being the owner it
 * cannot disable the append-only triggers either), and keep the heads, snapshots and memory
 * projection up to date. Run by the owner after `migrate`, and again after later migrations.
 * The role must exist (`CREATE ROLE … LOGIN PASSWORD …`) and must not be a superuser.
 */
export async function grantAppRole(driver: SqlDriver, role: string): Promise<void> {
  if (!ROLE_NAME.test(role)) {
    throw new Error(`"${role}" is not a role name mnemo grants to: use letters, digits, _ and $, starting with a letter or _`)
  }
  const found = await driver.query<{ super: boolean; owner: boolean }>(
    `SELECT r.rolsuper AS super, pg_has_role(r.rolname, (SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'events'), 'MEMBER') AS owner
       FROM pg_roles r WHERE r.rolname = $1`,
    [role],
  )
  if (found.length === 0) throw new Error(`role "${role}" does not exist: create it first (CREATE ROLE ${role} LOGIN PASSWORD '…')`)
  if (found[0].super) throw new Error(`role "${role}" is a superuser, which can bypass the append-only log: use a role without SUPERUSER`)
  if (found[0].owner) throw new Error(`role "${role}" owns (or is a member of the owner of) mnemo's tables, so it could disable the append-only triggers: use a separate role`)
  const quoted = `"${role}"`
  await driver.transaction(async (tx) => {
    const schema = (await tx.query<{ schema: string }>('SELECT current_schema() AS schema'))[0].schema
    const inSchema = `"${schema.replace(/"/g, '""')}"`
    await tx.query(`GRANT USAGE ON SCHEMA ${inSchema} TO ${quoted}`)
    await tx.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${inSchema} TO ${quoted}`)
    await tx.query(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM ${quoted}`)
    await tx.query(`REVOKE UPDATE, DELETE, TRUNCATE ON events FROM ${quoted}`)
    await tx.query(`REVOKE DELETE, TRUNCATE ON log_head, sessions FROM ${quoted}`)
    await tx.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${inSchema} TO ${quoted}`)
  })
}
