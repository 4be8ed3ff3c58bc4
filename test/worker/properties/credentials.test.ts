/**
 * Properties: generated `Authorization` headers (every scheme; JWTs with generated headers and
 * claims, signed with the right secret or not; API keys, alice's mutated or a stranger's) and
 * generated `Cookie` headers around a session token. Never a 500 or a hang, and a 2xx only for
 * a credential that a reference of the rules calls valid.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  GW,
  headerText,
  hs256,
  is2xx,
  PARTNER_ISS,
  propertyGateway,
  PROPERTY_TIMEOUT_MS,
  seed,
  send,
  sendable,
  SESSION_COOKIE,
  strangerKey,
  type PropertyGateway,
} from './setup.ts'

let p: PropertyGateway
beforeAll(async () => {
  p = await propertyGateway()
})

const now = (): number => Math.floor(Date.now() / 1000)

const ABSENT = Symbol('absent')
/** Mostly the good value, sometimes a bad one, sometimes nothing: most tokens differ from a valid one in a field or two. */
const field = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>, absentIsGood = false): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: good, weight: 10 },
    { arbitrary: bad, weight: 1 },
    { arbitrary: fc.constant(ABSENT), weight: absentIsGood ? 5 : 1 },
  )
const present = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== ABSENT))

/** JWT headers: mostly HS256 (the partner's algorithm), and the classic attacks. */
const jwtHeader = fc
  .record({
    alg: field(fc.constant('HS256'), fc.constantFrom('none', 'None', 'RS256', 'ES256', 'EdDSA', 'HS512', 'hs256', '')),
    typ: field(fc.constant('JWT'), fc.constantFrom('at+jwt', 'invoker+jwt', ''), true),
    kid: field(fc.string({ maxLength: 8 }), fc.constant(null), true),
    crit: field(fc.constant(ABSENT), fc.constantFrom(['exp'], ['b64'], ['x-unknown'], []), true),
    jku: field(fc.constant(ABSENT), fc.constant('https://attacker.test/jwks'), true),
  })
  .map(present)

/** Claims around a valid token: each one may be right, wrong, missing, of the wrong type or oversized. */
const jwtClaims = fc
  .record({
    iss: field(fc.constant(PARTNER_ISS), fc.constantFrom('https://other.test', `${PARTNER_ISS}/`, '')),
    aud: field(
      fc.constantFrom<unknown>(AUDIENCE, [AUDIENCE, 'https://x.test']),
      fc.constantFrom<unknown>('https://other-api.test', [], null),
    ),
    exp: field(
      fc.integer({ min: 60, max: 3600 }).map((d) => now() + d),
      fc.oneof(
        fc.integer({ min: -600, max: -31 }).map((d) => now() + d),
        fc.constantFrom<unknown>('soon', null, -1),
      ),
    ),
    nbf: field(
      fc.integer({ min: -600, max: 0 }).map((d) => now() + d),
      fc.oneof(
        fc.integer({ min: 60, max: 600 }).map((d) => now() + d),
        fc.constantFrom<unknown>('now', null),
      ),
      true,
    ),
    iat: field(
      fc.integer({ min: -600, max: 0 }).map((d) => now() + d),
      fc.oneof(
        fc.integer({ min: 600, max: 31_536_000 }).map((d) => now() + d),
        fc.constantFrom<unknown>('then', 1e300),
      ),
      true,
    ),
    sub: field(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.oneof(
        fc.integer(),
        fc.constantFrom<unknown>('', null, ['a'], 'apikey:alice', 'anon:x', 'local:alice'),
        fc.string({ minLength: 250, maxLength: 270 }),
      ),
    ),
    client_id: field(fc.string({ maxLength: 8 }), fc.constant(42), true),
    email: field(fc.string({ maxLength: 30 }), fc.string({ minLength: 300, maxLength: 340 }), true),
    name: field(fc.string({ maxLength: 30 }), fc.constant('n'.repeat(257)), true),
    groups: field(
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 4 }),
      fc.constantFrom<unknown>(Array.from({ length: 257 }, String), {
        deep: { er: [1, [2, [3, [4, [5, [6, [7, [8]]]]]]]] },
      }),
      true,
    ),
  })
  .map(present)

/**
 * The token with one character of its signature changed. Not one of the last two: base64url's
 * final character carries unused bits, so changing it may leave the signature's bytes as they
 * were (jose, like most decoders, accepts such a non-canonical encoding).
 */
const tampered = (token: string): string => {
  const i = token.length - 10
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
}

const textOf = (value: unknown): string | null =>
  typeof value === 'string' && value !== ''
    ? value
    : typeof value === 'number' && Number.isFinite(value)
      ? String(value)
      : null

