/**
 * The YAML shape of an MCP pack's `mcp:` section (`protocol: mcp`), beside `schema.ts`, which
 * builds it with its own rule shape. Build time only.
 *
 * @module
 */
import { z } from 'zod'

/** RFC 6749 §3.3 scope tokens (as `bearer.scopes` takes them). */
const scope = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { message: 'a scope is printable ASCII without spaces, " or \\' })

export function mcpSettingsSchema<Rule extends z.ZodType>(rule: Rule) {
  /** One entry of `tools.names`: lists that narrow the pack's for the tools its glob matches. */
  const toolEntry = z
    .object({
      allow: z.array(rule).optional().describe("Narrows the pack's allow list for these tools."),
      deny: z.array(rule).optional(),
    })
    .strict()
  return z
    .object({
      resource: z
        .string()
        .optional()
        .describe(
          "The canonical resource URI (RFC 8707) clients ask tokens for; the aud a token must carry. Default: the gateway's issuer origin (or https://<match.host>) and path_prefix.",
        ),
      authorization_servers: z
        .array(z.string())
        .min(1)
        .optional()
        .describe(
          "Names of the issuers (in _gateway.yaml) that issue tokens for this server, published in its resource metadata; the pack's bearer issuers when absent.",
        ),
      scopes: z
        .array(scope)
        .optional()
        .describe('scopes_supported in the resource metadata; the scopes bearer.scopes requires when absent.'),
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .max(16 * 1024 * 1024)
        .default(1024 * 1024)
        .describe('Largest JSON-RPC body read to find the method and the tool; larger bodies are refused (413).'),
      tools: z
        .object({
          default: z.enum(['allow', 'deny']).describe('What a tool no entry under names gets.'),
          names: z
            .record(z.string().min(1), toolEntry)
            .default({})
            .describe('Tool name globs ("*" a wildcard) → lists; every entry whose glob matches applies.'),
        })
        .strict()
        .optional()
        .describe('Per-tool policy: tools/call is refused and tools/list filtered per caller.'),
    })
    .strict()
}
