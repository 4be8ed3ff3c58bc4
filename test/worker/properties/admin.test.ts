/**
 * Property: generated JSON bodies (and bodies that are not JSON, or too large) at the admin
 * endpoint that mints runtime keys, with the right admin token, a wrong one or none. Never a 500
 * or a hang; never a 2xx without the admin token; a 201 only for a body a reference of the
 * endpoint's rules calls valid, and the key it minted then works on its packs.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateApiKey, sha256Hex } from '../../../src/keys/api-key-format.ts'
import {
  ADMIN_TOKEN,
  headerText,
  propertyGateway,
  PROPERTY_TIMEOUT_MS,
  seed,
  send,
  type PropertyGateway,
} from './setup.ts'

let p: PropertyGateway
beforeAll(async () => {
  p = await propertyGateway()
})

const PATH = '/.well-known/invoker-gateway/keys'
const PACKS = ['keys', 'tokens', 'signed']

interface Minted {
  key: string | null
  body: string
}

const ABSENT = Symbol('absent')
/** Present with weight `present`, absent with weight `absent`. */
const maybe = (arbitrary: fc.Arbitrary<unknown>, present: number, absent: number): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary, weight: present }, { arbitrary: fc.constant(ABSENT), weight: absent })
const withoutAbsent = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== ABSENT))

/** Near-valid mint requests: each field right, wrong in type or value, oversized, or absent. */
const mintRequest: fc.Arbitrary<Promise<Minted>> = fc
  .record(
    {
      key_id: fc.oneof(
        { arbitrary: fc.constant('real'), weight: 5 },
        { arbitrary: fc.constantFrom<unknown>('short', 'AAAAAAA!', 12345678, null, ''), weight: 1 },
      ),
      sha256: fc.oneof(
        { arbitrary: fc.constant('real'), weight: 5 },
        { arbitrary: fc.constantFrom<unknown>('0'.repeat(63), 'A'.repeat(64), 42, null), weight: 1 },
      ),
      name: fc.oneof(
        { arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/), weight: 5 },
        { arbitrary: fc.constantFrom<unknown>('alice', 'Bad Name', '', 'x'.repeat(64), 7), weight: 1 },
      ),
      packs: fc.oneof(
        { arbitrary: fc.subarray(['keys', 'tokens', 'signed'], { minLength: 1 }), weight: 5 },
        { arbitrary: fc.constantFrom<unknown>([], ['nope'], 'keys', null, [1]), weight: 1 },
      ),
      expires_at: maybe(
        fc.oneof(fc.integer({ min: 1, max: 4_000_000_000 }), fc.constantFrom<unknown>(0, -1, 1.5, '2030-01-01', null)),
        1,
        2,
      ),
      invoker: maybe(
        fc.oneof(
          {
            arbitrary: fc
              .record({
                id: maybe(
                  fc.oneof(
                    fc.string({ minLength: 1, maxLength: 12 }),
                    fc.constantFrom<unknown>('', 'anon:x', 'local:alice', 'u'.repeat(257), 3),
                  ),
                  1,
                  1,
                ),
                kind: maybe(
                  fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom<unknown>('', 'k'.repeat(65))),
                  1,
                  1,
                ),
                label: maybe(
                  fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom<unknown>('l'.repeat(257), 5)),
                  1,
                  1,
                ),
                meta: maybe(
                  fc.oneof(
                    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
                    fc.constantFrom<unknown>([], 'm', { g: Array.from({ length: 257 }, String) }),
                  ),
                  1,
                  1,
                ),
                extra: maybe(fc.constant(1), 1, 6),
              })
              .map(withoutAbsent),
            weight: 5,
          },
          { arbitrary: fc.constantFrom<unknown>('me', [], null), weight: 1 },
        ),
        1,
        1,
      ),
      unknown: maybe(fc.constant(true), 1, 8),
    },
    { requiredKeys: ['key_id', 'sha256', 'name', 'packs'] },
  )
  .map(withoutAbsent)
  .map(async (fields) => {
    const { key, keyId } = generateApiKey()
    const body: Record<string, unknown> = { ...fields }
    if (fields['key_id'] === 'real') body['key_id'] = keyId
    if (fields['sha256'] === 'real') body['sha256'] = await sha256Hex(key)
    return { key: fields['key_id'] === 'real' && fields['sha256'] === 'real' ? key : null, body: JSON.stringify(body) }
  })

