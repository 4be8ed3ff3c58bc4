/**
 * The body of `POST /.well-known/invoker-gateway/keys`, read against one table of its fields:
 * each field's reader checks its type, its shape and what the running policy allows, in table
 * order, and the unknown-field check takes its names from the same table, so a field exists in
 * one place. The first problem found is the 400's text.
 *
 * By hand rather than with a schema library: the Worker bundles none (zod stays at build time,
 * issue 18), and two small tables of readers are all this body needs.
 *
 * @module
 */
import { foldId } from '../fold.ts'
import { GatewayError } from '../errors/reasons.ts'
import type { JsonValue } from '../invoker.ts'
import { invokerProblem } from '../pipeline/authenticate/claim-limits.ts'
import { KEY_ID, NAME, NAME_RULE, SHA256_HEX } from '../policy/patterns.ts'
import type { MintedKeyRecord } from '../store/types.ts'

/** What a runtime key is checked against besides its shape: the policy the gateway runs. */
export interface MintContext {
  /** Key ids and names of the policy's own keys: a runtime key takes neither. */
  policyKeyIds: ReadonlySet<string>
  policyNames: ReadonlySet<string>
  packIds: ReadonlySet<string>
  /**
   * Id prefixes of other kinds of invokers: anonymous callers, delegated users (issue 12, item 3),
   * the users of every issuer and of the session (their claim mappings' `id_prefix`).
   */
  reservedIds: readonly string[]
  /**
   * Ids of the invokers the policy defines (its API keys, its signers): a runtime key takes none.
   * This and `reservedIds` are folded (fold.ts), as the id is before it is compared.
   */
  policyInvokerIds: ReadonlySet<string>
}

/** Reads one field's value (`undefined` when absent), or throws the 400 that says what is wrong. */
type Reader<T> = (value: unknown, context: MintContext) => T
type Table = Record<string, Reader<unknown>>
type Read<F extends Table> = { [K in keyof F]: ReturnType<F[K]> }

function bad(problem: string): never {
  throw new GatewayError({ reason: 'admin_bad_request', problem })
}

/** Parsed JSON: an object's members are JSON values. */
function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function optional<T>(read: Reader<T>): Reader<T | undefined> {
  return (value, context) => (value === undefined ? undefined : read(value, context))
}

function matching(pattern: RegExp, says: string): (value: unknown) => string {
  return (value) => (typeof value === 'string' && pattern.test(value) ? value : bad(says))
}

function nonEmptyText(says: string): (value: unknown) => string {
  return (value) => (typeof value === 'string' && value !== '' ? value : bad(says))
}

/** An object whose members are the table's, read in the table's order. */
function readObject<F extends Table>(
  value: unknown,
  fields: F,
  context: MintContext,
  names: { object: string; unknown: string },
): Read<F> {
  if (!isObject(value)) return bad(names.object)
  for (const field of Object.keys(value)) if (!Object.hasOwn(fields, field)) bad(`unknown ${names.unknown} "${field}"`)
  const out = {} as Read<F>
  // A reader's return type is its field's type (Read<F>); TypeScript cannot follow that per key.
  for (const field in fields)
    out[field] = (fields[field] as Reader<unknown>)(value[field], context) as Read<F>[typeof field]
  return out
}

const keyId = matching(KEY_ID, 'key_id is 8 base62 characters')
const sha256 = matching(SHA256_HEX, 'sha256 is 64 lower-case hex characters')
const name = matching(NAME, `name is ${NAME_RULE}`)

const invokerId = nonEmptyText('invoker.id is a non-empty string')

const INVOKER_FIELDS = {
  id: optional((value, { reservedIds }) => {
    const id = invokerId(value)
    const folded = foldId(id)
    const reserved = reservedIds.find((prefix) => folded.startsWith(prefix))
    return reserved === undefined
      ? id
      : bad(`invoker.id may not start with "${reserved}": those ids belong to another kind of invoker`)
  }),
  kind: optional(nonEmptyText('invoker.kind is a non-empty string')),
  label: optional((value) => (typeof value === 'string' ? value : bad('invoker.label is a string'))),
  meta: optional((value) => (isObject(value) ? value : bad('invoker.meta is an object'))),
} satisfies Table

const MINT_FIELDS = {
  key_id: (value: unknown, { policyKeyIds }: MintContext) => {
    const id = keyId(value)
    return policyKeyIds.has(id) ? bad('key_id is used by a key in the policy') : id
  },
  sha256,
  name: (value: unknown, { policyNames }: MintContext) => {
    const text = name(value)
    return policyNames.has(text) ? bad(`name "${text}" is used by a key in the policy`) : text
  },
  packs: (value: unknown, { packIds }: MintContext): string[] => {
    if (!Array.isArray(value) || value.length === 0) return bad('packs lists the packs the key may call (at least one)')
    return value.map((pack: unknown) =>
      typeof pack === 'string' && packIds.has(pack) ? pack : bad(`no pack is named ${JSON.stringify(pack)}`),
    )
  },
  expires_at: optional((value) =>
    typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : bad('expires_at is Unix seconds'),
  ),
  invoker: optional((value, context) => {
    const invoker = readObject(value, INVOKER_FIELDS, context, {
      object: 'invoker is an object',
      unknown: 'invoker field',
    })
    // The limits every invoker is held to (issue 12, item 2): refused, never cut short.
    const oversized = invokerProblem(invoker)
    return oversized === null ? invoker : bad(`invoker.${oversized}`)
  }),
} satisfies Table

/** The record a mint request asks for, created now; throws `admin_bad_request` on the first problem. */
export function parseMintRequest(body: unknown, context: MintContext, nowSeconds: number): MintedKeyRecord {
  const fields = readObject(body, MINT_FIELDS, context, { object: 'the body is a JSON object', unknown: 'field' })
  const { invoker } = fields
  // Checked on the id the key gets, named or by default (a policy key may hold `apikey:<name>`
  // under another name).
  const id = invoker?.id ?? `apikey:${fields.name}`
  if (context.policyInvokerIds.has(foldId(id))) bad(`invoker.id "${id}" is the id of an invoker the policy defines`)
  return {
    name: fields.name,
    keyId: fields.key_id,
    sha256: fields.sha256,
    packs: fields.packs,
    expiresAt: fields.expires_at ?? null,
    revoked: false,
    createdAt: nowSeconds,
    invoker: {
      id,
      kind: invoker?.kind ?? 'apiKey',
      label: invoker?.label ?? fields.name,
      meta: invoker?.meta ?? {},
    },
  }
}
