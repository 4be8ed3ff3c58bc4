/**
 * The Analytics Engine queries the README shows and `cli stats` runs, over the columns the
 * gateway writes (src/metrics.ts: `blob1` pack … `blob11` degraded, `double1` status …
 * `double5` stale_for). `_sample_interval` weights every row: Analytics Engine samples at high
 * volume, and a row then stands for that many requests.
 *
 * Written with the default dataset and period; `statsQuery` puts in others. A test holds the
 * README's SQL to these texts and each `blobN AS name` to the metric layout.
 *
 * @module
 */

export const STATS_QUERIES = {
  requests: {
    title: 'Requests and refusals per pack and reason',
    sql: `SELECT blob1 AS pack, blob3 AS decision, blob4 AS reason, SUM(_sample_interval) AS requests
FROM invoker_gateway
WHERE timestamp > NOW() - INTERVAL '1' DAY
GROUP BY blob1, blob3, blob4
ORDER BY requests DESC
LIMIT 100
FORMAT JSON`,
  },
  latency: {
    title: 'Latency the gateway adds (ms) per pack, forwarded requests',
    sql: `SELECT blob1 AS pack, SUM(_sample_interval) AS requests,
  quantileExactWeighted(0.5)(double4, _sample_interval) AS added_p50_ms,
  quantileExactWeighted(0.99)(double4, _sample_interval) AS added_p99_ms,
  quantileExactWeighted(0.5)(double3, _sample_interval) AS upstream_p50_ms,
  quantileExactWeighted(0.99)(double3, _sample_interval) AS upstream_p99_ms
FROM invoker_gateway
WHERE timestamp > NOW() - INTERVAL '1' DAY AND blob3 IN ('allow', 'would_deny')
GROUP BY blob1
ORDER BY requests DESC
FORMAT JSON`,
  },
  'refused-invokers': {
    title: 'Most refused invokers (first 16 hex digits of the SHA-256 of the invoker id)',
    sql: `SELECT blob9 AS invoker_digest, blob8 AS invoker_kind, blob1 AS pack, blob4 AS reason, SUM(_sample_interval) AS refusals
FROM invoker_gateway
WHERE timestamp > NOW() - INTERVAL '1' DAY AND blob9 != ''
GROUP BY blob9, blob8, blob1, blob4
ORDER BY refusals DESC
LIMIT 20
FORMAT JSON`,
  },
  degraded: {
    title: 'Requests decided with degraded inputs',
    sql: `SELECT blob11 AS degraded, blob1 AS pack, SUM(_sample_interval) AS requests, MAX(double5) AS max_stale_for_s
FROM invoker_gateway
WHERE timestamp > NOW() - INTERVAL '1' DAY AND blob11 != ''
GROUP BY blob11, blob1
ORDER BY requests DESC
FORMAT JSON`,
  },
} as const

export type StatsQueryName = keyof typeof STATS_QUERIES

/** A query for another dataset or period (`INTERVAL '6' HOUR`); both are checked by the caller. */
export function statsQuery(name: StatsQueryName, options: { dataset: string; interval: string }): string {
  return STATS_QUERIES[name].sql
    .replace('FROM invoker_gateway', `FROM ${options.dataset}`)
    .replace("INTERVAL '1' DAY", options.interval)
}