const anyBody: fc.Arbitrary<Promise<Minted>> = fc
  .oneof(
    fc.json({ maxDepth: 3 }),
    headerText(200),
    fc.constant('{"key_id":'),
    fc.constant(' '.repeat(9000)),
    fc.constant(JSON.stringify({ pad: 'x'.repeat(9000) })),
  )
  .map(async (body) => ({ key: null, body }))

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** What the endpoint must at least require of a body it accepts (201). */
function mayMint(text: string): boolean {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return false
  }
  if (!isObject(body) || text.length > 8 * 1024) return false
  if (Object.keys(body).some((k) => !['key_id', 'sha256', 'name', 'packs', 'expires_at', 'invoker'].includes(k)))
    return false
  const { key_id: keyId, sha256, name, packs, expires_at: expiresAt, invoker } = body
  if (typeof keyId !== 'string' || !/^[0-9A-Za-z]{8}$/.test(keyId) || keyId === p.alice.keyId || keyId === p.bob.keyId)
    return false
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) return false
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name) || name === 'alice' || name === 'bob')
    return false
  if (
    !Array.isArray(packs) ||
    packs.length === 0 ||
    !packs.every((pack) => typeof pack === 'string' && PACKS.includes(pack))
  )
    return false
  if (expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isInteger(expiresAt) && expiresAt > 0))
    return false
  if (invoker !== undefined) {
    if (!isObject(invoker) || Object.keys(invoker).some((k) => !['id', 'kind', 'label', 'meta'].includes(k)))
      return false
    const { id, kind, label, meta } = invoker
    if (
      id !== undefined &&
      (typeof id !== 'string' || id === '' || id.length > 256 || id.startsWith('anon:') || id.startsWith('local:'))
    )
      return false
    if (kind !== undefined && (typeof kind !== 'string' || kind === '' || kind.length > 64)) return false
    if (label !== undefined && (typeof label !== 'string' || label.length > 256)) return false
    if (meta !== undefined && !isObject(meta)) return false
  }
  return true
}

describe('property: admin endpoint bodies', () => {
  it(
    'never a 500 or a hang; a 2xx only with the admin token and a valid body, and a minted key works',
    async () => {
      const token = fc.constantFrom<string | null>(
        ADMIN_TOKEN,
        ADMIN_TOKEN,
        ADMIN_TOKEN,
        'wrong-token',
        null,
        `${ADMIN_TOKEN} `,
        ADMIN_TOKEN.toUpperCase(),
      )
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ arbitrary: mintRequest, weight: 3 }, { arbitrary: anyBody, weight: 1 }),
          token,
          async (pending, bearer) => {
            const { key, body } = await pending
            const headers: Record<string, string> = { 'content-type': 'application/json' }
            if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`
            const outcome = await send(p.gw, PATH, { method: 'POST', headers, body })
            if (outcome.status < 200 || outcome.status >= 300) return
            // `Bearer <token> ` loses its trailing space in transit: it is the token.
            expect(bearer?.trim(), `${outcome.status} without the admin token`).toBe(ADMIN_TOKEN)
            expect(outcome.status).toBe(201)
            expect(mayMint(body), `201 for ${body.slice(0, 300)}`).toBe(true)
            const minted = JSON.parse(body) as { packs: string[]; expires_at?: number }
            const usable = minted.packs.find((pack) => pack !== 'signed')
            if (key !== null && usable !== undefined && (minted.expires_at ?? Infinity) > Date.now() / 1000 + 60) {
              const used = await send(p.gw, `/packs/${usable}/x`, { headers: { 'x-api-key': key } })
              expect(used.status, used.body).toBe(200)
            }
          },
        ),
        { numRuns: 150, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})
