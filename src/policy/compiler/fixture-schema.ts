/**
 * The shape of decision fixtures (`policies/tests/*.yaml`): a request, the invoker it comes
 * from, and the decision the gateway must take. Build time only, like the rest of the schema.
 *
 * @module
 */
import { z } from 'zod'
import { AUTH_METHODS, jsonValue } from './primitives.ts'

const fixtureInvoker = z.union([
  z.object({ api_key: z.string() }).strict(),
  z
    .object({
      signer: z.string().describe('A signer under signers in _gateway.yaml: the invoker it stands for.'),
      on_behalf_of: z.string().optional().describe('The user a delegating signer acts for (the On-Behalf-Of value).'),
    })
    .strict(),
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
      request: z
        .object({
          method: z.string().default('GET'),
          url: z.string().url(),
          tool: z.string().min(1).optional().describe('MCP packs: the tool of a tools/call.'),
        })
        .strict(),
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

export type RawFixture = z.output<typeof fixtureFile>[number]
