/**
 * The pack sections about long-lived requests (issue 15): `concurrency` rules (at most `limit`
 * open requests per key, in the shape of rate-limit rules) and `streams` (how long an open SSE
 * answer or WebSocket may last or stay idle, and how often its credential is checked again).
 * Build time only, like the rest of the compiler.
 *
 * @module
 */
import { z } from 'zod'
import {
  CONCURRENCY_RENEWALS_PER_LEASE,
  DEFAULT_LOCAL_FRACTION,
  MAX_CONCURRENCY_LEASE_MS,
  MIN_CONCURRENCY_LEASE_MS,
  DEFAULT_RECHECK_MS,
  MAX_CONCURRENCY_LIMIT,
  MAX_RECHECK_MS,
  MIN_RECHECK_MS,
  MIN_STREAM_LIMIT_MS,
} from '../../constants.ts'
import type {
  AcceptedMethod,
  CompiledAgent,
  CompiledConcurrency,
  CompiledPack,
  CompiledStreams,
  RateLimitKeySource,
} from '../types.ts'
import { compilePattern, kindProblem, whenMethods } from './rule-values.ts'
import { duration, identifier, localFraction, parseDuration as ms, ruleKey, ruleWhen } from './primitives.ts'

export const concurrencyRule = z
  .object({
    id: identifier.describe(
      "Names the rule in headers and logs; unique among the pack's rate limits and concurrency rules.",
    ),
    by: ruleKey,
    limit: z.number().int().positive().describe(`Requests open at once per key (1–${MAX_CONCURRENCY_LIMIT}).`),
    when: ruleWhen.optional(),
    on_error: z
      .enum(['local', 'allow', 'deny'])
      .default('local')
      .describe(
        'What to do when the store fails or is slow: local (count open requests in each isolate, at most local_fraction of the limit), allow (serve uncounted) or deny (503).',
      ),
    local_fraction: localFraction,
  })
  .strict()
  .describe(
    'A concurrency limit: every rule of a pack that applies to a request must have a free slot; the slot is given back when the request ends.',
  )

export const streamSettings = z
  .object({
    max_duration: duration
      .optional()
      .describe('An open SSE answer or WebSocket is closed after this long (none when absent).'),
    idle_timeout: duration
      .optional()
      .describe('An open SSE answer or WebSocket with no byte either way for this long is closed (none when absent).'),
    recheck: duration
      .default('30s')
      .describe(
        'How often the credential behind an open stream is checked again (revoked or expired keys, signed-out sessions, expired or inactive tokens). At least 1s.',
      ),
    on_error: z
      .enum(['allow', 'deny'])
      .default('allow')
      .describe(
        'When a recheck cannot be answered (the store or the session or introspection endpoint is down): allow keeps the stream open until a check answers, deny closes it.',
      ),
  })
  .strict()

type RawConcurrency = z.output<typeof concurrencyRule>
type RawStreams = z.output<typeof streamSettings>

export interface StreamProblem {
  path: readonly (string | number)[]
  message: string
}

const HTTP_METHOD = /^[A-Z]+$/

