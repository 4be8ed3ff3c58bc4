/**
 * One Workers Analytics Engine data point per request (issue 17, item 1), written from the log
 * line the request already built, when the `GATEWAY_METRICS` binding exists. `writeDataPoint`
 * returns at once (the runtime sends the point after the response); nothing here waits, parses
 * or copies beyond the three arrays the API takes.
 *
 * The layout (metrics-layout.ts) is the dataset's schema: the README's queries and `cli stats`
 * read its columns by position.
 *
 * @module
 */
import { METRIC_BLOB_MAX_CHARS } from './constants.ts'
import type { RequestLogLine } from './log.ts'

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * Writes the request's data point. `invokerDigest` is the first 16 hex digits of the SHA-256 of
 * the invoker id for refused requests (empty otherwise): enough to group by, not the id itself.
 * Never throws: a metric must not turn an answered request into an error.
 */
export function writeMetric(dataset: AnalyticsEngineDataset, line: RequestLogLine, invokerDigest: string): void {
  const upstream = line.upstream_ms ?? 0
  let degraded = ''
  let staleFor = 0
  if (line.degraded !== null) {
    for (const entry of line.degraded) {
      degraded = degraded === '' ? entry.kind : `${degraded},${entry.kind}`
      if (entry.stale_for !== null && entry.stale_for > staleFor) staleFor = entry.stale_for
    }
  }
  try {
    dataset.writeDataPoint({
      indexes: [line.pack ?? ''],
      // Order: METRIC_BLOBS (metrics-layout.ts).
      blobs: [
        line.pack ?? '',
        bounded(line.agent),
        line.decision,
        line.reason ?? '',
        line.auth_method ?? '',
        STATUS_CLASSES[Math.floor(line.status / 100)] ?? '',
        bounded(line.rule),
        bounded(line.invoker_kind),
        invokerDigest,
        bounded(line.api_key),
        degraded,
      ],
      // Order: METRIC_DOUBLES (metrics-layout.ts).
      doubles: [line.status, line.duration_ms, upstream, Math.max(0, line.duration_ms - upstream), staleFor],
    })
  } catch (error) {
    console.error(JSON.stringify({ request_id: line.request_id, error: `metrics: ${String(error)}` }))
  }
}

/**
 * Analytics Engine drops a point whose blobs pass 16 KB; names from policy (agents, rules,
 * kinds) have no length limit of their own, so each is cut here (it is a label, not an
 * identity: a cut name still groups).
 */
function bounded(value: string | null): string {
  if (value === null) return ''
  return value.length > METRIC_BLOB_MAX_CHARS ? value.slice(0, METRIC_BLOB_MAX_CHARS) : value
}
