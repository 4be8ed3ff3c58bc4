/**
 * Small zod pieces shared by the policy schema (`schema.ts`) and the sections kept in their own
 * files (`streams.ts`, `fixture-schema.ts`), so that neither imports the other at module load.
 * Build time only.
 *
 * @module
 */
import { z } from 'zod'
import { META_FIELD, NAME, NAME_RULE } from '../patterns.ts'

export const AUTH_METHODS = ['envelope', 'bearer', 'api_key', 'session'] as const

export const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
)

export const DURATION = /^(\d+)(ms|s|m|h|d)$/

export const duration = z
  .string()
  .regex(DURATION, { message: 'a duration is a whole number and a unit: 500ms, 30s, 1m, 1h, 1d' })
  .describe('A whole number and a unit: ms, s, m, h, d (e.g. 30s, 1m).')

export const identifier = z.string().regex(NAME, { message: `use ${NAME_RULE}` })

/** What a rate-limit or concurrency rule counts by. */
export const ruleKey = z.string().regex(new RegExp(`^(invoker|ip|pack|agent|api_key|org|meta\\.${META_FIELD})$`), {
  message: 'by is one of invoker, ip, pack, agent, api_key, org, meta.<field>',
})

/** Conditions narrowing a rate-limit or concurrency rule. */
export const ruleWhen = z
  .object({
    kind: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    method: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    agent: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  })
  .strict()

export const localFraction = z
  .number()
  .gt(0)
  .lte(1)
  .optional()
  .describe(
    'With on_error: local, the share of the limit one isolate admits on its own while the store is down (default 0.5).',
  )

export function parseDuration(text: string): number {
  const found = DURATION.exec(text)
  if (!found) throw new Error(`not a duration: ${text}`)
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[found[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return Number(found[1]) * unit
}

/** An origin as policy files write it: `scheme://host[:port]`, no path. */
export const origin = z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/, {
  message: 'an origin is scheme://host[:port], without a path or a trailing slash',
})
