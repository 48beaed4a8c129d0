/**
 * The one error the auth layer throws at callers: it carries a machine-readable `code`
 * and the HTTP `status` it maps to, so http/ and collab/ translate it without guessing.
 */

export type AuthErrorCode =
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'forbidden'
  /** The token's `can` claim does not cover the write. */
  | 'out_of_scope'
  /** The identity is suspended (POST /api/agents/:id/suspend) until resumed. */
  | 'agent_suspended'
  | 'identity_invalid'

/** 401 for tokens, 403 for permissions, 400 for a malformed open-mode identity. */
export type AuthErrorStatus = 400 | 401 | 403

const statusOf: Record<AuthErrorCode, AuthErrorStatus> = {
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  forbidden: 403,
  out_of_scope: 403,
  agent_suspended: 403,
  identity_invalid: 400,
}

export class AuthError extends Error {
  readonly code: AuthErrorCode
  readonly status: AuthErrorStatus

  constructor(code: AuthErrorCode, message: string) {
    super(message)
    this.name = 'AuthError'
    this.code = code
    this.status = statusOf[code]
  }
}

export const isAuthError = (error: unknown): error is AuthError => error instanceof AuthError