/**
 * What the gateway must at least require of a partner token it admits (a necessary condition,
 * so it keeps holding if the gateway grows stricter): the right secret and algorithm, the
 * issuer, the audience, an `exp` not past the 30 s clock tolerance, an id within the limits and
 * in no other kind of invoker's namespace, and mapped claims within the limits.
 */
function mayAdmit(header: Record<string, unknown>, claims: Record<string, unknown>, rightSecret: boolean): boolean {
  if (
    !rightSecret ||
    header['alg'] !== 'HS256' ||
    (header['crit'] !== undefined && (header['crit'] as unknown[]).length > 0)
  )
    return false
  if (claims['iss'] !== PARTNER_ISS) return false
  const aud = claims['aud']
  if (!(aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE)))) return false
  if (typeof claims['exp'] !== 'number' || claims['exp'] <= now() - 30) return false
  const id = textOf(claims['sub']) ?? textOf(claims['client_id'])
  if (id === null || id.length > 256 || ['anon:', 'apikey:', 'local:'].some((prefix) => id.startsWith(prefix)))
    return false
  const email = claims['email']
  if (typeof email === 'string' && email.length > 320) return false
  const name = claims['name']
  if (typeof name === 'string' && name.length > 256) return false
  if (Array.isArray(claims['groups']) && claims['groups'].length > 256) return false
  return true
}

/** alice's key with one character replaced, dropped or added, or the key itself. */
const mutatedKey = (key: () => string) =>
  fc
    .tuple(
      fc.constantFrom('same', 'replace', 'drop', 'add', 'case'),
      fc.nat(),
      fc.constantFrom('A', 'z', '0', '_', '-', ' '),
    )
    .map(([how, at, c]) => {
      const k = key()
      const i = at % k.length
      if (how === 'replace') return k.slice(0, i) + c + k.slice(i + 1)
      if (how === 'drop') return k.slice(0, i) + k.slice(i + 1)
      if (how === 'add') return k.slice(0, i) + c + k.slice(i)
      if (how === 'case')
        return (
          k.slice(0, i) + (k[i] === k[i]?.toUpperCase() ? k[i]?.toLowerCase() : k[i]?.toUpperCase()) + k.slice(i + 1)
        )
      return k
    })

const scheme = fc.constantFrom(
  'Bearer',
  'Bearer',
  'Bearer',
  'Bearer',
  'Bearer',
  'bearer',
  'BEARER',
  'ApiKey',
  'apikey',
  'Basic',
  'Token',
  'Digest',
  'Bearer:',
  '',
)

