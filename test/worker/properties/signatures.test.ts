/**
 * Properties of signed requests (RFC 9421): generated `Signature-Input` / `Signature` fields,
 * signatures made with generated parameters and covered components, valid signatures tampered
 * with after signing, `Content-Digest` values against generated bodies, and `Signature-Agent`
 * values naming the trusted key directory every way but the right one. Never a 500 or a hang,
 * and a 2xx only for what a reference of the rules admits.
 */
import fc from 'fast-check'
import { arrayBufferToBase64, parseDictionary, serializeDictionary, type InnerList } from 'structured-headers'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  GW,
  headerText,
  is2xx,
  propertyGateway,
  PROPERTY_TIMEOUT_MS,
  seed,
  send,
  sendable,
  type PropertyGateway,
} from './setup.ts'

let p: PropertyGateway
beforeAll(async () => {
  p = await propertyGateway()
})

const now = (): number => Math.floor(Date.now() / 1000)
const MAX_AGE = 300
const SKEW = 30

async function digest(algorithm: 'SHA-256' | 'SHA-512', body: string): Promise<string> {
  return arrayBufferToBase64(await crypto.subtle.digest(algorithm, new TextEncoder().encode(body)))
}

interface Shape {
  method: 'GET' | 'POST'
  segment: string
  query: string
  body: string
  user: string | null
}

const shape: fc.Arbitrary<Shape> = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  segment: fc.stringMatching(/^[a-z0-9]{0,8}$/),
  query: fc.constantFrom('', '', '?q=1', '?a=1&a=2'),
  body: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 64 }),
  user: fc.oneof(
    { arbitrary: fc.constant(null), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        'alice',
        'bob',
        'apikey:alice',
        'anon:x',
        'local:alice',
        ' alice ',
        'a b',
        'u'.repeat(257),
        '',
      ),
      weight: 2,
    },
  ),
})

/** The headers of a request of this shape before signing: Content-Digest and Content-Length for a body. */
async function baseHeaders(s: Shape, contentDigest?: string): Promise<Record<string, string>> {
  const headers: Record<string, string> = {}
  if (s.method === 'POST') {
    headers['content-type'] = 'application/json'
    headers['content-length'] = String(new TextEncoder().encode(s.body).length)
    headers['content-digest'] = contentDigest ?? `sha-256=:${await digest('SHA-256', s.body)}:`
  }
  if (s.user !== null) headers['on-behalf-of'] = s.user
  return headers
}

const floor = (s: Shape): string[] => [
  '@method',
  '@authority',
  '@path',
  ...(s.query ? ['@query'] : []),
  ...(s.method === 'POST' ? ['content-digest'] : []),
  ...(s.user !== null ? ['on-behalf-of'] : []),
]

/** A delegated user name the gateway may accept: one printable token, not too long, in no reserved namespace. */
const userOk = (user: string | null): boolean =>
  user === null ||
  (user.trim() !== '' &&
    user.trim().length <= 256 &&
    /^[\x21-\x7e]+$/.test(user.trim()) &&
    !['anon:', 'apikey:', 'local:'].some((r) => user.trim().startsWith(r)))

const request = (s: Shape, headers: Record<string, string>) =>
  send(p.gw, `/packs/signed/${s.segment}${s.query}`, {
    method: s.method,
    headers,
    ...(s.method === 'POST' ? { body: s.body } : {}),
  })

