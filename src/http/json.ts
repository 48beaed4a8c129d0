/** Reading request bodies as JSON, and zod issues turned into one message naming the fields. */
import type { Context } from 'hono'
import type { z } from 'zod'
import { badRequest } from './errors.js'

export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/json\b/i.test(type)) {
    throw badRequest('send the body as JSON with "Content-Type: application/json"', 'unsupported_media_type')
  }
  const text = await c.req.text()
  try {
    return JSON.parse(text)
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${(error as Error).message}`, 'invalid_json')
  }
}

export function zodMessage(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : 'body'
    if (issue.code === 'unrecognized_keys') return `${path === 'body' ? '' : path + ': '}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
    return `${path}: ${issue.message}`
  }).join('; ')
}
