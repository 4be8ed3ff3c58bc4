/**
 * The shape of the YAML policy files, written once with zod. It serves three purposes:
 * validating files at build time, typing the raw documents for the compiler, and emitting
 * the JSON Schema that editors use for completion (`policies/schema/*.json`). Build time only:
 * nothing here is imported by the Worker.
 *
 * @module
 */
import { z } from 'zod'
import { fixtureFile, type RawFixture } from './fixture-schema.ts'
import { META_FIELD } from '../patterns.ts'
import { AUTH_METHODS, duration, identifier, localFraction, origin, parseDuration } from './primitives.ts'
import {
  gatewayFile,
  type RawClaimMapping,
  type RawGatewayFile,
  type RawIssuer,
  type RawSigner,
} from './schema-gateway.ts'
import { concurrencyRule, streamSettings } from './streams.ts'
import { size } from './size.ts'
import { mcpSettingsSchema } from './mcp-schema.ts'

export {
  AUTH_METHODS,
  duration,
  fixtureFile,
  gatewayFile,
  parseDuration,
  type RawClaimMapping,
  type RawFixture,
  type RawGatewayFile,
  type RawIssuer,
  type RawSigner,
}

const scalar = z.union([z.string(), z.number(), z.boolean()])
const ruleValue = z.union([scalar, z.array(scalar).min(1)])

export const RULE_FIELDS = ['id', 'kind', 'label', 'email', 'api_key', 'method', 'on_behalf_of'] as const

/**
 * One allow or deny entry. Every field given must match (AND); a list value matches if any
 * element does (OR). String values may use `*` as a wildcard.
 */
export const rule = z
  .object({
    id: ruleValue.optional().describe('Invoker id.'),
    kind: ruleValue
      .optional()
      .describe('Invoker kind: authUser, apiKey, service, agent, chat, anonymous, or a custom kind.'),
    label: ruleValue.optional().describe('Invoker label.'),
    email: ruleValue.optional().describe("The invoker's meta.email, matched without regard to case."),
    api_key: ruleValue
      .optional()
      .describe('Name of the API key (under api_keys in _gateway.yaml) that authenticated the call.'),
    method: ruleValue.optional().describe('HTTP method of the request.'),
    on_behalf_of: ruleValue
      .optional()
      .describe(
        "The user a delegating signer acts for (its On-Behalf-Of value), without the signer's namespace. Only delegated invokers have one.",
      ),
  })
  .catchall(ruleValue)
  .describe('Matches an invoker. Other keys must be of the form meta.<field>.')

const rateLimit = z
  .object({
    id: identifier.describe('Names the rule in headers and logs.'),
    by: z.string().regex(new RegExp(`^(invoker|ip|pack|agent|api_key|org|tool|meta\\.${META_FIELD})$`), {
      message: 'by is one of invoker, ip, pack, agent, api_key, org, tool, meta.<field>',
    }),
    limit: z
      .number()
      .int()
      .positive()
      .describe('Requests per window; for token_bucket, the bucket size and the refill per window.'),
    window: duration.describe('Between 1s and 1d.'),
    algorithm: z.enum(['sliding_window', 'fixed_window', 'token_bucket']).default('sliding_window'),
    when: z
      .object({
        kind: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        method: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        agent: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        tool: z
          .union([z.string(), z.array(z.string()).min(1)])
          .optional()
          .describe('MCP packs: tool name(s) of a tools/call, "*" a wildcard.'),
      })
      .strict()
      .optional(),
    on_error: z
      .enum(['local', 'allow', 'deny'])
      .default('local')
      .describe(
        'What to do when the store fails or is slow: local (limit in each isolate at local_fraction of the limit, log), allow (log and serve) or deny (503).',
      ),
    local_fraction: localFraction,
  })
  .strict()
  .describe('A rate limit; every rule of a pack that applies to a request must pass.')

const agent = z
  .object({
    path: z
      .string()
      .describe(
        'Path pattern relative to what the backend receives: literal segments, "*" for one segment, a final "**" for any rest.',
      ),
    allow: z.array(rule).optional().describe("Narrows the pack's allow list for this agent."),
    deny: z.array(rule).optional(),
  })
  .strict()

const mcpSettings = mcpSettingsSchema(rule)

/** RFC 6749 §3.3 scope tokens (no spaces, quotes or backslashes); a string is split on spaces. */
const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { message: 'a scope is printable ASCII without spaces, " or \\' })
const scopeList = z.union([
  z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E ]+$/, { message: 'scopes are printable ASCII without " or \\' }),
  z.array(scopeToken).min(1),
])

