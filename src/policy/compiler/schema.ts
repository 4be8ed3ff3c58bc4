/**
 * The shape of the YAML policy files, written once with zod. It serves three purposes:
 * validating files at build time, typing the raw documents for the compiler, and emitting
 * the JSON Schema that editors use for completion (`policies/schema/*.json`). Build time only:
 * nothing here is imported by the Worker.
 *
 * @module
 */
import { z } from 'zod'

const DURATION = /^(\d+)(ms|s|m|h|d)$/

export const duration = z
  .string()
  .regex(DURATION, { message: 'a duration is a whole number and a unit: 500ms, 30s, 1m, 1h, 1d' })
  .describe('A whole number and a unit: ms, s, m, h, d (e.g. 30s, 1m).')

const identifier = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
    message: 'use lower-case letters, digits, "-" and "_" (at most 63 characters)',
  })

const scalar = z.union([z.string(), z.number(), z.boolean()])
const ruleValue = z.union([scalar, z.array(scalar).min(1)])
const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
)

export const RULE_FIELDS = ['id', 'kind', 'label', 'email', 'api_key', 'method'] as const

/**
 * One allow or deny entry. Every field given must match (AND); a list value matches if any
 * element does (OR). String values may use `*` as a wildcard.
 */
export const rule = z
  .object({
    id: ruleValue.optional().describe('Invoker id.'),
    kind: ruleValue.optional().describe('Invoker kind: authUser, apiKey, service, agent, chat, anonymous, or a custom kind.'),
    label: ruleValue.optional().describe('Invoker label.'),
    email: ruleValue.optional().describe('The invoker\'s meta.email, matched without regard to case.'),
    api_key: ruleValue.optional().describe('Name of the API key (under api_keys in _gateway.yaml) that authenticated the call.'),
    method: ruleValue.optional().describe('HTTP method of the request.'),
  })
  .catchall(ruleValue)
  .describe('Matches an invoker. Other keys must be of the form meta.<field>.')

const rateLimit = z
  .object({
    id: identifier.describe('Names the rule in headers and logs.'),
    by: z
      .string()
      .regex(/^(invoker|ip|pack|agent|api_key|org|meta\.[A-Za-z0-9_-]+)$/, {
        message: 'by is one of invoker, ip, pack, agent, api_key, org, meta.<field>',
      }),
    limit: z.number().int().positive().describe('Requests per window; for token_bucket, the bucket size and the refill per window.'),
    window: duration.describe('Between 1s and 1d.'),
    algorithm: z.enum(['sliding_window', 'fixed_window', 'token_bucket']).default('sliding_window'),
    when: z
      .object({
        kind: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        method: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        agent: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
      })
      .strict()
      .optional(),
    on_error: z.enum(['allow', 'deny']).default('allow').describe('What to do when the store fails or is slow: allow (log and serve) or deny (503).'),
  })
  .strict()
  .describe('A rate limit; every rule of a pack that applies to a request must pass.')

const agent = z
  .object({
    path: z
      .string()
      .describe('Path pattern relative to what the backend receives: literal segments, "*" for one segment, a final "**" for any rest.'),
    allow: z.array(rule).optional().describe('Narrows the pack\'s allow list for this agent.'),
    deny: z.array(rule).optional(),
  })
  .strict()

export const AUTH_METHODS = ['envelope', 'bearer', 'api_key', 'session'] as const
/** Methods this version of the gateway can verify; the others are refused at build time. */
export const SUPPORTED_AUTH_METHODS: readonly string[] = ['api_key']

export const packFile = z
  .object({
    $schema: z.string().optional(),
    pack: identifier.describe('The pack id; must equal the file name. Becomes the aud of X-Invoker.'),
    upstream: z
      .string()
      .describe('Backend origin and optional base path. ${VAR} and ${VAR:-default} read the build environment.'),
    match: z
      .object({
        host: z.string().optional().describe('Host name the pack answers on; any host when absent.'),
        path_prefix: z.string().default('/'),
      })
      .strict(),
    strip_prefix: z.boolean().default(true).describe('Remove path_prefix from the path the backend receives.'),
    auth: z.array(z.enum(AUTH_METHODS)).default([]).describe('Accepted methods, in this pack.'),
    anonymous: z.enum(['allow', 'deny']).default('deny'),
    mode: z.enum(['enforce', 'report']).default('enforce').describe('report: log what would be denied, forward anyway.'),
    pass_credentials: z
      .boolean()
      .default(false)
      .describe('Forward the credential the gateway consumed (Authorization, x-api-key) to the backend.'),
    allow: z.array(rule).optional().describe('When present, only invokers matching an entry are admitted.'),
    deny: z.array(rule).optional().describe('Invokers matching an entry are refused. Deny wins over allow.'),
    agents: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), agent).optional(),
    rate_limits: z.array(rateLimit).optional(),
  })
  .strict()

