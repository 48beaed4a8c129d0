/**
 * Builds the inspector page into dist/web/ (served by src/http/routes/inspector.ts). Runs as
 * part of `npm run build`, hence of `npm install` (the `prepare` script): no extra command.
 * Preact's JSX through esbuild's automatic runtime; no plugin needed.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline <script> or data: module preload polyfill: the page's CSP allows 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 300,
  },
})