describe('property: Authorization', () => {
  it(
    'never a 500 or a hang; a 2xx only for a token or key the rules admit',
    async () => {
      type Case =
        | {
            kind: 'jwt'
            header: Record<string, unknown>
            claims: Record<string, unknown>
            rightSecret: boolean
            tamper: boolean
          }
        | { kind: 'key'; key: string }
        | { kind: 'text'; text: string }
      const credential: fc.Arbitrary<Case> = fc.oneof(
        {
          arbitrary: fc.record({
            kind: fc.constant('jwt' as const),
            header: jwtHeader,
            claims: jwtClaims,
            rightSecret: fc.oneof(
              { arbitrary: fc.constant(true), weight: 4 },
              { arbitrary: fc.constant(false), weight: 1 },
            ),
            tamper: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
          }),
          weight: 4,
        },
        {
          arbitrary: fc
            .oneof(
              mutatedKey(() => p.alice.key),
              fc.constant(null).map(() => strangerKey()),
              fc.constant(null).map(() => strangerKey(p.alice.keyId)),
            )
            .map((key) => ({ kind: 'key' as const, key })),
          weight: 3,
        },
        { arbitrary: headerText(200).map((text) => ({ kind: 'text' as const, text })), weight: 1 },
      )
      await fc.assert(
        fc.asyncProperty(
          scheme,
          credential,
          fc.constantFrom('authorization', 'authorization', 'authorization', 'x-api-key', 'both'),
          async (scheme, cred, where) => {
            let value: string
            let valid: boolean
            if (cred.kind === 'jwt') {
              value = await hs256(
                cred.header,
                cred.claims,
                cred.rightSecret ? undefined : 'another-secret-0123456789abcdef0123',
              )
              if (cred.tamper) value = tampered(value)
              valid = !cred.tamper && mayAdmit(cred.header, cred.claims, cred.rightSecret)
            } else if (cred.kind === 'key') {
              value = cred.key
              valid = cred.key.trim() === p.alice.key
            } else {
              value = cred.text
              valid = false
            }
            const schemeOk = cred.kind === 'jwt' ? /^bearer$/i.test(scheme) : /^(bearer|apikey)$/i.test(scheme)
            const authorization = scheme === '' ? value : `${scheme} ${value}`
            const headers: Record<string, string> = {}
            if (where === 'authorization' || where === 'both') headers['authorization'] = authorization
            if (where === 'x-api-key' || where === 'both') headers['x-api-key'] = value
            fc.pre(Object.entries(headers).every(([name, v]) => sendable(name, v)))
            const outcome = await send(p.gw, '/packs/tokens/x', { headers })
            if (is2xx(outcome)) {
              // x-api-key carries a key; the Authorization header needs its scheme; both at once is ambiguous.
              const admissible =
                where === 'both' ? false : where === 'x-api-key' ? cred.kind === 'key' && valid : schemeOk && valid
              expect(admissible, `${outcome.status} for ${where}: ${JSON.stringify(headers).slice(0, 300)}`).toBe(true)
            }
          },
        ),
        { numRuns: 300, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it("admits a valid token and alice's key (a positive control)", async () => {
    const token = await hs256(
      { alg: 'HS256' },
      { iss: PARTNER_ISS, aud: AUDIENCE, sub: 'partner-user', exp: now() + 60 },
    )
    expect((await send(p.gw, '/packs/tokens/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect((await send(p.gw, '/packs/tokens/x', { headers: { authorization: `ApiKey ${p.alice.key}` } })).status).toBe(
      200,
    )
  })
})

describe('property: Cookie', () => {
  it(
    'never a 500 or a hang; a 2xx only for exactly one session cookie holding a valid token, and a trusted origin for unsafe methods',
    async () => {
      const valid = await hs256(
        { alg: 'HS256' },
        { iss: PARTNER_ISS, aud: AUDIENCE, sub: 'browser-user', exp: now() + 3600 },
      )
      const name = fc.constantFrom(
        SESSION_COOKIE,
        SESSION_COOKIE,
        SESSION_COOKIE,
        'SID',
        ' sid',
        'sid ',
        'sid2',
        'xsid',
        '__Host-sid',
        'theme',
        '',
      )
      const value = fc.oneof(
        {
          arbitrary: fc.constantFrom(
            valid,
            valid,
            ` ${valid} `,
            `"${valid}"`,
            tampered(valid),
            `${valid};`,
            '',
            'dark',
          ),
          weight: 3,
        },
        { arbitrary: headerText(40).map((t) => t.replace(/;/g, '')), weight: 1 },
      )
      const pair = fc.oneof(
        { arbitrary: fc.tuple(name, value).map(([n, v]) => `${n}=${v}`), weight: 5 },
        { arbitrary: headerText(20), weight: 1 },
      )
      const cookie = fc
        .tuple(fc.array(pair, { minLength: 1, maxLength: 4 }), fc.constantFrom('; ', ';', ', ', ';;', ' ; '))
        .map(([pairs, sep]) => pairs.join(sep))
      const request = fc.record({
        method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'DELETE'),
        origin: fc.constantFrom<string | null>(null, null, GW, 'https://evil.test', 'null', `${GW}.evil.test`),
        fetchSite: fc.constantFrom<string | null>(null, 'same-origin', 'cross-site'),
      })
      await fc.assert(
        fc.asyncProperty(cookie, request, async (header, { method, origin, fetchSite }) => {
          const headers: Record<string, string> = { cookie: header }
          if (origin !== null) headers['origin'] = origin
          if (fetchSite !== null) headers['sec-fetch-site'] = fetchSite
          fc.pre(Object.entries(headers).every(([n, v]) => sendable(n, v)))
          const outcome = await send(p.gw, '/packs/tokens/x', {
            method,
            headers,
            ...(method === 'POST' || method === 'DELETE' ? { body: '{}' } : {}),
          })
          if (!is2xx(outcome)) return
          const normalized = new Headers(headers).get('cookie') ?? ''
          // `,` separates cookies as `;` does (two Cookie lines are joined with ", ").
          const sessions = normalized
            .split(/[;,]/)
            .map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()] as const)
            .filter(([n, v]) => n === SESSION_COOKIE && v !== '')
          expect(
            sessions.length === 1 && sessions[0]?.[1] === valid,
            `${outcome.status} for Cookie: ${normalized.slice(0, 200)}`,
          ).toBe(true)
          if (method === 'POST' || method === 'DELETE') {
            expect(
              origin === GW || (origin === null && fetchSite === 'same-origin'),
              `${method} from ${origin} / ${fetchSite}`,
            ).toBe(true)
          }
        }),
        { numRuns: 250, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})
