/**
 * The one error the agent SDK throws: the server's `{ error: { code, message } }` with its
 * HTTP status, a WebSocket refusal (close code 4401/4403/4400/4429 as 401/403/400/429), or a local
 * problem such as an unknown decision (status 400) or a closed session (status 0).
 */

export class MnemoError extends Error {
  override readonly name = 'MnemoError'
  /** The HTTP status (or the one a WebSocket close code stands for); 0 when none applies. */
  readonly status: number
  /** A stable, machine-readable reason: the server's `code`, or `network`, `closed`, `timeout`, `invalid_operation`. */
  readonly code: string
  /**
   * What exactly, as data, when the server said: for `stale_write` (409), the entries others
   * changed since the write's `basedOn`, `[{ path, key, vote?, by, version, position, at }]`.
   */
  readonly details?: unknown[]

  constructor(status: number, code: string, message: string, options?: { cause?: unknown; details?: unknown[] }) {
    super(message, options)
    this.status = status
    this.code = code
    if (options?.details !== undefined) this.details = options.details
  }
}

/** The error a non-2xx response stands for, with the server's own code and message when it sent them. */
export async function errorFromResponse(response: Response, what: string): Promise<MnemoError> {
  const text = await response.text().catch(() => '')
  let code = `http_${response.status}`
  let message = text.slice(0, 500) || response.statusText
  let details: unknown[] | undefined
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } }
    if (typeof body.error?.code === 'string') code = body.error.code
    if (typeof body.error?.message === 'string') message = body.error.message
    if (Array.isArray(body.error?.details)) details = body.error.details
  } catch {
    // Not JSON (a proxy's error page, say): keep the text.
  }
  return new MnemoError(response.status, code, `${what}: ${message} (${response.status} ${code})`, { details })
}

/** WebSocket close codes the server refuses with (SPEC "Closing codes"), as HTTP statuses. */
const CLOSE_STATUS: Record<number, { status: number; code: string }> = {
  4400: { status: 400, code: 'invalid_session_id' },
  4401: { status: 401, code: 'unauthorized' },
  4403: { status: 403, code: 'forbidden' },
  4429: { status: 429, code: 'rate_limited' },
}

/** A close for a token over its `budget` claim: `over budget (eventsPerRun): …`. */
const BUDGET_REASON = /^over budget \((\w+)\)/

/** Whether a close means a per-run budget is spent (reconnecting cannot help; updatesPerMinute comes back). */
export function spentBudget(closeCode: number, reason: string): boolean {
  const budget = closeCode === 4429 ? BUDGET_REASON.exec(reason)?.[1] : undefined
  return budget !== undefined && budget !== 'updatesPerMinute'
}

export function errorFromClose(closeCode: number, reason: string, url: string): MnemoError {
  const mapped = closeCode === 4429 && BUDGET_REASON.test(reason)
    ? { status: 429, code: 'budget_exceeded' }
    : CLOSE_STATUS[closeCode] ?? { status: 0, code: `ws_${closeCode}` }
  return new MnemoError(mapped.status, mapped.code, `the sync connection to ${url} was closed (${closeCode}): ${reason || 'no reason given'}`)
}

/** An error from the session helpers (unknown decision, bad option, …) as a MnemoError. */
export function invalidOperation(error: unknown): MnemoError {
  if (error instanceof MnemoError) return error
  return new MnemoError(400, 'invalid_operation', error instanceof Error ? error.message : String(error), { cause: error })
}