export const packFile = z
  .object({
    $schema: z.string().optional(),
    pack: identifier.describe('The pack id; must equal the file name. Becomes the aud of X-Invoker.'),
    upstream: z
      .string()
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the policy's own placeholder syntax
      .describe('Backend origin and optional base path. ${VAR} and ${VAR:-default} read the build environment.'),
    allow_http_upstream: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Why a plain http: upstream is acceptable (e.g. "the backend is reached through a Workers VPC service"); the deploy guard refuses an http: upstream without it.',
      ),
    match: z
      .object({
        host: z.string().optional().describe('Host name the pack answers on; any host when absent.'),
        path_prefix: z.string().default('/'),
      })
      .strict(),
    strip_prefix: z.boolean().default(true).describe('Remove path_prefix from the path the backend receives.'),
    auth: z.array(z.enum(AUTH_METHODS)).default([]).describe('Accepted methods, in this pack.'),
    anonymous: z.enum(['allow', 'deny']).default('deny'),
    mode: z
      .enum(['enforce', 'report'])
      .default('enforce')
      .describe('report: log what would be denied, forward anyway.'),
    pass_credentials: z
      .boolean()
      .default(false)
      .describe('Forward the credential the gateway consumed (Authorization, x-api-key) to the backend.'),
    method_override: z
      .array(
        z.string().regex(/^x-(http-method-override|http-method|method-override)$/i, {
          message: 'a method-override header is X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override',
        }),
      )
      .optional()
      .describe(
        'Method-override headers the backend honours: forwarded on POST only, and rules see the method they name. All are dropped when absent.',
      ),
    strict_paths: z
      .boolean()
      .optional()
      .describe(
        'Refuse (400) paths a backend may read differently: double encoding (%25), ";" parameters, segments ending in "." or a space, NTFS streams (":$"), encoded "?" or "#". Default: true on packs with agents.',
      ),
    allow: z.array(rule).optional().describe('When present, only invokers matching an entry are admitted.'),
    deny: z.array(rule).optional().describe('Invokers matching an entry are refused. Deny wins over allow.'),
    agents: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), agent).optional(),
    rate_limits: z.array(rateLimit).optional(),
    concurrency: z
      .array(concurrencyRule)
      .optional()
      .describe('At most limit requests open at once per key (streams, WebSockets, any request still running).'),
    streams: streamSettings
      .optional()
      .describe(
        'Open SSE answers and WebSockets: their longest life, idle time, and how often their credential is checked again.',
      ),
    bearer: z
      .object({
        issuers: z
          .array(z.string())
          .min(1)
          .optional()
          .describe('Names of the issuers (in _gateway.yaml) whose tokens this pack accepts; all when absent.'),
        scopes: z
          .object({
            all_of: scopeList.optional().describe('Every one of these scopes must be granted.'),
            any_of: scopeList.optional().describe('At least one of these scopes must be granted.'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional()
      .describe('What a bearer token must be to call this pack.'),
    envelope: z
      .object({
        signers: z
          .array(z.string())
          .min(1)
          .optional()
          .describe('Names of the signers (in _gateway.yaml) this pack accepts; all when absent.'),
        directories: z
          .array(origin)
          .optional()
          .describe('Key directory origins this pack accepts; all trusted ones when absent, none with [].'),
        cover: z
          .array(z.string())
          .optional()
          .describe(
            'Components a signature must cover beyond @method, @authority, @path, @query and content-digest, e.g. content-type or "@query-param;name=q".',
          ),
        body_limit: size
          .optional()
          .describe(
            'Largest signed body read and checked against its Content-Digest before it is forwarded (default 1MiB, at most 8MiB); a larger one is refused with 413 unless stream_body is true.',
          ),
        stream_body: z
          .boolean()
          .optional()
          .describe(
            'Stream signed bodies above body_limit (with Content-Length) to the backend, checked only at their end: X-Invoker then says auth.body "streamed".',
          ),
      })
      .strict()
      .optional()
      .describe('What a signed request (RFC 9421) must be to call this pack.'),
    protocol: z
      .enum(['http', 'mcp'])
      .default('http')
      .describe(
        'mcp: an MCP server (Streamable HTTP) with OAuth discovery, audience-bound tokens and per-tool policy.',
      ),
    mcp: mcpSettings.optional().describe('Settings of an MCP pack (protocol: mcp).'),
    cors: z
      .object({
        origins: z
          .array(origin)
          .min(1)
          .describe(
            'Browser origins allowed to call the pack (CORS) and trusted for cookie-authenticated unsafe requests (CSRF).',
          ),
        credentials: z
          .boolean()
          .default(true)
          .describe('Let browsers send cookies (Access-Control-Allow-Credentials).'),
        max_age: duration.default('10m').describe('How long browsers may cache a preflight answer.'),
        allow_headers: z.array(z.string()).optional().describe('Request headers allowed beyond the defaults.'),
        expose_headers: z.array(z.string()).optional().describe('Response headers exposed beyond the defaults.'),
      })
      .strict()
      .optional()
      .describe('Browser callers: the gateway answers preflights and adds CORS headers.'),
  })
  .strict()

export type RawPackFile = z.output<typeof packFile>
export type RawMcpSettings = z.output<typeof mcpSettings>
export type RawRule = z.output<typeof rule>

/** JSON Schemas for editors (yaml-language-server reads the `$schema` comment in each file). */
export function jsonSchemas(): Record<'gateway' | 'pack' | 'fixtures', unknown> {
  const options = { io: 'input', unrepresentable: 'any' } as const
  return {
    gateway: z.toJSONSchema(gatewayFile, options),
    pack: z.toJSONSchema(packFile, options),
    fixtures: z.toJSONSchema(fixtureFile, options),
  }
}
