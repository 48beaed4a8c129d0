/**
 * The Grafana dashboard (docker/grafana/mnemo-dashboard.json) and its wiring, checked as files:
 * no server, no Prometheus. Every metric a panel queries is one src/ defines (a renamed metric
 * fails here), the panels use the provisioned datasource, and docker/compose.yaml mounts what
 * the provisioning expects.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

type Target = { expr?: string; datasource?: { uid?: string } }
type Panel = { type: string; title: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] }
type Dashboard = { uid: string; panels: Panel[]; templating: { list: { query?: { query?: string } | string; datasource?: { uid?: string } }[] } }

const dashboard = JSON.parse(read('docker/grafana/mnemo-dashboard.json')) as Dashboard
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
const queries = panels.filter((p) => p.type !== 'row')
const exprs = [
  ...queries.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
  ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query?.query ?? '')),
].filter((e) => e.length > 0)

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') ? [read(path)] : []
  })
}

/** Series names the source exports: what it defines, with a histogram's _bucket, _sum and _count. */
async function exportedSeries(): Promise<Set<string>> {
  const series = new Set<string>()
  const add = (name: string, type: string) => {
    series.add(name)
    if (type === 'histogram' || type === 'Histogram' || type === 'summary' || type === 'Summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) series.add(name + suffix)
    }
  }
  let prefix: string | undefined
  for (const text of sources('src')) {
    for (const m of text.matchAll(/new (Histogram|Counter|Gauge|Summary)\(\{\s*name:\s*'(mnemo_[a-z0-9_]+)'/g)) add(m[2], m[1])
    for (const m of text.matchAll(/\.gauge\(\s*'(mnemo_[a-z0-9_]+)'/g)) add(m[1], 'Gauge')
    prefix ??= /collectDefaultMetrics\(\{[^}]*prefix:\s*'([a-z0-9_]+)'/.exec(text)?.[1]
  }
  // prom-client's process and Node.js metrics, under the prefix src/http/metrics.ts gives them.
  if (prefix) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry, prefix })
    for (const metric of await registry.getMetricsAsJSON()) add(metric.name, String(metric.type))
  }
  return series
}

describe('the Grafana dashboard', () => {
  it('is JSON with panels that all have queries', () => {
    expect(dashboard.uid).toBe('mnemo')
    expect(queries.length).toBeGreaterThan(10)
    for (const panel of queries) expect(panel.targets?.length, panel.title).toBeGreaterThan(0)
  })

  it('queries only metrics that src/ defines', async () => {
    const series = await exportedSeries()
    expect(series).toContain('mnemo_sync_update_seconds_bucket')
    expect(series).toContain('mnemo_ws_connections')
    expect(series).toContain('mnemo_process_process_cpu_seconds_total')
    // Digits too: prom-client's event-loop percentiles are named …_p99_seconds.
    const used = new Set(exprs.flatMap((e) => e.match(/mnemo_[a-z0-9_]+/g) ?? []))
    expect(used.size).toBeGreaterThan(5)
    expect([...used].filter((name) => !series.has(name))).toEqual([])
  })

  it('covers what issue 16 asks for', () => {
    const all = exprs.join('\n')
    for (const needed of ['mnemo_sync_update_seconds_bucket', 'mnemo_store_batch_events_bucket', 'mnemo_store_batch_seconds_bucket',
      'mnemo_rooms_loaded', 'mnemo_ws_connections', 'mnemo_pending_appends', 'mnemo_instance_lag',
      'mnemo_http_request_duration_seconds_count', 'status="429"', 'mnemo_refusals_total', 'mnemo_process_process_cpu_seconds_total',
      'mnemo_process_process_resident_memory_bytes']) expect(all).toContain(needed)
    expect(all).toMatch(/histogram_quantile\(0\.99, /)
    expect(all).toMatch(/histogram_quantile\(0\.5, /)
  })

  it('uses the provisioned Prometheus datasource', () => {
    const uid = /uid:\s*(\S+)/.exec(read('docker/grafana/provisioning/datasources/prometheus.yaml'))?.[1]
    expect(uid).toBe('mnemo-prometheus')
    for (const panel of queries) {
      expect(panel.datasource?.uid, panel.title).toBe(uid)
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe(uid)
    }
  })
})

// The `yaml` package is in node_modules through other packages, not a dependency of mnemo:
// imported by a name TypeScript does not resolve, and the check is skipped without it.
const yamlPackage = 'yaml'
const yaml = await import(yamlPackage).catch(() => undefined) as { parse(text: string, options?: { merge?: boolean }): unknown } | undefined

describe('docker/compose.yaml', () => {
  it.skipIf(!yaml)('parses; mounts the dashboard where the provisioning looks; Prometheus scrapes every mnemo service', () => {
    if (!yaml) return
    const compose = yaml.parse(read('docker/compose.yaml'), { merge: true }) as {
      services: Record<string, { image?: string; build?: unknown; volumes?: string[]; environment?: Record<string, string>; ports?: string[] }>
    }
    const { services } = compose
    const mnemo = Object.keys(services).filter((s) => services[s].build !== undefined)
    expect(mnemo).toEqual(['mnemo-a', 'mnemo-b', 'mnemo-c'])
    expect(mnemo.map((s) => services[s].environment?.MNEMO_INSTANCE_ID)).toEqual(mnemo)

    const provider = read('docker/grafana/provisioning/dashboards/mnemo.yaml')
    const dashboards = /path:\s*(\S+)/.exec(provider)?.[1]
    expect(services.grafana.volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro')
    expect(services.grafana.volumes).toContain(`./grafana/mnemo-dashboard.json:${dashboards}/mnemo-dashboard.json:ro`)
    expect(services.grafana.ports).toEqual(['3000:3000'])
    expect(services.prometheus.volumes).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro')

    const prometheus = yaml.parse(read('docker/prometheus.yml')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[]
    }
    const job = prometheus.scrape_configs.find((c) => c.job_name === 'mnemo')
    expect(job?.static_configs.flatMap((c) => c.targets)).toEqual(mnemo.map((s) => `${s}:3001`))
    // The balancer sends clients to every instance, with the shipped configuration.
    expect(services.haproxy.volumes).toContain('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro')
    const servers = [...read('docker/haproxy.cfg').matchAll(/^\s*server \S+ (\S+) check$/gm)].map((m) => m[1])
    expect(servers).toEqual(mnemo.map((s) => `${s}:3001`))
    expect(mnemo.every((s) => services[s].environment?.MNEMO_REDIS_URL === 'redis://redis:6379')).toBe(true)
  })
})
