/**
 * mnemo's bearer tokens: HS256 JWTs signed with `MNEMO_AUTH_SECRET`, carrying the
 * claims of the SPEC (`sub`, `name`, `kind`, `role`, `sessions`, `exp`, and for agents
 * `model`, `onBehalfOf`), and optionally `can` (capabilities.ts), `budget` and `run`; every
 * minted token has a `jti`. Only HS256 is ever accepted, whatever the token's header says.
 */
import { randomUUID } from 'node:crypto'
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose'
import { z } from 'zod'
import { capabilityProblem, parseScope } from './capabilities.js'
import { AuthError } from './errors.js'
import { sessionIdPattern } from '../vocabulary.js'
import { budgetLimits, identityKinds, labelProblem, roles } from './identity.js'
import type { Budget, Identity, IdentityKind, Role } from './identity.js'

const algorithm = 'HS256'
const minSecretBytes = 32
const mintHint = 'mint a new one with `npx mnemo token`'

/** Throws unless `secret` is long enough to make HS256 worth having (≥ 32 bytes). */
export function checkSecret(secret: string | undefined): asserts secret is string {
  const bytes = secret === undefined ? 0 : Buffer.byteLength(secret, 'utf8')
  if (bytes < minSecretBytes) {
    throw new Error(
      `MNEMO_AUTH_SECRET must be at least ${minSecretBytes} bytes, got ${bytes}; ` +
        'generate one with `openssl rand -hex 32`',
    )
  }
}

const ttlUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** Seconds in a TTL such as `90s`, `30m`, `1h` or `7d`. */
export function parseTtl(ttl: string): number {
  const match = /^(\d+)([smhd])$/.exec(ttl.trim())
  if (!match) {
    throw new Error(`Invalid TTL ${JSON.stringify(ttl)}: use a whole number followed by s, m, h or d, like 90s, 30m, 1h or 7d`)
  }
  const seconds = Number(match[1]) * ttlUnits[match[2]]
  if (seconds <= 0) throw new Error(`Invalid TTL ${JSON.stringify(ttl)}: it must be longer than zero`)
  if (!Number.isSafeInteger(seconds)) throw new Error(`Invalid TTL ${JSON.stringify(ttl)}: too long`)
  return seconds
}

const label = (claim: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `\`${claim}\` is missing` : `\`${claim}\` must be a string`) })
    .superRefine((value, ctx) => {
      const problem = labelProblem(value)
      if (problem) ctx.addIssue({ code: 'custom', message: `\`${claim}\` ${problem}` })
    })

const oneOf = <T extends string>(claim: string, values: readonly T[]) =>
  z.enum(values as [T, ...T[]], {
    error: (issue) =>
      issue.input === undefined
        ? `\`${claim}\` is missing`
        : `\`${claim}\` must be one of ${values.map((v) => `"${v}"`).join(', ')}, got ${JSON.stringify(issue.input)}`,
  })

const sessionEntry = z.string().refine((s) => s === '*' || sessionIdPattern.test(s), {
  error: (issue) => `\`sessions\` entries must be "*" or match ${sessionIdPattern}, got ${JSON.stringify(issue.input)}`,
})

const capability = z.string({ error: '`can` entries must be strings' }).superRefine((value, ctx) => {
  const problem = capabilityProblem(value)
  if (problem) ctx.addIssue({ code: 'custom', message: `\`can\`: ${problem}` })
})

const budgetLimit = (name: string) =>
  z.int({ error: `\`budget.${name}\` must be a whole number` })
    .min(1, { error: `\`budget.${name}\` must be at least 1` })
    .max(Number.MAX_SAFE_INTEGER, { error: `\`budget.${name}\` is too large` })
    .optional()

const budgetSchema = z.strictObject(
  Object.fromEntries(budgetLimits.map((name) => [name, budgetLimit(name)])) as Record<keyof Budget, ReturnType<typeof budgetLimit>>,
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `\`budget\` has no limit ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (the limits are ${budgetLimits.join(', ')})`
        : '`budget` must be an object such as { "eventsPerRun": 500 }',
  },
)