export function compileStreamSections(
  raw: {
    concurrency?: RawConcurrency[] | undefined
    streams?: RawStreams | undefined
    rate_limits?: { id: string }[] | undefined
  },
  auth: readonly AcceptedMethod[],
  agents: readonly CompiledAgent[],
): { settings: { concurrency: CompiledConcurrency[]; streams: CompiledStreams }; problems: StreamProblem[] } {
  const problems: StreamProblem[] = []
  // Both kinds of rule are named in the same RateLimit-Policy field.
  const ids = new Set((raw.rate_limits ?? []).map((rule) => rule.id))
  const agentNames = new Set(agents.map((a) => a.name))
  const list = (value: string | string[] | undefined): string[] | null =>
    value === undefined ? null : Array.isArray(value) ? value : [value]
  const concurrency = (raw.concurrency ?? []).map((rule, i): CompiledConcurrency => {
    const at = (...path: (string | number)[]): (string | number)[] => ['concurrency', i, ...path]
    if (ids.has(rule.id))
      problems.push({
        path: at('id'),
        message: `rule id "${rule.id}" is used twice in this pack (rate limits and concurrency rules share the RateLimit fields)`,
      })
    ids.add(rule.id)
    if (rule.limit > MAX_CONCURRENCY_LIMIT)
      problems.push({ path: at('limit'), message: `a concurrency limit is at most ${MAX_CONCURRENCY_LIMIT}` })
    if (rule.by === 'api_key' && !auth.includes('api_key'))
      problems.push({ path: at('by'), message: 'by: api_key counts API keys, but this pack does not accept them' })
    if (rule.by === 'agent' && agents.length === 0)
      problems.push({ path: at('by'), message: 'by: agent counts per agent, but this pack has no agents' })
    const methods = list(rule.when?.method)?.map((m) => m.toUpperCase()) ?? null
    methods?.forEach((method, j) => {
      if (!HTTP_METHOD.test(method))
        problems.push({
          path: at('when', 'method', ...(Array.isArray(rule.when?.method) ? [j] : [])),
          message: `"${method}" is not an HTTP method`,
        })
    })
    list(rule.when?.kind)?.forEach((kind, j) => {
      const problem = kindProblem(kind)
      if (problem !== null)
        problems.push({ path: at('when', 'kind', ...(Array.isArray(rule.when?.kind) ? [j] : [])), message: problem })
    })
    const whenAgents = list(rule.when?.agent)
    whenAgents?.forEach((name, j) => {
      if (!agentNames.has(name))
        problems.push({
          path: at('when', 'agent', ...(Array.isArray(rule.when?.agent) ? [j] : [])),
          message: `no agent is named "${name}" in this pack`,
        })
    })
    if (rule.local_fraction !== undefined && rule.on_error !== 'local') {
      problems.push({ path: at('local_fraction'), message: 'local_fraction applies only with on_error: local' })
    }
    return {
      id: rule.id,
      by: rule.by as RateLimitKeySource,
      limit: rule.limit,
      when: {
        kinds: list(rule.when?.kind)?.map((kind) => compilePattern(kind, false)) ?? null,
        methods: whenMethods(methods),
        agents: whenAgents,
      },
      onError: rule.on_error,
      localLimit: Math.max(1, Math.floor(rule.limit * (rule.local_fraction ?? DEFAULT_LOCAL_FRACTION))),
    }
  })

  const settings = raw.streams
  const recheckMs = settings === undefined ? DEFAULT_RECHECK_MS : ms(settings.recheck)
  if (recheckMs < MIN_RECHECK_MS || recheckMs > MAX_RECHECK_MS)
    problems.push({ path: ['streams', 'recheck'], message: 'recheck is between 1s and 1h' })
  const limit = (key: 'max_duration' | 'idle_timeout'): number | null => {
    const text = settings?.[key]
    if (text === undefined) return null
    const value = ms(text)
    if (value < MIN_STREAM_LIMIT_MS) problems.push({ path: ['streams', key], message: `${key} is at least 1s` })
    return value
  }
  return {
    settings: {
      concurrency,
      streams: {
        maxDurationMs: limit('max_duration'),
        idleTimeoutMs: limit('idle_timeout'),
        recheckMs,
        onError: settings?.on_error ?? 'allow',
      },
    },
    problems,
  }
}

/** `_gateway.yaml`'s settings for long requests: the slot lease and the stalled-upload limit. */
export function checkGatewayStreamSettings(
  raw: { concurrency_lease: string; upload_idle_timeout: string },
  report: (path: (string | number)[], message: string) => void,
): void {
  const lease = ms(raw.concurrency_lease)
  if (lease < MIN_CONCURRENCY_LEASE_MS || lease > MAX_CONCURRENCY_LEASE_MS)
    report(['concurrency_lease'], 'concurrency_lease is between 2s and 10m')
  if (ms(raw.upload_idle_timeout) < MIN_STREAM_LIMIT_MS)
    report(['upload_idle_timeout'], 'upload_idle_timeout is at least 1s')
}

/**
 * A slot is stamped with the gateway's clock when its call is made (the Lua script cannot read
 * the store's clock: Upstash asks scripts to stay deterministic), and the store drops it a lease
 * later. A call answered up to store_timeout after that reading, then renewed a third of a lease
 * later, must still find its slot: with a longer store_timeout a slow store could hand out a slot
 * that other gateways already count as expired, and so admit more than the limit.
 */
export function checkStoreTimeoutForSlots(
  raw: { store_timeout: string; concurrency_lease: string },
  packs: readonly CompiledPack[],
  report: (path: (string | number)[], message: string) => void,
): void {
  if (!packs.some((pack) => pack.concurrency.length > 0)) return
  if (ms(raw.store_timeout) * CONCURRENCY_RENEWALS_PER_LEASE <= ms(raw.concurrency_lease)) return
  report(
    ['store_timeout'],
    `store_timeout is at most a third of concurrency_lease (${raw.concurrency_lease}) when a pack has concurrency rules: a slow store could otherwise admit more than a rule's limit`,
  )
}
