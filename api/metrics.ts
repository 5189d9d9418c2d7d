/**
 * @module api/metrics
 * Prometheus metrics of the API process (`GET /metrics`): HTTP requests and their latency,
 * ingestion, prompt resolution, gateway calls, plus the process's default metrics. Names follow Prometheus
 * conventions with the `kaizen_` prefix.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface ApiMetrics {
  registry: Registry
  requests: Counter<'method' | 'route' | 'status'>
  requestSeconds: Histogram<'method' | 'route'>
  ingested: Counter<'source'>
  rejected: Counter<'source' | 'reason'>
  resolved: Counter<'arm'>
  gatewayCalls: Counter<'arm' | 'outcome'>
  gatewaySeconds: Histogram<'provider'>
  gatewayRecordsLost: Counter<'outcome'>
}

export function createMetrics(options: { defaults?: boolean } = {}): ApiMetrics {
  const registry = new Registry()
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'kaizen_' })
  return {
    registry,
    requests: new Counter({
      name: 'kaizen_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'kaizen_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ingested: new Counter({
      name: 'kaizen_traffic_ingested_total',
      help: 'Traffic records stored',
      labelNames: ['source'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'kaizen_traffic_rejected_batches_total',
      help: 'Ingestion batches rejected (nothing stored)',
      labelNames: ['source', 'reason'],
      registers: [registry],
    }),
    resolved: new Counter({
      name: 'kaizen_prompt_resolutions_total',
      help: 'Prompt resolutions by arm',
      labelNames: ['arm'],
      registers: [registry],
    }),
    gatewayCalls: new Counter({
      name: 'kaizen_gateway_calls_total',
      help: 'Gateway model calls by arm and outcome (ok, error, replayed)',
      labelNames: ['arm', 'outcome'],
      registers: [registry],
    }),
    gatewaySeconds: new Histogram({
      name: 'kaizen_gateway_model_duration_seconds',
      help: 'Model latency of gateway calls, as reported by the provider',
      labelNames: ['provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    gatewayRecordsLost: new Counter({
      name: 'kaizen_gateway_records_lost_total',
      help:
        'Gateway model calls made but not recorded as traffic (the database stayed unavailable), by outcome of ' +
        'the call (ok, error)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  }
}