describe('property: Signature-Input and Signature', () => {
  it(
    'never a 500 or a hang; a 2xx only for a signature whose parameters and components the rules admit',
    async () => {
      const components = fc.subarray(
        [
          '@method',
          '@authority',
          '@path',
          '@query',
          '@target-uri',
          'content-digest',
          'on-behalf-of',
          'content-type',
          '@scheme',
        ],
        { minLength: 1 },
      )
      const params = fc.record({
        created: fc.oneof(
          { arbitrary: fc.integer({ min: -20, max: 5 }).map((d) => now() + d), weight: 6 },
          {
            arbitrary: fc.oneof(
              fc.integer({ min: -2000, max: -MAX_AGE - SKEW - 5 }).map((d) => now() + d),
              fc.integer({ min: SKEW + 5, max: 2000 }).map((d) => now() + d),
              fc.constantFrom<string | number>('now', 1.5),
            ),
            weight: 1,
          },
          { arbitrary: fc.constant(undefined), weight: 1 },
        ),
        expires: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 4 },
          { arbitrary: fc.integer({ min: -600, max: 600 }).map((d) => now() + d), weight: 1 },
        ),
        nonce: fc.oneof(
          { arbitrary: fc.uuid(), weight: 6 },
          { arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'n'.repeat(300)), weight: 1 },
        ),
        alg: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 4 },
          { arbitrary: fc.constantFrom('ed25519', 'hmac-sha256', 'rsa-pss-sha512'), weight: 1 },
        ),
      })
      const useFloor = fc.oneof(
        { arbitrary: fc.constant(true), weight: 3 },
        { arbitrary: fc.constant(false), weight: 2 },
      )
      await fc.assert(
        fc.asyncProperty(shape, useFloor, components, params, async (s, floored, chosen, prm) => {
          const headers = await baseHeaders(s)
          const covered = floored ? floor(s) : chosen
          // A component the message lacks cannot be signed by an honest signer; skip such draws.
          fc.pre(covered.every((c) => c.startsWith('@') || c in headers))
          // created and nonce left out by the draw are left out of the signature (the signer adds them otherwise).
          const chosenParams = {
            created: prm.created ?? null,
            nonce: prm.nonce ?? null,
            ...(prm.expires !== undefined ? { expires: prm.expires } : {}),
            ...(prm.alg !== undefined ? { alg: prm.alg } : {}),
          }
          const signed = await p.signer.sign(
            { method: s.method, url: `${GW}/packs/signed/${s.segment}${s.query}`, headers },
            { components: covered, params: chosenParams },
          )
          const input = parseDictionary(signed['signature-input'] as string)
          const outcome = await request(s, { ...headers, ...signed })
          if (!is2xx(outcome)) return
          const [, sigParams] = input.get('sig1') as InnerList
          const created = sigParams.get('created')
          const expires = sigParams.get('expires')
          const nonce = sigParams.get('nonce')
          const c = new Set(covered)
          const floorCovered =
            c.has('@method') &&
            (c.has('@target-uri') || (c.has('@authority') && c.has('@path'))) &&
            (s.query === '' || c.has('@target-uri') || c.has('@query')) &&
            (s.method === 'GET' || c.has('content-digest')) &&
            (s.user === null || c.has('on-behalf-of'))
          const fresh =
            typeof created === 'number' &&
            Number.isInteger(created) &&
            created <= now() + SKEW &&
            created >= now() - MAX_AGE - SKEW - 5
          const notExpired = expires === undefined || (typeof expires === 'number' && expires >= now() - SKEW - 5)
          const nonceOk = typeof nonce === 'string' && nonce !== '' && nonce.length <= 256
          const algOk = prm.alg === undefined || prm.alg === 'ed25519'
          expect(
            { floorCovered, fresh, notExpired, nonceOk, algOk, user: userOk(s.user) },
            `${outcome.status} for ${JSON.stringify({ s, covered, prm })}`,
          ).toEqual({ floorCovered: true, fresh: true, notExpired: true, nonceOk: true, algOk: true, user: true })
        }),
        { numRuns: 200, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'a valid signature tampered with after signing is never a 2xx, nor is a replay',
    async () => {
      type Tamper =
        | 'none'
        | 'signature'
        | 'method'
        | 'path'
        | 'query'
        | 'user'
        | 'body-digest'
        | 'input-param'
        | 'second-known'
        | 'unknown-extra'
        | 'replay'
      const tamper = fc.constantFrom<Tamper>(
        'none',
        'signature',
        'method',
        'path',
        'query',
        'user',
        'body-digest',
        'input-param',
        'second-known',
        'unknown-extra',
        'replay',
      )
      await fc.assert(
        fc.asyncProperty(shape, tamper, fc.nat(), async (s, how, at) => {
          fc.pre(userOk(s.user))
          const headers = await baseHeaders(s)
          const signed = await p.signer.sign(
            { method: s.method, url: `${GW}/packs/signed/${s.segment}${s.query}`, headers },
            { components: floor(s) },
          )
          let sent: Shape = s
          let sentHeaders: Record<string, string> = { ...headers, ...signed }
          switch (how) {
            case 'signature': {
              const sig = parseDictionary(signed['signature'] as string)
              const bytes = new Uint8Array((sig.get('sig1') as [ArrayBuffer, Map<string, never>])[0])
              const i = at % bytes.length
              bytes[i] = (bytes[i] as number) ^ (1 << (at % 8))
              sentHeaders['signature'] = serializeDictionary(
                new Map([['sig1', [bytes.buffer as ArrayBuffer, new Map()]]]),
              )
              break
            }
            case 'method':
              sent = { ...s, method: s.method === 'GET' ? 'POST' : 'GET' }
              sentHeaders = {
                ...(await baseHeaders(sent)),
                signature: signed['signature'] as string,
                'signature-input': signed['signature-input'] as string,
              }
              break
            case 'path':
              sent = { ...s, segment: s.segment + 'x' }
              break
            case 'query':
              sent = { ...s, query: s.query === '' ? '?q=2' : s.query + '&z=1' }
              break
            case 'user':
              sentHeaders['on-behalf-of'] = s.user === null ? 'alice' : s.user + 'x'
              break
            case 'body-digest':
              if (s.method === 'GET') return
              sent = { ...s, body: s.body + 'x' }
              sentHeaders['content-length'] = String(new TextEncoder().encode(sent.body).length)
              break
            case 'input-param':
              sentHeaders['signature-input'] = (signed['signature-input'] as string).replace(
                /created=(\d+)/,
                (_, n: string) => `created=${Number(n) - 1}`,
              )
              break
            case 'second-known': {
              // Two signatures by a known signer: ambiguous, whatever they say.
              const again = await p.signer.sign(
                { method: s.method, url: `${GW}/packs/signed/${s.segment}${s.query}`, headers },
                { components: floor(s) },
              )
              sentHeaders['signature-input'] =
                `${signed['signature-input'] as string}, ${(again['signature-input'] as string).replace(/^sig1=/, 'sig2=')}`
              sentHeaders['signature'] =
                `${signed['signature'] as string}, ${(again['signature'] as string).replace(/^sig1=/, 'sig2=')}`
              break
            }
            case 'unknown-extra':
              // A signature by a key the gateway does not know is ignored (another hop may sign too).
              sentHeaders['signature-input'] =
                `${signed['signature-input'] as string}, other=("@method");keyid="someone-else";created=${now()}`
              sentHeaders['signature'] = `${signed['signature'] as string}, other=:AAAA:`
              break
          }
          const first = await request(sent, sentHeaders)
          const benign = how === 'none' || how === 'unknown-extra' || how === 'replay'
          if (is2xx(first)) expect(benign, `${first.status} after tampering (${how})`).toBe(true)
          // The untouched signature is admitted: the property does not hold vacuously.
          else expect(benign, `${first.status} for an untouched signature: ${first.body}`).toBe(false)
          if (how === 'replay') {
            const again = await request(sent, sentHeaders)
            expect(is2xx(again), `a replay answered ${again.status}`).toBe(false)
          }
        }),
        { numRuns: 200, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )

  it(
    'generated Signature-Input and Signature fields are never a 500 or a 2xx',
    async () => {
      const label = fc.constantFrom('sig1', 'sig2', 'a', '*', '', 'SIG', '1')
      const member = fc.tuple(
        label,
        fc.array(
          fc.constantFrom(
            '"@method"',
            '"@path"',
            '"@authority"',
            '"@query"',
            '"content-digest"',
            '"@query-param";name="q"',
            '"x";sf',
            '"x";key="a"',
            '"@status"',
            '"@method";req',
            'bad',
            '"A"',
          ),
          { maxLength: 5 },
        ),
        fc.array(
          fc.constantFrom(
            `keyid="local-1"`,
            `created=${now()}`,
            `created=-1`,
            'created=1e9',
            `expires=${now() - 100}`,
            `nonce="${crypto.randomUUID()}"`,
            'alg="ed25519"',
            'alg="hmac-sha256"',
            'tag="web-bot-auth"',
            'keyid=1',
            'nonce=?1',
            `keyid="${'k'.repeat(300)}"`,
          ),
          { maxLength: 6 },
        ),
      )
      const input = fc.oneof(
        fc
          .array(member, { minLength: 1, maxLength: 3 })
          .map((members) =>
            members.map(([l, cs, ps]) => `${l}=(${cs.join(' ')})${ps.map((x) => ';' + x).join('')}`).join(', '),
          ),
        headerText(150),
      )
      const signature = fc.oneof(
        fc
          .array(fc.tuple(label, fc.uint8Array({ maxLength: 80 })), { minLength: 1, maxLength: 3 })
          .map((ms) => ms.map(([l, b]) => `${l}=:${btoa(String.fromCharCode(...b))}:`).join(', ')),
        headerText(150),
        fc.constant('sig1=:*:'),
        fc.constant('sig1="x"'),
      )
      await fc.assert(
        fc.asyncProperty(input, signature, fc.constantFrom('GET', 'POST'), async (i, sig, method) => {
          const headers: Record<string, string> = { 'signature-input': i, signature: sig }
          fc.pre(Object.entries(headers).every(([n, v]) => sendable(n, v)))
          const outcome = await send(p.gw, '/packs/signed/x', {
            method,
            headers,
            ...(method === 'POST' ? { body: '{}' } : {}),
          })
          expect(is2xx(outcome), `${outcome.status} for ${JSON.stringify(headers)}`).toBe(false)
        }),
        { numRuns: 200, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

describe('property: Content-Digest', () => {
  it(
    'never a 500 or a hang; a signed body reaches the backend only when a sha-256 or sha-512 digest of it matches',
    async () => {
      const value = (body: string) =>
        fc
          .oneof(
            fc.constantFrom(
              'right-256',
              'right-512',
              'both-right',
              'wrong-256',
              'wrong-512',
              '512-wrong-256-right',
              'upper-key',
              'unknown-alg',
              'as-string',
              'empty',
              'garbage',
            ),
            headerText(80),
          )
          .map(async (kind) => {
            const s256 = await digest('SHA-256', body)
            const s512 = await digest('SHA-512', body)
            const other = await digest('SHA-256', body + '!')
            switch (kind) {
              case 'right-256':
                return `sha-256=:${s256}:`
              case 'right-512':
                return `sha-512=:${s512}:`
              case 'both-right':
                return `sha-256=:${s256}:, sha-512=:${s512}:`
              case 'wrong-256':
                return `sha-256=:${other}:`
              case 'wrong-512':
                return `sha-512=:${await digest('SHA-512', body + '!')}:`
              case '512-wrong-256-right':
                return `sha-512=:${await digest('SHA-512', body + '!')}:, sha-256=:${s256}:`
              case 'upper-key':
                return `SHA-256=:${s256}:`
              case 'unknown-alg':
                return `md5=:${s256}:`
              case 'as-string':
                return `sha-256="${s256}"`
              case 'empty':
                return ''
              case 'garbage':
                return `sha-256=:${s256}`
              default:
                return kind
            }
          })
      const body = fc.string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        maxLength: 64,
      })
      await fc.assert(
        fc.asyncProperty(
          body.chain((b) => fc.tuple(fc.constant(b), value(b))),
          async ([b, pending]) => {
            const contentDigest = await pending
            const s: Shape = { method: 'POST', segment: 'd', query: '', body: b, user: null }
            const headers = await baseHeaders(s, contentDigest)
            fc.pre(sendable('content-digest', contentDigest))
            const signed = await p.signer.sign(
              { method: 'POST', url: `${GW}/packs/signed/d`, headers },
              { components: floor(s) },
            )
            const outcome = await request(s, { ...headers, ...signed })
            if (!is2xx(outcome)) return
            // An empty body carries nothing to check: the digest does not matter, and nothing reaches the backend.
            if (b === '') {
              expect((JSON.parse(outcome.body) as { body_bytes: number }).body_bytes).toBe(0)
              return
            }
            let matches = false
            try {
              for (const [key, [item]] of parseDictionary(contentDigest)) {
                if (!(item instanceof ArrayBuffer)) continue
                const algorithm = key === 'sha-256' ? 'SHA-256' : key === 'sha-512' ? 'SHA-512' : null
                if (algorithm !== null && arrayBufferToBase64(item) === (await digest(algorithm, b))) matches = true
              }
            } catch {
              matches = false
            }
            expect(
              matches,
              `${outcome.status} for Content-Digest: ${contentDigest} and body ${JSON.stringify(b)}`,
            ).toBe(true)
            expect((JSON.parse(outcome.body) as { body_bytes: number }).body_bytes).toBe(
              new TextEncoder().encode(b).length,
            )
          },
        ),
        { numRuns: 150, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

describe('property: Signature-Agent', () => {
  it(
    'never a 500 or a hang past the directory timeout, and never a 2xx for a key the directory does not list',
    async () => {
      const origin = p.directory.origin
      const url = new URL(origin)
      const agent = fc.oneof(
        fc.constantFrom(
          `"${origin}"`,
          `"${origin}/"`,
          `"${origin}/.well-known/../"`,
          `"${origin}/a/../"`,
          `"${url.protocol}//user@${url.host}"`,
          `"${url.protocol}//${url.hostname}:1"`,
          `"https://${url.host}"`,
          `"${origin.toUpperCase()}"`,
          `"${origin}?x=1"`,
          `"${origin}#f"`,
          `agent="${origin}"`,
          `a="${origin}", b="https://evil.test"`,
          `"https://evil.test"`,
          `${origin}`,
          `"${origin}\\"`,
        ),
        headerText(80),
      )
      const keyid = fc.constantFrom(p.directory.keyid, p.directory.keyid, 'unknown-thumbprint', '')
      const key = fc.constantFrom<string | undefined>(undefined, undefined, 'agent', 'a', 'b')
      await fc.assert(
        fc.asyncProperty(agent, keyid, key, async (value, id, memberKey) => {
          fc.pre(sendable('signature-agent', value))
          const headers = { 'signature-agent': value }
          const component = memberKey === undefined ? 'signature-agent' : `signature-agent;key="${memberKey}"`
          let signed: Record<string, string>
          try {
            signed = await p.signer.sign(
              { url: `${GW}/packs/signed/crawl`, headers },
              { components: ['@method', '@authority', '@path', component], params: { keyid: id, tag: 'web-bot-auth' } },
            )
          } catch {
            return // the local signer cannot express this component; nothing to send
          }
          const outcome = await send(p.gw, '/packs/signed/crawl', { headers: { ...headers, ...signed } })
          expect(is2xx(outcome), `${outcome.status} for Signature-Agent: ${value}`).toBe(false)
        }),
        { numRuns: 120, seed },
      )
    },
    PROPERTY_TIMEOUT_MS,
  )
})

describe('the signatures the properties start from are accepted (positive controls)', () => {
  it('a signed GET, a signed POST with its digest, and a delegated request', async () => {
    for (const s of [
      { method: 'GET', segment: 'a', query: '?q=1', body: '', user: null },
      { method: 'POST', segment: 'b', query: '', body: '{"x":1}', user: null },
      { method: 'GET', segment: 'c', query: '', body: '', user: 'alice' },
    ] as Shape[]) {
      const headers = await baseHeaders(s)
      const signed = await p.signer.sign(
        { method: s.method, url: `${GW}/packs/signed/${s.segment}${s.query}`, headers },
        { components: floor(s) },
      )
      expect((await request(s, { ...headers, ...signed })).status).toBe(200)
    }
  })
})