const apiKey = z
  .object({
    key_id: z.string().regex(/^[0-9A-Za-z]{8}$/, { message: 'key_id is the 8 characters after "igw_" in the key' }),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'sha256 is 64 lower-case hex characters' }),
    packs: z.array(identifier).min(1).optional().describe('Packs the key may call; all packs accepting API keys when absent.'),
    expires: z
      .union([z.string(), z.date()])
      .optional()
      .describe('ISO 8601 date or date-time after which the key is refused.'),
    revoked: z.boolean().default(false),
    invoker: z
      .object({
        id: z.string().min(1).optional().describe('Invoker id; apikey:<name> when absent.'),
        kind: z.string().min(1).default('apiKey'),
        label: z.string().optional(),
        meta: z.record(z.string(), jsonValue).default({}),
      })
      .strict()
      .default({ kind: 'apiKey', meta: {} }),
  })
  .strict()

export const gatewayFile = z
  .object({
    $schema: z.string().optional(),
    issuer: z.string().min(1).describe('The iss of every X-Invoker token, e.g. https://gateway.example.com.'),
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/)
      .default('X-Invoker')
      .describe('Header that carries the signed invoker to the backend.'),
    token_ttl: duration.default('60s'),
    upstream_timeout: duration.default('30s').describe('Time the backend has to send response headers (504 after).'),
    store_timeout: duration
      .default('500ms')
      .describe('Time a store call (rate limit, runtime API key, nonce) may take; after it the rule\'s on_error decides.'),
    api_keys: z.record(identifier, apiKey).default({}),
  })
  .strict()

const fixtureInvoker = z.union([
  z.object({ api_key: z.string() }).strict(),
  z.object({ anonymous: z.literal(true), ip: z.string().default('192.0.2.1') }).strict(),
  z
    .object({
      id: z.string().min(1),
      kind: z.string().min(1),
      label: z.string().optional(),
      meta: z.record(z.string(), jsonValue).default({}),
      method: z.enum(AUTH_METHODS).default('bearer'),
    })
    .strict(),
])

export const fixtureFile = z.array(
  z
    .object({
      name: z.string().min(1),
      request: z.object({ method: z.string().default('GET'), url: z.string().url() }).strict(),
      invoker: fixtureInvoker,
      at: z.string().optional().describe('The time of the decision (ISO 8601); now when absent.'),
      expect: z
        .object({
          decision: z.enum(['allow', 'deny', 'report', 'unauthenticated', 'not_found', 'bad_request']),
          pack: z.string().optional(),
          agent: z.string().nullable().optional(),
          reason: z.string().optional(),
        })
        .strict(),
    })
    .strict(),
)

export type RawPackFile = z.output<typeof packFile>
export type RawGatewayFile = z.output<typeof gatewayFile>
export type RawRule = z.output<typeof rule>
export type RawFixture = z.output<typeof fixtureFile>[number]

export function parseDuration(text: string): number {
  const found = DURATION.exec(text)
  if (!found) throw new Error(`not a duration: ${text}`)
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[found[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return Number(found[1]) * unit
}

/** JSON Schemas for editors (yaml-language-server reads the `$schema` comment in each file). */
export function jsonSchemas(): Record<'gateway' | 'pack' | 'fixtures', unknown> {
  const options = { io: 'input', unrepresentable: 'any' } as const
  return {
    gateway: z.toJSONSchema(gatewayFile, options),
    pack: z.toJSONSchema(packFile, options),
    fixtures: z.toJSONSchema(fixtureFile, options),
  }
}
