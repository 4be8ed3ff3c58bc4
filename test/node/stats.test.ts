/**
 * `cli stats` and the README's Analytics Engine queries. There is no Analytics Engine here, so
 * the CLI runs against a local server that answers as the SQL API does (the path, the bearer
 * token, the SQL as a text body, `FORMAT JSON` answers of `meta` and `data` with 64-bit counts
 * quoted, Cloudflare's JSON error envelope for a refused token, a plain-text 422 for a SQL
 * error, and "unknown column" for a column the dataset does not have). What the server answers
 * is the test's; what is checked is what the CLI sends and how it reads the answer. The SQL
 * itself is checked against the data points' layout (src/metrics-layout.ts) and the README.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STATS_QUERIES, statsQuery, type StatsQueryName } from '../../src/cli/stats-queries.ts'
import { METRIC_BLOBS, METRIC_DOUBLES } from '../../src/metrics-layout.ts'

const ACCOUNT = '0123456789abcdef0123456789abcdef'
const TOKEN = 'test-api-token-0f3c9a7e2b'

interface Received {
  method: string
  path: string
  authorization: string | undefined
  contentType: string | undefined
  sql: string
}

const received: Received[] = []
let server: Server
let api: string
/** Rows the server answers, by the first column a query selects. */
const ROWS: Record<string, Array<Record<string, unknown>>> = {
  pack: [
    { pack: 'crm', decision: 'allow', reason: 'allowed', requests: '1200' },
    { pack: 'crm', decision: 'deny', reason: 'rate_limited', requests: '37' },
  ],
  invoker_digest: [
    { invoker_digest: '9f86d081884c7d65', invoker_kind: 'apiKey', pack: 'crm', reason: 'denied', refusals: '12' },
  ],
  degraded: [{ degraded: 'jwks_stale', pack: 'crm', requests: '5', max_stale_for_s: 754 }],
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
    req.on('end', () => resolve(text))
  })
}

/** The aliases a SELECT list names, in order. */
function aliases(sql: string): string[] {
  const select = sql.slice(sql.indexOf('SELECT') + 6, sql.indexOf('\nFROM'))
  return [...select.matchAll(/ AS ([a-z0-9_]+)/g)].map((m) => m[1] as string)
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const sql = await body(req)
    received.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      sql,
    })
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(403, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          success: false,
          errors: [{ code: 10000, message: 'Authentication error' }],
          messages: [],
          result: null,
        }),
      )
      return
    }
    if (req.method !== 'POST' || req.url !== `/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ success: false, errors: [{ code: 7003, message: 'No route for the URI' }] }))
      return
    }
    const column = [...sql.matchAll(/\b(blob|double)([0-9]+)\b/g)].find((m) => Number(m[2]) < 1 || Number(m[2]) > 20)
    if (column) {
      res.writeHead(422, { 'content-type': 'text/plain' }).end(`unknown column: ${column[0]}\n`)
      return
    }
    if (sql.includes('nonexistent_dataset')) {
      res.writeHead(422, { 'content-type': 'text/plain' }).end('Table nonexistent_dataset does not exist\nmore detail')
      return
    }
    const names = aliases(sql)
    const data = ROWS[names[0] as string] ?? [
      Object.fromEntries(names.map((n, i) => [n, i === 0 ? 'crm' : n === 'requests' ? '1200' : 0.4 + i])),
    ]
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        meta: names.map((name) => ({ name, type: 'String' })),
        data,
        rows: data.length,
        rows_before_limit_at_least: data.length,
      }),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`
})

afterAll(() => new Promise((resolve) => server.close(resolve)))

function stats(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', 'stats', ...args], {
      env: {
        ...process.env,
        CLOUDFLARE_API_TOKEN: TOKEN,
        CLOUDFLARE_API_BASE_URL: api,
        CLOUDFLARE_ACCOUNT_ID: undefined,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }))
  })
}

describe('the queries', () => {
  it('are the README’s, word for word', () => {
    const readme = readFileSync('README.md', 'utf8')
    for (const [name, query] of Object.entries(STATS_QUERIES))
      expect(readme, name).toContain('```sql\n' + query.sql + '\n```')
  })

  it('read each column by the name the data point gives it', () => {
    for (const [name, query] of Object.entries(STATS_QUERIES)) {
      for (const [, kind, n, alias] of query.sql.matchAll(/\b(blob|double)([0-9]+) AS ([a-z0-9_]+)/g)) {
        const layout: readonly string[] = kind === 'blob' ? METRIC_BLOBS : METRIC_DOUBLES
        expect(layout[Number(n) - 1], `${name}: ${kind}${n} AS ${alias}`).toBe(alias)
      }
      for (const [, kind, n] of query.sql.matchAll(/\b(blob|double)([0-9]+)\b/g)) {
        expect(Number(n), `${name}: ${kind}${n}`).toBeLessThanOrEqual(
          kind === 'blob' ? METRIC_BLOBS.length : METRIC_DOUBLES.length,
        )
      }
      expect(query.sql, name).toContain('SUM(_sample_interval)')
    }
  })
})

