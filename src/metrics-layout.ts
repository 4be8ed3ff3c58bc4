/**
 * The columns of the gateway's Analytics Engine dataset: what `writeMetric` writes where, and
 * what the README's queries and `cli stats` read. The dataset keeps every point it was given in
 * the layout of its day, so a column is only ever added at the end, never moved or reused.
 * Imports nothing: the CLI and its tests read it in Node.
 *
 * @module
 */

/** `blobN` (1-based) of each field. */
export const METRIC_BLOBS = [
  'pack',
  'agent',
  'decision',
  'reason',
  'auth_method',
  'status_class',
  'rule',
  'invoker_kind',
  'invoker_digest',
  'api_key',
  'degraded',
] as const

/** `doubleN` (1-based) of each field. */
export const METRIC_DOUBLES = ['status', 'duration_ms', 'upstream_ms', 'gateway_ms', 'stale_for'] as const

/** `index1`: the pack, so that Analytics Engine samples each pack on its own. */
export const METRIC_INDEX = 'pack'