/** The claims both minting and verifying insist on; one schema so both say the same thing. */
const claimsSchema = z
  .object({
    sub: label('sub'),
    name: label('name'),
    kind: oneOf<IdentityKind>('kind', identityKinds),
    role: oneOf<Role>('role', roles),
    // A token without a list gets every session, as the CLI's default does.
    sessions: z
      .array(sessionEntry, { error: '`sessions` must be a list of session ids or ["*"]' })
      .min(1, { error: '`sessions` must not be empty (use ["*"] for every session)' })
      .default(['*']),
    model: label('model').optional(),
    onBehalfOf: label('onBehalfOf').optional(),
    can: z.array(capability, { error: '`can` must be a list of capabilities, like ["annotations:write", "memory.*:append"]' }).optional(),
    budget: budgetSchema.optional(),
    run: label('run').optional(),
    jti: z.string({ error: '`jti` must be a string' }).min(1).max(128, { error: '`jti` must be at most 128 characters' }).optional(),
    exp: z.number({ error: '`exp` must be a number of seconds since the epoch' }),
  })
  .superRefine((claims, ctx) => {
    if (claims.kind === 'agent') return
    for (const claim of ['model', 'onBehalfOf'] as const) {
      if (claims[claim] !== undefined) ctx.addIssue({ code: 'custom', message: `\`${claim}\` is only for kind "agent"` })
    }
  })

function claimProblems(error: z.ZodError): string {
  return error.issues.map((issue) => issue.message).join('; ')
}

export interface MintOptions {
  sub: string
  name: string
  kind: IdentityKind
  role: Role
  /** Session ids, or `['*']` (the default) for every session. */
  sessions?: string[]
  /** `30m`, `1h`, `7d`, … or seconds; default `1h`. */
  ttl?: string | number
  model?: string
  onBehalfOf?: string
  /** Capabilities the token is scoped to (capabilities.ts); absent: the role's full rights. */
  can?: string[]
  /** What its holder may write, per token and per run. */
  budget?: Budget
  /** Binds the token to one run: its connections and requests may name no other. */
  run?: string
  /** The issue time (default: now); tests set it. */
  now?: Date
}

/**
 * Signs a token for `options`. Throws an `Error` naming the bad field when the claims
 * would not verify (so nobody hands out a token the server then refuses).
 *
 * @example
 * const token = await mintToken(process.env.MNEMO_AUTH_SECRET!, { sub: 'ada', name: 'Ada', kind: 'human', role: 'editor' })
 */
export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  checkSecret(secret)
  const ttl = options.ttl ?? '1h'
  const seconds = typeof ttl === 'number' ? ttl : parseTtl(ttl)
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new Error(`Invalid TTL ${ttl}: it must be a positive whole number of seconds`)
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000)
  const parsed = claimsSchema.safeParse({
    sub: options.sub,
    name: options.name,
    kind: options.kind,
    role: options.role,
    sessions: options.sessions === undefined ? undefined : [...new Set(options.sessions)],
    model: options.model,
    onBehalfOf: options.onBehalfOf,
    can: options.can === undefined ? undefined : [...new Set(options.can)],
    budget: options.budget,
    run: options.run,
    exp: iat + seconds,
  })
  if (!parsed.success) throw new Error(`Cannot mint a token: ${claimProblems(parsed.error)}`)
  const { sub, exp, ...claims } = parsed.data
  // Absent rather than undefined claims: the payload is JSON.
  const payload = Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined))
  return new SignJWT(payload)
    .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
    .setJti(randomUUID())
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret))
}

export interface VerifyOptions {
  /** Leeway for `exp` and `nbf`, in seconds (clocks drift); default 30. */
  clockToleranceSec?: number
  /** The time to check against (default: now); tests set it. */
  now?: Date
}

