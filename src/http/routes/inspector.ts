/**
 * The inspector page (`GET /`) and its assets (`/assets/*`), as built by Vite into `dist/web/`
 * during `npm install` (the `prepare` script). Files are read once, when the routes are made;
 * hashed assets are cached for a year, the page itself is revalidated every time. A strict
 * Content-Security-Policy: the page loads nothing but its own scripts and styles and talks only
 * to this origin.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Hono } from 'hono'
import { describeRoute, errorResponses, textResponse } from '../describe.js'
import { errorBody } from '../errors.js'

/** `src/http/routes/` and `dist/http/routes/` both sit three levels below the package root. */
export const WEB_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // fetch() for the API and its SSE streams; ws: for the sync endpoint, same host.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

interface Asset {
  body: Uint8Array
  type: string
}

function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  const walk = (folder: string, prefix: string) => {
    for (const name of readdirSync(folder)) {
      const full = join(folder, name)
      if (statSync(full).isDirectory()) walk(full, `${prefix}${name}/`)
      else assets.set(`${prefix}${name}`, { body: readFileSync(full), type: TYPES[extname(name)] ?? 'application/octet-stream' })
    }
  }
  try {
    walk(dir, '')
  } catch {
    // No build: the routes answer 503 naming the command that builds the page.
  }
  return assets
}

/** What an asset may be served as: its extension's type, else `application/octet-stream`. */
const ASSET_TYPES = [...new Set([...Object.values(TYPES), 'application/octet-stream'].map((type) => type.split(';')[0]!))]

/** Public routes: 429 over the caller's address' rate; no store behind them, so 503 only for a page not built. */
const { 503: unavailable, ...publicErrors } = errorResponses([], { guarded: false })
const { 503: _noStore, ...assetErrors } = errorResponses([404], { guarded: false })

export function inspectorRoutes({ dir = WEB_DIR }: { dir?: string } = {}) {
  const app = new Hono()
  const assets = readAssets(dir)
  const page = assets.get('index.html')

  app.get('/', describeRoute({
    tags: ['inspector'],
    summary: 'The inspector page, a browser UI over this API; no token needed (its own calls to `/api` need one)',
    responses: {
      200: textResponse('the page (`Cache-Control: no-cache`, a strict `Content-Security-Policy`)', 'text/html'),
      ...publicErrors,
      503: { description: 'the page is not built (`inspector_not_built`): run `npm run build`', content: unavailable!.content },
    },
  }), (c) => {
    if (!page) {
      return c.json(errorBody('inspector_not_built', `the inspector page is not built (no ${dir}index.html): run \`npm run build\``), 503)
    }
    return c.body(page.body as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': page.type,
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    })
  })

  // `:file{.+}` rather than `*`: hono-openapi leaves a bare wildcard out of the description.
  app.get('/assets/:file{.+}', describeRoute({
    tags: ['inspector'],
    summary: "The inspector page's scripts, styles and images, as the page names them (by their content's hash); no token needed",
    responses: {
      200: {
        description: 'the file, cached for a year (`immutable`), of its extension\'s media type',
        content: Object.fromEntries(ASSET_TYPES.map((type) => [type, { schema: { type: 'string' } }])),
      },
      ...assetErrors,
    },
  }), (c) => {
    const asset = assets.get(c.req.path.slice(1))
    if (!asset) return c.json(errorBody('not_found', `no asset ${c.req.path}; the page names its assets, reload it`), 404)
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': asset.type,
      // Vite names every asset by its content's hash: a changed file is a new name.
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    })
  })

  return app
}
