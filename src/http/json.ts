/** Reading request bodies as JSON, and a body's zod issues as one message naming the fields. */
import type { Context } from 'hono'
import type { z } from 'zod'
import { issuesMessage } from '../zodIssues.js'
import { readBodyText } from './body.js'
import { badRequest } from './errors.js'
import { header } from './headers.js'

export async function readJson(c: Context): Promise<unknown> {
  const type = header(c, 'content-type') ?? ''
  if (!/^application\/json\b/i.test(type)) {
    throw badRequest('send the body as JSON with "Content-Type: application/json"', 'unsupported_media_type')
  }
  const text = await readBodyText(c)
  try {
    return JSON.parse(text)
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${(error as Error).message}`, 'invalid_json')
  }
}

/** A request body's issues: `title: must not be empty; extra: unknown field` (`body` for the whole). */
export function zodMessage(error: z.ZodError): string {
  return issuesMessage(error, { whole: 'body' })
}
