/**
 * `invoker-gateway stats`: the README's Analytics Engine queries, run through the Analytics
 * Engine SQL API (`POST /accounts/{account}/analytics_engine/sql`, the SQL as the body, a bearer
 * API token with "Account Analytics: Read") and printed as tables.
 *
 * The token comes from `CLOUDFLARE_API_TOKEN` only (as wrangler reads it), never from an
 * argument, so it stays out of shell history and `ps`; it is sent to the API and nowhere else,
 * and never printed.
 *
 * @module
 */
import { STATS_QUERIES, statsQuery, type StatsQueryName } from './stats-queries.ts'

const DEFAULT_API = 'https://api.cloudflare.com/client/v4'
const DEFAULT_DATASET = 'invoker_gateway'
/** One query's whole round trip; the SQL API answers in well under a second for a day of data. */
const QUERY_TIMEOUT_MS = 30_000

export interface StatsOptions {
  account?: string | undefined
  since?: string | undefined
  query?: string | undefined
  dataset?: string | undefined
  json?: boolean | undefined
}

interface SqlAnswer {
  meta: Array<{ name: string; type: string }>
  data: Array<Record<string, unknown>>
}

export async function statsCommand(
  options: StatsOptions,
  environment: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const account = options.account ?? environment['CLOUDFLARE_ACCOUNT_ID']
  const token = environment['CLOUDFLARE_API_TOKEN']
  if (account === undefined || !/^[0-9a-f]{32}$/.test(account)) {
    console.error('stats needs --account ID (or CLOUDFLARE_ACCOUNT_ID): the 32-character account id from the dashboard')
    return 2
  }
  if (token === undefined || token === '') {
    console.error('stats needs CLOUDFLARE_API_TOKEN: an API token with the permission "Account Analytics: Read"')
    return 2
  }
  const dataset = options.dataset ?? DEFAULT_DATASET
  if (!/^[A-Za-z0-9_]+$/.test(dataset)) {
    console.error(`--dataset is the dataset's name as in wrangler.toml (letters, digits, _), not "${dataset}"`)
    return 2
  }
  const interval = sqlInterval(options.since ?? '1d')
  if (interval === null) {
    console.error('--since is a whole number and a unit: 30m, 6h, 1d, 7d (at most 90d, what Analytics Engine keeps)')
    return 2
  }
  const names =
    options.query === undefined || options.query === 'all'
      ? (Object.keys(STATS_QUERIES) as StatsQueryName[])
      : [options.query]
  const unknown = names.find((name) => !(name in STATS_QUERIES))
  if (unknown !== undefined) {
    console.error(`--query is one of ${Object.keys(STATS_QUERIES).join(', ')} or all, not "${unknown}"`)
    return 2
  }
  const endpoint = `${(environment['CLOUDFLARE_API_BASE_URL'] ?? DEFAULT_API).replace(/\/+$/, '')}/accounts/${account}/analytics_engine/sql`
  let failed = false
  for (const name of names as StatsQueryName[]) {
    const answer = await runQuery(endpoint, token, statsQuery(name, { dataset, interval }))
    if (!answer.ok) {
      console.error(`${name}: ${answer.problem}`)
      failed = true
      continue
    }
    if (options.json) console.log(JSON.stringify({ query: name, rows: answer.value.data }))
    else console.log(`${STATS_QUERIES[name].title} (last ${options.since ?? '1d'})\n${table(answer.value)}\n`)
  }
  return failed ? 1 : 0
}

/** `N` + `m`/`h`/`d` as the SQL interval Analytics Engine reads (`INTERVAL '1' DAY`). */
export function sqlInterval(text: string): string | null {
  const match = /^([1-9][0-9]{0,4})([mhd])$/.exec(text)
  if (match === null) return null
  const amount = Number(match[1])
  const unit = match[2] === 'm' ? 'MINUTE' : match[2] === 'h' ? 'HOUR' : 'DAY'
  const minutes = amount * (unit === 'MINUTE' ? 1 : unit === 'HOUR' ? 60 : 1440)
  return minutes > 90 * 1440 ? null : `INTERVAL '${amount}' ${unit}`
}

async function runQuery(
  endpoint: string,
  token: string,
  sql: string,
): Promise<{ ok: true; value: SqlAnswer } | { ok: false; problem: string }> {
  let response: Response
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: sql,
      signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
    })
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error)
    return { ok: false, problem: `could not reach ${new URL(endpoint).origin} (${cause})` }
  }
  const text = await response.text()
  if (!response.ok) return { ok: false, problem: `the SQL API answered ${response.status}: ${apiMessage(text)}` }
  try {
    const parsed = JSON.parse(text) as Partial<SqlAnswer>
    if (!Array.isArray(parsed.meta) || !Array.isArray(parsed.data)) throw new Error('shape')
    return { ok: true, value: { meta: parsed.meta, data: parsed.data } }
  } catch {
    return { ok: false, problem: 'the SQL API answered something that is not a JSON result (meta, data)' }
  }
}

/** The API's own words: Cloudflare's JSON error envelope, or the first line of a plain-text SQL error. */
function apiMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: number; message?: string }> }
    const messages = (parsed.errors ?? []).map((e) => `${e.message ?? ''}${e.code !== undefined ? ` (${e.code})` : ''}`)
    if (messages.length > 0) return messages.join('; ')
  } catch {
    // not JSON: a SQL error is plain text
  }
  const line = text.trim().split('\n')[0] ?? ''
  return line.length > 300 ? `${line.slice(0, 300)}…` : line || '(no message)'
}

/** Columns left-aligned, numbers right-aligned; the column names as the query aliases them. */
export function table(answer: SqlAnswer): string {
  const columns = answer.meta.map((m) => m.name)
  if (answer.data.length === 0) return '(no data points in this period)'
  const cells = answer.data.map((row) => columns.map((column) => format(row[column])))
  const numeric = columns.map((_, i) => cells.every((row) => /^-?[0-9.]+$/.test(row[i] as string)))
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => (row[i] as string).length)))
  const render = (row: string[]): string =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd()
  return [render(columns), render(widths.map((w) => '-'.repeat(w))), ...cells.map(render)].join('\n')
}

function format(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-'
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(1)
  return String(value)
}