describe('cli stats', () => {
  it('runs every query through the SQL API and prints the answers as tables', async () => {
    received.length = 0
    const run = await stats(['--account', ACCOUNT])
    expect(run.status, run.stderr).toBe(0)
    expect(received.map((r) => r.sql)).toEqual(
      (Object.keys(STATS_QUERIES) as StatsQueryName[]).map((name) => STATS_QUERIES[name].sql),
    )
    for (const request of received) {
      expect(request).toMatchObject({
        method: 'POST',
        path: `/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`,
        authorization: `Bearer ${TOKEN}`,
        contentType: 'text/plain',
      })
    }
    expect(run.stdout).toContain('Requests and refusals per pack and reason (last 1d)')
    expect(run.stdout).toMatch(
      /pack +decision +reason +requests\n[- ]+\ncrm +allow +allowed +1200\ncrm +deny +rate_limited +37/,
    )
    expect(run.stdout).toMatch(/9f86d081884c7d65 +apiKey +crm +denied +12/)
    expect(run.stdout).toMatch(/jwks_stale +crm +5 +754/)
    expect(run.stdout + run.stderr).not.toContain(TOKEN)
  })

  it('puts the period and the dataset into the SQL, runs one query, and prints JSON on request', async () => {
    received.length = 0
    const run = await stats([
      '--account',
      ACCOUNT,
      '--since',
      '6h',
      '--dataset',
      'gateway_staging',
      '--query',
      'requests',
      '--json',
    ])
    expect(run.status, run.stderr).toBe(0)
    expect(received).toHaveLength(1)
    expect(received[0]?.sql).toBe(statsQuery('requests', { dataset: 'gateway_staging', interval: "INTERVAL '6' HOUR" }))
    expect(received[0]?.sql).toContain("FROM gateway_staging\nWHERE timestamp > NOW() - INTERVAL '6' HOUR")
    expect(JSON.parse(run.stdout)).toEqual({ query: 'requests', rows: ROWS['pack'] })
  })

  it('takes the account from CLOUDFLARE_ACCOUNT_ID', async () => {
    const run = await stats(['--query', 'degraded'], { CLOUDFLARE_ACCOUNT_ID: ACCOUNT })
    expect(run.status, run.stderr).toBe(0)
  })

  it('says what the API answered when it refuses: a token it does not take, a SQL error', async () => {
    const refused = await stats(['--account', ACCOUNT, '--query', 'requests'], { CLOUDFLARE_API_TOKEN: 'wrong-token' })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain('requests: the SQL API answered 403: Authentication error (10000)')
    expect(refused.stderr).not.toContain('wrong-token')
    const sqlError = await stats(['--account', ACCOUNT, '--query', 'latency', '--dataset', 'nonexistent_dataset'])
    expect(sqlError.status).toBe(1)
    expect(sqlError.stderr.trim()).toBe('latency: the SQL API answered 422: Table nonexistent_dataset does not exist')
  })

  it('says so when the API cannot be reached', async () => {
    const run = await stats(['--account', ACCOUNT, '--query', 'requests'], {
      CLOUDFLARE_API_BASE_URL: 'http://127.0.0.1:9/client/v4',
    })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('requests: could not reach http://127.0.0.1:9')
  })

  it('refuses what it cannot send, before sending anything', async () => {
    received.length = 0
    const cases: Array<[string[], Record<string, string | undefined>, string]> = [
      [[], {}, 'stats needs --account ID'],
      [['--account', 'not-an-account'], {}, 'stats needs --account ID'],
      [['--account', ACCOUNT], { CLOUDFLARE_API_TOKEN: undefined }, 'stats needs CLOUDFLARE_API_TOKEN'],
      [['--account', ACCOUNT, '--since', '1 week'], {}, '--since is a whole number and a unit'],
      [['--account', ACCOUNT, '--since', '120d'], {}, '--since is a whole number and a unit'],
      [['--account', ACCOUNT, '--dataset', 'x; DROP'], {}, '--dataset is the dataset'],
      [
        ['--account', ACCOUNT, '--query', 'everything'],
        {},
        '--query is one of requests, latency, refused-invokers, degraded or all',
      ],
    ]
    for (const [args, env, message] of cases) {
      const run = await stats(args, env)
      expect(run.status, args.join(' ')).toBe(2)
      expect(run.stderr, args.join(' ')).toContain(message)
    }
    expect(received).toHaveLength(0)
  })
})