/** The HMAC key of the last secret verified with: importing it took most of a verify's time. */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>
const verifyKeys = new Map<string, Promise<HmacKey>>()

function verifyKey(secret: string): Promise<HmacKey> {
  let key = verifyKeys.get(secret)
  if (!key) {
    verifyKeys.clear() // one entry: a server has one secret
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    verifyKeys.set(secret, key)
  }
  return key
}

/**
 * The identity a token proves, or an `AuthError` (`token_missing`, `token_invalid`,
 * `token_expired`, all 401) whose message tells the caller what to do about it.
 */
export async function verifyToken(
  secret: string,
  token: string | null | undefined,
  { clockToleranceSec = 30, now }: VerifyOptions = {},
): Promise<Identity> {
  if (token === undefined || token === null || token.trim() === '') {
    throw new AuthError(
      'token_missing',
      'No token: send `Authorization: Bearer <token>` (or `?token=` on a WebSocket URL); mint one with `npx mnemo token`',
    )
  }
  // Refuse any other algorithm before touching the key: a token asking for `none` or
  // RS256 is an algorithm-confusion attempt (or a token for some other service).
  let alg: unknown
  try {
    alg = decodeProtectedHeader(token).alg
  } catch {
    throw new AuthError('token_invalid', 'The token is not a JWT (expected three base64url parts separated by dots)')
  }
  if (alg !== algorithm) {
    throw new AuthError('token_invalid', `The token is signed with ${JSON.stringify(alg ?? 'no algorithm')}; mnemo accepts only HS256 tokens, ${mintHint}`)
  }

  let payload: Record<string, unknown>
  try {
    const result = await jwtVerify(token, await verifyKey(secret), {
      algorithms: [algorithm],
      clockTolerance: clockToleranceSec,
      currentDate: now,
      requiredClaims: ['exp'],
    })
    payload = result.payload
  } catch (error) {
    if (!(error instanceof errors.JOSEError)) throw error
    throw tokenError(error)
  }

  const parsed = claimsSchema.safeParse(payload)
  if (!parsed.success) throw new AuthError('token_invalid', `The token's claims are invalid: ${claimProblems(parsed.error)}; ${mintHint}`)
  const claims = parsed.data
  const identity: Identity = {
    id: claims.sub,
    name: claims.name,
    kind: claims.kind,
    role: claims.role,
    sessions: claims.sessions,
    exp: claims.exp,
  }
  if (claims.model !== undefined) identity.model = claims.model
  if (claims.onBehalfOf !== undefined) identity.onBehalfOf = claims.onBehalfOf
  if (claims.run !== undefined) identity.run = claims.run
  if (claims.can !== undefined) identity.scope = parseScope(claims.can)
  if (claims.budget !== undefined) identity.budget = claims.budget
  if (claims.jti !== undefined) identity.tokenId = claims.jti
  return identity
}

/** Maps jose's errors to ours; jose checks the signature before any claim. */
function tokenError(error: InstanceType<typeof errors.JOSEError>): AuthError {
  if (error instanceof errors.JWTExpired) {
    const exp = error.payload.exp
    const when = typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : ''
    return new AuthError('token_expired', `The token expired${when}; ${mintHint}`)
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new AuthError('token_invalid', `The token's signature does not match: it was signed with a different MNEMO_AUTH_SECRET, or altered; ${mintHint}`)
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') {
      const nbf = error.payload.nbf
      const when = typeof nbf === 'number' ? ` until ${new Date(nbf * 1000).toISOString()}` : ' yet'
      return new AuthError('token_invalid', `The token is not valid${when} (its \`nbf\`); check the clocks, or ${mintHint}`)
    }
    if (error.reason === 'missing') return new AuthError('token_invalid', `The token has no \`${error.claim}\` claim; ${mintHint}`)
    return new AuthError('token_invalid', `The token's \`${error.claim}\` claim is invalid (${error.message}); ${mintHint}`)
  }
  return new AuthError('token_invalid', `The token is malformed (${error.message}); ${mintHint}`)
}
